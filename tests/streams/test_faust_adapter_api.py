"""The Faust adapter's API misused (streams/faust_adapter.py), without a broker: a real ``faust.App``
(made, never started) and streams of our own. Wrong arguments get a one-line error where they
are given, not a traceback deep in a batch later; ``consume`` closes the monitor when its
stream stops; the idle checker runs while any of the monitor's streams does."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import faust
import numpy as np
import pytest
from driftline.streams.faust_adapter import CallbackSink, DriftlineFaustMonitor, attach
from driftline.streams.sinks import JsonlSink

from driftline import synth

from .test_faust_adapter_idle import setup  # noqa: F401 - the module fixture this one uses


@pytest.fixture(scope="module")
def config(setup) -> Path:  # noqa: F811 - the imported fixture, requested by name
    return setup.config     # the synth config of the idle tests, with its reference


def _app(name: str) -> faust.App:
    return faust.App(name, broker="kafka://localhost:1", store="memory://")


def test_a_second_attach_on_a_topic_is_refused_rather_than_replacing_the_first(config, tmp_path):
    app = _app("two-attach")
    attach(app, "predictions", config, JsonlSink(tmp_path / "a"))
    with pytest.raises(ValueError, match=r"already has an agent named 'driftline-predictions'.*name="):
        attach(app, "predictions", config, JsonlSink(tmp_path / "b"))
    second = attach(app, "predictions", config, JsonlSink(tmp_path / "b"), name="driftline-second")
    assert second.agent.name == "driftline-second"


@pytest.mark.parametrize("sink", [Path("out"), "out", None, JsonlSink])
def test_what_is_not_a_sink_is_refused(config, sink):
    with pytest.raises(TypeError, match="sink must be an output sink"):
        DriftlineFaustMonitor(config, sink)


@pytest.mark.parametrize("partitions", [3.0, True, "3", [0, "1"], 0, [-1]])
def test_wrong_partitions_are_refused(config, partitions):
    with pytest.raises(ValueError, match="partitions must be a positive count or partition numbers"):
        DriftlineFaustMonitor(config, CallbackSink(), partitions=partitions)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"values": ['{"a": 1}']}, TypeError, "values must be event bytes, got str"),
    ({"values": b'{"a": 1}'}, TypeError, "values must be a list of event bytes"),
    ({"values": [b"{}", b"{}"], "offsets": [1]}, ValueError, "offsets has 1 entries for 2 values"),
    ({"values": [b"{}"], "record_ms": [1, 2]}, ValueError, "record_ms has 2 entries for 1 values"),
    ({"values": [b"{}"], "partition": "0"}, TypeError, "partition must be an int, not '0'"),
])
def test_a_batch_fed_in_the_wrong_shape_is_refused(config, kwargs, error, match):
    mon = DriftlineFaustMonitor(config, CallbackSink(), partitions=1)
    with pytest.raises(error, match=match):
        mon.feed(**kwargs)
    assert mon.stats.events == 0


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"labels_topic": "labels"}, ValueError, "no monitor joins labels"),
    ({"labels_topic": 5}, TypeError, "labels_topic must be a topic name"),
    ({"batch_size": "10"}, ValueError, "batch_size must be a whole number"),
    ({"within": -1}, ValueError, "within a number of seconds > 0"),
])
def test_attach_refuses_wrong_arguments_at_once(config, kwargs, error, match):
    with pytest.raises(error, match=match):
        attach(_app("bad-args"), "predictions", config, CallbackSink(), **kwargs)


@pytest.mark.parametrize(("app", "topic", "match"), [(None, "predictions", "app must be a faust.App"),
                                                      ("app", 123, "topic must be a topic name")])
def test_attach_refuses_what_is_not_an_app_or_a_topic(config, app, topic, match):
    with pytest.raises(TypeError, match=match):
        attach(_app("bad-topic") if app == "app" else app, topic, config, CallbackSink())


class Stream:
    """What ``consume`` reads: ``take_events`` batches, then the end (or an error)."""

    def __init__(self, batches: list[list[bytes]], fail: bool = False, pause: float = 0.0) -> None:
        self.batches, self.fail, self.pause = batches, fail, pause

    async def take_events(self, n: int, within: float):
        for offset, batch in enumerate(self.batches):
            await asyncio.sleep(self.pause)
            yield [SimpleNamespace(value=v, message=SimpleNamespace(partition=0, offset=offset, topic="t",
                                                                    timestamp=None)) for v in batch]
        if self.fail:
            raise RuntimeError("the labels agent crashed")


def test_consume_closes_the_monitor_when_its_stream_ends_and_the_open_windows_are_judged(config):
    reports: list[dict] = []
    mon = DriftlineFaustMonitor(config, CallbackSink(on_report=reports.append), partitions=1)
    events = synth.events(np.random.default_rng(4), 150, rate=100.0)     # within two 1 s windows
    asyncio.run(mon.consume(Stream([events])))
    assert mon.closed and sum(r["count"] for r in reports if r["model_version"] is None) == 150


def test_the_idle_checker_runs_while_any_stream_does(config):
    """The labels agent crashing (before the predictions agent's stream ends) does not stop
    the idle checks of the predictions agent."""
    mon = DriftlineFaustMonitor(config, CallbackSink(), partitions=1)
    running = []

    async def main() -> None:
        labels = asyncio.ensure_future(mon.consume_labels(Stream([[]], fail=True, pause=0.02)))
        predictions = asyncio.ensure_future(mon.consume(Stream([[]] * 5, pause=0.05), close_on_stop=False))
        await asyncio.sleep(0.1)
        assert labels.done() and isinstance(labels.exception(), RuntimeError)
        running.append(mon._idle_checker is not None and not mon._idle_checker.done())
        await predictions
        running.append(mon._idle_checker is not None)

    asyncio.run(main())
    assert running == [True, False]
