"""Windows without a verdict, end to end through ``replay`` (streams/monitor.py, streams/alerts.py):
a feature below ``drift.min_count`` values, or a model version without events, is not judged,
so its alert neither resolves nor fires again on a sparse window; after ``alerts.expire_after``
such windows in a row a firing alert resolves, saying so in its evidence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
from driftline.schemas.config import load_config
from driftline.streams.reference_io import build_profile, write_reference
from driftline.streams.replay import replay
from driftline.streams.sinks import JsonlSink

T0 = datetime(2026, 11, 25, tzinfo=UTC)
CONFIG = """monitors:
  - name: m
    source: predictions
    fields: {model_version: version}
    features: {x: {type: numeric}}
    reference: {path: reference.json}
    window: {size: 1m, grace: 1s}
    alerts: {fire_after: 1, resolve_after: 1, per_version: PER_VERSION}
"""


def _alerts(tmp_path: Path, windows: list[dict[str, tuple[int, float]]], per_version: bool = False) -> list[tuple]:
    """Replay windows of one minute, each {model version: (events, mean of x)}, x ~ N(mean, 1)
    against a N(0, 1) reference; the alerts as (version, subject, status, window index, windows
    without a verdict it expired after); the raw alert events in ``_alerts.events``."""
    rng = np.random.default_rng(5)
    (tmp_path / "training.jsonl").write_bytes(b"".join(orjson.dumps({"x": v}) + b"\n" for v in rng.normal(size=20_000).tolist()))
    (tmp_path / "c.yaml").write_text(CONFIG.replace("PER_VERSION", str(per_version).lower()))
    config = load_config(tmp_path / "c.yaml")
    write_reference(build_profile(config.monitors[0], tmp_path / "training.jsonl"), tmp_path / "reference.json")
    lines = []
    for w, versions in enumerate(windows):
        for version, (n, mean) in versions.items():
            for k in range(n):
                ts = T0 + timedelta(minutes=w, seconds=50 * k / n)
                lines.append(orjson.dumps({"event_id": f"{w}-{version}-{k}", "timestamp": ts.isoformat(),
                                           "version": version, "features": {"x": float(rng.normal(mean, 1))}}) + b"\n")
    (tmp_path / "events.jsonl").write_bytes(b"".join(lines))
    sink = JsonlSink(tmp_path / "out", atomic=True)
    replay(config, tmp_path / "events.jsonl", sink)
    sink.close()
    out = []
    _alerts.events = list(map(orjson.loads, (tmp_path / "out" / "alerts.jsonl").read_bytes().splitlines()))
    for a in _alerts.events:
        start = datetime.fromisoformat(a["window_start"].replace("Z", "+00:00"))
        out.append((a["model_version"], a["subject"], a["status"], int((start - T0) / timedelta(minutes=1)),
                    a["evidence"].get("expired_after_windows")))
    return out


def test_a_sparse_window_does_not_resolve_a_drift_that_goes_on(tmp_path) -> None:
    # night traffic: two windows of 20 events (below min_count 30) in a drift that never stops
    sizes = [1000, 1000, 20, 20, 1000, 1000, 1000]
    alerts = _alerts(tmp_path, [{"v1": (n, 1.0)} for n in sizes])
    assert alerts == [(None, "x", "firing", 0, None)]   # one episode, not fired again at window 4


def test_an_alert_without_a_verdict_for_expire_after_windows_resolves_and_says_so(tmp_path) -> None:
    # drifted, then 12 sparse windows (expire_after defaults to 12), then drifted again
    sizes = [1000] + [20] * 12 + [1000]
    alerts = _alerts(tmp_path, [{"v1": (n, 1.0)} for n in sizes])
    assert alerts == [(None, "x", "firing", 0, None),
                      (None, "x", "resolved", 12, 12),
                      (None, "x", "firing", 13, None)]


def test_a_canary_that_is_gone_has_its_alerts_expire(tmp_path) -> None:
    """Per-version alerts: the canary (v2) drifts for two windows, then gets no events; the
    champion (v1) is fine throughout. The canary's alert resolves after 12 windows without it."""
    windows = [{"v1": (1000, 0.0), "v2": (1000, 1.0)}] * 2 + [{"v1": (1000, 0.0)}] * 13
    alerts = _alerts(tmp_path, windows, per_version=True)
    canary = [a for a in alerts if a[0] == "v2"]
    assert canary == [("v2", "x", "firing", 0, None), ("v2", "x", "resolved", 13, 12)]
    overall = [a for a in alerts if a[0] is None]
    assert overall == [(None, "x", "firing", 0, None), (None, "x", "resolved", 2, None)]   # judged good at 2
    # a resolved event says what its subject came back to: that window's numbers
    (resolved,) = [a for a in _alerts.events if a["model_version"] is None and a["status"] == "resolved"]
    assert resolved["statistic"] == "wasserstein" and resolved["value"] < resolved["threshold"] == 0.1
    assert resolved["p_value"] is not None and resolved["evidence"]["count"] == 1000
