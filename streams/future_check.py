"""The guard against event times far ahead of their Kafka record's time (``limits.max_future``).

One event stamped far in the future (a producer bug: the year 2099, a local time read as UTC)
would move its partition's watermark so far that every later event of the partition counts as
late, and the monitor goes blind there. ``driftline run`` and the Faust adapter know when each
event was produced (its Kafka record's timestamp): an event more than the limit after it goes
to the dead letters (reason ``future_timestamp``) before it reaches the windows. Files have no
record times, so ``driftline replay`` does not check (nor is the check made on label events,
which move no watermark).

>>> from driftline.detectors.window_sketch import ColumnBatch
>>> ts = np.array([1000.0, 9000.0, 5000.0])
>>> batch = DecodedBatch(ColumnBatch(np.zeros((3, 0)), (), None), ts, np.array([None] * 3), (),
...                      event_ids=["a", "b", "c"])
>>> out = split_future(batch, [b"a", b"b", b"c"], [1_000_000, 1_000_000, None], 3_600_000,
...                    "timestamp", "preds", 0, [40, 41, 42])
>>> out.event_ids, out.rows.tolist(), [(d.reason, d.record.offset) for d in out.dead]
(['a', 'c'], [0, 2], [('future_timestamp', 41)])
>>> out.dead[0].detail
"timestamp 1970-01-01T02:30:00Z is 2.2 hours after its Kafka record's time 1970-01-01T00:16:40Z; the limit is limits.max_future = 1h"
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from driftline.schemas.durations import format_duration

from .records import DeadLetter, DecodedBatch, RawRecord
from .timefmt import event_ms, rfc3339

REASON = "future_timestamp"
# How far ahead an event is, in the largest unit of which it is at least two (so "90 minutes",
# not "1 hours"): enough to tell a time zone (hours) from a wrong year (days) at a glance.
_UNITS = (("days", 86_400_000), ("hours", 3_600_000), ("minutes", 60_000))


def split_future(batch: DecodedBatch, values: Sequence[bytes], record_ms: Sequence[int | None] | np.ndarray,
                 limit_ms: int, field: str, topic: str | None, partition: int | None,
                 offsets: Sequence[int] | None) -> DecodedBatch:
    """``batch`` (decoded from ``values``) without the events more than ``limit_ms`` after
    their record's time, which join its dead letters (in input order, with their offset and
    bytes). ``record_ms[i]``: the record time of ``values[i]`` in ms; None or negative when
    unknown (not checked). One numpy comparison when no event is ahead."""
    if not len(batch):
        return batch
    rows = np.arange(len(batch)) if batch.rows is None else batch.rows
    rec = np.asarray(record_ms, dtype=np.float64)[rows]    # None: NaN, never compared true
    t_ms = event_ms(batch.timestamps)
    ahead = (t_ms - rec > limit_ms) & (rec >= 0)
    if not ahead.any():
        return batch
    hit = np.flatnonzero(ahead)
    keep = np.flatnonzero(~ahead)
    letters = [
        DeadLetter(RawRecord(values[r], topic, partition, None if offsets is None else offsets[r]), REASON,
                   _detail(field, t, int(c), limit_ms))
        for r, t, c in zip(rows[hit].tolist(), t_ms[hit].tolist(), rec[hit].tolist(), strict=True)]
    before = np.full(len(batch.dead), len(values)) if batch.dead_rows is None else batch.dead_rows
    dead_rows = np.concatenate([before, rows[hit]])
    order = np.argsort(dead_rows, kind="stable")
    dead = [*batch.dead, *letters]
    ids = batch.event_ids
    if ids is not None:
        ids = ids[keep] if isinstance(ids, np.ndarray) else [ids[i] for i in keep.tolist()]
    return DecodedBatch(batch.columns.take(keep), batch.timestamps[keep], batch.versions[keep],
                        tuple(dead[i] for i in order.tolist()), rows[keep], dead_rows[order], event_ids=ids)


def _detail(field: str, t_ms: int, record_ms: int, limit_ms: int) -> str:
    return (f"{field} {rfc3339(t_ms)} is {_span(t_ms - record_ms)} after its Kafka record's time "
            f"{rfc3339(record_ms)}; the limit is limits.max_future = {format_duration(limit_ms / 1000)}")


def _span(ms: int) -> str:
    for unit, size in _UNITS:
        if ms >= 2 * size:
            return f"{ms / size:,.1f}".removesuffix(".0") + f" {unit}"
    return f"{ms / 1000:g} seconds"
