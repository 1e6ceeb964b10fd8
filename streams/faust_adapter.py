"""Feed a driftline monitor from a stream of an existing Faust app (faust-streaming).

Teams that already run a Faust app can watch the topic its agents consume without a second
consumer: a driftline monitor is driven by the app's own stream, through the very pipeline
``driftline replay`` uses (``streams.pipeline.InProcessPipeline``: decode and validate, per-partition
event-time windows, merge, judge, alerts).

Attach a monitor as a separate agent of the app (the simplest way)::

    import faust
    from driftline.streams.faust_adapter import attach
    from driftline.streams.sinks import JsonlSink

    app = faust.App("fraud-scorer", broker="kafka://localhost:9092")
    monitor = attach(app, "predictions", "driftline.yaml", JsonlSink(Path("driftline-out")))

or drive it from an agent of your own::

    from driftline.streams.faust_adapter import CallbackSink, DriftlineFaustMonitor

    monitor = DriftlineFaustMonitor("driftline.yaml", CallbackSink(on_alert=page_someone))
    predictions = app.topic("predictions", value_serializer="raw")

    @app.agent(predictions)
    async def watch(stream):
        await monitor.consume(stream)    # closes the monitor when the app stops

Points to know:

* Give the topic ``value_serializer="raw"``: the monitor wants the bytes as they are on Kafka,
  and undecodable events then reach driftline's dead-letter output instead of being dropped
  by Faust. Values that arrive as ``bytes`` are fed as they are, ``str`` is UTF-8 encoded,
  Faust ``Record`` models and other JSON-able values are serialized with ``orjson``.
* Windows are event-time and per source partition, exactly as in ``driftline replay`` and
  ``driftline run``; a window is judged once every partition of the topic has passed it. So the
  monitor must see *every* partition of the topic: run the agent in a single Faust worker (or
  pass ``partitions=`` with the partitions this worker owns); a scaled-out deployment is what
  ``driftline run`` is for.
* Idle partitions: as in ``driftline run``, a partition whose event time has not moved for the
  monitor's ``window.idle_timeout`` (wall-clock time from the first prediction read: no
  events, only invalid ones, or only older ones) has its watermark moved on by the time it has
  been silent, and the windows stop waiting for it. While
  :meth:`~DriftlineFaustMonitor.consume` runs, it checks every second
  (:meth:`~DriftlineFaustMonitor.check_idle`; a program that feeds the monitor through
  :meth:`~DriftlineFaustMonitor.feed` calls that itself, about every second). Unlike ``run``,
  the adapter cannot see the consumer's lag: a partition held back longer than
  ``idle_timeout`` by a backlog in Faust counts as idle, and its events that come later than
  the windows they belong to are counted as late; likewise, its windows close even while its
  labels are still queued in Faust, and labels that come after their window was judged do
  not count in it.
* Window state lives in memory and is not checkpointed: after a restart the window in progress
  is judged from the events read since the restart.
* An event more than ``limits.max_future`` after its Kafka record's time (``message.timestamp``)
  is a dead letter (``future_timestamp``), as in ``driftline run``: it would move its
  partition's watermark that far ahead. Events without a record time are not checked.
* :meth:`~DriftlineFaustMonitor.close` judges every open window (as the end of a replay does) and
  closes the sink; :meth:`~DriftlineFaustMonitor.consume` calls it when the app stops (its
  ``close_on_stop``), so the open windows' events are not lost. A ``JsonlSink`` appends to its
  files and flushes each output, so a restarted app adds to what the last one wrote.
* A batch that raises (a failing sink, say) is logged and kept in ``monitor.errors``; Faust then
  restarts the agent, the monitor keeps its windows, and that batch is not fed again.
* Labels: a monitor with a ``performance`` section and ``source.labels`` joins the label events
  fed to :meth:`~DriftlineFaustMonitor.consume_labels` (``attach(..., labels_topic=...)`` adds
  that agent), as ``driftline run`` does: the labels topic is co-partitioned with the
  predictions topic (same partition count, keyed by event id), a label and its prediction may
  come in either order, and a prediction waits for its label while its windows are open (so
  as long as the window's ``grace``). Labels still waiting at :meth:`close` are unmatched.
* Faust is an optional integration: this module imports without it, and imports ``faust`` only
  inside the functions that need it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from driftline.schemas.config import Config, load_config

from .pipeline import InProcessPipeline, PipelineStats
from .records import DeadLetter
from .replay import load_monitors
from .sinks import OutputSink, dead_letter_json

if TYPE_CHECKING:  # pragma: no cover
    from .monitor import MonitorRuntime

__all__ = ["CallbackSink", "DriftlineFaustMonitor", "attach", "event_value_bytes"]

log = logging.getLogger("driftline.faust")

_Callback = Callable[[dict[str, Any]], Any] | None
# How often consume() looks for idle partitions, and how often an idle partition claims so at
# most (seconds): tier 2 lets an idle partition off the windows the others had closed at its
# previous claim, so a window waits about two claims for one that never gets an event
# (streams/merge.py), as in ``driftline run``. Claims much closer together would let a window
# go before a burst of events the partitions had in Faust's queues is fed.
IDLE_CHECK_INTERVAL = 1.0


class CallbackSink:
    """An :class:`~driftline.streams.sinks.OutputSink` calling a function per output.

    Each callback receives one JSON-able dict (DESIGN 3.4 / 3.5); dead letters are given as
    their ``dlq.jsonl`` record (``type: dead_letter``, ``reason``, ``raw``, ``monitor``, ...).
    The callbacks run in the Faust event loop and must not block: to forward an output to a
    topic use ``topic.send_soon(value=...)``.
    """

    def __init__(self, on_report: _Callback = None, on_alert: _Callback = None,
                 on_retrain: _Callback = None, on_dead: _Callback = None,
                 on_close: Callable[[], Any] | None = None) -> None:
        self._report, self._alert, self._retrain = on_report, on_alert, on_retrain
        self._dead, self._close = on_dead, on_close

    def reports(self, items: Iterable[dict[str, Any]]) -> None:
        _call_each(self._report, items)

    def alerts(self, items: Iterable[dict[str, Any]]) -> None:
        _call_each(self._alert, items)

    def retrain(self, items: Iterable[dict[str, Any]]) -> None:
        _call_each(self._retrain, items)

    def dead(self, monitor: str, letters: Iterable[DeadLetter]) -> None:
        if self._dead is not None:
            for d in letters:
                self._dead(dead_letter_json(monitor, d))

    def close(self) -> None:
        if self._close is not None:
            self._close()


def _call_each(fn: _Callback, items: Iterable[dict[str, Any]]) -> None:
    if fn is not None:
        for item in items:
            fn(item)


def event_value_bytes(value: Any) -> bytes:
    """The raw event bytes of a Faust event value (see the module notes).

    >>> event_value_bytes(b'{"a": 1}'), event_value_bytes({"a": 1}), event_value_bytes(None)
    (b'{"a": 1}', b'{"a":1}', b'')
    """
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if value is None:           # a tombstone: goes to the dead letters as not JSON
        return b""
    to_repr = getattr(value, "to_representation", None)   # faust.Record
    if callable(to_repr):
        value = to_repr()
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY, default=_fallback)


def _fallback(obj: Any) -> Any:
    to_repr = getattr(obj, "to_representation", None)
    if callable(to_repr):
        return to_repr()
    raise TypeError(f"cannot serialize a {type(obj).__name__} as JSON for driftline")


def _partition_ids(partitions: int | Iterable[int]) -> tuple[int, ...]:
    wrong = ValueError(f"partitions must be a positive count or partition numbers, not {partitions!r}")
    if isinstance(partitions, bool) or not isinstance(partitions, int | Iterable) or isinstance(partitions, str):
        raise wrong
    ids = tuple(range(partitions)) if isinstance(partitions, int) else tuple(set(partitions))
    if not ids or any(type(p) is not int or p < 0 for p in ids):
        raise wrong
    return tuple(sorted(ids))


def _check_sink(sink: Any) -> None:
    """A one-line error for what is not an output sink (a path, the class, None)."""
    needed = ("reports", "alerts", "retrain", "dead", "close")
    if isinstance(sink, type) or not all(callable(getattr(sink, name, None)) for name in needed):
        raise TypeError(f"sink must be an output sink such as JsonlSink(Path(\"driftline-out\")) or "
                        f"CallbackSink(on_alert=...), not {sink!r}")


def _check_batch(values: Any, offsets: Any, record_ms: Any, partition: Any) -> None:
    """One-line errors for a batch fed by hand in the wrong shape (C-level checks per batch)."""
    if isinstance(values, bytes | bytearray | str) or not isinstance(values, Sequence):
        raise TypeError(f"values must be a list of event bytes (one per event), not a {type(values).__name__}")
    if values and not set(map(type, values)) <= {bytes}:
        kinds = sorted(t.__name__ for t in set(map(type, values)) - {bytes})
        raise TypeError(f"values must be event bytes, got {', '.join(kinds)} (encode str with .encode())")
    for name, seq in (("offsets", offsets), ("record_ms", record_ms)):
        if seq is not None and len(seq) != len(values):
            raise ValueError(f"{name} has {len(seq)} entries for {len(values)} values: one per value")
    if type(partition) is not int:
        raise TypeError(f"partition must be an int, not {partition!r}")


class DriftlineFaustMonitor:
    """The monitors of a driftline config, fed from one Faust stream (one Kafka topic).

    ``config``: a :class:`~driftline.schemas.config.Config` or the path of a driftline YAML
    config (every monitor in it is fed, or only ``monitor``). ``sink``: where reports, alerts,
    retrain requests and dead letters go (any ``OutputSink``: ``JsonlSink``,
    :class:`CallbackSink`, your own). ``partitions``: the topic's partition count, or the
    partition numbers this monitor sees; by default it is read from the Faust topic or the
    consumer's metadata when the first batch arrives. ``clock``: seconds for
    ``window.idle_timeout`` (``time.monotonic`` unless a test gives its own).
    """

    def __init__(self, config: Config | str | Path, sink: OutputSink, *, monitor: str | None = None,
                 partitions: int | Iterable[int] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config if isinstance(config, Config) else load_config(config)
        _check_sink(sink)
        self.sink = sink
        self.monitors: list[MonitorRuntime] = load_monitors(self.config, monitor, label_topics=True)
        self.partitions: tuple[int, ...] | None = None if partitions is None else _partition_ids(partitions)
        self.topic: str | None = None
        self._pipeline: InProcessPipeline | None = None
        self._stats = PipelineStats()
        self.closed = False
        self.batches = 0
        self.agent: Any = None      # the Faust agent, when registered by :func:`attach`
        self.labels_agent: Any = None   # ... and the one of its labels topic
        self.errors: list[Exception] = []   # the last exceptions that crashed consume()
        self._pooling_told: set[str] = set()   # monitors whose pooled model versions were logged
        # per partition: when (by the clock) its event time last moved, or the first
        # predictions came; and when it last claimed to be idle
        self._moved_at: dict[int, float] = {}
        self._claimed_at: dict[int, float] = {}
        self._clock = clock     # seconds, for idle_timeout (tests give their own)
        self._idle_checker: asyncio.Task | None = None
        self._consuming = 0     # consume / consume_labels calls running (they share the checker)

    @property
    def stats(self) -> PipelineStats:
        """Events, invalid, late, windows judged and alerts so far."""
        return self._pipeline.stats if self._pipeline is not None else self._stats

    # -- feeding -------------------------------------------------------------------------

    def _ensure_pipeline(self, partitions: Sequence[int] | None = None) -> InProcessPipeline:
        if self._pipeline is None:
            if self.partitions is None:
                if partitions is None:
                    raise ValueError(
                        "the number of partitions of the source topic is unknown: Faust shares "
                        "the topic's metadata with the group leader only, so this is likely a second worker "
                        "of the app. A driftline monitor must see every partition: run the app with one "
                        "worker (use `driftline run` to scale out), and pass partitions= (the topic's "
                        "partition count) to attach / DriftlineFaustMonitor, or partitions= to app.topic")
                self.partitions = _partition_ids(partitions)
            self._pipeline = InProcessPipeline(self.monitors, self.sink, self.partitions, streaming_labels=True)
            log.info("driftline: monitors %s fed from partitions %s (window.idle_timeout %s s)",
                     [m.cfg.name for m in self.monitors], list(self.partitions),
                     min(m.cfg.window.idle_timeout for m in self.monitors))
        return self._pipeline

    def feed(self, values: Sequence[bytes], partition: int = 0, topic: str | None = None,
             offsets: Sequence[int] | None = None, record_ms: Sequence[int | None] | None = None) -> None:
        """Feed one batch of raw event bytes read in order from ``partition``; ``record_ms``:
        the time of each one's Kafka record in ms (None: unknown), for ``limits.max_future``."""
        if self.closed:
            raise RuntimeError("this DriftlineFaustMonitor is closed")
        _check_batch(values, offsets, record_ms, partition)
        pipeline = self._ensure_pipeline()
        assert self.partitions is not None
        if partition not in self.partitions:
            raise ValueError(
                f"event from partition {partition} of topic {topic or self.topic!r}, but the monitor "
                f"was set up for partitions {list(self.partitions)}; pass partitions= with every "
                f"partition of the topic")
        if topic is not None:
            if self.topic is None:
                self.topic = topic
            elif topic != self.topic:
                raise ValueError(
                    f"event from topic {topic!r}, but this monitor is fed from {self.topic!r}: use "
                    f"one DriftlineFaustMonitor per source topic")
        now = self._clock()
        if not self._moved_at:
            # the clocks start with the first predictions (not with labels read before them):
            # a partition that gets none for idle_timeout from then on is idle
            self._moved_at = dict.fromkeys(self.partitions, now)
        if pipeline.feed(values, partition, topic, offsets, record_ms):
            self._moved_at[partition] = now
        self._tell_pooling()

    def check_idle(self, now: float | None = None) -> None:
        """Move on the watermark of every partition whose event time has not moved for a
        monitor's ``window.idle_timeout`` (see the module notes); ``now``: the monitor's clock
        (``time.monotonic()``) by default. ``consume`` calls it every second; call it about as
        often if you feed the monitor through :meth:`feed` yourself (a partition claims to be
        idle at most once a second, however often it is called)."""
        if self.closed or self._pipeline is None:
            return
        now = self._clock() if now is None else now
        idle_timeout = min(m.cfg.window.idle_timeout for m in self.monitors)
        for partition, moved_at in self._moved_at.items():
            if now - self._claimed_at.get(partition, -math.inf) < IDLE_CHECK_INTERVAL:
                continue   # claimed less than a second ago
            if now - moved_at >= idle_timeout:
                self._claimed_at[partition] = now
                self._pipeline.advance_idle(partition, now - moved_at)
        self._tell_pooling()

    def _tell_pooling(self) -> None:
        """Log once per monitor that windows had more model versions than the cap (the reports
        say it too, in ``pooled_events``)."""
        for m in self.monitors:
            if m.pooled_windows and m.cfg.name not in self._pooling_told:
                self._pooling_told.add(m.cfg.name)
                log.warning("driftline: %s", m.pooling_warning())

    def feed_labels(self, values: Sequence[bytes], partition: int = 0, topic: str | None = None,
                    offsets: Sequence[int] | None = None) -> None:
        """Feed one batch of raw label events read in order from ``partition`` of the labels
        topic (the partition of the same number as their predictions')."""
        if self.closed:
            raise RuntimeError("this DriftlineFaustMonitor is closed")
        self._require_labels()
        _check_batch(values, offsets, None, partition)
        self._ensure_pipeline().feed_labels(values, partition, topic, offsets)
        self._tell_pooling()

    def _require_labels(self) -> None:
        if not any(m.label_decoder is not None for m in self.monitors):
            raise ValueError("no monitor joins labels: give one a `performance:` section and a "
                             "`source: {predictions: ..., labels: ...}` in the driftline config")

    def feed_events(self, events: Sequence[Any]) -> None:
        """Feed a batch of Faust events (as ``stream.take_events`` yields them).

        The batch is split by source partition (``event.message.partition``; 0 for events
        without one, e.g. from an in-memory channel), keeping the order within each partition.
        """
        self._feed_grouped(events, self.feed)

    def feed_label_events(self, events: Sequence[Any]) -> None:
        """As :meth:`feed_events`, for a batch of label events."""
        self._feed_grouped(events, lambda values, partition, topic, offsets, _record_ms:
                           self.feed_labels(values, partition, topic, offsets))

    def _feed_grouped(self, events: Sequence[Any], feed: Callable[..., None]) -> None:
        if self.closed:
            # A batch can still be in flight while the app stops; it is not judged.
            log.warning("driftline: %d events arrived after close(); ignored", len(events))
            return
        groups: dict[tuple[str | None, int], tuple[list[bytes], list[int], list[int | None]]] = {}
        for event in events:
            message = getattr(event, "message", None)
            partition = getattr(message, "partition", None)
            offset = getattr(message, "offset", None)
            topic = getattr(message, "topic", None)
            key = (topic if isinstance(topic, str) else None,
                   partition if isinstance(partition, int) else 0)
            values, offsets, times = groups.setdefault(key, ([], [], []))
            values.append(event_value_bytes(event.value))
            offsets.append(offset if isinstance(offset, int) else -1)
            times.append(_record_ms(getattr(message, "timestamp", None)))
        for (topic, partition), (values, offsets, times) in groups.items():
            feed(values, partition, topic, offsets if all(o >= 0 for o in offsets) else None, times)
        self.batches += 1

    async def consume(self, stream: Any, batch_size: int = 1000, within: float = 1.0,
                      close_on_stop: bool = True) -> None:
        """Feed the monitor from a Faust stream until the stream stops.

        Reads ``stream.take_events(batch_size, within=within)``: batches of up to
        ``batch_size`` events, or what arrived within ``within`` seconds. Events are acked by
        Faust once their batch has been fed. With ``close_on_stop``, the monitor is closed
        (open windows judged, sink closed) when the stream ends or the app stops the agent;
        not when a batch raises (Faust restarts the agent, and the monitor keeps its windows).
        """
        try:
            await self._consume(stream, batch_size, within, self.feed_events)
        except asyncio.CancelledError:
            if close_on_stop:
                self.close()
            raise
        if close_on_stop:
            self.close()

    async def consume_labels(self, stream: Any, batch_size: int = 1000, within: float = 1.0) -> None:
        """As :meth:`consume`, for the stream of the labels topic."""
        await self._consume(stream, batch_size, within, self.feed_label_events)

    async def _consume(self, stream: Any, batch_size: int, within: float,
                       feed: Callable[[Sequence[Any]], None]) -> None:
        # one checker for the predictions and labels agents together, running while either does
        self._consuming += 1
        if self._idle_checker is None or self._idle_checker.done():
            self._idle_checker = asyncio.ensure_future(self._check_idle_every_second())
        try:
            async for events in stream.take_events(batch_size, within=within):
                try:
                    if self._pipeline is None and self.partitions is None:
                        # the consumer has the topic's metadata once it is handed events
                        self._ensure_pipeline(_stream_partitions(stream))
                    feed(events)
                except Exception as exc:
                    self._keep_error(exc)
                    log.exception("driftline: a batch of %d events failed", len(events))
                    raise
        finally:
            self._consuming -= 1
            if not self._consuming and self._idle_checker is not None:
                # not awaited: a consume starting meanwhile must not find it half cancelled
                self._idle_checker.cancel()
                self._idle_checker = None

    async def _check_idle_every_second(self) -> None:
        while not self.closed:
            await asyncio.sleep(IDLE_CHECK_INTERVAL)
            try:
                self.check_idle()
            except Exception as exc:
                # a failing sink, say: as for a batch that fails, the outputs of the windows
                # being judged are lost (logged, kept in errors); the checks go on
                self._keep_error(exc)
                log.exception("driftline: judging the windows idle partitions closed failed")

    def _keep_error(self, exc: Exception) -> None:
        self.errors.append(exc)
        del self.errors[:-10]

    def close(self, judge_open_windows: bool = True) -> PipelineStats:
        """Judge every open window (unless ``judge_open_windows`` is false) and close the sink.

        Idempotent. Returns the final statistics.
        """
        if not self.closed:
            self.closed = True
            try:
                if judge_open_windows and self._pipeline is not None:
                    self._pipeline.close()
                    self._tell_pooling()
            finally:
                self.sink.close()
        return self.stats


def _record_ms(seconds: Any) -> int | None:
    """A Faust message's timestamp (its Kafka record's, in seconds) in ms; None when unknown.

    >>> _record_ms(1795741200.123), _record_ms(None), _record_ms(-1.0)
    (1795741200123, None, None)
    """
    if type(seconds) not in (int, float) or not 0 <= seconds < math.inf:   # NaN fails too
        return None
    return round(seconds * 1000)


def _stream_partitions(stream: Any) -> tuple[int, ...] | None:
    """The partition count of the stream's Kafka topic, when Faust knows it."""
    channel = getattr(stream, "channel", None)
    count = getattr(channel, "partitions", None)
    if isinstance(count, int) and count > 0:
        return tuple(range(count))
    topics = getattr(channel, "topics", None)
    app = getattr(stream, "app", None) or getattr(channel, "app", None)
    consumer = getattr(app, "_consumer", None)   # not `app.consumer`: that would create one
    if topics and consumer is not None:
        counts = set()
        for t in topics:
            try:
                counts.add(consumer.topic_partitions(t))
            except Exception:  # not started, no metadata yet
                return None
        if len(counts) == 1 and isinstance(n := counts.pop(), int) and n > 0:
            return tuple(range(n))
    return None


def attach(app: Any, topic: Any, config: Config | str | Path, sink: OutputSink, *,
           monitor: str | None = None, partitions: int | Iterable[int] | None = None,
           batch_size: int = 1000, within: float = 1.0, name: str | None = None,
           close_on_stop: bool = True, labels_topic: str | None = None) -> DriftlineFaustMonitor:
    """Register a Faust agent on ``app`` that feeds a driftline monitor; return the monitor.

    ``topic``: a topic name (the agent then subscribes with ``value_serializer="raw"``) or a
    Faust topic of yours. ``partitions``: see :class:`DriftlineFaustMonitor`; when the topic
    is given by name, its partition count is looked up from the consumer's metadata at the
    first batch (pass it to skip the look-up). ``name``: the agent's name (default
    ``driftline-<topic>``, plus ``-<monitor>`` when one is named; a name the app already has is
    refused). With ``close_on_stop`` the monitor is closed (open windows judged,
    sink closed) when the agent stops with the app. If the agent crashes, Faust restarts it and
    the monitor keeps its state. ``labels_topic``: a second agent (``<name>-labels``) feeds the
    label events of that topic to the monitors that join labels.
    """
    if not callable(getattr(app, "agent", None)) or not callable(getattr(app, "topic", None)):
        raise TypeError(f"app must be a faust.App, not {app!r}")
    if not isinstance(topic, str) and not callable(getattr(topic, "stream", None)):
        raise TypeError(f"topic must be a topic name or a Faust topic (or channel), not {topic!r}")
    if labels_topic is not None and not isinstance(labels_topic, str):
        raise TypeError(f"labels_topic must be a topic name, not {labels_topic!r}")
    if type(batch_size) is not int or batch_size < 1 or isinstance(within, bool) or \
            not isinstance(within, int | float) or not within > 0:
        raise ValueError(f"batch_size must be a whole number >= 1 and within a number of seconds > 0, "
                         f"not {batch_size!r} and {within!r}")
    mon = DriftlineFaustMonitor(config, sink, monitor=monitor, partitions=partitions)
    if labels_topic is not None:
        mon._require_labels()
    if isinstance(topic, str):
        channel = app.topic(topic, value_serializer="raw")
        topic_name = topic
    else:
        channel = topic
        topic_name = "-".join(getattr(topic, "topics", None) or ["stream"])
    name = name or f"driftline-{topic_name}" + ("" if monitor is None else f"-{monitor}")
    agents = getattr(app, "agents", {})
    if name in agents:
        raise ValueError(f"the app already has an agent named {name!r} (another attach on this topic?): "
                         f"pass name= to tell them apart, or put the monitors in one driftline config")

    async def driftline_monitor(stream: Any) -> None:
        await mon.consume(stream, batch_size=batch_size, within=within, close_on_stop=close_on_stop)

    mon.agent = app.agent(channel, name=name)(driftline_monitor)
    if labels_topic is not None:
        async def driftline_labels(stream: Any) -> None:
            await mon.consume_labels(stream, batch_size=batch_size, within=within)

        labels = app.topic(labels_topic, value_serializer="raw")
        mon.labels_agent = app.agent(labels, name=f"{name}-labels")(driftline_labels)
    return mon
