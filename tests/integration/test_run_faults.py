"""Poison pills, late and out-of-order events on the real broker (DESIGN 3.2, 3.5)."""

from __future__ import annotations

import random
import time
import zlib
from datetime import UTC, datetime

import numpy as np
import orjson
import pytest

from driftline import synth

from .harness import (
    http_get,
    produce,
    read_json,
    read_topic,
    replay_reports,
    sample,
    scrape,
    start_worker,
    stop,
    wait_for_reports,
    wait_ready,
    write_setup,
)

pytestmark = pytest.mark.kafka

POISON = [
    (b"not json at all", "invalid_json"),
    (b'{"event_id": "p1", "timestamp": NaN}', "non_finite"),
    (b"[1, 2, 3]", "not_an_object"),
    (b'{"timestamp": "2026-11-25T10:00:01Z", "features": {}}', "missing_field"),
    (b'{"event_id": "p2", "timestamp": "yesterday", "features": {}}', "bad_timestamp"),
    (b'{"event_id": "p3", "timestamp": "2026-11-25T10:00:01Z", "features": {"n00_normal": "high"}}', "wrong_type"),
    (b"\xff\xfe binary", "invalid_json"),
    (b"", "invalid_json"),
]


def test_poison_pills_reach_the_dlq_and_the_worker_keeps_going(kafka, topic_factory, tmp_path):
    topic = topic_factory("poison", partitions=3)
    group = f"poison-{topic[-6:]}"
    cfg = write_setup(tmp_path, kafka.bootstrap, topic, group)
    good = synth.events(np.random.default_rng(9), 9000, rate=500.0)
    rng = random.Random(4)
    mixed, bad = [], []
    for line in good:
        mixed.append(line)
        if rng.random() < 1 / 9:   # ~10% of all events are malformed
            raw, reason = POISON[len(bad) % len(POISON)]
            mixed.append(raw)
            bad.append((raw, reason))
    synth.write_lines(tmp_path / "good.jsonl", good)
    want = {r["report_id"]: r for r in replay_reports(cfg, tmp_path / "good.jsonl", tmp_path / "replay")}
    produce(kafka.bootstrap, topic, mixed, key_of=lambda line: str(zlib.crc32(line) % 1000).encode())
    log = tmp_path / "worker.log"
    proc = start_worker(cfg, log=log)
    try:
        url = wait_ready(log, proc)
        got = {r["report_id"]: r for r in wait_for_reports(kafka.bootstrap, f"{group}.reports", set(want), proc, log=log)}
        assert proc.poll() is None and http_get(url.replace("/metrics", "/healthz"))[0] == 200
    finally:
        stop(proc)
    assert {k: r["count"] for k, r in got.items()} == {k: r["count"] for k, r in want.items()}
    assert sum(r["invalid"] for r in got.values() if r["model_version"] is None) == len(bad)
    dlq = read_topic(kafka.bootstrap, f"{group}.dlq")
    assert len(dlq) == len(bad)
    seen = sorted((m.value(), dict(m.headers())["driftline.error.reason"].decode()) for m in dlq)
    assert seen == sorted(bad)
    for m in dlq:
        h = dict(m.headers())
        assert m.key() == b"fraud"
        assert h["driftline.error.topic"].decode() == topic
        assert int(h["driftline.error.partition"]) in range(3)
        assert int(h["driftline.error.offset"]) >= 0
        assert h["driftline.error.stage"] == b"decode"
    # ~10% dead letters in every window: a pipeline alert, its rate a share of the events the
    # three partitions read meanwhile (tier 1's arrival counts, summed by tier 2)
    firing = [a for a in read_json(kafka.bootstrap, f"{group}.alerts") if a["kind"] == "pipeline"]
    assert [(a["subject"], a["status"]) for a in firing[:1]] == [("invalid_events", "firing")], firing
    alert = firing[0]
    report = next(r for r in got.values() if r["model_version"] is None and r["window_start"] == alert["window_start"])
    assert alert["evidence"]["count"] == report["invalid"] and 0.05 < alert["value"] < 0.2, (alert, report)
    assert alert["evidence"]["of"] == pytest.approx(report["count"] + report["invalid"], rel=0.2), (alert, report)


def _at(event: bytes, seconds: float) -> bytes:
    obj = orjson.loads(event)
    obj["timestamp"] = datetime.fromtimestamp(synth.START + seconds, UTC).isoformat().replace("+00:00", "Z")
    return orjson.dumps(obj)


def test_late_and_out_of_order_events(kafka, topic_factory, tmp_path):
    topic = topic_factory("late", partitions=1)
    group = f"late-{topic[-6:]}"
    cfg = write_setup(tmp_path, kafka.bootstrap, topic, group)   # 5 s windows, 1 s grace
    base = synth.events(np.random.default_rng(2), 8)
    # times (s): 4.8 arrives after 5.5 but within the grace (watermark 4.5): window [0, 5);
    # 3.0 arrives after 7.0 moved the watermark to 6.0, past the end of [0, 5): late
    times = [0.5, 1.0, 5.5, 4.8, 7.0, 3.0, 12.0, 13.0]
    events = [_at(e, t) for e, t in zip(base, times, strict=True)]
    produce(kafka.bootstrap, topic, events)
    log = tmp_path / "worker.log"
    proc = start_worker(cfg, log=log)
    try:
        url = wait_ready(log, proc)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            reports = [r for r in read_json(kafka.bootstrap, f"{group}.reports") if r["model_version"] is None]
            if len(reports) >= 3:
                break
            time.sleep(1)
        metrics = scrape(url)
    finally:
        stop(proc)
    # read again once the worker is gone: no other report came later
    reports = [r for r in read_json(kafka.bootstrap, f"{group}.reports") if r["model_version"] is None]
    assert len(reports) == 3, [r["window_start"] for r in reports]
    by_start = {r["window_start"]: r for r in reports}
    assert by_start["2026-11-25T10:00:00Z"]["count"] == 3      # 0.5, 1.0 and the out-of-order 4.8
    assert by_start["2026-11-25T10:00:05Z"]["count"] == 2      # 5.5, 7.0
    assert by_start["2026-11-25T10:00:10Z"]["count"] == 2      # 12, 13
    assert sum(r["late"] for r in by_start.values()) == 1      # 3.0, counted, never silently dropped
    assert sample(metrics, "driftline_events_late_total", monitor="fraud") == 1


def test_a_partition_that_never_gets_an_event_holds_no_window_back(kafka, topic_factory, tmp_path):
    """Three partitions, events only ever in two, produced once the worker holds all three:
    the empty one is idle from the start, and its repeated idle claims let tier 2 judge every
    window (its first claim, made before any window closed elsewhere, lets off none)."""
    topic = topic_factory("sparse", partitions=3)
    group = f"sparse-{topic[-6:]}"
    cfg = write_setup(tmp_path, kafka.bootstrap, topic, group)
    lines = synth.events(np.random.default_rng(6), 6000, rate=500.0)
    synth.write_lines(tmp_path / "events.jsonl", lines)
    want = {r["report_id"]: r for r in replay_reports(cfg, tmp_path / "events.jsonl", tmp_path / "replay")}
    log = tmp_path / "worker.log"
    proc = start_worker(cfg, log=log)
    try:
        wait_ready(log, proc)
        time.sleep(2.0)   # past idle_timeout (1 s): partition 2 claims idleness before any event exists
        produce(kafka.bootstrap, topic, lines, partition_of=lambda i, line: i % 2)
        got = {r["report_id"]: r for r in wait_for_reports(kafka.bootstrap, f"{group}.reports", set(want), proc,
                                                         timeout=60)}
    finally:
        stop(proc)
    assert {k: r["count"] for k, r in got.items()} == {k: r["count"] for k, r in want.items()}
    assert sum(r["late"] for r in got.values()) == 0
