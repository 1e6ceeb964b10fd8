"""`driftline run` joins a labels topic on a real broker, and its performance reports are those
of `driftline replay --labels` (streams/stream_join.py, DESIGN 4).

- labels that arrive first wait for their predictions (two workers: each holds the same
  partitions of both topics);
- predictions that arrive first wait for their labels while their windows are open, through
  a kill -9 and a restart from the checkpoint (the join's stores and the labels topic's offset
  are in it);
- malformed labels reach the DLQ topic with stage decode_labels.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import numpy as np
import orjson
import pytest
from driftline.streams.worker import EXIT_AFTER_OUTBOX_ENV, LAG_SAMPLE_INTERVAL

from driftline import synth

from .harness import (
    assert_reports_equal,
    by_id,
    kill9,
    produce,
    read_json,
    read_topic,
    replay_reports,
    sample,
    scrape,
    start_worker,
    stop,
    wait_all_ready,
    wait_checkpointed,
    wait_for_reports,
    wait_ready,
    write_setup,
)

pytestmark = pytest.mark.kafka

N = 6000                 # 200 events/s of event time: 30 s, six 5 s windows
BAD_LABELS = [b"not json", b'{"event_id": "e5", "label": 3}', b'{"label": 1}']


def _setup(kafka, topic_factory, tmp_path, name, grace="1s", partitions=4):
    preds = topic_factory(name, partitions=partitions)
    labels_topic = topic_factory(f"{name}-labels", partitions=partitions)
    group = f"{name}-{preds[-6:]}"
    cfg = write_setup(tmp_path, kafka.bootstrap, preds, group)
    text = cfg.read_text().replace(f"source: {{predictions: {preds}}}",
                                   f"source: {{predictions: {preds}, labels: {labels_topic}}}")
    cfg.write_text(text.replace("grace: 1s", f"grace: {grace}"))
    drift = synth.Drift(at=N // 2, label_error=0.25)
    events = synth.events(np.random.default_rng(4), N, rate=200.0, drift=drift, versions=("v3", "v4"))
    labels = synth.label_events(events, drift)
    return cfg, preds, labels_topic, group, events, labels


def _events_read(url: str, topic: str) -> float:
    return sum(v for lab, v in scrape(url).get("driftline_events_total", []) if lab["topic"] == topic)


def _wait_read(urls, topic, n, timeout=60.0):
    deadline = time.monotonic() + timeout
    while sum(_events_read(u, topic) for u in urls) < n:
        assert time.monotonic() < deadline, f"the workers did not read {n} events of {topic}"
        time.sleep(0.3)


def _caught_up(scraped: list, labels_topic: str) -> bool:
    """The workers' last gauge samples show nothing left to read or waiting to pair."""
    lags = [v for s in scraped for lab, v in s.get("driftline_consumer_lag_messages", []) if lab["topic"] == labels_topic]
    waiting = [v for s in scraped for _, v in s.get("driftline_label_join_waiting", [])]
    return len(lags) == 4 and sum(lags) == 0 and len(waiting) > 0 and sum(waiting) == 0


def _performance(reports: dict) -> dict:
    return {rid: r["performance"] for rid, r in reports.items()}


def test_labels_first_two_workers_report_the_performance_of_replay(kafka, topic_factory, tmp_path):
    cfg, preds, labels_topic, group, events, labels = _setup(kafka, topic_factory, tmp_path, "lab1")
    synth.write_lines(tmp_path / "events.jsonl", events)
    synth.write_lines(tmp_path / "labels.jsonl", labels)
    want = by_id(replay_reports(cfg, tmp_path / "events.jsonl", tmp_path / "replay", tmp_path / "labels.jsonl"))
    assert all(r["performance"] is not None and r["performance"]["count"] > 0 for r in want.values())
    log = tmp_path / "worker.log"
    proc = start_worker(cfg, "--workers", "2", log=log)
    try:
        urls = wait_all_ready(log, proc, 2)
        produce(kafka.bootstrap, labels_topic, labels)
        produce(kafka.bootstrap, labels_topic, BAD_LABELS, key_of=lambda line: b"bad")
        _wait_read(urls, labels_topic, len(labels) + len(BAD_LABELS))
        produce(kafka.bootstrap, preds, events)
        got = by_id(wait_for_reports(kafka.bootstrap, f"{group}.reports", set(want), proc, log=log))
        # the lag and waiting gauges are sampled every LAG_SAMPLE_INTERVAL: wait for a sample
        # taken after the catch-up
        deadline = time.monotonic() + 3 * LAG_SAMPLE_INTERVAL
        while True:
            lag = [scrape(u) for u in urls]
            if _caught_up(lag, labels_topic) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        stop(proc)
    assert_reports_equal(got, want)
    alerts = read_json(kafka.bootstrap, f"{group}.alerts")
    assert {a["subject"] for a in alerts if a["kind"] == "performance" and a["status"] == "firing"}
    dead = read_topic(kafka.bootstrap, f"{group}.dlq")
    headers = [{k: v.decode() for k, v in m.headers()} for m in dead]
    assert sorted(m.value() for m in dead) == sorted(BAD_LABELS)
    assert sorted(h["driftline.error.reason"] for h in headers) == ["bad_label", "invalid_json", "missing_field"]
    assert {(h["driftline.error.stage"], h["driftline.error.topic"]) for h in headers} == {
        ("decode_labels", labels_topic)}
    # each worker reports the lag of the labels partitions it holds: nothing left to read
    lags = [v for s in lag for lab, v in s.get("driftline_consumer_lag_messages", []) if lab["topic"] == labels_topic]
    assert len(lags) == 4 and sum(lags) == 0
    # what became of the labels, summed over the two workers: every valid one paired
    outcomes = {}
    for scraped in lag:
        for lab, v in scraped.get("driftline_labels_total", []):
            outcomes[lab["outcome"]] = outcomes.get(lab["outcome"], 0) + v
    assert outcomes == {"pairs": N, "invalid": len(BAD_LABELS)}
    waiting = {}
    for scraped in lag:
        for lab, v in scraped.get("driftline_label_join_waiting", []):
            waiting[lab["side"]] = waiting.get(lab["side"], 0) + v
    assert waiting == {"labels": 0, "predictions": 0}
    assert "Traceback" not in log.read_text()


def test_a_backlog_of_both_topics_reports_the_performance_of_replay(kafka, topic_factory, tmp_path):
    """Predictions and their labels produced in turns (each label right after its batch of
    predictions, as live) before any worker runs: a worker reading the backlog gets far
    ahead in the predictions partitions, so windows wait for the labels produced before
    their closing prediction (by Kafka record time), as they would have live, and the
    reports are replay's."""
    cfg, preds, labels_topic, group, events, labels = _setup(kafka, topic_factory, tmp_path, "lab4", partitions=3)

    def backlog() -> None:
        for i in range(0, N, 200):     # 1 s of event time a turn: windows close 1 s (grace) later
            produce(kafka.bootstrap, preds, events[i:i + 200])
            produce(kafka.bootstrap, labels_topic, labels[i:i + 200])

    _, log = _backlog_as_replay(kafka, cfg, group, events, labels, tmp_path, backlog)
    assert "Traceback" not in log


def _backlog_as_replay(kafka, cfg, group, events, labels, tmp_path, backlog) -> tuple[dict, str]:
    """``backlog()`` produces both topics before a worker starts: its reports are replay's and
    every label pairs; returns its metrics at the end and its log."""
    synth.write_lines(tmp_path / "events.jsonl", events)
    synth.write_lines(tmp_path / "labels.jsonl", labels)
    want = by_id(replay_reports(cfg, tmp_path / "events.jsonl", tmp_path / "replay", tmp_path / "labels.jsonl"))
    backlog()
    log = tmp_path / "worker.log"
    proc = start_worker(cfg, log=log, env={"DRIFTLINE_LOG_LEVEL": "DEBUG"})
    try:
        url = wait_ready(log, proc)
        got = by_id(wait_for_reports(kafka.bootstrap, f"{group}.reports", set(want), proc, log=log))
        after = scrape(url)
    finally:
        stop(proc)
    assert_reports_equal(got, want)
    assert sample(after, "driftline_labels_total", outcome="pairs") == N
    return after, log.read_text()


def test_a_labels_backlog_beyond_the_join_cap_waits_in_its_topic(kafka, topic_factory, tmp_path):
    """Every label produced before any prediction, 3,000 per partition against a join cap of
    1,200: the worker pauses the labels partitions while their labels wait for predictions
    still unread (instead of evicting them as unmatched) and the reports are replay's."""
    cfg, preds, labels_topic, group, events, labels = _setup(kafka, topic_factory, tmp_path, "lab5", partitions=2)
    cfg.write_text(cfg.read_text().replace("batch_size: 500}", "batch_size: 500, max_join_waiting: 1200}"))

    def backlog() -> None:
        produce(kafka.bootstrap, labels_topic, labels)
        produce(kafka.bootstrap, preds, events)

    after, log = _backlog_as_replay(kafka, cfg, group, events, labels, tmp_path, backlog)
    # nothing left the join at its cap: no label unmatched, no prediction evicted
    assert {lab["outcome"] for lab, _ in after["driftline_labels_total"]} == {"pairs"}
    assert "partition paused" in log


def test_predictions_first_wait_for_their_labels_through_a_kill9(kafka, topic_factory, tmp_path):
    # a grace of 2 minutes: every window waits for its labels until the closing events below
    cfg, preds, labels_topic, group, events, labels = _setup(kafka, topic_factory, tmp_path, "lab2", grace="120s")
    # static membership: the restarted worker takes its partitions back at once
    cfg.write_text(cfg.read_text().replace("auto.offset.reset: earliest}",
                                           "auto.offset.reset: earliest, group.instance.id: w0, session.timeout.ms: 10000}"))
    # one event per partition, 10 minutes later, closes every window of the stream
    later = datetime.fromtimestamp(synth.START + N / 200.0 + 600, UTC).isoformat().replace("+00:00", "Z")
    closers = [orjson.dumps({**orjson.loads(events[i]), "event_id": f"closer{i}", "timestamp": later})
               for i in range(4)]
    synth.write_lines(tmp_path / "events.jsonl", events + closers)
    synth.write_lines(tmp_path / "labels.jsonl", labels)
    want = by_id(replay_reports(cfg, tmp_path / "events.jsonl", tmp_path / "replay", tmp_path / "labels.jsonl"))
    closing = max(r["window_start"] for r in want.values())
    want = {rid: r for rid, r in want.items() if r["window_start"] != closing}
    log = tmp_path / "worker.log"
    proc = start_worker(cfg, log=log)
    try:
        url = wait_ready(log, proc)
        produce(kafka.bootstrap, preds, events)
        _wait_read([url], preds, N)
        produce(kafka.bootstrap, labels_topic, labels[: N // 2])
        _wait_read([url], labels_topic, N // 2)

        def holds_all_read(snaps: dict) -> bool:   # every prediction and label read so far
            tier1 = [v for k, v in snaps.items() if k.startswith(f"tier1|{preds}|")]
            return (sum(v["offset"] for v in tier1) == N
                    and sum(v.get("label_offsets", {}).get(labels_topic, 0) for v in tier1) == N // 2)

        # a checkpoint (every 500 ms) holds the waiting predictions
        wait_checkpointed(kafka.bootstrap, group, holds_all_read, proc, "every event read")
        kill9(proc)
        proc = start_worker(cfg, log=log)
        url = wait_ready(log, proc, started_before=1)
        produce(kafka.bootstrap, labels_topic, labels[N // 2:])
        # the two topics are read side by side: a closing event read before the labels of its
        # partition would close their windows first (and the labels would then be unmatched)
        _wait_read([url], labels_topic, N - N // 2)
        produce(kafka.bootstrap, preds, closers, partition_of=lambda i, _line: i)
        got = by_id(wait_for_reports(kafka.bootstrap, f"{group}.reports", set(want), proc, log=log))
        after = scrape(url)
    finally:
        stop(proc)
    # the restarted worker resumed from the checkpoint (it read no prediction or label twice):
    # the pairs of the second half of the labels are with predictions it restored waiting
    assert sample(after, "driftline_events_total", topic=preds) == len(closers)
    assert sample(after, "driftline_events_total", topic=labels_topic) == N - N // 2
    assert sample(after, "driftline_labels_total", outcome="pairs") == N - N // 2
    got = {rid: r for rid, r in got.items() if r["window_start"] != closing}
    assert_reports_equal(got, want)
    assert sum(r["performance"]["count"] for r in got.values() if r["model_version"] is None) == N
    assert "Traceback" not in log.read_text()


def test_a_crash_after_a_window_closed_resumes_from_the_state_after_the_close(kafka, topic_factory, tmp_path):
    """Windows of a label-joining monitor close as two topics interleave, which a restarted
    worker would redo differently: the state after a close is saved before its partials leave.
    The worker dies right after sending its first partials (the test hook), long before any
    periodic checkpoint; the restarted one resumes from the saved state (it reads no label and
    not every prediction again) and the reports are replay's. One partition: a partition
    without saved state would read both topics again side by side, and lose pairs to windows
    closing before their labels are read, which is what this saving prevents."""
    cfg, preds, labels_topic, group, events, labels = _setup(kafka, topic_factory, tmp_path, "lab3", partitions=1)
    cfg.write_text(cfg.read_text().replace("checkpoint_interval: 500ms", "checkpoint_interval: 60s").replace(
        "auto.offset.reset: earliest}", "auto.offset.reset: earliest, group.instance.id: w0, session.timeout.ms: 10000}"))
    synth.write_lines(tmp_path / "events.jsonl", events)
    synth.write_lines(tmp_path / "labels.jsonl", labels)
    want = by_id(replay_reports(cfg, tmp_path / "events.jsonl", tmp_path / "replay", tmp_path / "labels.jsonl"))
    produce(kafka.bootstrap, labels_topic, labels)
    log = tmp_path / "worker.log"
    proc = start_worker(cfg, log=log, env={EXIT_AFTER_OUTBOX_ENV: "1"})
    try:
        wait_ready(log, proc)
        _wait_read([wait_ready(log, proc)], labels_topic, len(labels))
        produce(kafka.bootstrap, preds, events)
        assert proc.wait(timeout=60) == 9, "the worker did not stop at the test hook"
        proc = start_worker(cfg, log=log)
        url = wait_ready(log, proc, started_before=1)
        got = by_id(wait_for_reports(kafka.bootstrap, f"{group}.reports", set(want), proc, log=log))
        after = scrape(url)
    finally:
        stop(proc)
    assert_reports_equal(got, want)
    # restored after the close: the labels (all read before it) and the first predictions are not read again
    assert [v for lab, v in after.get("driftline_events_total", []) if lab["topic"] == labels_topic] in ([], [0.0])
    assert 0 < sample(after, "driftline_events_total", topic=preds) < N

