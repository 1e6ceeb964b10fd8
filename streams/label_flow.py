"""Flow control of the label join, and what is left to read: the part of the Kafka worker
(streams/worker.py) that asks the consumer how far each partition has been read."""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from .logs import fields
from .monitor import MonitorRuntime
from .tiers import Tier1Partition

log = logging.getLogger("driftline.worker")

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


class LabelFlow:
    """Mixed into ``Worker``: pauses and resumes partitions for the label join, and tells
    whether a partition (and the labels partition joined to it) is read to its end."""

    config: Any
    consumer: Consumer
    tier1: dict[tuple[str, int], Tier1Partition]
    by_topic: dict[str, list[MonitorRuntime]]
    _paused: set[tuple[str, int]]

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
