"""BatchDecoder (streams/decode.py): raw event bytes -> numpy columns + dead letters.

- valid events decode to the right columns (NaN / None for null or missing values; RFC 3339
  timestamps with Z, with offsets, naive ones read as UTC, and epoch seconds);
- the fast path and the careful path agree on every batch the fast path accepts, and decode()
  always equals the careful path;
- whatever the bytes, decode() never raises: each malformed event becomes a dead letter with
  its reason code, original bytes and offset, and valid + dead == input, event for event
  (blank lines excepted).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import orjson
import pytest
from driftline.streams.decode import BatchDecoder, DecoderSpec
from driftline.streams.records import DecodedBatch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

MAX_BYTES = 1000
SPEC = DecoderSpec(
    event_id=("event_id",),
    timestamp=("timestamp",),
    model_version=("model_version",),
    numeric=(("features", "amount"), ("features", "age")),
    categorical=(("features", "country"),),
    prediction=("prediction", "score"),
    prediction_type="numeric",
    max_event_bytes=MAX_BYTES,
)
DECODER = BatchDecoder(SPEC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REASONS = {"too_large", "invalid_json", "non_finite", "not_an_object", "missing_field", "wrong_type",
           "bad_timestamp"}


def ev(event_id="e1", timestamp="2026-11-25T10:00:00Z", version="v3", amount=1.5, age=None,
       country="DE", score=0.8, **extra) -> dict:
    e = {"event_id": event_id, "timestamp": timestamp, "model_version": version,
         "features": {"amount": amount, "age": age, "country": country},
         "prediction": {"score": score, "label": 1}}
    e.update(extra)
    return e


def enc(obj) -> bytes:
    return orjson.dumps(obj)


def columns(b: DecodedBatch) -> dict:
    """A comparable view of a decoded batch (NaN-safe)."""
    return {
        "numeric": [[None if math.isnan(v) else v for v in row] for row in b.columns.numeric.tolist()],
        "numeric_shape": b.columns.numeric.shape,
        "categorical": [c.tolist() for c in b.columns.categorical],
        "prediction": None if b.columns.prediction is None else
        [None if math.isnan(v) else v for v in b.columns.prediction.tolist()],
        "timestamps": b.timestamps.tolist(),
        "versions": b.versions.tolist(),
        "event_ids": list(b.event_ids),
        "dead": [(d.record, d.reason, d.stage) for d in b.dead],
    }


# -- valid events -----------------------------------------------------------------------------


def test_valid_batch_decodes_to_the_right_columns() -> None:
    events = [
        ev("a", "2026-11-25T10:00:00.123Z", "v3", 120.5, 42, "DE", 0.83),
        ev("b", "2026-11-25T12:00:00+02:00", None, None, 7, None, None),       # nulls
        {"event_id": 3, "timestamp": 1764064800, "features": {"amount": -1}},   # missing keys
        ev("d", 1764064800.25, "v4", 0, -0.0, 5, 1),                            # int category
        ev("e", "2026-11-25T10:00:00", "v3"),                                   # naive -> UTC
        ev("f", "2026-11-25T05:30:00-04:30", "v3", country=""),
    ]
    out = DECODER.decode([enc(e) for e in events])
    assert out.dead == ()
    assert len(out) == 6
    ten = (datetime(2026, 11, 25, 10, tzinfo=UTC) - EPOCH).total_seconds()
    assert out.timestamps.tolist() == [ten + 0.123, ten, 1764064800.0, 1764064800.25, ten, ten]
    assert out.timestamps.dtype == np.float64
    num = out.columns.numeric
    assert num.shape == (6, 2) and num.dtype == np.float64
    assert num[0].tolist() == [120.5, 42.0]
    assert math.isnan(num[1, 0]) and num[1, 1] == 7.0
    assert num[2, 0] == -1.0 and math.isnan(num[2, 1])
    assert num[3].tolist() == [0.0, -0.0]
    assert math.isnan(num[4, 1])
    assert [c.tolist() for c in out.columns.categorical] == [["DE", None, None, "5", "DE", ""]]
    pred = out.columns.prediction.tolist()
    assert pred[0] == 0.83 and math.isnan(pred[1]) and math.isnan(pred[2]) and pred[3] == 1.0
    assert out.versions.tolist() == ["v3", None, None, "v4", "v3", "v3"]
    assert list(out.event_ids) == ["a", "b", 3, "d", "e", "f"]      # for the join with labels


def test_event_ids_survive_the_fast_path_slices() -> None:
    # more than one ~256 kB slice: the fast path decodes in parts and concatenates them
    values = [enc(ev(f"id{i}", note="x" * 200)) for i in range(3000)]
    assert sum(map(len, values)) > 2 * 262_144
    out = DECODER.decode(values)
    assert out.dead == () and list(out.event_ids) == [f"id{i}" for i in range(3000)]


def test_empty_batch() -> None:
    for b in (DECODER.decode([]), careful([])):
        assert len(b) == 0 and b.dead == ()
        assert b.columns.numeric.shape == (0, 2)


def test_unknown_fields_are_ignored() -> None:
    out = DECODER.decode([enc(ev(extra={"x": [1, {"y": None}]}, note="hi"))])
    assert out.dead == () and len(out) == 1


@pytest.mark.parametrize("text", ["2026-11-25t10:00:00z", "2026-11-25T10:00:00z", "2026-11-25t10:00:00Z",
                                  "2026-11-25 10:00:00Z", "2026-11-25T11:30:00+01:30", "2026-11-25T10:00:00.000Z",
                                  "2026-11-25T10:00:00"])
def test_rfc3339_forms(text: str) -> None:
    # RFC 3339 section 5.6: "T" and "Z" may alternatively be lower case, and the T a space;
    # a time without an offset (not RFC 3339) is read as UTC, as documented
    out = DECODER.decode([enc(ev(timestamp=text))])
    assert [(d.reason, d.detail) for d in out.dead] == []
    assert out.timestamps.tolist() == [(datetime(2026, 11, 25, 10, tzinfo=UTC) - EPOCH).total_seconds()]


# -- what the fast path does not read ----------------------------------------------------------

# Content in fields driftline does not read: orjson refuses some of it (a number beyond float
# range, an integer beyond 64 bits) while msgspec skips it; both paths must still agree.
UNREAD = [b"1e999", b"-1e999", b"123456789012345678901234567890", rb'"\u00e9\ud83d\ude00"',
          b'{"deep": [1, {"x": null}, [true, false]]}', "\"café\"".encode()]


@pytest.mark.parametrize("junk", UNREAD)
def test_paths_agree_on_content_nobody_reads(junk: bytes) -> None:
    good = enc(ev("ok"))
    odd = enc(ev("odd"))[:-1] + b',"unused":' + junk + b"}"
    clean = DECODER.decode([good, odd])               # the fast path's answer
    mixed = DECODER.decode([good, odd, b"not json"])  # the careful path's answer
    assert len(clean) == 2 and clean.dead == ()
    assert [d.reason for d in mixed.dead] == ["invalid_json"]
    view, view_mixed = columns(clean), columns(mixed)
    view_mixed["dead"] = []
    assert view == view_mixed


def test_invalid_utf8_anywhere_is_invalid_json_on_both_paths() -> None:
    bad = enc(ev("bad"))[:-1] + b',"unused":"' + bytes([0xFF, 0xFE]) + b'"}'
    for values in ([bad], [enc(ev("ok")), bad], [bad, b"not json"]):
        out = DECODER.decode(values)
        assert [(d.reason, d.record.value) for d in out.dead][:1] == [("invalid_json", bad)]


def test_fast_path_reads_missing_values_and_integer_labels() -> None:
    events = [ev("a", country=7), {"event_id": "b", "timestamp": "2026-11-25T10:00:01Z",
                                   "features": {}, "prediction": {}}]
    values = [enc(e) for e in events]
    fast = DECODER._fast(values)     # no fallback needed: both are plain valid events
    assert columns(fast) == columns(careful(values))
    assert fast.columns.categorical[0].tolist() == ["7", None]
    # a missing or null object on the way (features, prediction) reads as all null, on the
    # fast path too
    values += [enc({"event_id": "c", "timestamp": "2026-11-25T10:00:02Z"}), enc(ev("d", features=None))]
    assert columns(DECODER._fast(values)) == columns(careful(values))


# -- fast path == careful path ----------------------------------------------------------------

OFFSETS = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30)),
           timezone(timedelta(hours=14))]
moments = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1))


@st.composite
def aware_stamp(draw) -> str:
    dt = draw(moments).replace(tzinfo=draw(st.sampled_from(OFFSETS)))
    text = dt.isoformat(timespec=draw(st.sampled_from(["seconds", "milliseconds", "microseconds"])))
    return text.replace("+00:00", "Z") if draw(st.booleans()) else text


naive_stamp = moments.map(lambda d: d.isoformat())
epoch = st.one_of(st.integers(0, 4_000_000_000), st.floats(0, 4e9, allow_nan=False))
number = st.one_of(st.none(), st.integers(-10**15, 10**15), st.floats(allow_nan=False, allow_infinity=False),
                   st.sampled_from([0, -0.0, 1e300, -1e-300, 2**63 - 1, -(2**63), 2**64 - 1]))
label = st.one_of(st.none(), st.text(max_size=6))
event_id = st.one_of(st.text(max_size=8), st.integers(-10**9, 10**9))
version = st.one_of(st.none(), st.sampled_from(["v1", "v2", ""]))


@st.composite
def valid_event(draw, stamps, labels=label, complete: bool = False) -> dict:
    """A valid event; ``complete``: every key present (values may be null), as the fast path
    wants it (a missing key sends a batch to the careful path, by design)."""
    features = {}
    for key, strat in (("amount", number), ("age", number), ("country", labels)):
        if complete or draw(st.integers(0, 5)):
            features[key] = draw(strat)
    e = {"event_id": draw(event_id), "timestamp": draw(stamps), "features": features}
    if complete or draw(st.booleans()):
        e["model_version"] = draw(version)
    if complete or draw(st.integers(0, 3)):
        e["prediction"] = {"score": draw(number)}
    return e


@st.composite
def fast_batches(draw) -> list[dict]:
    stamps = aware_stamp() if draw(st.booleans()) else epoch
    return draw(st.lists(valid_event(stamps, complete=True), min_size=1, max_size=25))


def careful(values, topic=None, partition=None, offsets=None, skip_blank=False) -> DecodedBatch:
    """The private careful path (its signature has grown a skip_blank flag over time)."""
    if "skip_blank" in inspect.signature(DECODER._careful).parameters:
        return DECODER._careful(values, topic, partition, offsets, skip_blank)
    return DECODER._careful(values, topic, partition, offsets)


@SETTINGS
@given(fast_batches())
def test_fast_and_careful_paths_agree(events: list[dict]) -> None:
    values = [enc(e) for e in events]
    fast = DECODER._fast(values)        # must not need the careful path: nothing is wrong
    slow = careful(values)
    assert columns(fast) == columns(slow)
    assert columns(DECODER.decode(values)) == columns(slow)
    assert slow.dead == ()
    assert len(slow) == len(events)


@SETTINGS
@given(st.lists(valid_event(st.one_of(aware_stamp(), naive_stamp, epoch),
                            st.one_of(label, st.integers(-99, 99))), max_size=25))
def test_decode_equals_careful_on_any_valid_batch(events: list[dict]) -> None:
    # naive timestamps, mixed timestamp kinds and integer categories are valid too: the fast
    # path may hand them to the careful path, the result is the same
    values = [enc(e) for e in events]
    slow = careful(values)
    assert slow.dead == ()
    assert columns(DECODER.decode(values)) == columns(slow)
    # and the careful path reads each event right
    for i, e in enumerate(events):
        ts = e["timestamp"]
        if isinstance(ts, str):
            dt = datetime.fromisoformat(ts)
            dt = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
            assert slow.timestamps[i] == (dt - EPOCH).total_seconds()
        else:
            assert slow.timestamps[i] == float(ts)
        f = e["features"]
        for j, key in enumerate(("amount", "age")):
            v = f.get(key)
            got = slow.columns.numeric[i, j]
            assert (math.isnan(got) if v is None else got == float(v))
        c = f.get("country")
        assert slow.columns.categorical[0][i] == (None if c is None else str(c))
        assert slow.versions[i] == e.get("model_version")


# -- malformed events -------------------------------------------------------------------------

GOOD = ev()


def _with(**changes) -> bytes:
    e = {**GOOD, "features": dict(GOOD["features"])}
    for k, v in changes.items():
        if k in ("amount", "age", "country"):
            e["features"][k] = v
        elif v is _DROP:
            e.pop(k)
        else:
            e[k] = v
    return enc(e)


_DROP = object()

# (kind, bytes, reason)
MALFORMED: list[tuple[str, bytes, str]] = [
    ("truncated", b'{"event_id": "x", "timestamp": 1', "invalid_json"),
    ("garbage", b"hello world", "invalid_json"),
    ("trailing", enc(GOOD) + b" xyz", "invalid_json"),
    ("single-quotes", b"{'event_id': 'x'}", "invalid_json"),
    # truncated JSON whose text happens to hold "NaN" / "Infinity" inside a string
    ("truncated-nan-text", b'{"event_id": "NaNa-7", "timestamp": 1', "invalid_json"),
    ("truncated-infinity-text", b'{"event_id": "x", "features": {"country": "Infinity Isle"', "invalid_json"),
    ("array", b"[1, 2, 3]", "not_an_object"),
    ("number", b"42", "not_an_object"),
    ("string", b'"an event"', "not_an_object"),
    ("null", b"null", "not_an_object"),
    ("no-event-id", _with(event_id=_DROP), "missing_field"),
    ("null-event-id", _with(event_id=None), "missing_field"),
    ("float-event-id", _with(event_id=1.5), "wrong_type"),
    ("bool-event-id", _with(event_id=True), "wrong_type"),
    ("no-timestamp", _with(timestamp=_DROP), "missing_field"),
    ("null-timestamp", _with(timestamp=None), "missing_field"),
    ("bad-timestamp", _with(timestamp="yesterday at noon"), "bad_timestamp"),
    ("bad-date", _with(timestamp="2026-13-45T10:00:00Z"), "bad_timestamp"),
    # ISO 8601 forms that are not RFC 3339 date-times (Python's fromisoformat takes them all)
    ("date-only", _with(timestamp="2026-11-25"), "bad_timestamp"),
    ("no-seconds", _with(timestamp="2026-11-25T10:00Z"), "bad_timestamp"),
    ("week-date", _with(timestamp="2026-W48-3T10:00:00Z"), "bad_timestamp"),
    ("basic-format", _with(timestamp="20261125T100000Z"), "bad_timestamp"),
    ("bool-timestamp", _with(timestamp=True), "bad_timestamp"),
    ("list-timestamp", _with(timestamp=[2026]), "bad_timestamp"),
    ("string-amount", _with(amount="12.5"), "wrong_type"),
    ("bool-amount", _with(amount=True), "wrong_type"),
    ("list-amount", _with(age=[1, 2]), "wrong_type"),
    ("dict-amount", _with(age={"v": 1}), "wrong_type"),
    ("float-country", _with(country=1.5), "wrong_type"),
    ("huge-float-country", _with(country=1e20), "wrong_type"),
    ("float-version", _with(model_version=3.5), "wrong_type"),
    ("nan", enc(GOOD).replace(b'"amount":1.5', b'"amount":NaN'), "non_finite"),
    ("infinity", enc(GOOD).replace(b'"amount":1.5', b'"amount":Infinity'), "non_finite"),
    ("-infinity", enc(GOOD).replace(b'"amount":1.5', b'"amount":-Infinity'), "non_finite"),
    ("1e999", enc(GOOD).replace(b'"amount":1.5', b'"amount":1e999'), "non_finite"),
    ("huge-int", enc(GOOD).replace(b'"amount":1.5', b'"amount":1' + b"0" * 400), "non_finite"),
    ("oversize", _with(padding="x" * MAX_BYTES), "too_large"),
    ("bad-utf8", enc(GOOD).replace(b'"DE"', b'"D\xff\xfeE"'), "invalid_json"),
    ("bad-utf8-key", enc(GOOD).replace(b'"model_version"', b'"model\xc3_version"'), "invalid_json"),
]


def test_malformed_fixtures_are_what_they_claim() -> None:
    for kind, raw, _ in MALFORMED:
        assert b"\n" not in raw, kind
        if kind in ("nan", "infinity", "-infinity", "1e999"):
            assert len(raw) < MAX_BYTES and raw != enc(GOOD), kind
    assert len(enc(GOOD)) < MAX_BYTES
    assert len(_with(amount="x" * 10)) < MAX_BYTES


@pytest.mark.parametrize(("kind", "raw", "reason"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_each_malformed_event_gets_its_reason(kind: str, raw: bytes, reason: str) -> None:
    values = [enc(ev("ok1")), raw, enc(ev("ok2"))]
    out = DECODER.decode(values, topic="predictions", partition=4, offsets=[10, 11, 12])
    assert [(d.reason, d.record.value, d.record.offset) for d in out.dead] == [(reason, raw, 11)]
    d = out.dead[0]
    assert (d.record.topic, d.record.partition, d.stage) == ("predictions", 4, "decode")
    assert d.reason in REASONS
    assert isinstance(d.detail, str)
    assert len(out) == 2


# the two "-text" cases are pinned by test_each_malformed_event_gets_its_reason; kept out of the
# mixed batches so that one known misclassification does not hide everything else
MIXED_MALFORMED = [m for m in MALFORMED if not m[0].endswith("-text")]
BLANKS = [b"", b"   ", b"\n", b" \t \r\n"]


@pytest.mark.parametrize("blank", BLANKS)
def test_blank_values(blank: bytes) -> None:
    values = [enc(ev("a")), blank, enc(ev("b"))]
    # lines of a file: a blank line is not an event
    out = DECODER.decode(values, offsets=[0, 1, 2], skip_blank=True)
    assert len(out) == 2 and out.dead == ()
    # messages of a topic: an empty message is a dead letter
    out = DECODER.decode(values, offsets=[0, 1, 2])
    assert len(out) == 2
    assert [(d.reason, d.record.value, d.record.offset) for d in out.dead] == [("invalid_json", blank, 1)]


@st.composite
def mixed(draw):
    items = []
    for _ in range(draw(st.integers(0, 30))):
        choice = draw(st.integers(0, 9))
        if choice < 5:
            e = draw(valid_event(st.one_of(aware_stamp(), naive_stamp, epoch)))
            items.append(("valid", enc(e), e))
        elif choice < 9:
            _kind, raw, reason = draw(st.sampled_from(MIXED_MALFORMED))
            items.append(("bad", raw, reason))
        else:
            items.append(("blank", draw(st.sampled_from(BLANKS)), None))
    return items


@SETTINGS
@given(mixed(), st.integers(0, 10**12))
def test_mixed_batches_never_raise_and_account_for_every_event(items, first_offset: int) -> None:
    values = [raw for _, raw, _ in items]
    offsets = [first_offset + i for i in range(len(values))]
    out = DECODER.decode(values, topic="t", partition=0, offsets=offsets, skip_blank=True)
    bad = [(raw, reason, off) for (k, raw, reason), off in zip(items, offsets, strict=True) if k == "bad"]
    assert [(d.record.value, d.reason, d.record.offset) for d in out.dead] == bad
    assert all((d.record.topic, d.record.partition) == ("t", 0) for d in out.dead)
    good = [e for k, _, e in items if k == "valid"]
    assert len(out) == len(good)
    assert len(out) + len(out.dead) == sum(k != "blank" for k, _, _ in items)
    # the valid events are the right ones, in order
    ids = [e["event_id"] for e in good]
    only_good = careful([enc(e) for e in good])
    assert columns(out)["numeric"] == columns(only_good)["numeric"]
    assert out.timestamps.tolist() == only_good.timestamps.tolist()
    assert out.versions.tolist() == [e.get("model_version") for e in good]
    assert len(ids) == len(out)
    assert list(out.event_ids) == ids


def test_values_under_different_parents_one_column_each() -> None:
    # one feature per parent object: each group is read as a single column, no 1-tuples
    spec = DecoderSpec(("id",), ("ts",), ("v",), (("a", "x"), ("b", "y")), (("c",),), ("p",))
    decoder = BatchDecoder(spec)
    values = [enc({"id": i, "ts": 1.0 + i, "a": {"x": i * 1.5}, "b": {"y": None},
                   "c": "k" if i % 2 else 3, "p": 0.5}) for i in range(5)]
    fast = decoder._fast(values)
    assert columns(fast) == columns(decoder._careful(values, None, None, None, False))
    assert fast.columns.numeric[:, 0].tolist() == [0.0, 1.5, 3.0, 4.5, 6.0]
    assert fast.columns.categorical[0].tolist() == ["3", "k", "3", "k", "3"]


def test_missing_objects_at_any_depth_read_as_null_on_the_fast_path() -> None:
    spec = DecoderSpec(("id",), ("ts",), ("v",), (("a", "b", "x"), ("a", "y")), (("a", "b", "c"),), ("p", "s"))
    decoder = BatchDecoder(spec)
    events = [{"id": 1, "ts": 1.0, "a": {"b": {"x": 2.5, "c": "k"}, "y": 1}, "p": {"s": 0.5}},
              {"id": 2, "ts": 2.0, "a": {"b": None, "y": 3}},
              {"id": 3, "ts": 3.0, "a": None, "p": None},
              {"id": 4, "ts": 4.0}]
    values = [enc(e) for e in events]
    fast = decoder._fast(values)
    assert columns(fast) == columns(decoder._careful(values, None, None, None, False))
    assert np.array_equal(fast.columns.numeric, [[2.5, 1.0], [np.nan, 3.0], [np.nan, np.nan], [np.nan, np.nan]],
                          equal_nan=True)
    assert fast.columns.categorical[0].tolist() == ["k", None, None, None]
    assert np.array_equal(fast.columns.prediction, [0.5, np.nan, np.nan, np.nan], equal_nan=True)


def test_a_required_value_in_a_missing_object_is_a_dead_letter() -> None:
    spec = DecoderSpec(("meta", "id"), ("ts",), ("v",), (("x",),), (), None)
    decoder = BatchDecoder(spec)
    values = [enc({"meta": {"id": "a"}, "ts": 1.0, "x": 1}), enc({"ts": 2.0, "x": 2}),
              enc({"meta": None, "ts": 3.0, "x": 3})]
    out = decoder.decode(values)
    assert out.event_ids == ["a"]
    assert [(d.reason, d.record.value) for d in out.dead] == [("missing_field", values[1]),
                                                             ("missing_field", values[2])]


@pytest.mark.parametrize("big", [2**64, -(2**63) - 1, 10**29])
def test_integers_beyond_64_bits_are_read_alike_on_both_paths(big: int) -> None:
    # orjson (careful path) reads them as floats, so a wrong type for an id or a label;
    # msgspec (fast path) would read them whole: the fast path defers to the careful one
    for event in (ev("a", country=big), ev(big)):
        values = [enc(ev("ok")), json.dumps(event).encode()]   # orjson cannot even write them
        out = DECODER.decode(values)
        assert out.event_ids == ["ok"]
        assert [(d.reason, d.record.value) for d in out.dead] == [("wrong_type", values[1])]
    edge = [json.dumps(ev("u", country=2**64 - 1)).encode(), json.dumps(ev(-(2**63))).encode()]
    assert columns(DECODER._fast(edge)) == columns(careful(edge))
    # a number orjson refuses in an unused field makes msgspec read the event (the careful
    # path's fallback): the big integer is still a wrong type
    for event in (ev("a", country=big), ev(big)):
        odd = json.dumps(event).encode()[:-1] + b', "unused": 1e400}'
        out = DECODER.decode([enc(ev("ok")), odd])
        assert [(d.reason, d.record.value) for d in out.dead] == [("wrong_type", odd)]


@pytest.mark.parametrize(("depth", "valid"), [(1010, True), (3000, False)])
def test_deep_nesting_in_an_unused_field_never_raises(depth: int, valid: bool) -> None:
    # msgspec stops at ~1000 levels with RecursionError, orjson at 1024 with a decode error
    deep = enc(ev("deep"))[:-1] + b',"unused":' + b"[" * depth + b"]" * depth + b"}"
    decoder = BatchDecoder(dataclasses.replace(SPEC, max_event_bytes=1 << 20))
    for values in ([deep], [enc(ev("ok")), deep], [deep, b"not json"]):
        out = decoder.decode(values)
        assert ("deep" in out.event_ids) is valid
        assert [d.reason for d in out.dead if d.record.value == deep] == ([] if valid else ["invalid_json"])


def test_the_line_terminator_does_not_count_toward_the_size_limit() -> None:
    # an event of exactly max_event_bytes is valid on a topic and as a file's line alike
    base = enc(ev("fit"))
    event = base[:-1] + b',"pad":"' + b"x" * (MAX_BYTES - len(base) - 9) + b'"}'
    assert len(event) == MAX_BYTES
    for end in (b"", b"\n", b"\r\n"):
        out = DECODER.decode([event + end, b"not json"])    # the careful path measures each one
        assert out.event_ids == ["fit"], end
    out = DECODER.decode([event[:-1] + b' }\n', b"not json"])
    assert [d.reason for d in out.dead] == ["too_large", "invalid_json"]


@pytest.mark.parametrize(("stamp", "hint"), [
    (1_764_064_800_000, "if it is epoch milliseconds, send 1764064800.000 (seconds) instead"),
    (1_764_064_800_000_000, "if it is epoch microseconds, send 1764064800.000 (seconds) instead"),
    (1e30, None),
])
def test_an_epoch_timestamp_in_another_unit_says_which(stamp: float, hint: str | None) -> None:
    out = DECODER.decode([enc(ev("ok1")), _with(timestamp=stamp)])
    (dead,) = out.dead
    assert dead.reason == "bad_timestamp" and "outside the years 1000-8999" in dead.detail
    if hint is None:
        assert "epoch seconds) is outside the years 1000-8999" in dead.detail and "instead" not in dead.detail
    else:
        assert dead.detail.endswith(hint), dead.detail


def test_a_whole_float_category_is_its_integer_on_both_paths() -> None:
    # tables keep integer columns with nulls as floats, and so may the events made from them:
    # 2.0 is the category "2", as the reference build reads it; 2.5 is not a category
    # (a boolean is the category "true" or "false")
    values = [enc(ev("a", country=2.0)), enc(ev("b", country=2)), enc(ev("c", country=-0.0)),
              enc(ev("d", country=True)), enc(ev("e", country=False))]
    fast = DECODER._fast(values)
    assert columns(fast) == columns(careful(values))
    assert fast.columns.categorical[0].tolist() == ["2", "2", "0", "true", "false"]
    out = DECODER.decode([*values, enc(ev("f", country=2.5)), enc(ev("g", country=2.0**60))])
    assert out.columns.categorical[0].tolist() == ["2", "2", "0", "true", "false"]
    assert [d.detail for d in out.dead] == [
        "features.country must be a string, a 64-bit integer, a boolean or null, got 2.5, not a whole number",
        "features.country must be a string, a 64-bit integer, a boolean or null, got 1.152921504606847e+18, "
        "a whole number beyond 2**53"]


def test_an_integer_model_version_is_its_text_on_both_paths() -> None:
    # model registries number versions (MLflow's 3): the version "3"
    values = [enc(ev("a", version=3)), enc(ev("b", version="3")), enc(ev("c", version=None))]
    fast = DECODER._fast(values)
    assert columns(fast) == columns(careful(values))
    assert fast.versions.tolist() == ["3", "3", None]


def test_an_empty_value_is_a_dead_letter_that_says_what_a_tombstone_becomes() -> None:
    out = DECODER.decode([b""])
    (d,) = out.dead
    assert (d.reason, d.record.value) == ("invalid_json", b"")
    assert "tombstone" in d.detail


@pytest.mark.parametrize("stamp", [
    "2026-11-25T10:00:00Z", "2026-11-25t10:00:00z", "2026-11-25 10:00:00.123456789+01:00",
    "2026-11-25T10:00:00", "2026-11-25T10:00:00+0100", "2026-11-25T10:00:00-00:00",
    # refused by both: no seconds, a comma, an hour offset alone, seconds in the offset, no time
    "2026-11-25T10:00Z", "2026-11-25T10:00:00,5Z", "2026-11-25T10:00:00+01", "2026-11-25T10:00:00+01:00:00",
    "2026-11-25", "20261125T100000Z",
    # ... and out of range: month, day, hour, minute, second, offset, a year before 1000, a newline
    "2026-13-01T10:00:00Z", "2026-11-32T10:00:00Z", "2026-11-25T24:00:00Z", "2026-11-25T10:60:00Z",
    "2026-11-25T10:00:60Z", "2026-11-25T10:00:00+01:60", "2026-11-25T10:00:00+24:00", "2026-11-25T10:00:00+2400",
    "0000-01-01T00:00:00Z", "0999-12-31T23:59:59Z", "9000-01-01T00:00:00Z", "2026-11-25T10:00:00Z\n",
])
def test_the_event_schemas_accept_the_timestamp_texts_the_decoder_accepts(stamp):
    """The shipped contract is what a producer validates its events against: it must not refuse
    a form driftline reads, nor accept one it sends to the dead letters."""
    from driftline.schemas.validate import InvalidInstanceError, validate_instance

    decoded = DECODER.decode([enc(ev(timestamp=stamp))])
    for kind, event in (("prediction_event", {"event_id": "e", "timestamp": stamp, "features": {}}),
                        ("label_event", {"event_id": "e", "timestamp": stamp, "label": 1})):
        try:
            validate_instance(kind, event)
            valid = True
        except InvalidInstanceError:
            valid = False
        assert valid == (len(decoded) == 1), (kind, [d.detail for d in decoded.dead])
