"""Crash safety (DESIGN 4): kill -9 at random moments while a worker processes a live stream,
restart it each time, and the final reports equal an uninterrupted run's. The same harness
against a worker that commits offsets before its checkpoint must fail the check."""

from __future__ import annotations

import random
import threading
import time

import numpy as np
import pytest
from driftline.streams.run import BROKEN_ENV

from driftline import synth

from .harness import (
    by_id,
    kill9,
    metrics_urls,
    produce,
    read_json,
    replay_reports,
    start_worker,
    stop,
    wait_for_reports,
    wait_ready,
    write_setup,
)

pytestmark = pytest.mark.kafka

N_EVENTS = 40_000
MAX_KILLS = 8


def _crash_run(kafka, topic_factory, tmp_path, *, broken: bool, seed: int):
    topic = topic_factory("crash", partitions=4)
    group = f"crash{int(broken)}-{topic[-6:]}"
    # static membership: a restarted worker takes its partitions back without waiting for the
    # dead member's session to expire
    cfg = write_setup(tmp_path, kafka.bootstrap, topic, group,
                      extra="")
    text = cfg.read_text().replace("auto.offset.reset: earliest}",
                                   "auto.offset.reset: earliest, group.instance.id: w0, session.timeout.ms: 10000}")
    cfg.write_text(text)
    lines = synth.events(np.random.default_rng(seed), N_EVENTS, rate=1000.0,
                         drift=synth.Drift(at=N_EVENTS // 2, mean_shift=0.5))
    synth.write_lines(tmp_path / "events.jsonl", lines)
    want = by_id(replay_reports(cfg, tmp_path / "events.jsonl", tmp_path / "replay"))

    # a live stream: 40k events over ~40 s, in order
    def producer():
        for i in range(0, N_EVENTS, 1000):
            produce(kafka.bootstrap, topic, lines[i:i + 1000])
            time.sleep(1.0)

    feeder = threading.Thread(target=producer, daemon=True)
    log = tmp_path / "worker.log"
    env = {BROKEN_ENV: "1"} if broken else {}
    rng = random.Random(seed)
    proc = start_worker(cfg, log=log, env=env)
    try:
        wait_ready(log, proc)
        feeder.start()
        landed = 0
        while feeder.is_alive() and landed < MAX_KILLS:
            time.sleep(rng.uniform(0.3, 2.0))
            if proc.poll() is not None or not feeder.is_alive():
                break
            kill9(proc)   # the worker is ready and events are flowing: it is processing
            landed += 1
            started = len(metrics_urls(log))
            proc = start_worker(cfg, log=log, env=env)
            wait_ready(log, proc, started_before=started)
        feeder.join(timeout=120)
        try:
            got = wait_for_reports(kafka.bootstrap, f"{group}.reports", set(want), proc, timeout=60)
        except AssertionError:
            got = read_json(kafka.bootstrap, f"{group}.reports")
    finally:
        stop(proc)
    return landed, got, want


def _same(got, want) -> tuple[bool, str]:
    try:
        g = by_id(got)
    except AssertionError as exc:
        return False, str(exc)
    if set(g) != set(want):
        return False, f"{len(set(want) - set(g))} reports missing, {len(set(g) - set(want))} unexpected"
    bad = [rid for rid in want if g[rid]["count"] != want[rid]["count"] or g[rid] != want[rid]]
    return (not bad), f"{len(bad)} reports differ (e.g. count {g[bad[0]]['count']} vs {want[bad[0]]['count']})" if bad else "ok"


def test_kill9_at_random_moments_loses_and_doubles_nothing(kafka, topic_factory, tmp_path):
    landed, got, want = _crash_run(kafka, topic_factory, tmp_path, broken=False, seed=3)
    print(f"kills landed while processing: {landed}")
    assert landed >= 5
    ok, why = _same(got, want)
    assert ok, why


def test_committing_before_the_checkpoint_fails_the_same_check(kafka, topic_factory, tmp_path):
    landed, got, want = _crash_run(kafka, topic_factory, tmp_path, broken=True, seed=3)
    ok, why = _same(got, want)
    print(f"broken variant, kills landed: {landed}: {why}")
    assert landed >= 5
    assert not ok, "the broken variant passed: the crash test cannot tell right from wrong"
