"""``streams.faust_adapter``: a driftline monitor fed from a real Faust app's stream.

The Kafka test runs a real ``faust.App`` (faust-streaming, aiokafka driver) against the real
single-node broker of ``conftest.py``: it starts in a background thread with its own event loop
(``await app.start()``, no ``faust.Worker``: a worker installs signal handlers, which only the
main thread may do), the agent registered by ``attach`` consumes a 3-partition topic, and the
windows it judges must equal those of ``driftline replay`` over the same events.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import orjson
import pytest
from driftline.schemas.config import Config, load_config
from driftline.streams.faust_adapter import (
    CallbackSink,
    DriftlineFaustMonitor,
    attach,
    event_value_bytes,
)
from driftline.streams.reference_io import build_profile, write_reference
from driftline.streams.replay import replay
from driftline.streams.sinks import JsonlSink

from driftline import synth

N_EVENTS = 3000
RATE = 100.0            # events per second of event time: 500 events per 5 s window
WINDOW = "5s"
DRIFT_AT = 1500         # first event of the window starting at 10:00:15
DRIFT_START = "2026-11-25T10:00:15Z"
N_WINDOWS = 6           # 30 s of event time
N_PARTITIONS = 3
TIMEOUT = 120.0         # every wait on the Faust app is bounded by this


# --------------------------------------------------------------------------- scenario


def _scenario(d: Path, topic: str = "predictions", bootstrap: str = "127.0.0.1:9092",
              labels_topic: str | None = None) -> SimpleNamespace:
    """``labels_topic``: the monitor joins the labels of that topic (``labels.jsonl``; the
    model's accuracy falls from 0.90 to 0.75 with the drift)."""
    rng = np.random.default_rng(20261125)
    synth.write_lines(d / "training.jsonl", synth.training_rows(rng, 20_000))
    text = synth.config_yaml("reference.json", window=WINDOW, topic=topic, bootstrap=bootstrap)
    if labels_topic is not None:
        text = text.replace(f"source: {{predictions: {topic}}}", f"source: {{predictions: {topic}, labels: {labels_topic}}}")
    (d / "driftline.yaml").write_text(text)
    cfg = load_config(d / "driftline.yaml")
    write_reference(build_profile(cfg.monitors[0], d / "training.jsonl"), d / "reference.json")
    drift = synth.Drift(at=DRIFT_AT, mean_shift=0.5, category_share=0.25, score_shift=0.6,
                        label_error=synth.DEMO_LABEL_ERROR)
    events = synth.events(rng, N_EVENTS, rate=RATE, drift=drift)
    synth.write_lines(d / "events.jsonl", events)
    labels = synth.label_events(events, drift)
    synth.write_lines(d / "labels.jsonl", labels)
    return SimpleNamespace(dir=d, config=cfg, events=events, events_path=d / "events.jsonl",
                           labels=labels, labels_path=d / "labels.jsonl")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _replay_outputs(cfg: Config, events_path: Path, out: Path,
                    labels: Path | None = None) -> dict[str, list[dict[str, Any]]]:
    sink = JsonlSink(out, atomic=True)
    try:
        replay(cfg, events_path, sink, labels=labels)
    finally:
        sink.close()
    return {name: _read_jsonl(out / f"{name}.jsonl") for name in ("reports", "alerts", "retrain", "dlq")}


def _report_key(r: dict[str, Any]) -> tuple[str, str]:
    return r["window_start"], r["model_version"] or ""


def _assert_same_stats(got: Any, want: Any, where: str) -> None:
    """Counts, flags and names exactly; floats to 1e-9 (sums may add up in another order)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), f"{where}: keys {got} != {want}"
        for k in want:
            _assert_same_stats(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{where}: {got} != {want}"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _assert_same_stats(g, w, f"{where}[{i}]")
    elif isinstance(want, float) and not isinstance(want, bool):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12), f"{where}: {got} != {want}"
    else:
        assert got == want, f"{where}: {got!r} != {want!r}"


def _assert_matches_replay(got: dict[str, list[dict[str, Any]]], want: dict[str, list[dict[str, Any]]]) -> None:
    reports, expected = sorted(got["reports"], key=_report_key), sorted(want["reports"], key=_report_key)
    assert [_report_key(r) for r in reports] == [_report_key(r) for r in expected], \
        "the Faust monitor judged other windows than the replay"
    for r, e in zip(reports, expected, strict=True):
        _assert_same_stats(r, e, f"report {_report_key(e)}")
    alerts = [(a["alert_id"], a["status"], a["kind"], a["subject"], a["window_start"]) for a in got["alerts"]]
    assert alerts == [(a["alert_id"], a["status"], a["kind"], a["subject"], a["window_start"])
                      for a in want["alerts"]]
    for a, e in zip(got["alerts"], want["alerts"], strict=True):
        _assert_same_stats(a, e, f"alert {e['kind']}/{e['subject']}")
    assert len(got["retrain"]) == len(want["retrain"])
    assert got["dlq"] == want["dlq"] == []


def _assert_drift_detected(outputs: dict[str, list[dict[str, Any]]]) -> None:
    firing = {(a["kind"], a["subject"]) for a in outputs["alerts"] if a["status"] == "firing"}
    assert ("data_drift", synth.NUMERIC[0]) in firing, outputs["alerts"]
    assert ("data_drift", "country") in firing, outputs["alerts"]
    assert ("prediction_drift", "prediction") in firing, outputs["alerts"]
    assert all(a["window_start"] >= DRIFT_START for a in outputs["alerts"]), "alert before the drift"
    overall = [r for r in outputs["reports"] if r["model_version"] is None]
    assert len(overall) == N_WINDOWS, [r["window_start"] for r in overall]
    assert [r["drift"] for r in overall] == [r["window_start"] >= DRIFT_START for r in overall]


# --------------------------------------------------------------------------- without Kafka


class _Event:
    """What the adapter reads of a Faust event: ``value`` and ``message``."""

    def __init__(self, value: Any, partition: int | None, offset: int | None, topic: str = "p",
                 timestamp: float | None = None) -> None:
        self.value = value
        self.message = SimpleNamespace(partition=partition, offset=offset, topic=topic, timestamp=timestamp)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> SimpleNamespace:
    return _scenario(tmp_path_factory.mktemp("faust-scenario"))


def _partitioned(events: list[bytes], n: int) -> list[_Event]:
    """Events spread over ``n`` partitions (arrival order interleaved, per-partition order kept)."""
    out, offsets = [], [0] * n
    for i, value in enumerate(events):
        p = (i * 7919) % n
        out.append(_Event(value, p, offsets[p]))
        offsets[p] += 1
    return out


def test_event_value_bytes_of_every_value_kind():
    class Record:
        def to_representation(self):
            return {"x": 1.5}

    assert event_value_bytes(b"{}") == b"{}"
    assert event_value_bytes(bytearray(b"{}")) == b"{}"
    assert event_value_bytes('{"a": "é"}') == '{"a": "é"}'.encode()
    assert orjson.loads(event_value_bytes({"a": [1, None]})) == {"a": [1, None]}
    assert orjson.loads(event_value_bytes(Record())) == {"x": 1.5}
    assert orjson.loads(event_value_bytes({"r": Record()})) == {"r": {"x": 1.5}}
    assert event_value_bytes(None) == b""


def test_feed_events_split_by_partition_equals_replay(scenario, tmp_path):
    """Batches mixing partitions, values as dicts: the same windows and alerts as the replay."""
    want = _replay_outputs(scenario.config, scenario.events_path, tmp_path / "replay")
    mon = DriftlineFaustMonitor(scenario.config, JsonlSink(tmp_path / "adapter"), partitions=N_PARTITIONS)
    events = _partitioned([orjson.loads(v) for v in scenario.events], N_PARTITIONS)
    for i in range(0, len(events), 256):
        mon.feed_events(events[i:i + 256])
    stats = mon.close()
    assert stats.events == N_EVENTS and stats.late == 0 and stats.invalid == 0
    got = {name: _read_jsonl(tmp_path / "adapter" / f"{name}.jsonl")
           for name in ("reports", "alerts", "retrain", "dlq")}
    _assert_matches_replay(got, want)
    _assert_drift_detected(got)
    assert mon.close() is stats or mon.closed  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        mon.feed([b"{}"])


def test_callback_sink_and_dead_letters(scenario):
    seen: dict[str, list[dict[str, Any]]] = {"report": [], "alert": [], "dead": []}
    closed = []
    sink = CallbackSink(on_report=seen["report"].append, on_alert=seen["alert"].append,
                        on_dead=seen["dead"].append, on_close=lambda: closed.append(True))
    mon = DriftlineFaustMonitor(scenario.config, sink, partitions=[0])
    mon.feed_events([_Event(b"not json", 0, 0), _Event(None, 0, 1)]
                    + [_Event(v, 0, i + 2) for i, v in enumerate(scenario.events)])
    mon.close()
    assert closed == [True]
    assert [(d["type"], d["offset"], d["partition"], d["topic"], d["monitor"], d["raw"])
            for d in seen["dead"]] == [("dead_letter", 0, 0, "p", "fraud", "not json"),
                                       ("dead_letter", 1, 0, "p", "fraud", "")]
    assert all(d["reason"] for d in seen["dead"])
    assert seen["report"] and any(a["kind"] == "data_drift" for a in seen["alert"])


def test_an_event_far_ahead_of_its_record_is_a_dead_letter(scenario, tmp_path):
    """limits.max_future (1h by default): an event ten years ahead of its Kafka record's time
    (``message.timestamp``, seconds: now) is a dead letter and moves no watermark, so the
    reports are replay's without it (one more invalid event); unknown record times and a null
    limit check nothing, and every later event is late."""
    want = _replay_outputs(scenario.config, scenario.events_path, tmp_path / "replay")
    mid = len(scenario.events) // 2
    far = orjson.dumps({**orjson.loads(scenario.events[mid]), "event_id": "far", "timestamp": "2036-11-25T10:00:00Z"})
    values = [*scenario.events[:mid], far, *scenario.events[mid:]]
    unchecked = dataclasses.replace(scenario.config, limits=dataclasses.replace(scenario.config.limits, max_future=None))
    for config, produced, guarded in ((scenario.config, time.time(), True), (scenario.config, None, False),
                                      (unchecked, time.time(), False)):
        out = tmp_path / f"adapter-{produced is None}-{config is unchecked}"
        mon = DriftlineFaustMonitor(config, JsonlSink(out), partitions=1)
        events = [_Event(v, 0, i, timestamp=produced) for i, v in enumerate(values)]
        for i in range(0, len(events), 256):
            mon.feed_events(events[i:i + 256])
        stats = mon.close()
        got = {name: _read_jsonl(out / f"{name}.jsonl") for name in ("reports", "alerts", "retrain", "dlq")}
        if not guarded:
            assert (stats.late, stats.invalid, got["dlq"]) == (len(scenario.events) - mid, 0, [])
            continue
        assert stats.late == 0 and stats.invalid == 1
        (dead,) = got.pop("dlq")
        assert (dead["reason"], dead["offset"], dead["raw"].encode()) == ("future_timestamp", mid, far)
        assert dead["detail"].startswith("timestamp 2036-11-25T10:00:00Z is 3,") and "max_future = 1h" in dead["detail"]
        assert sum(r.pop("invalid") for r in got["reports"]) == 1
        _assert_matches_replay({**got, "dlq": []}, {**want, "reports": [
            {k: v for k, v in r.items() if k != "invalid"} for r in want["reports"]]})


def test_unknown_partition_or_second_topic_is_a_clear_error(scenario):
    mon = DriftlineFaustMonitor(scenario.config, CallbackSink(), partitions=2)
    with pytest.raises(ValueError, match=r"partition 5 .*partitions"):
        mon.feed_events([_Event(scenario.events[0], 5, 0)])
    mon.feed_events([_Event(scenario.events[0], 1, 0, topic="a")])
    with pytest.raises(ValueError, match="one DriftlineFaustMonitor per source topic"):
        mon.feed_events([_Event(scenario.events[1], 1, 1, topic="b")])
    no_count = DriftlineFaustMonitor(scenario.config, CallbackSink())
    with pytest.raises(ValueError, match="partitions="):
        no_count.feed([scenario.events[0]])


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> SimpleNamespace:
    return _scenario(tmp_path_factory.mktemp("faust-labels"), labels_topic="labels")


def test_label_events_join_like_replay_labels(labelled, tmp_path):
    """Labels fed per partition, each chunk's before its predictions: the reports of ``replay --labels``, performance included, and the accuracy drop fires."""
    want = _replay_outputs(labelled.config, labelled.events_path, tmp_path / "replay", labelled.labels_path)
    mon = DriftlineFaustMonitor(labelled.config, JsonlSink(tmp_path / "adapter"), partitions=N_PARTITIONS)
    events = _partitioned(labelled.events, N_PARTITIONS)
    labels = [_Event(v, e.message.partition, e.message.offset, topic="labels")
              for v, e in zip(labelled.labels, events, strict=True)]
    for i in range(0, len(events), 256):
        mon.feed_label_events(labels[i:i + 256])
        mon.feed_events(events[i:i + 256])
    stats = mon.close()
    assert stats.label_events == N_EVENTS and stats.labels["fraud"].pairs == N_EVENTS
    got = {name: _read_jsonl(tmp_path / "adapter" / f"{name}.jsonl")
           for name in ("reports", "alerts", "retrain", "dlq")}
    _assert_matches_replay(got, want)
    assert all(r["performance"]["count"] > 0 for r in got["reports"])
    assert any(a["kind"] == "performance" and a["status"] == "firing" for a in got["alerts"])


def test_labels_without_a_joining_monitor_are_refused(scenario):
    mon = DriftlineFaustMonitor(scenario.config, CallbackSink(), partitions=1)
    with pytest.raises(ValueError, match="no monitor joins labels"):
        mon.feed_labels([b'{"event_id": "e1", "label": 1}'])


def test_close_judges_the_last_window(scenario):
    reports: list[dict[str, Any]] = []
    mon = DriftlineFaustMonitor(scenario.config, CallbackSink(on_report=reports.append), partitions=1)
    mon.feed_events([_Event(v, 0, i) for i, v in enumerate(scenario.events)])
    mon.close()
    starts = sorted({r["window_start"] for r in reports})
    assert len(starts) == N_WINDOWS, starts


# --------------------------------------------------------------------------- real Faust app


def _produce(bootstrap: str, topic: str, values: list[bytes], partitions: int | None = None) -> None:
    """``partitions``: spread the events over the first ``partitions`` partitions only (round
    robin), instead of by key over all."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random",
                         "enable.idempotence": True, "linger.ms": 5})
    errors: list[str] = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(str(err))

    for i, v in enumerate(values):
        where = {} if partitions is None else {"partition": i % partitions}
        producer.produce(topic, value=v, key=orjson.loads(v)["event_id"].encode(), on_delivery=on_delivery,
                         **where)
        producer.poll(0)
    left = producer.flush(30)
    assert left == 0 and not errors, f"produce failed: {left} undelivered, errors {errors[:3]}"


def _run_faust_app(bootstrap: str, topic: str, cfg: Config, out: Path, datadir: Path,
                   labels_topic: str | None = None, then: Any = None,
                   until: Any = None) -> SimpleNamespace:
    """Start a Faust app in a thread with its own event loop; stop it once every event is fed
    (or once ``until(monitor)`` holds).

    ``labels_topic``: the monitor's labels agent reads it too; once it has fed ``N_EVENTS``
    labels, ``then()`` runs (in a thread: it produces the predictions)."""
    until = until or (lambda monitor: monitor.stats.events >= N_EVENTS)
    import faust

    state = SimpleNamespace(monitor=None, error=None, phase="creating the app", timings={})

    async def main() -> None:
        app = faust.App(
            f"driftline-faust-test-{uuid.uuid4().hex[:8]}",
            broker=f"kafka://{bootstrap}",
            store="memory://",
            web_enabled=False,
            topic_partitions=N_PARTITIONS,
            topic_replication_factor=1,
            consumer_auto_offset_reset="earliest",
            datadir=str(datadir),
            autodiscover=False,
        )
        state.monitor = attach(app, topic, cfg, JsonlSink(out), batch_size=1000, within=0.5,
                               labels_topic=labels_topic)
        t0 = time.monotonic()
        state.phase = "starting the app"
        await asyncio.wait_for(app.start(), TIMEOUT)
        state.timings["start"] = time.monotonic() - t0
        try:
            state.phase = "consuming"
            deadline = time.monotonic() + TIMEOUT
            while labels_topic is not None and state.monitor.stats.label_events < N_EVENTS:
                if time.monotonic() > deadline or state.monitor.errors:
                    raise TimeoutError(f"the labels agent fed {state.monitor.stats.label_events} labels "
                                       f"({state.monitor.errors[-1:]!r})")
                await asyncio.sleep(0.05)
            if then is not None:
                await asyncio.get_running_loop().run_in_executor(None, then)
            while not until(state.monitor):
                if app.crash_reason is not None:
                    raise RuntimeError(f"the Faust app crashed: {app.crash_reason!r}")
                if state.monitor.errors:   # Faust would restart the agent: fail at once instead
                    raise RuntimeError(f"the driftline agent failed: {state.monitor.errors[-1]!r}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the Faust agent fed {state.monitor.stats.events} of "
                                       f"{N_EVENTS} events in {TIMEOUT:.0f} s ({state.monitor.stats})")
                await asyncio.sleep(0.05)
            state.timings["consume"] = time.monotonic() - t0 - state.timings["start"]
        except BaseException as exc:
            state.error = exc
            raise
        finally:
            failed_phase = state.phase
            state.phase = "stopping the app"
            t1 = time.monotonic()
            await asyncio.wait_for(app.stop(), TIMEOUT)
            state.timings["stop"] = time.monotonic() - t1
            state.phase = failed_phase if state.error is not None else "stopped"

    def target() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(main())
        except BaseException as exc:
            state.error = state.error or exc
        finally:
            try:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for t in pending:
                    t.cancel()
                loop.run_until_complete(asyncio.wait_for(
                    asyncio.gather(*pending, return_exceptions=True), 10))
            except BaseException:
                pass
            loop.close()

    thread = threading.Thread(target=target, name="faust-app", daemon=True)
    thread.start()
    thread.join(3 * TIMEOUT + 30)
    if thread.is_alive():
        pytest.fail(f"the Faust app thread did not finish (stuck {state.phase}); "
                    f"events fed: {state.monitor.stats.events if state.monitor else 0}")
    if state.error is not None:
        raise AssertionError(f"Faust app failed while {state.phase}: {state.error!r}") from state.error
    return state


@pytest.mark.kafka
def test_faust_app_stream_feeds_monitor_like_replay(kafka, topic_factory, tmp_path):
    topic = topic_factory("faust-src", partitions=N_PARTITIONS)
    sc = _scenario(tmp_path / "scenario", topic=topic, bootstrap=kafka.bootstrap)
    want = _replay_outputs(sc.config, sc.events_path, tmp_path / "replay")

    t0 = time.monotonic()
    _produce(kafka.bootstrap, topic, sc.events)
    produced = time.monotonic() - t0

    state = _run_faust_app(kafka.bootstrap, topic, sc.config, tmp_path / "faust", tmp_path / "faust-data")
    mon = state.monitor
    assert not mon.errors, mon.errors
    assert mon.closed, "attach() should close the monitor when the app stops"
    assert mon.partitions == tuple(range(N_PARTITIONS)), "partition count not found from the topic"
    assert mon.topic == topic
    assert mon.stats.events == N_EVENTS and mon.stats.late == 0 and mon.stats.invalid == 0
    print(f"\n[faust] produce {produced:.2f}s, app start {state.timings['start']:.2f}s, "
          f"consume {state.timings['consume']:.2f}s ({mon.batches} batches), "
          f"stop {state.timings['stop']:.2f}s; {mon.stats}")

    got = {name: _read_jsonl(tmp_path / "faust" / f"{name}.jsonl")
           for name in ("reports", "alerts", "retrain", "dlq")}
    assert got["reports"], "the Faust monitor judged no window"
    _assert_matches_replay(got, want)
    _assert_drift_detected(got)


@pytest.mark.kafka
def test_faust_app_joins_a_labels_topic_like_replay(kafka, topic_factory, tmp_path):
    topic = topic_factory("faust-src", partitions=N_PARTITIONS)
    labels_topic = topic_factory("faust-labels", partitions=N_PARTITIONS)
    sc = _scenario(tmp_path / "scenario", topic=topic, bootstrap=kafka.bootstrap, labels_topic=labels_topic)
    want = _replay_outputs(sc.config, sc.events_path, tmp_path / "replay", sc.labels_path)
    _produce(kafka.bootstrap, labels_topic, sc.labels)
    state = _run_faust_app(kafka.bootstrap, topic, sc.config, tmp_path / "faust", tmp_path / "faust-data",
                           labels_topic=labels_topic, then=lambda: _produce(kafka.bootstrap, topic, sc.events))
    mon = state.monitor
    assert not mon.errors, mon.errors
    assert mon.stats.labels["fraud"].pairs == N_EVENTS
    got = {name: _read_jsonl(tmp_path / "faust" / f"{name}.jsonl")
           for name in ("reports", "alerts", "retrain", "dlq")}
    _assert_matches_replay(got, want)
    assert any(a["kind"] == "performance" and a["status"] == "firing" for a in got["alerts"])



@pytest.mark.kafka
def test_faust_app_judges_windows_past_a_silent_partition(kafka, topic_factory, tmp_path):
    """Partition 2 of the topic gets no event: once it (and, with the stream over, the others)
    has been silent for ``idle_timeout`` (5 s), every window is judged while the app runs,
    not at its stop, and they are replay's windows."""
    topic = topic_factory("faust-idle", partitions=N_PARTITIONS)
    sc = _scenario(tmp_path / "scenario", topic=topic, bootstrap=kafka.bootstrap)
    want = _replay_outputs(sc.config, sc.events_path, tmp_path / "replay")
    _produce(kafka.bootstrap, topic, sc.events, partitions=N_PARTITIONS - 1)
    state = _run_faust_app(kafka.bootstrap, topic, sc.config, tmp_path / "faust", tmp_path / "faust-data",
                           until=lambda monitor: monitor.stats.windows >= N_WINDOWS)
    mon = state.monitor
    assert not mon.errors, mon.errors
    assert mon.stats.events == N_EVENTS and mon.stats.late == 0
    got = {name: _read_jsonl(tmp_path / "faust" / f"{name}.jsonl")
           for name in ("reports", "alerts", "retrain", "dlq")}
    _assert_matches_replay(got, want)
