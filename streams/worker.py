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

The ``Worker`` class is assembled from parts kept in their own modules: ``topic_setup``
(topics checked and created at start-up), ``restore`` (state restored and start offsets
chosen on assignment), ``label_flow`` (flow control of the label join) and ``transactions``
(exactly-once mode); ``messages`` holds the helpers over consumed batches.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import os
import signal
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import numpy as np
from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from driftline.schemas.config import Config, internal_topics

from . import changelog, state_codec
from .batching import byte_slices
from .exceptions import KafkaSetupError, ListenError
from .http import Health, serve, url
from .kafka_config import (
    client,
    consumer_config,
    group_id,
    producer_config,
    require_brokers,
    transactional_id,
)
from .kafka_sink import KafkaSink
from .label_flow import LabelFlow
from .logs import fields
from .merge import WindowMerger
from .messages import by_partition, newer, record_times, values_and_offsets
from .metrics import RuntimeStats, build_registry
from .monitor import MonitorRuntime
from .restore import Restore
from .stream_join import StreamJoin
from .tiers import Tier1Partition, Tier2Partition
from .topic_setup import TopicSetup
from .transactions import MEMBERSHIP_LOST, Transactions
from .windows import event_ms

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
# Test hook (tests/integration/test_run_labels.py): the worker dies right after it sent the
# partials of an outbox (before any later checkpoint), as a crash there would.
EXIT_AFTER_OUTBOX_ENV = "DRIFTLINE_TEST_EXIT_AFTER_OUTBOX"
# What the label join counts (label_join.JoinCounts), exported as driftline_labels_total{outcome}.
_LABEL_OUTCOMES = ("pairs", "unmatched", "late", "null_prediction", "duplicate", "invalid")
# Commit errors that mean no coordinator answers (the broker was away): the checkpoint's
# snapshots hold the offsets, and the next checkpoint commits again (see also MEMBERSHIP_LOST)
_COORDINATOR_AWAY = frozenset({KafkaError._WAIT_COORD, KafkaError.COORDINATOR_NOT_AVAILABLE,
                               KafkaError.NOT_COORDINATOR, KafkaError.REQUEST_TIMED_OUT,
                               KafkaError._TIMED_OUT, KafkaError._TRANSPORT})


class Worker(TopicSetup, LabelFlow, Restore, Transactions):
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
        for m in monitors:   # counters from 0, so that rules on them work from the start
            labels = [m.cfg.labels_topic] if m.label_decoder is not None and m.cfg.labels_topic else []
            self.stats.known(m.cfg.name, [m.cfg.predictions_topic, *labels], m.cfg.alerts.severity)
        self.metrics = build_registry(self.stats)
        self.health = Health()
        self.stopping = False
        self._http = None
        self._admin: AdminClient | None = None    # made by ensure_topics, kept for metadata

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
        log.info("worker started", extra=fields(worker=self.index, metrics=url(http.host, self._http.server_port, "/metrics"),
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
        for (topic, partition), run in by_partition(msgs):
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
        values, offsets = values_and_offsets(run)
        st = self.tier1.get((topic, partition))
        joined = st is not None and bool(st.joins)
        checked = self.config.limits.max_future is not None
        # record times: for limits.max_future (events far ahead of them are dead letters), and
        # for the label join (windows wait for labels produced before: see _labels_behind)
        record_ms = record_times(run) if joined or checked else None
        for part in byte_slices(values, self.config.limits.batch_bytes):
            if joined:
                st.record_ms = newer(st.record_ms, int(record_ms[part.stop - 1]))
            self._tier1_batch(topic, partition, values[part], offsets[part], record_ms[part] if checked else None)

    def _labels(self, topic: str, partition: int, run: list[Message]) -> None:
        """Label events: joined in the state of the predictions partition of the same number."""
        predictions = self.label_topics[topic]
        st = self.tier1.get((predictions, partition))
        if st is None:   # no longer ours (assignments pair the two partitions: see _label_start)
            log.warning("labels of a partition this worker does not hold ignored", extra=fields(
                topic=topic, partition=partition, events=len(run)))
            return
        values, offsets = values_and_offsets(run)
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
        newest = newer(st.label_record_ms.get(topic), int(record_times(run[-1:])[0]))
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

    def _outbox(self, st: Tier1Partition, wall_clock: bool = False) -> list[dict] | None:
        """Where progress messages with partials wait until a snapshot holds the state that
        made them (None: send at once), for windows that a restarted worker would close
        another way: those of monitors that join labels (they close as labels and predictions
        interleave, which differs when the two topics are read again) and, ``wall_clock``,
        those an idle partition closes (at a time of the wall clock). Tier 2 takes one partial
        per window and partition: after a crash the state after the close must come back, so
        events arriving later count as late, as they would have (at-least-once; exactly-once
        aborts the partials instead)."""
        return [] if (st.joins or wall_clock) and not self.exactly_once and not self.broken else None

    def _send_outbox(self, st: Tier1Partition, outbox: list[dict] | None) -> None:
        if not outbox:
            return
        if st.next_offset is None:   # nothing read yet, so nothing to save: no crash can redo it
            self._produce_progress(outbox)
            return
        # outputs first, as at a checkpoint: the snapshot's offset covers the batch, whose dead
        # letters (and the partials of monitors without the outbox) must not be lost after it
        self.sink.flush()
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

    def check_idle(self, now: float) -> None:
        for st in self.tier1.values():
            silent = now - st.last_event_wall
            if silent < min(m.cfg.window.idle_timeout for m in self.by_topic[st.topic]):
                continue
            if not self._caught_up(st):
                st.last_event_wall = now if st.next_offset is None else st.last_event_wall
                continue
            outbox = self._outbox(st, wall_clock=True)
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
                self._send_progress(m, st, partials, sorted(w.open), now, outbox=outbox)
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
                self.stats.judged(m.cfg.name, out.judgement, out.alerts, out.performance, m.alerts.firing())
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
                        "gauges": self.stats.last_window_state(n), "fingerprint": self.monitors[n].state_fingerprint}
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
                if exc.args[0].code() not in MEMBERSHIP_LOST | _COORDINATOR_AWAY:
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

    def _new_tier1(self, topic: str, partition: int) -> Tier1Partition:
        monitors = self.by_topic[topic]
        return Tier1Partition(topic, partition, {m.cfg.name: m.new_partition() for m in monitors},
                              last_event_wall=time.monotonic(),
                              joins={m.cfg.name: m.new_join() for m in monitors if m.label_decoder is not None})

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
                    self.stats.forget_judgements(set(st.mergers) | st.restored)

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
