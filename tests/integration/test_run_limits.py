"""The runtime's own limits on the real broker: messages above librdkafka's 1 MB default
(a dead letter of an oversized event, checkpoints of many open windows), a dead letter above
its DLQ topic's own limit (cut to fit), a partition that only ever gets invalid events, a
restart under another reference, and a broker that stops answering for longer than a flush."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time

import numpy as np
import orjson
import pytest
from confluent_kafka import Producer
from driftline.schemas.config import load_config
from driftline.streams.exceptions import KafkaSetupError
from driftline.streams.reference_io import build_profile, write_reference

from driftline import synth

from .harness import (
    assert_reports_equal,
    events_seen,
    kill9,
    produce,
    read_json,
    read_topic,
    replay_reports,
    sample,
    scrape,
    start_worker,
    stop,
    wait_checkpointed,
    wait_for_reports,
    wait_ready,
    write_setup,
)

pytestmark = pytest.mark.kafka


def test_an_oversized_event_and_checkpoints_above_1_mb_go_through(kafka, topic_factory, tmp_path):
    # 30 s windows sliding by 1 s: every event is in 30 windows, so a checkpoint holds ~36 open
    # window sketches (~2 MB of JSON), and one event of 1.5 MB (over limits.max_event_bytes,
    # 1 MiB) must reach the DLQ whole: both above librdkafka's default message.max.bytes
    topic = topic_factory("big", partitions=1, config={"max.message.bytes": str(4 << 20)})
    group = f"big-{topic[-6:]}"
    cfg = write_setup(tmp_path, kafka.bootstrap, topic, group, window="30s, slide: 1s")
    good = synth.events(np.random.default_rng(3), 3000, rate=500.0)
    big = orjson.dumps({"event_id": "huge", "timestamp": "2026-11-25T10:00:01Z", "pad": "x" * 1_500_000})
    p = Producer({"bootstrap.servers": kafka.bootstrap, "message.max.bytes": 4 << 20})
    for i, line in enumerate(good):
        p.produce(topic, line, b"k")
        if i == 1000:
            p.produce(topic, big, b"k")
        p.poll(0)
    assert p.flush(30) == 0
    synth.write_lines(tmp_path / "good.jsonl", good)
    want = {r["report_id"]: r for r in replay_reports(cfg, tmp_path / "good.jsonl", tmp_path / "replay")}
    log = tmp_path / "worker.log"
    proc = start_worker(cfg, log=log)
    try:
        url = wait_ready(log, proc)
        reading = time.monotonic() + 60.0
        while events_seen(url) < len(good) + 1:   # all read, the big one too
            assert proc.poll() is None and time.monotonic() < reading, log.read_text()[-2000:]
            time.sleep(0.2)
        stop(proc)         # SIGTERM: a last checkpoint; the windows still open stay in it
        sizes = [len(m.value()) for m in read_topic(kafka.bootstrap, f"driftline.{group}.changelog")]
        assert max(sizes) > 1_000_000, sizes
        dlq = read_topic(kafka.bootstrap, f"{group}.dlq")
        assert [(m.value(), dict(m.headers())["driftline.error.reason"]) for m in dlq] == [(big, b"too_large")]
        # restarted, it restores those checkpoints and finishes the windows like replay
        proc = start_worker(cfg, log=log)
        wait_ready(log, proc, started_before=1)
        got = wait_for_reports(kafka.bootstrap, f"{group}.reports", set(want), proc, timeout=90, log=log)
    finally:
        stop(proc)
    assert {r["report_id"]: r["count"] for r in got} == {k: r["count"] for k, r in want.items()}


def test_a_dead_letter_above_the_dlq_topics_limit_is_cut_to_fit(kafka, topic_factory, tmp_path):
    # the DLQ topic is the operator's, made before the worker starts with a limit of 100 kB;
    # an invalid event (no timestamp) of 300 kB of base64 noise, which lz4 cannot shrink below
    # that, must reach it cut to fit, its original size in a header, and the worker go on
    limit = 100_000
    topic = topic_factory("trunc", partitions=1)
    group = f"trunc-{topic[-6:]}"
    kafka.create_topic(f"{group}.dlq", 1, {"max.message.bytes": str(limit)})
    cfg = write_setup(tmp_path, kafka.bootstrap, topic, group)
    good = synth.events(np.random.default_rng(6), 3000, rate=500.0)
    noise = base64.b64encode(np.random.default_rng(7).bytes(225_000))
    big = b'{"event_id": "huge", "pad": "' + noise + b'"}'
    assert len(big) > 3 * limit
    synth.write_lines(tmp_path / "good.jsonl", good)
    want = {r["report_id"]: r for r in replay_reports(cfg, tmp_path / "good.jsonl", tmp_path / "replay")}
    produce(kafka.bootstrap, topic, [*good[:1000], big, *good[1000:]])
    log = tmp_path / "worker.log"
    proc = start_worker(cfg, log=log)
    try:
        wait_ready(log, proc)
        # the events after the dead letter are judged too: every window of replay is reported
        got = wait_for_reports(kafka.bootstrap, f"{group}.reports", set(want), proc, timeout=90, log=log)
        assert proc.poll() is None, log.read_text()[-2000:]
    finally:
        stop(proc)         # exit 0, not a delivery failure
    assert {r["report_id"]: r["count"] for r in got} == {k: r["count"] for k, r in want.items()}
    dlq = read_topic(kafka.bootstrap, f"{group}.dlq")
    assert len(dlq) == 1
    value, headers = dlq[0].value(), dict(dlq[0].headers())
    assert 1024 <= len(value) < limit and big.startswith(value)     # its first bytes, cut to fit
    assert headers["driftline.value.truncated"] == str(len(big)).encode()
    assert headers["driftline.error.reason"] == b"missing_field"


def _replayed(kafka, topic_factory, tmp_path, name: str, n: int):
    """A 2-partition topic, its group and config, ``n`` synthetic events (written to
    events.jsonl, not produced yet) and replay's reports of them by id."""
    topic = topic_factory(name, partitions=2)
    group = f"{name}-{topic[-6:]}"
    cfg = write_setup(tmp_path, kafka.bootstrap, topic, group)
    lines = synth.events(np.random.default_rng(8), n, rate=500.0)
    synth.write_lines(tmp_path / "events.jsonl", lines)
    want = {r["report_id"]: r for r in replay_reports(cfg, tmp_path / "events.jsonl", tmp_path / "replay")}
    return topic, group, cfg, lines, want


def test_a_partition_fed_only_invalid_events_holds_no_window_back(kafka, topic_factory, tmp_path):
    topic, group, cfg, lines, want = _replayed(kafka, topic_factory, tmp_path, "junk", 4000)
    log = tmp_path / "worker.log"
    proc = start_worker(cfg, log=log)
    try:
        wait_ready(log, proc)
        produce(kafka.bootstrap, topic, lines, partition_of=lambda i, line: 0)
        # partition 1 gets an invalid event every 200 ms all along: never silent, never valid
        deadline, junk = time.monotonic() + 60, 0
        while time.monotonic() < deadline:
            produce(kafka.bootstrap, topic, [b'{"event_id": "j%d"}' % junk], partition_of=lambda i, line: 1)
            junk += 1
            got = [r for r in read_json(kafka.bootstrap, f"{group}.reports") if r["report_id"] in want]
            if len(got) == len(want):
                break
            time.sleep(0.2)
    finally:
        stop(proc)
    assert {r["report_id"]: r["count"] for r in got} == {k: r["count"] for k, r in want.items()}
    dlq = read_topic(kafka.bootstrap, f"{group}.dlq")
    assert 0 < len(dlq) <= junk
    assert {(dict(m.headers())["driftline.error.reason"], dict(m.headers())["driftline.error.partition"])
            for m in dlq} == {(b"missing_field", b"1")}


def _rebuild_reference(cfg, tmp_path) -> None:
    """The reference rebuilt from other training rows: other bin edges, same shapes."""
    synth.write_lines(tmp_path / "training.jsonl", synth.training_rows(np.random.default_rng(99), 10_000))
    write_reference(build_profile(load_config(cfg).monitors[0], tmp_path / "training.jsonl"),
                    tmp_path / "reference.json")


def test_a_restart_under_another_reference_stops_with_what_to_do(kafka, topic_factory, tmp_path):
    topic = topic_factory("ref", partitions=1)
    group = f"ref-{topic[-6:]}"
    cfg = write_setup(tmp_path, kafka.bootstrap, topic, group, window="60s")
    produce(kafka.bootstrap, topic, synth.events(np.random.default_rng(4), 1000, rate=500.0))
    log = tmp_path / "worker.log"
    proc = start_worker(cfg, log=log)
    try:
        wait_ready(log, proc)
        # consumed and checkpointed by both tiers; its 60 s window is still open
        old = wait_checkpointed(kafka.bootstrap, group, lambda s: s.get(f"tier1|{topic}|0", {}).get("offset") == 1000
                                and _fingerprint(s, "tier2|0") is not None, proc, "all 1,000 events and tier 2")
    finally:
        stop(proc)
    _rebuild_reference(cfg, tmp_path)
    res = subprocess.run([sys.executable, "-m", "driftline", "run", "--config", str(cfg)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr[-2000:]
    last = orjson.loads(res.stderr.strip().splitlines()[-1])    # the JSON log line it stops on
    assert (last["logger"], last["level"]) == ("driftline", "error"), last
    assert last["msg"].startswith("monitor 'fraud': the "), last    # tier 1's or tier 2's
    assert "saved under another reference" in last["msg"] and "--discard-mismatched-state" in last["msg"]
    assert "Traceback" not in res.stderr

    # restarted with --discard-mismatched-state: the monitor's window starts afresh from the
    # saved offsets, so its report holds exactly the events produced after the restart (as
    # replay of those alone gives), not the 1,000 counted under the old reference
    later = synth.events(np.random.default_rng(5), 6000, rate=100.0, offset=1000)   # +10 s .. +70 s
    synth.write_lines(tmp_path / "later.jsonl", later)
    replayed = replay_reports(cfg, tmp_path / "later.jsonl", tmp_path / "replay")
    first = min(r["window_start"] for r in replayed)
    want = {r["report_id"]: r for r in replayed if r["window_start"] == first}
    assert {r["count"] for r in want.values()} == {5000}
    proc = start_worker(cfg, "--discard-mismatched-state", log=log)
    try:
        url = wait_ready(log, proc, started_before=1)
        # with no event read, checkpoints save the fresh state of both tiers
        fresh = wait_checkpointed(kafka.bootstrap, group, lambda s: all(
            _fingerprint(s, k) not in (None, _fingerprint(old, k)) for k in (f"tier1|{topic}|0", "tier2|0")),
            proc, "the fresh state of both tiers")
        # an idle claim the first worker left in the partials topic (if it did) is discarded
        # too, maybe a moment after the checkpoints: the count and the log agree, twice in a row
        agreed, deadline = 0, time.monotonic() + 20
        while agreed < 2 and time.monotonic() < deadline:
            discarded = sample(scrape(url), "driftline_state_discarded_total", monitor="fraud")
            agreed = agreed + 1 if discarded == 2 + ("a partial in" in log.read_text()) else 0
            time.sleep(0.5)
    finally:
        stop(proc)
    assert fresh[f"tier1|{topic}|0"]["offset"] == 1000
    # the tier-1 and the tier-2 checkpoints, once each (and an idle claim the first worker
    # left in the partials topic, if it did)
    text = log.read_text()
    assert f"the checkpoint 'tier1|{topic}|0'" in text and "the tier-2 checkpoint 'tier2|0'" in text
    assert discarded == 2 + ("a partial in" in text)
    # so the flag matters for the first start only: the next one, without it, goes on
    proc = start_worker(cfg, log=log)
    try:
        wait_ready(log, proc, started_before=2)
        produce(kafka.bootstrap, topic, later)
        got = wait_for_reports(kafka.bootstrap, f"{group}.reports", set(want), proc, log=log)
    finally:
        stop(proc)
    assert_reports_equal({r["report_id"]: r for r in got if r["report_id"] in want}, want)


def _fingerprint(snaps: dict, key: str) -> str | None:
    """The fraud monitor's state fingerprint in the snapshot of ``key`` (None: no snapshot)."""
    monitor = snaps.get(key, {}).get("monitors", {}).get("fraud")
    return None if monitor is None else monitor["fingerprint"]


def test_an_alert_firing_before_a_discard_resolves_under_the_new_reference(kafka, topic_factory, tmp_path):
    topic = topic_factory("refalert", partitions=1)
    group = f"refalert-{topic[-6:]}"
    cfg = write_setup(tmp_path, kafka.bootstrap, topic, group)      # 5 s windows, grace 1 s
    drifted = synth.events(np.random.default_rng(6), 6000, rate=500.0,    # 0 .. 12 s of event time
                           drift=synth.Drift(at=0, mean_shift=1.0, category_share=0.4))
    log = tmp_path / "worker.log"
    proc = start_worker(cfg, log=log)
    try:
        wait_ready(log, proc)
        produce(kafka.bootstrap, topic, drifted)
        deadline, fired = time.monotonic() + 60, []
        while not fired and time.monotonic() < deadline:
            time.sleep(1.0)
            fired = [a for a in read_json(kafka.bootstrap, f"{group}.alerts")
                     if a["status"] == "firing" and a["subject"] == synth.NUMERIC[0]]
        assert fired, "no drift alert fired on the drifted events"
        time.sleep(1.0)     # a checkpoint after the alert
    finally:
        stop(proc)
    _rebuild_reference(cfg, tmp_path)
    calm = synth.events(np.random.default_rng(7), 10_000, rate=500.0, offset=6000)   # 12 .. 32 s
    proc = start_worker(cfg, "--discard-mismatched-state", log=log)
    try:
        wait_ready(log, proc, started_before=1)
        produce(kafka.bootstrap, topic, calm)
        deadline, resolved = time.monotonic() + 90, []
        while not resolved and time.monotonic() < deadline:
            time.sleep(1.0)
            resolved = [a for a in read_json(kafka.bootstrap, f"{group}.alerts")
                        if a["status"] == "resolved" and a["alert_id"] == fired[0]["alert_id"]]
    finally:
        stop(proc)
    # the alert's state outlived the discarded windows: calm windows under the new reference
    # resolve it (with a fresh alert book it would stay firing for ever)
    assert resolved, f"alert {fired[0]['alert_id']} was not resolved after the restart"
    assert "state saved under another reference" in log.read_text()


def test_the_worker_waits_out_a_broker_that_stops_answering(kafka, topic_factory, tmp_path):
    """The broker frozen (SIGSTOP) for 40 s while the worker works through a backlog it has
    fetched: its checkpoint waits for the messages it cannot deliver (a warning every 30 s)
    instead of the worker dying, and the reports are replay's."""
    topic, group, cfg, lines, want = _replayed(kafka, topic_factory, tmp_path, "pause", 30_000)
    produce(kafka.bootstrap, topic, lines)
    log = tmp_path / "worker.log"
    proc = start_worker(cfg, log=log)
    try:
        url = wait_ready(log, proc)
        reading = time.monotonic() + 60.0
        while events_seen(url) == 0:
            assert time.monotonic() < reading, "the worker read nothing in 60 s"
            time.sleep(0.01)
        os.kill(kafka.pid, signal.SIGSTOP)   # mid-backlog: outputs and checkpoints to deliver
        try:
            time.sleep(40.0)                 # beyond a flush's 30 s, within the group's 45 s session
        finally:
            os.kill(kafka.pid, signal.SIGCONT)
        deadline = time.monotonic() + 120.0
        while True:     # after the freeze the broker's metadata can miss a partition for a while
            try:
                got = wait_for_reports(kafka.bootstrap, f"{group}.reports", set(want), proc,
                                       timeout=max(1.0, deadline - time.monotonic()), log=log)
                break
            except KafkaSetupError:
                assert time.monotonic() < deadline
                time.sleep(1.0)
        assert proc.poll() is None, log.read_text()[-3000:]
    finally:
        # after such a freeze the last checkpoint's synchronous offset commit may block until
        # the group's session timeout, and SIGTERM waits for it (README Status): then the
        # worker's threads' stacks go to its log (kill -USR1) and it is killed, which is safe
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGUSR1)
            time.sleep(1.0)
            kill9(proc)
    text = log.read_text()
    assert "messages not delivered yet" in text and "Traceback" not in text
    assert_reports_equal({r["report_id"]: r for r in got if r["report_id"] in want}, want)
