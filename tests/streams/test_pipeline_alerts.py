"""Pipeline-health alerts end to end through ``replay`` (detectors/pipeline_health.py,
streams/monitor.py): a window with too many dead letters or late events fires a ``pipeline``
alert with its counts, which resolves when the windows are healthy again; hopping windows are
judged on the events of one slide."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
from driftline.schemas.config import load_config
from driftline.schemas.validate import validate_instance
from driftline.streams.reference_io import build_profile, write_reference
from driftline.streams.replay import replay
from driftline.streams.sinks import JsonlSink

T0 = datetime(2026, 11, 25, tzinfo=UTC)
CONFIG = """monitors:
  - name: m
    source: predictions
    features: {x: {type: numeric}}
    reference: {path: reference.json}
    window: {size: SIZE, slide: 1m, grace: 1s}
    alerts: {fire_after: 1, resolve_after: 1}
"""


def _replay(tmp_path: Path, minutes: list[tuple[int, int, int]], size: str = "1m",
            extra: str = "") -> tuple[list[dict], list[dict]]:
    """Replay minutes of (valid events, malformed lines among them, late events: timestamps of
    minute 0 in their middle), x ~ N(0, 1) as in the reference; (reports, alerts)."""
    rng = np.random.default_rng(11)
    (tmp_path / "training.jsonl").write_bytes(
        b"".join(orjson.dumps({"x": v}) + b"\n" for v in rng.normal(size=5_000).tolist()))
    (tmp_path / "c.yaml").write_text(CONFIG.replace("SIZE", size) + extra)
    config = load_config(tmp_path / "c.yaml")
    write_reference(build_profile(config.monitors[0], tmp_path / "training.jsonl"), tmp_path / "reference.json")
    lines: list[bytes] = []
    for w, (n, bad, late) in enumerate(minutes):
        window = [_event(rng, f"{w}-{i}", w, 50 * i / n) for i in range(n)]
        for j in range(bad):   # past the first seconds (grace): they count in this minute's window
            window.insert(n // 10 + j * (n * 8 // 10) // bad, b"not json %d" % j)
        window[n // 2:n // 2] = [_event(rng, f"{w}-late-{i}", 0, 50 * i / late) for i in range(late)]
        lines += window
    (tmp_path / "events.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    sink = JsonlSink(tmp_path / "out", atomic=True)
    replay(config, tmp_path / "events.jsonl", sink)
    sink.close()
    read = [list(map(orjson.loads, (tmp_path / "out" / f).read_bytes().splitlines()))
            for f in ("reports.jsonl", "alerts.jsonl")]
    return read[0], read[1]


def _event(rng: np.random.Generator, event_id: str, minute: int, second: float) -> bytes:
    ts = T0 + timedelta(minutes=minute, seconds=second)
    return orjson.dumps({"event_id": event_id, "timestamp": ts.isoformat(), "features": {"x": float(rng.normal())}})


def _minute(alert: dict) -> int:
    return int((datetime.fromisoformat(alert["window_start"]) - T0) / timedelta(minutes=1))


def test_dead_letters_above_the_ceiling_fire_a_pipeline_alert_that_resolves(tmp_path) -> None:
    # 0.5% malformed (under the 1% ceiling), then 5%, then healthy again
    reports, alerts = _replay(tmp_path, [(1000, 5, 0), (1000, 50, 0), (1000, 5, 0), (1000, 0, 0)])
    assert [r["invalid"] for r in reports] == [5, 50, 5, 0]
    pipeline = [a for a in alerts if a["kind"] == "pipeline"]
    assert [(a["subject"], a["status"], _minute(a)) for a in pipeline] == \
        [("invalid_events", "firing", 1), ("invalid_events", "resolved", 2)]
    firing, resolved = pipeline
    for alert in pipeline:
        validate_instance("alert", alert)
    assert (firing["statistic"], firing["threshold"], firing["evidence"]) == \
        ("invalid_rate", 0.01, {"count": 50, "of": 1050})
    assert firing["value"] == 50 / 1050 and firing["p_value"] < 0.01
    assert firing["runbook"].endswith("README.md#pipeline")
    assert resolved["value"] == 5 / 1005 and resolved["evidence"] == {"count": 5, "of": 1005}


def test_late_events_fire_a_pipeline_alert_unless_unwatched(tmp_path) -> None:
    minutes = [(1000, 0, 0), (1000, 0, 0), (1000, 0, 60), (1000, 0, 0)]
    reports, alerts = _replay(tmp_path, minutes)
    assert [r["late"] for r in reports] == [0, 0, 60, 0]
    assert [(a["subject"], a["status"], _minute(a), a["evidence"]) for a in alerts] == \
        [("late_events", "firing", 2, {"count": 60, "of": 1060}),
         # (of the events read while the watermark was in minute 3: its first second's came before)
         ("late_events", "resolved", 3, {"count": 0, "of": 979})]
    _, alerts = _replay(tmp_path, minutes, extra="    pipeline: {late_rate: null}\n")
    assert alerts == []


def test_hopping_windows_judge_the_events_of_one_slide(tmp_path) -> None:
    """2-minute windows sliding by 1: each event is in two windows, each dead letter in one. 28
    dead letters of the 1,000 events a minute brings are 2.7% (alert); of the 2,000 a window
    holds they would be 1.4%, not significantly above 1%."""
    reports, alerts = _replay(tmp_path, [(1000, 0, 0), (1000, 0, 0), (1000, 28, 0), (1000, 0, 0), (1000, 0, 0)],
                              size="2m")
    flagged = [(a["subject"], a["status"], a["evidence"]) for a in alerts if a["status"] == "firing"]
    assert flagged == [("invalid_events", "firing", {"count": 28, "of": 1028})]
    assert [r["count"] for r in reports if r["invalid"] == 28] == [2000]


def test_first_windows_of_a_stream_are_judged_on_the_events_that_came_with_their_dead_letters(tmp_path) -> None:
    """0.5% dead letters all along (half the ceiling): no alert. The first hopping windows hold
    one, then two slides of events (not size / slide times a full window's), and each window's
    dead letters are those met while one slide came: judged on the events read meanwhile."""
    minutes = [(2000, 10, 0)] * 8
    reports, alerts = _replay(tmp_path, minutes, size="6m")
    assert [r["count"] for r in reports][:3] == [2000, 4000, 6000]
    assert reports[0]["invalid"] == 10 and sum(r["invalid"] for r in reports) == 80
    assert [a for a in alerts if a["kind"] == "pipeline"] == []


def test_a_restored_partition_whose_snapshot_kept_no_arrivals_falls_back_once() -> None:
    from driftline.streams import state_codec
    from driftline.streams.windows import Partial

    p = Partial(0, {}, late=1, invalid=2, arrived=30)
    assert state_codec.partial_from_dict(state_codec.partial_to_dict(p), None).arrived == 30  # type: ignore[arg-type]
    old = {k: v for k, v in state_codec.partial_to_dict(p).items() if k != "arrived"}
    assert state_codec.partial_from_dict(old, None).arrived is None  # type: ignore[arg-type]


def test_a_snapshot_keeps_the_arrivals_and_an_older_one_leaves_the_next_partial_unknown() -> None:
    from driftline.detectors.reference import ReferenceProfile
    from driftline.detectors.window_sketch import MonitorLayout
    from driftline.streams import state_codec
    from driftline.streams.windows import PartitionWindows, WindowSpec

    spec = WindowSpec(1000, 1000, 0)
    layout = MonitorLayout.from_reference(ReferenceProfile({}, {}, None), {})
    w = PartitionWindows(spec, layout)
    w.pending_arrived = {500: 7}
    d = state_codec.windows_to_dict(w)
    again = state_codec.windows_from_dict(d, spec, layout)
    assert (again.pending_arrived, again.arrivals_partial) == ({500: 7}, False)
    del d["pending_arrived"]
    old = state_codec.windows_from_dict(d, spec, layout)
    assert old.arrivals_partial and "pending_arrived" not in state_codec.windows_to_dict(old)
    old.open[0] = {}
    old.open[1000] = {}
    first, second = old.close_ready(2000)
    assert (first.arrived, second.arrived) == (None, 0)
