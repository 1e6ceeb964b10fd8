"""``driftline run``: one Kafka worker process running tiers 1 and 2 (DESIGN 2 and 4).

Tier 1 consumes the source topics in batches and keeps per-partition window sketches; when a
partition's watermark closes windows it sends their partials to the internal topic
``driftline.<group>.partials`` (key = monitor). Tier 2 consumes that topic, merges the
partials of each window from every partition and judges it. Every few seconds a checkpoint
writes each partition's state together with the source offset it reflects to the compacted
``driftline.<group>.changelog`` topic, and only then commits the group's offsets; on
assignment a worker restores the snapshot and seeks to the offset stored in it, so state and
position never disagree. Partials and outputs carry deterministic ids and tier 2 ignores a
partial it already merged, so replays after a crash change nothing downstream.

With ``processing_guarantee: exactly_once`` everything a worker produces between two
checkpoints (outputs, dead letters, partials, snapshots) is one Kafka transaction, committed
together with the consumed offsets (``send_offsets_to_transaction``) at the checkpoint; its
consumers read committed data only. A crash then leaves no trace downstream at all for
``read_committed`` readers: the open transaction is aborted, and the restarted worker redoes
its work from the snapshot. So that outputs do not wait for the periodic checkpoint, a
checkpoint also follows soon after any window closes or is judged (unless the worker is
working through a backlog).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import math
import os
import signal
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np
from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType
from driftline.schemas.config import Config, internal_topics

from . import changelog, state_codec
from .batching import byte_slices
from .exceptions import KafkaSetupError, ListenError, StateMismatch, TransactionFailed
from .http import Health, serve
from .kafka_config import (
    MAX_MESSAGE_BYTES,
    admin_config,
    client,
    consumer_config,
    group_id,
    producer_config,
    reader_config,
    require_brokers,
    transactional_id,
)
from .kafka_sink import KafkaSink
from .logs import fields
from .merge import WindowMerger
from .metrics import RuntimeStats, build_registry
from .monitor import MonitorRuntime
from .stream_join import StreamJoin
from .tiers import Tier1Partition, Tier2Partition
from .windows import event_ms

T = TypeVar("T")

log = logging.getLogger("driftline.worker")

# How often idle partitions are checked and consumer lag is sampled (seconds).
IDLE_CHECK_INTERVAL = 0.2
# An idle partition repeats its claim this often (seconds): tier 2 lets it off only the
# windows the others had closed by its previous claim (streams/merge.py), so a window waits
# about two of these at most for a partition that gets no events at all.
IDLE_CLAIM_INTERVAL = 1.0
LAG_SAMPLE_INTERVAL = 5.0
# How long one consume() call waits for messages; bounds the latency of idle handling.
POLL_TIMEOUT = 0.1
# Exactly-once mode: after a window closes or is judged, the next checkpoint (which makes the
# outputs visible) comes this soon, so it adds little to the alert latency (<= 1 s, p99)
# while a burst of closing windows still shares one transaction. Not while working through a
# backlog (a full batch was waiting): there each commit, with every partition's snapshot,
# measured 21% of the throughput, and the periodic checkpoint makes the outputs visible.
EAGER_CHECKPOINT = 0.2
# Flow control of the label join while reading a backlog of both topics: a labels partition is
# paused once a join holds this share of limits.max_join_waiting labels waiting for their
# predictions (while fewer than the lower share of predictions wait for labels), and resumed
# at the lower share, once as many predictions wait, or once its predictions partition is read
# to its end (nothing more could pair then); the same for a predictions partition whose
# predictions wait for labels. Never both sides of a partition at once. So the events wait in
# their topic, not in memory, and none is evicted while its partner is still to be read. The
# gap leaves room for one more batch before the cap.
LABELS_PAUSE_SHARE = 0.5
LABELS_RESUME_SHARE = 0.25
# Seconds a transactional call may block before the worker gives up on the transaction.
TRANSACTION_TIMEOUT = 30.0
# Test hook (tests/integration/test_run_labels.py): the worker dies right after it sent the
# partials of an outbox (before any later checkpoint), as a crash there would.
EXIT_AFTER_OUTBOX_ENV = "DRIFTLINE_TEST_EXIT_AFTER_OUTBOX"
# What the label join counts (label_join.JoinCounts), exported as driftline_labels_total{outcome}.
_LABEL_OUTCOMES = ("pairs", "unmatched", "late", "null_prediction", "duplicate", "invalid")
# Commit errors that mean this worker is no longer the group member it was; checkpoint
# snapshots hold the offsets, so losing such a commit loses nothing.
_MEMBERSHIP_LOST = frozenset({KafkaError.UNKNOWN_MEMBER_ID, KafkaError.ILLEGAL_GENERATION,
                              KafkaError.REBALANCE_IN_PROGRESS})
# ... or no coordinator answers (the broker was away): the same holds, and the next checkpoint
# commits again
_COORDINATOR_AWAY = frozenset({KafkaError._WAIT_COORD, KafkaError.COORDINATOR_NOT_AVAILABLE,
                               KafkaError.NOT_COORDINATOR, KafkaError.REQUEST_TIMED_OUT,
                               KafkaError._TIMED_OUT, KafkaError._TRANSPORT})


def _topic_limit(admin: AdminClient, topic: str) -> int:
    """The topic's ``max.message.bytes``; Kafka's default (1 MB) when it cannot be read."""
    resource = ConfigResource(ResourceType.TOPIC, topic)
    try:
        entries = admin.describe_configs([resource])[resource].result(timeout=15)
        return int(entries["max.message.bytes"].value)
    except Exception:   # no DescribeConfigs permission, say: assume the broker's default
        return 1_048_588


def _retried(call: Any, attempts: int = 3) -> Any:
    """``call()``, called again while it raises an error librdkafka calls retriable."""
    for attempt in range(attempts):
        try:
            return call()
        except KafkaException as exc:
            if attempt == attempts - 1 or not exc.args[0].retriable():
                raise
    raise AssertionError("unreachable")


def _by_partition(msgs: list[Message]) -> list[tuple[tuple[str | None, int], list[Message]]]:
    """The messages of each (topic, partition), in their order, partitions in order of first
    appearance; C-level maps and one stable argsort instead of a Python loop per message."""
    if not msgs:   # a batch of nothing but consumer errors
        return []
    keys = list(zip(map(Message.topic, msgs), map(Message.partition, msgs), strict=True))
    index = {key: i for i, key in enumerate(dict.fromkeys(keys))}
    if len(index) == 1:
        return [(keys[0], msgs)]
    codes = np.fromiter(map(index.__getitem__, keys), dtype=np.int64, count=len(keys))
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    return [(keys[int(rows[0])], [msgs[i] for i in rows.tolist()])
            for rows in np.split(order, bounds)]


def _newer(before: int | None, ms: int) -> int | None:
    """The newer of ``before`` and the record time ``ms`` (from ``_record_ms``; -1: none)."""
    if ms < 0:
        return before
    return ms if before is None else max(before, ms)


def _known_partitions(snaps: dict[str, Any]) -> dict[str, int]:
    """How many partitions each source topic had when the group's tier-1 snapshots were taken
    (the most any of them says; snapshots of older versions say nothing)."""
    known: dict[str, int] = {}
    for key, snap in snaps.items():
        topic, count = changelog.tier1_topic(key), snap.get("partitions")
        if topic is not None and isinstance(count, int):
            known[topic] = max(known.get(topic, 0), count)
    return known


def _values(run: list[Message]) -> tuple[list[bytes], list[int]]:
    """The values (a tombstone as empty bytes: an invalid event) and offsets of messages."""
    values = list(map(Message.value, run))
    if None in values:
        values = [b"" if v is None else v for v in values]
    return values, list(map(Message.offset, run))


def _record_ms(run: list[Message]) -> np.ndarray:
    """The Kafka timestamp of each message in ms, -1 where it has none."""
    kinds, ms = zip(*map(Message.timestamp, run), strict=True)
    out = np.fromiter(ms, dtype=np.int64, count=len(ms))
    if TIMESTAMP_NOT_AVAILABLE in kinds:
        out[np.fromiter(kinds, dtype=np.int64, count=len(kinds)) == TIMESTAMP_NOT_AVAILABLE] = -1
    return out


class Worker:
    def __init__(self, config: Config, monitors: list[MonitorRuntime], *, index: int = 0,
                 commit_before_checkpoint: bool = False, discard_mismatched_state: bool = False) -> None:
        self.config = config
        self.index = index
        # saved state of a monitor whose reference, features or window changed since: dropped
        # (the monitor starts afresh from the saved offsets) rather than stopping the worker
        self.discard_mismatched = discard_mismatched_state
        self._discards: set[tuple[str, str]] = set()   # (monitor, which state) discarded so far
        self.monitors = {m.cfg.name: m for m in monitors}
        self.by_topic: dict[str, list[MonitorRuntime]] = defaultdict(list)
        # labels topic -> the predictions topic it is joined to, partition by partition
        self.label_topics: dict[str, str] = {}
        for m in monitors:
            self.by_topic[m.cfg.predictions_topic].append(m)
            if m.label_decoder is not None and m.cfg.labels_topic is not None:
                paired = self.label_topics.setdefault(m.cfg.labels_topic, m.cfg.predictions_topic)
                if paired != m.cfg.predictions_topic:
                    raise KafkaSetupError(
                        f"labels topic {m.cfg.labels_topic!r} is joined to predictions topics {paired!r} and "
                        f"{m.cfg.predictions_topic!r}; a labels topic is joined partition by partition to one "
                        f"predictions topic: give monitor {m.cfg.name!r} its own labels topic")
        settings = dict(config.kafka)
        require_brokers(settings)
        self.settings = settings
        group = group_id(settings)
        internal = internal_topics(group)
        self.partials_topic, self.changelog_topic = internal["partials"], internal["changelog"]
        # A deliberately broken mode for the crash-safety test: offsets are auto-committed as
        # events are consumed (before the checkpoint) and restored from the group, not the snapshot.
        self.broken = commit_before_checkpoint
        self.exactly_once = config.processing_guarantee == "exactly_once"
        self.consumer = client(Consumer, {**consumer_config(settings, auto_commit=self.broken,
                                                             read_committed=self.exactly_once),
                                           "on_commit": self._on_commit})
        self.transactional_id = transactional_id(settings, index) if self.exactly_once else None
        producer_conf = producer_config(settings, transactional_id=self.transactional_id)
        self.max_message_bytes = int(producer_conf["message.max.bytes"])
        self.producer = client(Producer, producer_conf)
        self._emitted = False   # a window closed or was judged since the last checkpoint
        self._done = False      # the loop has ended: no more checkpoints
        self._lost = False      # exactly-once: state dropped, nothing processed until reassigned
        self.sink = KafkaSink(self.producer, config.outputs, self.max_message_bytes)
        self.sink.stopping = lambda: self.stopping
        self.tier1: dict[tuple[str, int], Tier1Partition] = {}
        self._paused: set[tuple[str, int]] = set()   # partitions paused by the label join's _flow
        self.tier2: dict[int, Tier2Partition] = {}
        self.partition_counts: dict[str, int] = {}
        self.stats = RuntimeStats()
        self.metrics = build_registry(self.stats)
        self.health = Health()
        self.stopping = False
        self._http = None
        self._admin: AdminClient | None = None    # made by ensure_topics, kept for metadata

    # -- set-up -----------------------------------------------------------------------------

    def ensure_topics(self) -> None:
        admin = self._admin = AdminClient(admin_config(self.settings))
        try:
            meta = admin.list_topics(timeout=15)
        except KafkaException as exc:
            servers = self.settings.get("bootstrap.servers", "(bootstrap.servers not set)")
            raise KafkaSetupError(f"kafka: cannot reach the brokers at {servers} ({exc.args[0].str()}); "
                                  f"check kafka.bootstrap.servers and the security settings") from None
        missing_sources = [t for t in [*self.by_topic, *self.label_topics] if t not in meta.topics]
        if missing_sources:
            raise KafkaSetupError(f"source topic(s) {', '.join(missing_sources)} do not exist; "
                                  f"create them or fix monitors[].source in the config")
        for labels, predictions in self.label_topics.items():
            n_labels, n_predictions = len(meta.topics[labels].partitions), len(meta.topics[predictions].partitions)
            if n_labels != n_predictions:
                raise KafkaSetupError(
                    f"labels topic {labels!r} has {n_labels} partition(s) and predictions topic {predictions!r} "
                    f"{n_predictions}: a label joins its prediction in the partition of the same number, so "
                    f"both topics need as many partitions (and the same key, the event id)")
        o = self.config.outputs
        size = {"max.message.bytes": str(MAX_MESSAGE_BYTES)}   # checkpoints, partials, dead letters
        wanted = {t: NewTopic(t, 1, config=size) for t in (o.reports, o.alerts, o.retrain, o.dlq, self.partials_topic)}
        wanted[self.changelog_topic] = NewTopic(self.changelog_topic, 1, config={
            "cleanup.policy": "compact", "min.compaction.lag.ms": "60000", **size})
        create = [t for name, t in wanted.items() if name not in meta.topics]
        if create:
            for name, fut in admin.create_topics(create, operation_timeout=15).items():
                try:
                    fut.result()
                except Exception as exc:
                    if "TOPIC_ALREADY_EXISTS" not in str(exc):
                        raise KafkaSetupError(f"cannot create topic {name!r}: {exc}") from None
                log.info("created topic", extra=fields(topic=name))
            meta = self._wait_for_leaders(admin, [t.topic for t in create])
        self._refresh_partition_counts(meta)
        self.sink = KafkaSink(self.producer, o, min(self.max_message_bytes, _topic_limit(admin, o.dlq)))
        self.sink.stopping = lambda: self.stopping


    def _wait_for_leaders(self, admin: AdminClient, topics: list[str], timeout: float = 30.0):
        """New topics serve reads only once every partition has a leader (the changelog is read
        in the first rebalance right after): wait for that, bounded."""
        deadline = time.monotonic() + timeout
        while True:
            meta = admin.list_topics(timeout=10)
            ready = all(t in meta.topics and meta.topics[t].partitions
                        and all(p.leader >= 0 for p in meta.topics[t].partitions.values()) for t in topics)
            if ready or time.monotonic() > deadline:
                return meta
            time.sleep(0.1)

    def _refresh_partition_counts(self, meta=None) -> None:
        # Not the consumer's list_topics: this runs inside its rebalance callback, and a nested
        # call on the consumer that blocks (confluent-kafka's CallState_begin / end) leaves it
        # with no call state when it returns, so its next callback (a log line under
        # kafka.debug, or by chance) aborts the process: `CallState_get: Assertion 'cs != NULL'`.
        if meta is None:
            meta = self._admin.list_topics(timeout=10)
            self._admin.poll(0)    # its log lines (queued for the client's own poll)
        for topic in [*self.by_topic, *self.label_topics]:
            if topic in meta.topics:
                self.partition_counts[topic] = len(meta.topics[topic].partitions)

    # -- main loop --------------------------------------------------------------------------

    def run(self) -> None:
        http = self.config.http
        port = http.port + self.index if http.port else 0
        try:   # first: a port in use stops the worker before it touches the broker
            self._http = serve(http.host, port, self.metrics.registry, self.health)
        except OSError as exc:
            hint = ("another process (a worker of this config?) has it: give each worker its own http.port "
                    "(--workers N uses port .. port+N-1), or 0 for any free port"
                    if exc.errno == errno.EADDRINUSE else "check http.host and http.port")
            raise ListenError(f"http: cannot listen on {http.host}:{port} ({exc.strerror or exc}); {hint}") from None
        self.ensure_topics()
        if self.exactly_once:
            self._start_transactions()
        log.info("worker started", extra=fields(worker=self.index, metrics=f"http://{http.host}:{self._http.server_port}/metrics",
                                                monitors=sorted(self.monitors)))
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self.consumer.subscribe([*self.by_topic, *self.label_topics, self.partials_topic], on_assign=self._on_assign,
                                on_revoke=self._on_revoke, on_lost=self._on_lost)
        interval = self.config.limits.checkpoint_interval
        limits = self.config.limits
        batch = limits.batch_size
        last_checkpoint = last_idle = last_lag = time.monotonic()
        try:
            while not self.stopping:
                msgs = self.consumer.consume(batch, timeout=POLL_TIMEOUT)
                self.health.beat()
                behind = len(msgs) >= batch   # more was waiting: a backlog, not a live stream
                if msgs:
                    self.process(msgs)
                    self._flow()
                    # wide events: fetch fewer at a time, so raw batches stay near batch_bytes
                    size = sum(map(len, filter(None, map(Message.value, msgs))))
                    if size:
                        batch = max(1, min(limits.batch_size, limits.batch_bytes * len(msgs) // size))
                now = time.monotonic()
                if now - last_idle >= IDLE_CHECK_INTERVAL:
                    self._flow()
                    self.check_idle(now)
                    last_idle = now
                if now - last_lag >= LAG_SAMPLE_INTERVAL:
                    self._sample_lag()
                    last_lag = now
                eager = (self.exactly_once and self._emitted and not behind
                         and now - last_checkpoint >= EAGER_CHECKPOINT)
                if eager or now - last_checkpoint >= interval:
                    self.checkpoint(wait=False)
                    last_checkpoint = now
                self.producer.poll(0)
            log.info("stopping: finishing the batch, checkpointing, leaving the group")
            self.checkpoint()
            self._done = True   # leaving the group (in close()) need not checkpoint again
        except BaseException:
            self._done = True   # ... nor may it: the state may be ahead of what is committed
            if self.exactly_once:   # whatever this transaction holds is discarded now, not at its timeout
                self._abort_quietly()
            raise
        finally:
            self.consumer.close()
            if self._http is not None:
                self._http.shutdown()
        log.info("worker stopped", extra=fields(worker=self.index))

    def _stop(self, signum: int, _frame: Any) -> None:
        self.stopping = True

    def process(self, msgs: list[Message]) -> None:
        if self._lost:   # read again from the snapshots' offsets once the group reassigns us
            return
        t0 = time.perf_counter()
        if any(map(Message.error, msgs)):
            msgs = self._drop_errors(msgs)
        # group the whole batch by partition, keeping each partition's order: librdkafka
        # interleaves small fetches, and tier 1 pays a fixed cost per call (measured: a live
        # stream fell behind when runs of consecutive messages were processed one by one)
        for (topic, partition), run in _by_partition(msgs):
            if topic == self.partials_topic:
                self._tier2(partition, run)
            elif topic in self.by_topic:
                self._tier1(topic, partition, run)
            elif topic in self.label_topics:
                self._labels(topic, partition, run)
        self.metrics.batch_seconds.observe(time.perf_counter() - t0)

    def _drop_errors(self, msgs: list[Message]) -> list[Message]:
        ok = []
        for m in msgs:
            err = m.error()
            if err is None:
                ok.append(m)
            elif err.code() != KafkaError._PARTITION_EOF:
                log.warning("consumer error", extra=fields(error=err.str(), topic=m.topic()))
        return ok

    # -- tier 1 -----------------------------------------------------------------------------

    def _tier1(self, topic: str, partition: int, run: list[Message]) -> None:
        values, offsets = _values(run)
        st = self.tier1.get((topic, partition))
        joined = st is not None and bool(st.joins)
        checked = self.config.limits.max_future is not None
        # record times: for limits.max_future (events far ahead of them are dead letters), and
        # for the label join (windows wait for labels produced before: see _labels_behind)
        record_ms = _record_ms(run) if joined or checked else None
        for part in byte_slices(values, self.config.limits.batch_bytes):
            if joined:
                st.record_ms = _newer(st.record_ms, int(record_ms[part.stop - 1]))
            self._tier1_batch(topic, partition, values[part], offsets[part], record_ms[part] if checked else None)

    def _labels(self, topic: str, partition: int, run: list[Message]) -> None:
        """Label events: joined in the state of the predictions partition of the same number."""
        predictions = self.label_topics[topic]
        st = self.tier1.get((predictions, partition))
        if st is None:   # no longer ours (assignments pair the two partitions: see _label_start)
            log.warning("labels of a partition this worker does not hold ignored", extra=fields(
                topic=topic, partition=partition, events=len(run)))
            return
        values, offsets = _values(run)
        stats = self.stats
        decoded = {}
        for m in self.by_topic[predictions]:
            join = st.joins.get(m.cfg.name)
            if join is None or m.cfg.labels_topic != topic or m.label_decoder is None:
                continue
            batch = decoded.get(m.label_decoder.spec)
            if batch is None:
                batch = decoded[m.label_decoder.spec] = m.label_decoder.decode(values, topic, partition, offsets)
            with self._counting(m.cfg.name, join):
                join.add_labels(batch, st.windows[m.cfg.name])
            self.sink.dead(m.cfg.name, batch.dead)
            with stats.lock:
                stats.events[(m.cfg.name, topic)] += len(values)
                for d in batch.dead:
                    stats.invalid[(m.cfg.name, d.reason)] += 1
        st.label_offsets[topic] = offsets[-1] + 1
        newest = _newer(st.label_record_ms.get(topic), int(_record_ms(run[-1:])[0]))
        if newest is not None:
            st.label_record_ms[topic] = newest
        st.dirty = True
        outbox = self._outbox(st)
        for m in self.by_topic[predictions]:
            if m.cfg.labels_topic == topic and m.cfg.name in st.joins and not self._labels_behind(st, m):
                # windows that waited for these labels (see _labels_behind) close now
                self._send_progress(m, st, self._close(st, m.cfg.name),
                                    sorted(st.windows[m.cfg.name].open) if st.idle else None, outbox=outbox)
        self._send_outbox(st, outbox)

    def _tier1_batch(self, topic: str, partition: int, values: list[bytes], offsets: list[int],
                     record_ms: np.ndarray | None = None) -> None:
        st = self.tier1.get((topic, partition))
        if st is None:   # not assigned through our callback (should not happen): start fresh
            st = self.tier1[(topic, partition)] = self._new_tier1(topic, partition)
        stats = self.stats
        advanced = False
        outbox = self._outbox(st)
        for m in self.by_topic[topic]:
            name = m.cfg.name
            batch = m.decoder.decode(values, topic, partition, offsets, record_ms=record_ms)
            w = st.windows[name]
            before = st.base_max_ms.get(name)
            join = st.joins.get(name)
            if join is None:
                late = w.add(batch)
            else:
                with self._counting(name, join):
                    late = join.add_predictions(batch, w)
            newest = int(event_ms(batch.timestamps).max()) if len(batch) else None
            # by events newer than the newest before (w.max_event_ms may be an idle advance)
            moved = newest is not None and (before is None or newest > before)
            self.sink.dead(name, batch.dead)
            with stats.lock:
                stats.events[(name, topic)] += len(values)
                for d in batch.dead:
                    stats.invalid[(name, d.reason)] += 1
                stats.late[name] += late
                if moved:
                    stats.last_event_ts[name] = max(stats.last_event_ts.get(name, 0.0), newest / 1000)
            if moved:
                st.base_max_ms[name] = newest
                advanced = True
            # an idle partition stays idle until event time moves: its claim is kept
            partials = [] if self._labels_behind(st, m) else self._close(st, name)
            self._send_progress(m, st, partials, sorted(w.open) if st.idle and not moved else None,
                                outbox=outbox if name in st.joins else None)
        st.next_offset = offsets[-1] + 1
        if advanced:
            # only events that move event time keep a partition from being idle: one fed only
            # invalid events, or valid ones stuck in the past, would otherwise hold back every
            # window of its monitors (tier 2 waits for each partition)
            st.last_event_wall = time.monotonic()
            st.idle = False
        st.dirty = True
        self._send_outbox(st, outbox)

    def _outbox(self, st: Tier1Partition) -> list[dict] | None:
        """Where the progress messages of monitors that join labels wait until a snapshot holds
        the state that made them (None: send at once). Their windows close as labels and
        predictions interleave, which differs when a restarted worker reads the two topics
        again: the windows tier 2 got must not close another way after a crash, so the state
        after the close is saved first (at-least-once; exactly-once aborts the partials instead)."""
        return [] if st.joins and not self.exactly_once and not self.broken else None

    def _send_outbox(self, st: Tier1Partition, outbox: list[dict] | None) -> None:
        if not outbox:
            return
        if st.next_offset is None:   # nothing read yet, so nothing to save: no crash can redo it
            self._produce_progress(outbox)
            return
        st.outbox = outbox
        self.sink.produce(self.changelog_topic, changelog.tier1_key(st.topic, st.partition),
                          state_codec.dumps(self._tier1_snapshot(st)))
        self.sink.flush()   # the snapshot is stored before any of its partials leaves
        self._produce_progress(outbox)
        st.outbox = []
        st.dirty = True     # the next checkpoint's snapshot, without the outbox
        if os.environ.get(EXIT_AFTER_OUTBOX_ENV) == "1":   # test hook: a crash right here
            self.sink.flush()
            os._exit(9)

    def _produce_progress(self, messages: list[dict]) -> None:
        for message in messages:
            self.sink.produce(self.partials_topic, message["monitor"], state_codec.dumps(message))

    def _tier1_snapshot(self, st: Tier1Partition) -> dict[str, Any]:
        snap: dict[str, Any] = {"offset": st.next_offset, "monitors": {
            n: {**state_codec.windows_to_dict(w), "fingerprint": self.monitors[n].state_fingerprint,
                **({"join": st.joins[n].to_state()} if n in st.joins else {})}
            for n, w in st.windows.items()}}
        if st.topic in self.partition_counts:   # how many partitions its topic had: a higher one was added since
            snap["partitions"] = self.partition_counts[st.topic]
        if st.label_offsets:
            snap["label_offsets"] = st.label_offsets
        if st.outbox:
            snap["outbox"] = st.outbox
        return snap

    def _close(self, st: Tier1Partition, name: str, watermark: int | None = None) -> list:
        """Close the windows of monitor ``name`` the watermark has passed; its label join lets go
        of what can no longer pair, and what became of such labels goes with the first partial."""
        join = st.joins.get(name)
        if join is None:
            return st.windows[name].close_ready(watermark)
        with self._counting(name, join):
            return join.close(st.windows[name], watermark)

    @contextlib.contextmanager
    def _counting(self, name: str, join: StreamJoin) -> Iterator[None]:
        """Count in the metrics what the join did to labels (and predictions) meanwhile."""
        before = dataclasses.asdict(join.counts), join.evicted_predictions
        yield
        after = dataclasses.asdict(join.counts)
        with self.stats.lock:
            for outcome in _LABEL_OUTCOMES:
                if after[outcome] != before[0][outcome]:
                    self.stats.labels[(name, outcome)] += after[outcome] - before[0][outcome]
            if join.evicted_predictions != before[1]:
                self.stats.labels[(name, "evicted_predictions")] += join.evicted_predictions - before[1]

    def _send_progress(self, m: MonitorRuntime, st: Tier1Partition, partials: list, idle_open: list[int] | None,
                       now: float | None = None, outbox: list[dict] | None = None) -> None:
        """Tell tier 2 what the partition closed; ``now`` (an idle claim): repeated every
        ``IDLE_CLAIM_INTERVAL`` even when nothing changed. ``outbox``: a message with partials
        goes there instead (see :meth:`_outbox`)."""
        name = m.cfg.name
        w = st.windows[name]
        progress = (w.closed_through, None if idle_open is None else tuple(idle_open))
        changed = bool(partials) or st.last_sent.get(name) != progress
        due = now is not None and now - st.idle_claimed.get(name, -IDLE_CLAIM_INTERVAL) >= IDLE_CLAIM_INTERVAL
        if not (changed or due):
            return
        if now is not None:
            st.idle_claimed[name] = now
        message = {
            "monitor": name, "topic": st.topic, "partition": st.partition,
            "closed_through": w.closed_through, "idle_open": idle_open, "closed_at": time.time(),
            "fingerprint": m.state_fingerprint,
            "partials": [state_codec.partial_to_dict(p) for p in partials],
        }
        if outbox is not None and partials:
            outbox.append(message)
        else:
            self._produce_progress([message])
        st.last_sent[name] = progress
        # closed windows, or an idle partition releasing them in tier 2 (in exactly-once mode
        # tier 2 sees the claim only once it is committed: soon, not at the periodic checkpoint)
        self._emitted = True

    def _flow(self) -> None:
        """Flow control of the label join (see LABELS_PAUSE_SHARE): a labels partition whose
        labels wait for predictions still unread, or a predictions partition whose predictions
        wait for labels still unread, is paused until the other side has caught up."""
        cap = self.config.limits.max_join_waiting
        for (topic, p), st in self.tier1.items():
            if not st.joins:
                continue
            labels_waiting = max(join.pending_labels for join in st.joins.values())
            predictions_waiting = max(join.pending_predictions for join in st.joins.values())
            predictions = TopicPartition(topic, p)
            for labels in sorted({m.cfg.labels_topic for m in self.by_topic[topic] if m.cfg.name in st.joins}):
                lt = TopicPartition(labels, p)
                self._hold(lt, labels_waiting, predictions_waiting, predictions, st.next_offset, cap)
                self._hold(predictions, predictions_waiting, labels_waiting, lt, st.label_offsets.get(labels), cap)

    def _hold(self, tp: TopicPartition, ahead: int, behind: int, other: TopicPartition, other_start: int | None,
              cap: int) -> None:
        """Pause ``tp`` while ``ahead`` of its entries wait in the join for ``other``'s (few of
        ``other``'s waiting for it, ``other`` not paused nor read to its end); resume it when
        they are few, when as many of ``other``'s wait, or once ``other`` is read to its end."""
        key, other_key = (tp.topic, tp.partition), (other.topic, other.partition)
        if key not in self._paused:
            if (ahead >= cap * LABELS_PAUSE_SHARE and behind < cap * LABELS_RESUME_SHARE
                    and other_key not in self._paused and not self._read_to_end(other, other_start)):
                self.consumer.pause([tp])
                self._paused.add(key)
                log.debug("partition paused: its events wait in the label join for the other topic's",
                          extra=fields(topic=tp.topic, partition=tp.partition, waiting=ahead))
        elif (ahead <= cap * LABELS_RESUME_SHARE or behind >= cap * LABELS_RESUME_SHARE
              or self._read_to_end(other, other_start)):
            self.consumer.resume([tp])
            self._paused.discard(key)
            log.debug("partition resumed", extra=fields(topic=tp.topic, partition=tp.partition, waiting=ahead))

    def _labels_behind(self, st: Tier1Partition, m: MonitorRuntime) -> bool:
        """Whether the windows of ``m`` must wait for labels before they close: labels that
        were produced before the newest prediction read (by Kafka record time) are still
        unread. Live, the labels partition is read to its end and nothing waits; reading a
        backlog, the predictions partition can get far ahead of its labels, and windows
        would close without labels that were there, in time, when they were produced."""
        topic = m.cfg.labels_topic
        if st.record_ms is None or topic is None or m.cfg.name not in st.joins:
            return False
        read = st.label_record_ms.get(topic)
        if read is not None and read >= st.record_ms:
            return False
        return not self._read_to_end(TopicPartition(topic, st.partition), st.label_offsets.get(topic))

    def _caught_up(self, st: Tier1Partition) -> bool:
        """True when nothing is left to read in the partition, nor in the labels partition
        joined to it (silence is not mere lag: windows must not close on labels still unread)."""
        ends = [(st.topic, st.next_offset), *st.label_offsets.items()]
        return all(self._read_to_end(TopicPartition(topic, st.partition), start) for topic, start in ends)

    def _read_to_end(self, tp: TopicPartition, start: int | None) -> bool:
        try:
            _, high = self.consumer.get_watermark_offsets(tp, cached=True)
            position = self.consumer.position([tp])[0].offset
        except Exception:
            return False
        if position < 0:   # nothing consumed since assignment: we start where the state ends
            position = -1 if start is None else start
        return high >= 0 and position >= 0 and position >= high

    def check_idle(self, now: float) -> None:
        for st in self.tier1.values():
            silent = now - st.last_event_wall
            if silent < min(m.cfg.window.idle_timeout for m in self.by_topic[st.topic]):
                continue
            if not self._caught_up(st):
                st.last_event_wall = now if st.next_offset is None else st.last_event_wall
                continue
            outbox = self._outbox(st)
            for m in self.by_topic[st.topic]:
                if silent < m.cfg.window.idle_timeout:
                    continue
                w = st.windows[m.cfg.name]
                partials = []
                base = st.base_max_ms.get(m.cfg.name)
                if base is not None:
                    # advance by the wall-clock time since the last event, not to the wall clock
                    partials = self._close(st, m.cfg.name, base + round(silent * 1000) - m.window_spec.grace_ms)
                    if partials:
                        st.dirty = True
                st.idle = True
                self._send_progress(m, st, partials, sorted(w.open), now,
                                    outbox=outbox if m.cfg.name in st.joins else None)
            self._send_outbox(st, outbox)

    # -- tier 2 -----------------------------------------------------------------------------

    def _tier2(self, partition: int, run: list[Message]) -> None:
        st = self.tier2.get(partition)
        if st is None:
            st = self.tier2[partition] = Tier2Partition(partition)
        for msg in run:
            d = state_codec.loads(msg.value())
            st.next_offset = msg.offset() + 1
            st.dirty = True
            m = self.monitors.get(d["monitor"])
            if m is None:
                log.warning("partial of an unknown monitor ignored", extra=fields(monitor=d["monitor"]))
                continue
            merger = st.mergers.get(m.cfg.name)
            if merger is None:
                merger = st.mergers[m.cfg.name] = self._new_merger(m)
            p = int(d["partition"])
            idle = d["idle_open"]
            partials = self._restored(m, d, f"a partial in topic {self.partials_topic}",
                                      lambda m, d: [state_codec.partial_from_dict(x, m.layout) for x in d["partials"]])
            if partials is None:   # made under the monitor's old reference: discarded
                continue
            # the partials first: an idle report must not release a window its own message completes
            late_before = merger.late_events
            merged = merger.add(p, partials, d["closed_through"])
            merged += merger.set_idle(p, None if idle is None else set(idle))
            if merger.late_events > late_before:
                late = merger.late_events - late_before
                with self.stats.lock:
                    self.stats.late[m.cfg.name] += late
                log.warning("events reached tier 2 after their window was judged without them (their "
                            "partition had been idle, or was added to the topic after the window was judged): "
                            "counted as late, once per window they were in", extra=fields(
                                monitor=m.cfg.name, topic=d["topic"], partition=p, events=late))
            self._emitted = self._emitted or bool(merged)
            for window in merged:
                pooled_before = m.pooled_windows
                out = m.judge_window(window, window.joined)
                if m.pooled_windows and not pooled_before:   # once per monitor and process
                    log.warning(m.pooling_warning(), extra=fields(worker=self.index))
                self.sink.reports(out.reports)
                self.sink.alerts(out.alerts)
                self.sink.retrain(out.retrain)
                self.stats.judged(m.cfg.name, out.judgement, out.alerts, out.performance)
                self.metrics.close_lag.labels(m.cfg.name).observe(max(0.0, time.time() - d["closed_at"]))

    def _new_merger(self, m: MonitorRuntime) -> WindowMerger:
        return m.new_merger(self._all_partitions(m))

    def _all_partitions(self, m: MonitorRuntime) -> frozenset[int]:
        """The partitions of the monitor's predictions topic (tier 2 merges all of them)."""
        return frozenset(range(self.partition_counts.get(m.cfg.predictions_topic, 1)))

    # -- checkpoints and rebalancing ---------------------------------------------------------

    def checkpoint(self, only: set[tuple[str, int]] | None = None, wait: bool = True) -> None:
        """Outputs and partials first, then state + offsets to the changelog, then commit.

        ``only``: just these partitions (a revocation). In exactly-once mode every partition's
        state is written whatever ``only`` says: the transaction commits the outputs of all of
        them, so all their snapshots must go with it. ``wait=False`` (the periodic checkpoint):
        the offsets are committed asynchronously, since the snapshots already hold them; a
        revocation and the last checkpoint wait, so the next owner starts from them."""
        if self.exactly_once:
            only = None
        self.sink.flush()
        self._emitted = False
        commits = []
        for key, st in self.tier1.items():
            if (only is not None and key not in only) or st.next_offset is None:
                continue
            if st.dirty:
                self.sink.produce(self.changelog_topic, changelog.tier1_key(*key),
                                  state_codec.dumps(self._tier1_snapshot(st)))
                st.dirty = False
            commits.append(TopicPartition(st.topic, st.partition, st.next_offset))
            commits += [TopicPartition(t, st.partition, o) for t, o in st.label_offsets.items()]
        for p, st in self.tier2.items():
            if (only is not None and (self.partials_topic, p) not in only) or st.next_offset is None:
                continue
            if st.dirty:
                snap = {"offset": st.next_offset, "monitors": {
                    n: {"merger": state_codec.merger_to_dict(mg), "alerts": self.monitors[n].alerts.to_state(),
                        "fingerprint": self.monitors[n].state_fingerprint}
                    for n, mg in st.mergers.items()}}
                self.sink.produce(self.changelog_topic, changelog.tier2_key(p), state_codec.dumps(snap))
                st.dirty = False
            commits.append(TopicPartition(self.partials_topic, p, st.next_offset))
        self.sink.flush()
        if self.exactly_once:
            self._commit_transaction(commits)
        elif commits and not self.broken:
            try:
                self.consumer.commit(offsets=commits, asynchronous=not wait)
            except KafkaException as exc:
                if exc.args[0].code() not in _MEMBERSHIP_LOST | _COORDINATOR_AWAY:
                    raise
                # The group moved on (e.g. while leaving on SIGTERM): the snapshots above already
                # carry these offsets, and whoever owns the partitions now resumes from them.
                # (A synchronous commit raises: librdkafka calls _on_commit for the others only.)
                log.warning("offset commit refused, state is in the changelog", extra=fields(
                    worker=self.index, error=exc.args[0].str()))

    def _on_commit(self, err: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """librdkafka's report of an asynchronous offset commit (served by the next consume). A
        refused commit loses nothing: the snapshots already hold the offsets, and the next
        checkpoint commits again (after a broker outage, an asynchronous commit waits for no
        coordinator)."""
        failed = [tp for tp in partitions if tp.error is not None]
        if err is None and not failed:
            return
        reason = err if err is not None else failed[0].error
        log.warning("offset commit refused, state is in the changelog", extra=fields(
            worker=self.index, error=reason.str(), partitions=len(failed) or len(partitions)))

    # -- exactly-once: transactions ----------------------------------------------------------

    def _start_transactions(self) -> None:
        """Register the transactional id (aborting what a predecessor with this id left open)
        and open the first transaction."""
        try:
            self.producer.init_transactions(TRANSACTION_TIMEOUT)
        except KafkaException as exc:
            raise KafkaSetupError(
                f"exactly_once: cannot start Kafka transactions ({exc.args[0].str()}); the brokers must "
                f"allow transactions (transaction.state.log.* settings, and a WRITE ACL on the "
                f"transactional id where ACLs are on)") from None
        self._begin()

    def _begin(self) -> None:
        try:
            self.producer.begin_transaction()
        except KafkaException as exc:
            raise TransactionFailed(f"exactly_once: cannot open a transaction ({exc.args[0].str()}); "
                                    f"restart the worker") from None

    def _commit_transaction(self, offsets: list[TopicPartition]) -> None:
        """Commit the consumed offsets with everything produced since the last checkpoint, then
        open the next transaction. Each step is retried while librdkafka calls its error
        retriable (a retried commit resumes the same commit). Any other failure stops the
        worker: its in-memory state is ahead of what is committed, so it must restart from its
        snapshot (a transaction left undecided is settled when its id registers again)."""
        try:
            if offsets:
                _retried(lambda: self.producer.send_offsets_to_transaction(
                    offsets, self.consumer.consumer_group_metadata(), TRANSACTION_TIMEOUT))
            _retried(lambda: self.producer.commit_transaction(TRANSACTION_TIMEOUT))
        except KafkaException as exc:
            err = exc.args[0]
            if err.code() in _MEMBERSHIP_LOST and err.txn_requires_abort():
                # the group has moved on (we were frozen, or too slow): the offsets are not ours
                # to commit any more, nor the outputs that go with them
                self._drop_uncommitted(f"offsets refused ({err.name()})")
                return
            if err.txn_requires_abort():
                self._abort_quietly()
                outcome = "it was aborted and its outputs discarded"
            else:
                outcome = "it is settled when the worker's transactional id registers again"
            raise TransactionFailed(
                f"exactly_once: a checkpoint's transaction failed ({err.str()}); {outcome}. This worker "
                f"stops: restart it and it resumes from its last committed checkpoint") from None
        self._begin()

    def _drop_uncommitted(self, why: str) -> None:
        """Abort the open transaction (it holds outputs of every partition since the last
        checkpoint: committed later without their snapshots, the partitions' new owners would
        emit them again), drop all state, and process nothing until the next assignment
        restores every partition from its committed snapshot."""
        log.warning("partitions lost, aborting the open transaction; state is restored on the next "
                    "assignment", extra=fields(worker=self.index, cause=why))
        self._abort_quietly()
        self.sink.failures.clear()   # the purged messages of the aborted transaction
        self._forget(set(self.tier1) | {(self.partials_topic, p) for p in self.tier2})
        for m in self.monitors.values():   # alert state too: it may hold what was just aborted
            m.alerts.reset()
        self._lost = True
        self._begin()

    def _abort_quietly(self) -> None:
        # KafkaException: nothing open, or fenced (the broker aborts it at its timeout); a
        # timed-out abort is resumed by calling it again
        with contextlib.suppress(KafkaException):
            _retried(lambda: self.producer.abort_transaction(TRANSACTION_TIMEOUT / 3))

    def _new_tier1(self, topic: str, partition: int) -> Tier1Partition:
        monitors = self.by_topic[topic]
        return Tier1Partition(topic, partition, {m.cfg.name: m.new_partition() for m in monitors},
                              last_event_wall=time.monotonic(),
                              joins={m.cfg.name: m.new_join() for m in monitors if m.label_decoder is not None})

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        snaps = changelog.read_all(reader_config(self.settings, read_committed=self.exactly_once),
                                   self.changelog_topic, settle=self._settle_seconds())
        self._refresh_partition_counts()
        # predictions partitions first: a labels partition starts where their state says
        for tp in sorted(partitions, key=lambda tp: tp.topic in self.label_topics):
            if tp.topic in self.label_topics:
                snap = self._label_start(tp)
            elif tp.topic == self.partials_topic:
                st = self.tier2[tp.partition] = Tier2Partition(tp.partition)
                snap = snaps.get(changelog.tier2_key(tp.partition))
                if snap is not None:
                    for name, d in snap["monitors"].items():
                        m = self.monitors.get(name)
                        if m is None:
                            continue
                        merger = self._restored(
                            m, d, f"the tier-2 checkpoint {changelog.tier2_key(tp.partition)!r}",
                            lambda m, d: state_codec.merger_from_dict(d["merger"], m.window_spec.size_ms,
                                                                      self._all_partitions(m), m.layout))
                        if merger is not None:
                            st.mergers[name] = merger
                        else:   # the next checkpoint saves the fresh state: a restart needs no flag
                            st.dirty = True
                        # alert states depend on no reference or window: kept through a discard,
                        # so a firing alert goes on, and resolves once windows judged under the
                        # new reference are fine
                        self._restored(m, d, f"the alerts of {changelog.tier2_key(tp.partition)!r}",
                                       lambda m, d: m.alerts.load_state(d["alerts"]), any_fingerprint=True)
                    st.next_offset = snap["offset"]
            else:
                st1 = self.tier1[(tp.topic, tp.partition)] = self._new_tier1(tp.topic, tp.partition)
                snap = snaps.get(changelog.tier1_key(tp.topic, tp.partition))
                if snap is not None:
                    for m in self.by_topic[tp.topic]:
                        d = snap["monitors"].get(m.cfg.name)
                        if d is not None:
                            key = changelog.tier1_key(tp.topic, tp.partition)
                            saved = self._restored(m, d, f"the checkpoint {key!r}", lambda m, d: (
                                state_codec.windows_from_dict(d, m.window_spec, m.layout,
                                                              m.limits.max_model_versions),
                                None if m.label_decoder is None else m.new_join(d["join"])))
                            if saved is not None:
                                st1.windows[m.cfg.name], join = saved
                                if join is not None:
                                    st1.joins[m.cfg.name] = join
                            else:   # the next checkpoint saves the fresh state, even if no event comes
                                st1.dirty = True
                            st1.base_max_ms[m.cfg.name] = st1.windows[m.cfg.name].max_event_ms
                    st1.next_offset = snap["offset"]
                    st1.label_offsets = dict(snap.get("label_offsets", {}))
                    # partials saved with the state that made them may not have left: send them
                    # (again: tier 2 ignores repeats); not as idle claims, the partition restarts
                    self._produce_progress([{**message, "idle_open": None} for message in snap.get("outbox", [])])
            if snap is not None and not self.broken:
                tp.offset = snap["offset"]
        self._check_pairs(partitions)
        if not self.broken:   # (its offsets are librdkafka's, from the group)
            self._within_retention(consumer, partitions)
        self._start_offsets(consumer, [tp for tp in partitions if tp.offset < 0], _known_partitions(snaps))
        consumer.assign(partitions)
        self._paused.clear()     # a new assignment starts unpaused
        self._lost = False
        self.health.ready = True
        log.info("partitions assigned", extra=fields(
            worker=self.index, partitions=[f"{tp.topic}[{tp.partition}]@{tp.offset}" for tp in partitions]))

    def _check_pairs(self, partitions: list[TopicPartition]) -> None:
        """A predictions partition joined to labels comes with its labels partition (and the
        reverse is checked in :meth:`_label_start`)."""
        assigned = {(tp.topic, tp.partition) for tp in partitions}
        for labels, predictions in self.label_topics.items():
            for topic, p in assigned:
                if topic == predictions and (labels, p) not in assigned:
                    raise KafkaSetupError(
                        f"partition {p} of predictions topic {predictions!r} was assigned without partition {p} "
                        f"of labels topic {labels!r}: the join needs both on one worker; use the default "
                        f"partition.assignment.strategy (range) in the kafka settings")

    def _label_start(self, tp: TopicPartition) -> dict | None:
        """A labels partition resumes at the offset its predictions partition's state holds
        (returned as a snapshot-like ``{"offset": ...}``; None: that state starts fresh)."""
        predictions = self.label_topics[tp.topic]
        st = self.tier1.get((predictions, tp.partition))
        if st is None:
            raise KafkaSetupError(
                f"partition {tp.partition} of labels topic {tp.topic!r} was assigned without partition "
                f"{tp.partition} of predictions topic {predictions!r}: the join needs both on one worker; use "
                f"the default partition.assignment.strategy (range) in the kafka settings")
        offset = st.label_offsets.get(tp.topic)
        return None if offset is None else {"offset": offset}

    def _restored(self, m: MonitorRuntime, d: dict[str, Any], what: str,
                  build: Callable[[MonitorRuntime, dict[str, Any]], T], any_fingerprint: bool = False) -> T | None:
        """``build(m, d)``: saved state of ``m`` restored, only if it was saved under the monitor's
        current reference, features and window (its fingerprint, unless ``any_fingerprint``:
        state that depends on none of them; state from before fingerprints is tried, and
        refused if it does not fit). Otherwise stop with what to do or, with
        ``--discard-mismatched-state``, None: the caller starts that state afresh."""
        saved = None if any_fingerprint else d.get("fingerprint")
        try:
            if saved is not None and saved != m.state_fingerprint:
                raise ValueError("another fingerprint")
            return build(m, d)
        except (ValueError, KeyError, TypeError, IndexError):
            if not self.discard_mismatched:
                raise StateMismatch(
                    f"monitor {m.cfg.name!r}: {what} was saved under another reference, feature list or window "
                    f"size than the monitor now has, so its open windows cannot go on; to start them afresh "
                    f"(without the events already counted in them) restart with `driftline run "
                    f"--discard-mismatched-state`, or run the new config under a new kafka group.id") from None
        if (m.cfg.name, what) not in self._discards:     # each partial in flight says the same
            self._discards.add((m.cfg.name, what))
            log.warning("state saved under another reference, feature list or window size discarded: the monitor's "
                        "open windows start afresh, without the events counted in them before",
                        extra=fields(monitor=m.cfg.name, state=what))
            with self.stats.lock:
                self.stats.discarded[m.cfg.name] += 1
        return None

    def _start_offsets(self, consumer: Consumer, fresh: list[TopicPartition], known: dict[str, int]) -> None:
        """Where partitions without a snapshot start (committed offset, else the reset policy),
        set on ``fresh`` (to be assigned) and in their state, so the state knows which offset
        it reflects (left to librdkafka, `latest` would be looked up later, skipping the events
        written in between). ``known``: how many partitions each source topic had when the
        group's snapshots were taken."""
        if not fresh:
            return
        policy = str(consumer_config(self.settings)["auto.offset.reset"])
        earliest = policy in ("earliest", "smallest", "beginning")
        # exactly-once: offsets in a transaction still open (a dead worker's, until the broker
        # aborts it at transaction.timeout.ms) are unstable and not answered before then
        wait = self._settle_seconds() if self.exactly_once else 10
        committed = self._committed(consumer, [TopicPartition(t.topic, t.partition) for t in fresh], wait)
        assigned = {(tp.topic, tp.partition): tp for tp in fresh}
        for tp in committed:
            offset = tp.offset
            if offset < 0:
                low, high = changelog.watermarks(consumer, TopicPartition(tp.topic, tp.partition),
                                                 "finding the start of")
                # a source partition numbered past the partitions its topic had when the group
                # took its snapshots was added since: all its events are new, so it starts at its
                # beginning whatever auto.offset.reset says (`latest` would skip its first ones)
                topic = self.label_topics.get(tp.topic, tp.topic)   # labels: as their predictions
                added = tp.topic != self.partials_topic and tp.partition >= known.get(topic, math.inf)
                if added:
                    log.info("a partition added to the topic since the group's snapshots starts at its beginning",
                             extra=fields(worker=self.index, topic=tp.topic, partition=tp.partition, offset=low))
                offset = low if earliest or added else high
            if policy != "error":    # (with "error", librdkafka refuses a partition without an offset)
                assigned[(tp.topic, tp.partition)].offset = offset
            self._set_start(tp.topic, tp.partition, offset)

    def _set_start(self, topic: str, partition: int, offset: int) -> None:
        """The offset a partition's state reflects (where its reading starts)."""
        if topic == self.partials_topic:
            self.tier2[partition].next_offset = offset
        elif topic in self.label_topics:
            self.tier1[(self.label_topics[topic], partition)].label_offsets[topic] = offset
        else:
            self.tier1[(topic, partition)].next_offset = offset

    def _within_retention(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """A saved offset the topic no longer holds (its events deleted by retention while the
        group was away, or the topic recreated) moves to the partition's first offset, said in
        a warning: left to librdkafka, `latest` would skip all the events still there."""
        for tp in partitions:
            if tp.offset < 0:   # none saved: _start_offsets decides
                continue
            low, high = changelog.watermarks(consumer, TopicPartition(tp.topic, tp.partition), "reading the offsets of")
            if low <= tp.offset <= high:
                continue
            log.warning("the saved offset is not in the partition any more (retention deleted its events, or the "
                        "topic was recreated): reading from its first offset", extra=fields(
                            worker=self.index, topic=tp.topic, partition=tp.partition, saved=tp.offset, first=low,
                            lost=max(0, low - tp.offset)))
            tp.offset = low
            self._set_start(tp.topic, tp.partition, low)

    @staticmethod
    def _committed(consumer: Consumer, partitions: list[TopicPartition], wait: float) -> list[TopicPartition]:
        try:
            return consumer.committed(partitions, timeout=wait)
        except KafkaException as exc:
            raise KafkaSetupError(f"cannot read the group's committed offsets ({exc.args[0].str()}); "
                                  f"check the brokers and the group's ACLs") from None

    def _settle_seconds(self) -> float:
        """How long a restore waits for transactions left open (a dead worker's): the brokers
        abort them after transaction.timeout.ms, then clean up (every 10 s by default)."""
        timeout_ms = float(self.settings.get("transaction.timeout.ms", 60_000))
        return max(120.0, timeout_ms / 1000 + 30.0)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        keys = {(tp.topic, tp.partition) for tp in partitions}
        try:
            if not self._done:
                self.checkpoint(keys)
        finally:
            self._forget(keys)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """The group gave our partitions to others (we missed its deadlines): no checkpoint."""
        if self.exactly_once and not self._done:
            self._drop_uncommitted("assignment lost")
            return
        self._forget({(tp.topic, tp.partition) for tp in partitions})   # another worker owns them now

    def _forget(self, keys: set[tuple[str, int]]) -> None:
        self.health.ready = False      # until the next assignment is restored
        for key in keys:
            self.tier1.pop(key, None)
            if key[0] == self.partials_topic:
                st = self.tier2.pop(key[1], None)
                if st is not None:
                    self.stats.forget_judgements(st.mergers)

    def _sample_lag(self) -> None:
        lags = {}
        for (topic, p), st in self.tier1.items():
            try:
                _, high = self.consumer.get_watermark_offsets(TopicPartition(topic, p), cached=True)
            except Exception:
                continue
            if high >= 0 and st.next_offset is not None:
                lags[(topic, p)] = max(0, high - st.next_offset)
            for labels, offset in st.label_offsets.items():
                try:
                    _, high = self.consumer.get_watermark_offsets(TopicPartition(labels, p), cached=True)
                except Exception:
                    continue
                if high >= 0:
                    lags[(labels, p)] = max(0, high - offset)
        waiting: dict[tuple[str, str], int] = defaultdict(int)
        for st in self.tier1.values():
            for name, join in st.joins.items():
                waiting[(name, "labels")] += join.pending_labels
                waiting[(name, "predictions")] += join.pending_predictions
        with self.stats.lock:
            self.stats.consumer_lag = lags
            self.stats.join_waiting = dict(waiting)
