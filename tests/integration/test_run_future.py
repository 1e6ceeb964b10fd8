"""``limits.max_future`` on the real broker: one event stamped ten years ahead, produced now
(its Kafka record's time) in the middle of a partition's stream, goes to the DLQ topic with
reason ``future_timestamp`` and moves no watermark, so the reports are those of ``replay`` of
the stream without it. Without the guard (``max_future: null``) every later event of that
partition is late: what the guard is for, and proof that the first test can fail."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import orjson
import pytest

from driftline import synth

from .harness import (
    assert_reports_equal,
    by_id,
    events_seen,
    produce,
    read_topic,
    replay_reports,
    sample,
    scrape,
    start_worker,
    stop,
    wait_for_reports,
    wait_ready,
    window_key,
    write_setup,
)

pytestmark = pytest.mark.kafka

N = 6000          # 12 s of event time at 500 events/s: three 5 s windows
FAR_AT = 3001     # where the far event is in the stream: odd, so in partition 1 (i % 2) ...
FAR_OFFSET = 1500  # ... at this offset there


def _setup(kafka, topic_factory, tmp_path: Path, name: str, limits: str = "") -> SimpleNamespace:
    """The stream (with the far event) and its replay without it, for a worker whose config
    has ``limits`` added to the harness's limits."""
    topic = topic_factory(name, partitions=2)
    group = f"{name}-{topic[-6:]}"
    cfg = write_setup(tmp_path, kafka.bootstrap, topic, group)
    if limits:
        text = cfg.read_text()
        assert "batch_size: 500}" in text
        cfg.write_text(text.replace("batch_size: 500}", f"batch_size: 500, {limits}}}"))
    lines = synth.events(np.random.default_rng(12), N, rate=500.0)
    synth.write_lines(tmp_path / "events.jsonl", lines)
    ahead = (datetime.now(UTC) + timedelta(days=3652)).isoformat(timespec="seconds").replace("+00:00", "Z")
    far = orjson.dumps({**orjson.loads(lines[FAR_AT]), "event_id": "far", "timestamp": ahead})
    # by window: run's counts (late events) and so its report ids may differ from replay's
    want = {window_key(r): r for r in by_id(replay_reports(cfg, tmp_path / "events.jsonl", tmp_path / "replay")).values()}
    # events of partition 1 after the far one: the late ones without the guard
    after = sum(1 for i in range(FAR_AT + 1, N + 1) if i % 2 == 1)
    return SimpleNamespace(topic=topic, group=group, cfg=cfg, stream=[*lines[:FAR_AT], far, *lines[FAR_AT:]],
                           far=far, ahead=ahead, want=want, after=after)


def _run(kafka, s: SimpleNamespace, tmp_path: Path) -> tuple[dict, dict]:
    """Produce the stream once the worker holds its partitions (record times: now), wait for
    every window replay judged and for every event to be read; the reports and metrics."""
    log = tmp_path / "worker.log"
    proc = start_worker(s.cfg, log=log)
    try:
        url = wait_ready(log, proc)
        produce(kafka.bootstrap, s.topic, s.stream, partition_of=lambda i, _line: i % 2)
        reports = wait_for_reports(kafka.bootstrap, f"{s.group}.reports", set(s.want), proc, timeout=90, log=log,
                                   key=window_key)
        got = {window_key(r): r for r in by_id(reports).values()}
        reading = time.monotonic() + 30.0      # events in no report (late ones) may still be read
        while events_seen(url) < len(s.stream) and time.monotonic() < reading:
            time.sleep(0.2)
        assert events_seen(url) == len(s.stream)
        metrics = scrape(url)
    finally:
        stop(proc)
    assert "Traceback" not in log.read_text()
    return got, metrics


def _without_invalid(reports: dict) -> dict:
    return {rid: {k: v for k, v in r.items() if k not in ("invalid", "report_id")} for rid, r in reports.items()}


def test_an_event_ten_years_ahead_goes_to_the_dlq_and_run_equals_replay(kafka, topic_factory, tmp_path):
    s = _setup(kafka, topic_factory, tmp_path, "future")   # limits.max_future: 1h, the default
    got, metrics = _run(kafka, s, tmp_path)
    (dead,) = read_topic(kafka.bootstrap, f"{s.group}.dlq")
    headers = {k: v.decode() for k, v in dead.headers()}
    assert dead.value() == s.far and dead.key() == b"fraud"
    assert {k: headers[f"driftline.error.{k}"] for k in ("reason", "stage", "topic", "partition", "offset")} == {
        "reason": "future_timestamp", "stage": "decode", "topic": s.topic, "partition": "1",
        "offset": str(FAR_OFFSET)}
    detail = headers["driftline.error.detail"]
    assert detail.startswith(f"timestamp {s.ahead} is 3,65") and " days after its Kafka record's time 20" in detail
    assert detail.endswith("; the limit is limits.max_future = 1h")
    # no event counted late that was not late, the far one is one invalid event of its window
    assert sum(r["late"] for r in got.values()) == 0
    assert sum(r["invalid"] for r in got.values()) == 1
    assert_reports_equal(_without_invalid(got), _without_invalid(s.want))
    fraud = {"monitor": "fraud"}
    assert sample(metrics, "driftline_events_invalid_total", reason="future_timestamp", **fraud) == 1
    assert sample(metrics, "driftline_events_late_total", **fraud) == 0


def test_without_the_guard_every_later_event_of_its_partition_is_late(kafka, topic_factory, tmp_path):
    s = _setup(kafka, topic_factory, tmp_path, "unguarded", limits="max_future: null")
    got, metrics = _run(kafka, s, tmp_path)
    assert read_topic(kafka.bootstrap, f"{s.group}.dlq") == []
    assert s.after > 1000
    assert sample(metrics, "driftline_events_late_total", monitor="fraud") == s.after
    # they reached no window: that partition is blind (the far event's own window is judged
    # once the partition idles past it, a report of one event ten years ahead)
    overall = [got[rid] for rid, r in s.want.items() if r["model_version"] is None]
    assert sum(r["count"] for r in overall) == N - s.after
