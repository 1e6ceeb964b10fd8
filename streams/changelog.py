"""Checkpoints in a compacted changelog topic: the latest value per key wins.

Keys: ``tier1|<topic>|<partition>`` (every monitor's open windows of one source partition,
written together so they share one offset) and ``tier2|<partition>`` (the mergers and alert
books of the monitors whose partials land in that partition of the internal topic).
"""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from . import state_codec
from .exceptions import BrokersUnreachable, KafkaSetupError


def tier1_key(topic: str, partition: int) -> str:
    return f"tier1|{topic}|{partition}"


def tier1_topic(key: str) -> str | None:
    """The source topic of a ``tier1_key``; None for other keys."""
    kind, _, rest = key.partition("|")
    return rest.rpartition("|")[0] if kind == "tier1" else None


def tier2_key(partition: int) -> str:
    return f"tier2|{partition}"


# Errors a partition gives while a just-created topic's leader is being elected (or while the
# client's metadata still names no leader). librdkafka does not flag these as retriable.
_ELECTING = frozenset({KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
                       KafkaError.UNKNOWN_TOPIC_OR_PART})


def watermarks(consumer: Consumer, tp: TopicPartition, what: str = "reading changelog",
               attempts: int = 40) -> tuple[int, int]:
    """Offsets of a partition, retried (for about 10 s) while a new topic's leader is elected."""
    for attempt in range(attempts):
        try:
            return consumer.get_watermark_offsets(tp, timeout=10)
        except KafkaException as exc:
            err = exc.args[0]
            if attempt == attempts - 1 or not (err.retriable() or err.code() in _ELECTING):
                raise BrokersUnreachable(f"{what} {tp.topic!r}: {err.str()}") from None
            time.sleep(0.25)
    raise AssertionError("unreachable")


def read_all(conf: dict[str, Any], topic: str, timeout: float = 60.0, settle: float = 120.0) -> dict[str, Any]:
    """Every key's latest snapshot (tombstones remove keys).

    With ``isolation.level: read_committed`` (exactly-once mode) a reader stops at the last
    stable offset, so a transaction left open on the changelog (a dead worker's, until the
    broker aborts it) would hide every snapshot committed after it began: the read first waits,
    up to ``settle`` seconds, until everything written so far is decided."""
    consumer = Consumer(conf)
    try:
        meta = consumer.list_topics(topic, timeout=10)
        if topic not in meta.topics or meta.topics[topic].error is not None:
            raise KafkaSetupError(f"changelog topic {topic!r} is missing; driftline creates it at start-up")
        parts = list(meta.topics[topic].partitions)
        if conf.get("isolation.level") == "read_committed":
            _wait_until_stable(conf, consumer, topic, parts, settle)
        ends: dict[int, int] = {}
        tps = []
        for p in parts:
            low, high = watermarks(consumer, TopicPartition(topic, p))
            if high > low:
                ends[p] = high
                tps.append(TopicPartition(topic, p, OFFSET_BEGINNING))
        out: dict[str, Any] = {}
        if not tps:
            return out
        consumer.assign(tps)
        deadline = time.monotonic() + timeout
        done: set[int] = set()
        while len(done) < len(ends):
            if time.monotonic() > deadline:
                raise BrokersUnreachable(f"reading changelog {topic!r} took over {timeout:.0f}s")
            for msg in consumer.consume(1000, timeout=0.5):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        done.add(msg.partition())
                        continue
                    raise BrokersUnreachable(f"reading changelog {topic!r}: {err.str()}")
                key = msg.key().decode()
                if msg.value() is None:
                    out.pop(key, None)
                else:
                    out[key] = state_codec.loads(msg.value())
                if msg.offset() + 1 >= ends[msg.partition()]:
                    done.add(msg.partition())
        return out
    finally:
        consumer.close()


def _wait_until_stable(conf: dict[str, Any], committed: Consumer, topic: str, parts: list[int],
                       settle: float) -> None:
    """Wait until the last stable offset (what ``committed``, a read_committed consumer, sees as
    the end) reaches the high watermark each partition had on entry."""
    probe = Consumer({**conf, "isolation.level": "read_uncommitted"})
    try:
        highs = {p: watermarks(probe, TopicPartition(topic, p))[1] for p in parts}
    finally:
        probe.close()
    deadline = time.monotonic() + settle
    for p in parts:
        while watermarks(committed, TopicPartition(topic, p))[1] < highs[p]:
            if time.monotonic() > deadline:
                raise BrokersUnreachable(
                    f"changelog {topic!r}: a transaction has been open on it for over {settle:.0f}s; "
                    f"is a worker with exactly_once hung? (the broker aborts it at its transaction.timeout.ms)")
            time.sleep(0.2)
