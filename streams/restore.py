"""Restoring a worker's state on assignment: the part of the Kafka worker (streams/worker.py)
that reads the changelog's snapshots back into tier 1 and tier 2 and decides where each
assigned partition starts reading (its snapshot's offset, the group's committed offset, the
reset policy, or the beginning of a partition added since; never a position retention took)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from . import changelog, state_codec
from .exceptions import BrokersUnreachable, KafkaSetupError, StateMismatch
from .http import Health
from .kafka_config import consumer_config, reader_config
from .logs import fields
from .metrics import RuntimeStats
from .monitor import MonitorRuntime
from .tiers import Tier1Partition, Tier2Partition

T = TypeVar("T")

log = logging.getLogger("driftline.worker")


def known_partitions(snaps: dict[str, Any]) -> dict[str, int]:
    """How many partitions each source topic had when the group's tier-1 snapshots were taken
    (the most any of them says; snapshots of older versions say nothing)."""
    known: dict[str, int] = {}
    for key, snap in snaps.items():
        topic, count = changelog.tier1_topic(key), snap.get("partitions")
        if topic is not None and isinstance(count, int):
            known[topic] = max(known.get(topic, 0), count)
    return known


class Restore:
    """Mixed into ``Worker``: its rebalance callback ``_on_assign`` and what it needs."""

    settings: dict[str, Any]
    exactly_once: bool
    broken: bool
    discard_mismatched: bool
    index: int
    monitors: dict[str, MonitorRuntime]
    by_topic: dict[str, list[MonitorRuntime]]
    label_topics: dict[str, str]
    partials_topic: str
    changelog_topic: str
    tier1: dict[tuple[str, int], Tier1Partition]
    tier2: dict[int, Tier2Partition]
    health: Health
    stats: RuntimeStats
    _discards: set[tuple[str, str]]
    _paused: set[tuple[str, int]]
    _lost: bool

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        snaps = changelog.read_all(reader_config(self.settings, read_committed=self.exactly_once),
                                   self.changelog_topic, settle=self._settle_seconds())
        self._refresh_partition_counts()
        # predictions partitions first: a labels partition starts where their state says
        for tp in sorted(partitions, key=lambda tp: tp.topic in self.label_topics):
            if tp.topic in self.label_topics:
                snap = self._label_start(tp)
            elif tp.topic == self.partials_topic:
                snap = self._restore_tier2(tp.partition, snaps)
            else:
                snap = self._restore_tier1(tp.topic, tp.partition, snaps)
            if snap is not None and not self.broken:
                tp.offset = snap["offset"]
        self._check_pairs(partitions)
        if not self.broken:   # (its offsets are librdkafka's, from the group)
            self._within_retention(consumer, partitions)
        self._start_offsets(consumer, [tp for tp in partitions if tp.offset < 0], known_partitions(snaps))
        consumer.assign(partitions)
        self._paused.clear()     # a new assignment starts unpaused
        self._lost = False
        self.health.ready = True
        log.info("partitions assigned", extra=fields(
            worker=self.index, partitions=[f"{tp.topic}[{tp.partition}]@{tp.offset}" for tp in partitions]))

    def _restore_tier2(self, partition: int, snaps: dict[str, Any]) -> dict | None:
        """Tier-2 state of a partials partition from its snapshot (None: it starts fresh)."""
        st = self.tier2[partition] = Tier2Partition(partition)
        key = changelog.tier2_key(partition)
        snap = snaps.get(key)
        if snap is not None:
            for name, d in snap["monitors"].items():
                m = self.monitors.get(name)
                if m is None:
                    continue
                merger = self._restored(
                    m, d, f"the tier-2 checkpoint {key!r}",
                    lambda m, d: state_codec.merger_from_dict(d["merger"], m.window_spec.size_ms,
                                                              self._all_partitions(m), m.layout))
                if merger is not None:
                    st.mergers[name] = merger
                    # its last window's gauges, judged under the same reference and features
                    self.stats.restore_last_window(name, d.get("gauges"))
                else:   # the next checkpoint saves the fresh state: a restart needs no flag
                    st.dirty = True
                # alert states depend on no reference or window: kept through a discard,
                # so a firing alert goes on, and resolves once windows judged under the
                # new reference are fine
                self._restored(m, d, f"the alerts of {key!r}",
                               lambda m, d: m.alerts.load_state(d["alerts"]), any_fingerprint=True)
                self.stats.alert_state(name, m.alerts.firing())   # exported at once, not at the next window
                st.restored.add(name)
            st.next_offset = snap["offset"]
        return snap

    def _restore_tier1(self, topic: str, partition: int, snaps: dict[str, Any]) -> dict | None:
        """Tier-1 state of a source partition from its snapshot (None: it starts fresh)."""
        st1 = self.tier1[(topic, partition)] = self._new_tier1(topic, partition)
        key = changelog.tier1_key(topic, partition)
        snap = snaps.get(key)
        if snap is not None:
            for m in self.by_topic[topic]:
                d = snap["monitors"].get(m.cfg.name)
                if d is not None:
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
        return snap

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
        chosen = []   # starts taken from the policy (or as added partitions), to be committed
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
                chosen.append(TopicPartition(tp.topic, tp.partition, offset))
            if policy != "error":    # (with "error", librdkafka refuses a partition without an offset)
                assigned[(tp.topic, tp.partition)].offset = offset
            self._set_start(tp.topic, tp.partition, offset)
        if chosen and policy != "error":
            self._commit_starts(consumer, chosen)

    def _commit_starts(self, consumer: Consumer, starts: list[TopicPartition]) -> None:
        """Commit where partitions without saved state start, at once: a worker dying before
        its first checkpoint would leave the next owner to decide again, and `latest` then, or
        a partition count that other snapshots have recorded since (an added partition no
        longer looks added), would skip the events written in between."""
        try:
            consumer.commit(offsets=starts, asynchronous=False)
        except KafkaException as exc:   # the first checkpoint commits them anyway
            log.warning("could not commit the start offsets of partitions without saved state", extra=fields(
                worker=self.index, partitions=[f"{tp.topic}[{tp.partition}]@{tp.offset}" for tp in starts],
                error=exc.args[0].str()))

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
            err = exc.args[0]
            # a timeout or another retriable error may pass (an outage): exit 1, started again
            error = BrokersUnreachable if err.retriable() or err.code() == KafkaError._TIMED_OUT else KafkaSetupError
            raise error(f"cannot read the group's committed offsets ({err.str()}); "
                        f"check the brokers and the group's ACLs") from None

    def _settle_seconds(self) -> float:
        """How long a restore waits for transactions left open (a dead worker's): the brokers
        abort them after transaction.timeout.ms, then clean up (every 10 s by default)."""
        timeout_ms = float(self.settings.get("transaction.timeout.ms", 60_000))
        return max(120.0, timeout_ms / 1000 + 30.0)
