"""``kafka.debug`` (librdkafka's debug contexts) on a real broker: the worker runs and gives
replay's reports. It used to abort (SIGABRT) right after its first assignment: the rebalance
callback called the consumer's own ``list_topics``, which left the consumer without its
confluent-kafka call state, and the next log line's callback asserted on it."""

from __future__ import annotations

import numpy as np
import pytest

from driftline import synth

from .harness import (
    assert_reports_equal,
    by_id,
    produce,
    replay_reports,
    start_worker,
    stop,
    wait_for_reports,
    wait_ready,
    write_setup,
)

pytestmark = pytest.mark.kafka


def test_librdkafka_debug_logging_runs(kafka, topic_factory, tmp_path):
    topic = topic_factory("debug", partitions=2)
    group = f"debug-{topic[-6:]}"
    cfg = write_setup(tmp_path, kafka.bootstrap, topic, group)
    cfg.write_text(cfg.read_text().replace("auto.offset.reset: earliest}", "auto.offset.reset: earliest, debug: 'broker,cgrp'}"))
    lines = synth.events(np.random.default_rng(2), 3000, rate=500.0)
    synth.write_lines(tmp_path / "events.jsonl", lines)
    want = by_id(replay_reports(cfg, tmp_path / "events.jsonl", tmp_path / "replay"))
    log = tmp_path / "worker.log"
    proc = start_worker(cfg, log=log, env={"PYTHONFAULTHANDLER": "1"})   # a C abort shows its Python stack
    try:
        wait_ready(log, proc)
        produce(kafka.bootstrap, topic, lines)
        got = by_id(wait_for_reports(kafka.bootstrap, f"{group}.reports", set(want), proc, log=log))
    finally:
        stop(proc)
    assert_reports_equal(got, want)
    assert "Traceback" not in log.read_text()
