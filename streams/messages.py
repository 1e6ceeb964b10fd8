"""Batches of consumed Kafka messages as the worker reads them: grouped by partition, their
values and offsets, their record times; C-level maps over the batch, no Python loop per message."""

from __future__ import annotations

import numpy as np
from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Message


def by_partition(msgs: list[Message]) -> list[tuple[tuple[str | None, int], list[Message]]]:
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


def newer(before: int | None, ms: int) -> int | None:
    """The newer of ``before`` and the record time ``ms`` (from ``record_times``; -1: none)."""
    if ms < 0:
        return before
    return ms if before is None else max(before, ms)


def values_and_offsets(run: list[Message]) -> tuple[list[bytes], list[int]]:
    """The values (a tombstone as empty bytes: an invalid event) and offsets of messages."""
    values = list(map(Message.value, run))
    if None in values:
        values = [b"" if v is None else v for v in values]
    return values, list(map(Message.offset, run))


def record_times(run: list[Message]) -> np.ndarray:
    """The Kafka timestamp of each message in ms, -1 where it has none."""
    kinds, ms = zip(*map(Message.timestamp, run), strict=True)
    out = np.fromiter(ms, dtype=np.int64, count=len(ms))
    if TIMESTAMP_NOT_AVAILABLE in kinds:
        out[np.fromiter(kinds, dtype=np.int64, count=len(kinds)) == TIMESTAMP_NOT_AVAILABLE] = -1
    return out
