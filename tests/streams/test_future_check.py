"""``limits.max_future`` in the decoder (streams/future_check.py): an event more than the limit
after its Kafka record's time is a dead letter ``future_timestamp`` (its offset and bytes,
in input order among the other dead letters), the rest of the batch decodes as without it;
an event exactly at the limit, one whose record time is unknown, and every event when the
limit is null (or no record times are given: replay) pass."""

from __future__ import annotations

import dataclasses
import doctest
from datetime import UTC, datetime, timedelta

import numpy as np
import orjson
import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME, Message
from driftline.detectors.reference import CategoricalReference, NumericReference, ReferenceProfile
from driftline.detectors.window_sketch import MonitorLayout
from driftline.streams import future_check
from driftline.streams.decode import BatchDecoder
from driftline.streams.messages import record_times
from driftline.streams.windows import PartitionWindows, WindowSpec
from hypothesis import given
from hypothesis import strategies as st

from .test_decode import SETTINGS, SPEC, columns, enc, ev

HOUR_MS = 3_600_000
GUARDED = BatchDecoder(dataclasses.replace(SPEC, max_future_ms=HOUR_MS))
PRODUCED = datetime(2026, 11, 27, 1, tzinfo=UTC)          # the records' time
PRODUCED_MS = int(PRODUCED.timestamp() * 1000)


def at(delta: timedelta, event_id: str = "e") -> bytes:
    """An event stamped ``delta`` after the records' time."""
    return enc(ev(event_id, (PRODUCED + delta).isoformat(timespec="milliseconds").replace("+00:00", "Z")))


def test_an_event_far_ahead_is_a_dead_letter_with_its_offset_and_bytes() -> None:
    values = [at(timedelta(minutes=-i), f"e{i}") for i in range(5)]
    values[2] = enc(ev("e2", "2099-01-01T00:00:00Z"))
    out = GUARDED.decode(values, "preds", 3, [100, 101, 102, 103, 104], record_ms=[PRODUCED_MS] * 5)
    assert [(d.reason, d.stage, d.record.topic, d.record.partition, d.record.offset, d.record.value)
            for d in out.dead] == [("future_timestamp", "decode", "preds", 3, 102, values[2])]
    assert out.dead[0].detail == ("timestamp 2099-01-01T00:00:00Z is 26,333 days after its Kafka record's time "
                                  "2026-11-27T01:00:00Z; the limit is limits.max_future = 1h")
    assert out.rows.tolist() == [0, 1, 3, 4] and out.dead_rows.tolist() == [2]
    alone = GUARDED.decode([v for i, v in enumerate(values) if i != 2])
    assert {**columns(out), "dead": []} == columns(alone)


def test_exactly_at_the_limit_passes_a_millisecond_more_does_not() -> None:
    ahead = [timedelta(hours=1), timedelta(hours=1, milliseconds=1), timedelta(hours=1, microseconds=400),
             timedelta(hours=-30), timedelta(0)]
    values = [at(d, f"e{i}") for i, d in enumerate(ahead)]
    out = GUARDED.decode(values, record_ms=np.full(len(values), PRODUCED_MS))
    assert list(out.event_ids) == ["e0", "e2", "e3", "e4"]   # 400 µs: written as whole ms
    assert [d.record.value for d in out.dead] == [values[1]]
    assert "is 3600.001 seconds after" not in out.dead[0].detail   # hours, in its unit
    assert "60 minutes after" in out.dead[0].detail


@pytest.mark.parametrize("unknown", [None, -1])
def test_an_unknown_record_time_is_not_checked(unknown) -> None:
    values = [at(timedelta(days=3650), "far"), at(timedelta(days=3650), "known")]
    out = GUARDED.decode(values, record_ms=[unknown, PRODUCED_MS])
    assert list(out.event_ids) == ["far"] and [d.reason for d in out.dead] == ["future_timestamp"]


def test_no_limit_or_no_record_times_checks_nothing() -> None:
    values = [at(timedelta(days=3650), "far"), at(timedelta(0), "now")]
    off = BatchDecoder(SPEC)                  # limits.max_future: null
    assert SPEC.max_future_ms is None
    assert len(off.decode(values, record_ms=[PRODUCED_MS] * 2)) == 2
    assert len(GUARDED.decode(values)) == 2  # replay: files have no record times


def test_with_other_dead_letters_all_stay_in_input_order() -> None:
    far = enc(ev("far", "2036-11-27T01:00:00Z"))
    values = [b"not json", far, at(timedelta(0), "ok"), enc({"event_id": "x"}), far]
    out = GUARDED.decode(values, "p", 0, [7, 8, 9, 10, 11], record_ms=[PRODUCED_MS] * 5)
    assert [(d.reason, d.record.offset) for d in out.dead] == [
        ("invalid_json", 7), ("future_timestamp", 8), ("missing_field", 10), ("future_timestamp", 11)]
    assert out.rows.tolist() == [2] and out.dead_rows.tolist() == [0, 1, 3, 4]
    assert list(out.event_ids) == ["ok"] and len(out.columns) == 1


@SETTINGS
@given(st.lists(st.tuples(st.integers(-3 * HOUR_MS, 3 * HOUR_MS), st.booleans(), st.booleans()),
                min_size=1, max_size=40))
def test_every_event_is_kept_or_dead_and_the_rule_holds(items) -> None:
    """(ms ahead of its record, record time known, valid event): valid + dead == input, rows
    and dead rows partition it, and an event is a future_timestamp dead letter exactly when its
    record time is known and it is more than the limit ahead."""
    values = [at(timedelta(milliseconds=ms), f"e{i}") if ok else b"{" for i, (ms, _, ok) in enumerate(items)]
    record = [PRODUCED_MS if known else None for _, known, _ in items]
    out = GUARDED.decode(values, "p", 0, list(range(len(values))), record_ms=record)
    rows = list(range(len(out))) if out.rows is None else out.rows.tolist()   # None: a clean batch
    dead_rows = [] if out.dead_rows is None else out.dead_rows.tolist()
    assert sorted([*rows, *dead_rows]) == list(range(len(values))) and dead_rows == sorted(dead_rows)
    assert [d.record.offset for d in out.dead] == dead_rows
    assert [d.record.value for d in out.dead] == [values[i] for i in dead_rows]
    future = [i for i, (ms, known, ok) in enumerate(items) if ok and known and ms > HOUR_MS]
    assert [i for i, d in zip(dead_rows, out.dead, strict=True) if d.reason == "future_timestamp"] == future
    assert list(out.event_ids) == [f"e{i}" for i in rows]
    assert out.timestamps.size == len(out.columns) == len(out.versions) == len(rows)


def test_the_worker_reads_record_times_and_no_timestamp_as_unknown() -> None:
    msgs = [Message(topic="t", partition=0, value=b"{}", offset=0, timestamp=(TIMESTAMP_CREATE_TIME, 1234)),
            Message(topic="t", partition=0, value=b"{}", offset=1),      # (TIMESTAMP_NOT_AVAILABLE, 0)
            Message(topic="t", partition=0, value=b"{}", offset=2, timestamp=(TIMESTAMP_LOG_APPEND_TIME, 99))]
    assert record_times(msgs).tolist() == [1234, -1, 99]


def test_doctests() -> None:
    assert doctest.testmod(future_check).failed == 0


def test_a_far_future_event_never_moves_the_watermark() -> None:
    """What the guard is for, on the windows of one partition: behind an event ten years ahead,
    without the guard every later event is late; with it none is, and it is counted invalid."""
    ref = ReferenceProfile({n: NumericReference.build(np.arange(100.0)) for n in ("amount", "age")},
                           {"country": CategoricalReference.build(np.array(["DE", "FR"], dtype=object))},
                           NumericReference.build(np.linspace(0, 1, 100)))
    spec = WindowSpec.from_seconds(300, 300, 30)
    first = [at(timedelta(seconds=s - 600), f"a{s}") for s in range(0, 300, 10)]
    later = [at(timedelta(seconds=s - 300), f"b{s}") for s in range(0, 300, 10)]
    values = [*first, enc(ev("far", "2036-11-27T01:00:00Z")), *later]
    for decoder, late, invalid in ((GUARDED, 0, 1), (BatchDecoder(SPEC), len(later), 0)):
        w = PartitionWindows(spec, MonitorLayout.from_reference(ref))
        got_late = sum(w.add(decoder.decode(values[i:i + 7], record_ms=[PRODUCED_MS] * len(values[i:i + 7])))
                       for i in range(0, len(values), 7))
        assert (got_late, w.invalid) == (late, invalid)
    assert orjson.loads(values[len(first)])["event_id"] == "far"
