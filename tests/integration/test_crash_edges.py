"""Crashes between a checkpoint and what a worker did since that a restarted worker would do
another way (at-least-once mode): a window an idle partition closed on the wall clock, the
dead letters of a batch whose snapshot is saved early (label join), and where a partition
without saved state starts."""

from __future__ import annotations

import time

import numpy as np
import orjson
import pytest
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)

from driftline import synth

from .harness import (
    checkpoints,
    events_seen,
    kill9,
    produce,
    read_json,
    read_topic,
    sample,
    scrape,
    start_worker,
    stop,
    wait_ready,
    write_setup,
)

pytestmark = pytest.mark.kafka

# long enough that no periodic checkpoint comes between the steps of a test
LONG_CHECKPOINTS = ("checkpoint_interval: 500ms", "checkpoint_interval: 120s")


def _windows(bootstrap: str, group: str) -> set[tuple[str, int, int]]:
    """(window start, count, late) of the all-versions reports so far."""
    return {(r["window_start"], r["count"], r["late"]) for r in read_json(bootstrap, f"{group}.reports")
            if r["model_version"] is None}


def _wait(what: str, done, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not (value := done()):
        assert time.monotonic() < deadline, f"no {what} after {timeout}s"
        time.sleep(0.3)
    return value


def test_a_window_an_idle_partition_closed_stays_closed_through_a_kill9(kafka, topic_factory, tmp_path):
    """The partition goes quiet, so its window closes on the wall clock (idle_timeout) and is
    judged; the worker dies before any periodic checkpoint and events of that window come.
    They are late, as without the crash: the state after the idle close was saved before its
    partial left (restored without it, the window took them, and tier 2 dropped its second
    partial as a repeat: 50 events in no report and no late count)."""
    topic = topic_factory("idle", partitions=1)
    group = f"idle-{topic[-6:]}"
    cfg = write_setup(tmp_path, kafka.bootstrap, topic, group, n_train=3000)
    cfg.write_text(cfg.read_text().replace(*LONG_CHECKPOINTS))
    rng = np.random.default_rng(3)
    events = synth.events(rng, 250, rate=100.0)                 # 0 .. 2.5 s: the first 5 s window
    first, late = events[:200], events[200:]
    later = synth.events(rng, 10, rate=100.0, offset=700)      # at 7 s: the next window
    log = tmp_path / "worker.log"
    proc = start_worker(cfg, log=log)
    try:
        wait_ready(log, proc)
        produce(kafka.bootstrap, topic, first)
        (w0,) = _wait("report of the idle-closed window", lambda: _windows(kafka.bootstrap, group))
        assert w0[1:] == (200, 0)
        kill9(proc)
        produce(kafka.bootstrap, topic, late)
        proc = start_worker(cfg, log=log)
        wait_ready(log, proc, started_before=1)
        produce(kafka.bootstrap, topic, later)
        _wait("report of the next window", lambda: len(_windows(kafka.bootstrap, group)) == 2)
    finally:
        stop(proc)
    (w1,) = _windows(kafka.bootstrap, group) - {w0}
    assert w1[1:] == (10, 50), "the events that came after the idle close must be counted late"


def test_dead_letters_are_delivered_before_a_label_join_saves_the_batch(kafka, topic_factory, tmp_path):
    """A monitor joining labels saves its state as soon as a batch closes a window, before the
    partials leave. The batch's dead letters go first: here the DLQ topic refuses the one
    dead letter (too large), the worker stops (exit 1) before saving a state past it, and once
    the topic takes it again the restarted worker delivers it (it was lost for good: the saved
    offset was past the invalid event)."""
    preds = topic_factory("preds", partitions=1)
    labels = topic_factory("labels", partitions=1)
    group = f"dlq-{preds[-6:]}"
    dlq = topic_factory(f"{group}.dlq", partitions=1)
    cfg = write_setup(tmp_path, kafka.bootstrap, preds, group, n_train=3000)
    text = cfg.read_text().replace(*LONG_CHECKPOINTS).replace(f"{group}.dlq", dlq)
    text = text.replace("auto.offset.reset: earliest}", "auto.offset.reset: earliest, message.timeout.ms: 3000}")
    assert f"source: {{predictions: {preds}}}" in text
    cfg.write_text(text.replace(f"source: {{predictions: {preds}}}",
                                f"source: {{predictions: {preds}, labels: {labels}}}"))
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})

    def dlq_limit(size: int) -> None:
        entry = ConfigEntry("max.message.bytes", str(size), incremental_operation=AlterConfigOpType.SET)
        for f in admin.incremental_alter_configs([ConfigResource(ResourceType.TOPIC, dlq,
                                                                 incremental_configs=[entry])]).values():
            f.result()

    rng = np.random.default_rng(3)
    # no timestamp: a dead letter; random text, so that compression does not shrink it below the limit
    bad = orjson.dumps({"event_id": "bad", "pad": rng.bytes(3000).hex()})
    events = [*synth.events(rng, 200, rate=100.0), bad, *synth.events(rng, 10, rate=100.0, offset=700)]
    dlq_limit(1000)
    log = tmp_path / "worker.log"
    proc = start_worker(cfg, log=log)
    try:
        url = wait_ready(log, proc)
        # a label read first: the windows need not wait for labels (the partition is read to its end)
        produce(kafka.bootstrap, labels, synth.label_events(events[:1]))
        _wait("label read", lambda: sample(scrape(url), "driftline_events_total", topic=labels) == 1)
        produce(kafka.bootstrap, preds, events)     # the dead letter, then a window closes
        assert proc.wait(timeout=60) == 1, log.read_text()[-3000:]
        saved = checkpoints(kafka.bootstrap, group)
        assert all(s["offset"] <= 200 for k, s in saved.items() if k.startswith("tier1")), saved
        dlq_limit(1_048_588)
        proc = start_worker(cfg, log=log)
        wait_ready(log, proc, started_before=1)
        # read_topic bounds its own read once the letter is there (20 s): 2 s could run out on a
        # loaded machine before the first fetch came back, failing the test from inside _wait
        letters = _wait("dead letter", lambda: read_topic(kafka.bootstrap, dlq))
    finally:
        stop(proc)
    assert [m.value() for m in letters] == [bad]


def test_where_a_partition_without_saved_state_starts_is_committed_at_once(kafka, topic_factory, tmp_path):
    """With ``auto.offset.reset: latest`` a new group starts at the end of the topic. A worker
    that dies before its first checkpoint has already committed that start: the restarted one
    reads the events written in between (it looked `latest` up again, and skipped them)."""
    topic = topic_factory("latest", partitions=1)
    group = f"latest-{topic[-6:]}"
    cfg = write_setup(tmp_path, kafka.bootstrap, topic, group, n_train=3000)
    cfg.write_text(cfg.read_text().replace(*LONG_CHECKPOINTS).replace("auto.offset.reset: earliest",
                                                                      "auto.offset.reset: latest"))
    rng = np.random.default_rng(4)
    produce(kafka.bootstrap, topic, synth.events(rng, 100, rate=100.0))   # before the group: not read
    log = tmp_path / "worker.log"
    proc = start_worker(cfg, log=log)
    try:
        assert events_seen(wait_ready(log, proc)) == 0
        kill9(proc)
        produce(kafka.bootstrap, topic, synth.events(rng, 300, rate=100.0, offset=100))
        proc = start_worker(cfg, log=log)
        url = wait_ready(log, proc, started_before=1)
        _wait("events read", lambda: events_seen(url) >= 300)
        time.sleep(1.0)
        seen = events_seen(url)
    finally:
        stop(proc)
    assert seen == 300
