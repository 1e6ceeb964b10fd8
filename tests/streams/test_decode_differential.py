"""Differential tests of the event decoders' two paths (streams/decode.py, label_decode.py).

How the careful path is forced: the test calls the decoder's private ``_careful`` directly
(``decoder._careful(values, None, None, None, False)``) and compares it with the fast path
called alone (``decoder._fast(values)``), on the very same byte values. Appending a malformed
event to the batch would force the careful path too, but it changes the batch (one more dead
letter, one more row) and relies on the fast path noticing the bad event; calling the two
private paths directly compares exactly one batch and tells a refusal (the fast path raised one
of the errors ``fast_or_careful`` catches: it defers) from an acceptance.

For every batch (table-driven JSON edge cases, and hypothesis-built JSON *text*: escaped and
duplicate keys, whitespace, number spellings, surrogates, invalid UTF-8, huge or deep content
in unread fields, trailing bytes, RFC 3339 variants, epoch numbers, ids and versions of every
JSON type):

- (a) when the fast path accepts a batch, its columns equal the careful path's, value by value
  (floats by ``repr``, so -0.0 is not 0.0 and NaN is NaN; ids and categories with their types);
- (b) when the fast path accepts a batch, the careful path accepts every event of it;
- (c) neither path raises anything but the errors ``fast_or_careful`` catches (fast path) or
  nothing at all (careful path, ``decode``);
- (d) ``decode()`` equals the careful path, and gives every event the same result whether it is
  decoded alone, in the whole batch, or with the fast path cut into tiny slices.

"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from unittest import mock

import msgspec
import orjson
import pytest
from driftline.streams import decode as decode_module
from driftline.streams.decode import BatchDecoder, DecoderSpec, _Bad
from driftline.streams.label_decode import LabelDecoder, LabelSpec
from driftline.streams.records import DecodedBatch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

MAX_BYTES = 1 << 16
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
# a categorical prediction, a nested event id and features under two parents
SPEC2 = DecoderSpec(
    event_id=("meta", "id"),
    timestamp=("ts",),
    model_version=("meta", "v"),
    numeric=(("x",), ("f", "y")),
    categorical=(("f", "c"), ("k",)),
    prediction=("p",),
    prediction_type="categorical",
    max_event_bytes=MAX_BYTES,
)
DECODER2 = BatchDecoder(SPEC2)
# what fast_or_careful catches: the fast path deferring to the careful path
FAST_DEFERS = (_Bad, msgspec.DecodeError, orjson.JSONDecodeError, KeyError, TypeError, ValueError,
               AttributeError, OverflowError, RecursionError)
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# -- comparison -----------------------------------------------------------------------------


def _scalar(v):
    """A value with its type (1, 1.0, True and "1" differ; floats by repr: -0.0, nan)."""
    if isinstance(v, float):
        return ("float", repr(v))
    return (type(v).__name__, v)


def view(b: DecodedBatch) -> dict:
    pred = b.columns.prediction
    return {
        "n": len(b),
        "numeric_shape": b.columns.numeric.shape,
        "numeric": [[_scalar(x) for x in row] for row in b.columns.numeric.tolist()],
        "categorical": [[_scalar(x) for x in c.tolist()] for c in b.columns.categorical],
        "prediction": None if pred is None else [_scalar(x) for x in pred.tolist()],
        "timestamps": [_scalar(x) for x in b.timestamps.tolist()],
        "versions": [_scalar(x) for x in b.versions.tolist()],
        "event_ids": [_scalar(x) for x in b.event_ids],
        "dead": [(d.record.value, d.reason, d.stage) for d in b.dead],
    }


def rows_of(b: DecodedBatch, n_values: int) -> list:
    """Per input value: ("ok", the event's values) or ("dead", reason)."""
    v = view(b)
    rows = list(range(len(b))) if b.rows is None else b.rows.tolist()
    dead_rows = [] if b.dead_rows is None else b.dead_rows.tolist()
    out: list = [None] * n_values
    for j, i in enumerate(rows):
        out[i] = ("ok", v["numeric"][j],
                  [c[j] for c in v["categorical"]], None if v["prediction"] is None else v["prediction"][j],
                  v["timestamps"][j], v["versions"][j], v["event_ids"][j])
    for d, i in zip(b.dead, dead_rows, strict=True):
        out[i] = ("dead", d.reason)
    return out


def careful(decoder: BatchDecoder, values: list[bytes]) -> DecodedBatch:
    return decoder._careful(values, None, None, None, False)


def fast_or_none(decoder: BatchDecoder, values: list[bytes]) -> DecodedBatch | None:
    """The fast path's answer, or None when it defers (raises what fast_or_careful catches);
    anything else it raises fails the test."""
    try:
        return decoder._fast(values)
    except FAST_DEFERS:
        return None


def check_paths_agree(decoder: BatchDecoder, values: list[bytes]) -> DecodedBatch | None:
    slow = careful(decoder, values)
    fast = fast_or_none(decoder, values)
    if fast is not None:
        assert [(d.reason, d.detail) for d in slow.dead] == [], "fast path accepted what the careful path refuses"
        assert view(fast) == view(slow)
    assert view(decoder.decode(values)) == view(slow)
    return fast


def check_batch(decoder: BatchDecoder, values: list[bytes]) -> None:
    """(a)-(c) on the batch and on each of its events alone (a lone event is accepted by the
    fast path far more often than a batch of generated ones), then (d)."""
    check_paths_agree(decoder, values)
    for v in values:
        check_paths_agree(decoder, [v])
    check_grouping(decoder, values)


def check_grouping(decoder: BatchDecoder, values: list[bytes]) -> None:
    whole = rows_of(decoder.decode(values), len(values))
    alone = [rows_of(decoder.decode([v]), 1)[0] for v in values]
    assert whole == alone
    with mock.patch.object(decode_module, "_FAST_SLICE_BYTES", 64):   # a slice per event or two
        sliced = rows_of(decoder.decode(values), len(values))
    assert sliced == whole


# -- table-driven edge cases ----------------------------------------------------------------

BASE = (b'{"event_id":"a","timestamp":"2026-11-25T10:00:00Z","model_version":"v3",'
        b'"features":{"amount":1.5,"age":2,"country":"DE"},"prediction":{"score":0.5}}')


def sub(old: bytes, new: bytes) -> bytes:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


def extra(member: bytes) -> bytes:
    return BASE[:-1] + b"," + member + b"}"


def amount(text: bytes) -> bytes:
    return sub(b'"amount":1.5', b'"amount":' + text)


def country(text: bytes) -> bytes:
    return sub(b'"country":"DE"', b'"country":' + text)


def stamp(text: bytes) -> bytes:
    return sub(b'"timestamp":"2026-11-25T10:00:00Z"', b'"timestamp":' + text)


def event_id(text: bytes) -> bytes:
    return sub(b'"event_id":"a"', b'"event_id":' + text)


def version(text: bytes) -> bytes:
    return sub(b'"model_version":"v3"', b'"model_version":' + text)


EDGE: list[tuple[str, bytes]] = [
    # duplicate keys: orjson keeps the last; msgspec must read the same or defer
    ("dup-amount", amount(b'1,"amount":2')),
    ("dup-amount-first-wrong", amount(b'"x","amount":2')),
    ("dup-amount-last-wrong", amount(b'2,"amount":"x"')),
    ("dup-amount-null-last", amount(b'2,"amount":null')),
    ("dup-id", event_id(b'"a","event_id":"b"')),
    ("dup-id-null-last", event_id(b'"a","event_id":null')),
    ("dup-id-null-first", event_id(b'null,"event_id":"b"')),
    ("dup-id-escaped", event_id(b'"a","event\\u005fid":"b"')),
    ("dup-features-null-last", extra(b'"features":null')),
    ("dup-features-partial-last", extra(b'"features":{"age":7}')),
    ("dup-country-types", country(b'1,"country":"x"')),
    ("dup-timestamp", stamp(b'"2026-11-25T10:00:00Z","timestamp":1764064800')),
    # escaped keys and values
    ("escaped-object-key", sub(b'"features"', b'"feat\\u0075res"')),
    ("escaped-id-key", sub(b'"event_id"', b'"\\u0065vent_id"')),
    ("escaped-key-upper-hex", sub(b'"country"', b'"c\\u006Funtry"')),
    ("escaped-value", country(b'"D\\u0045"')),
    ("escaped-solidus", country(b'"a\\/b"')),
    ("escaped-nul", country(b'"\\u0000"')),
    ("surrogate-pair", country(b'"\\ud83d\\ude00"')),
    ("surrogate-pair-upper", country(b'"\\uD83D\\uDE00"')),
    ("lone-high-surrogate", country(b'"\\ud800"')),
    ("lone-low-surrogate", country(b'"\\udc00"')),
    ("reversed-surrogates", country(b'"\\ude00\\ud83d"')),
    ("lone-surrogate-unread", extra(b'"x":"\\ud800"')),
    ("lone-surrogate-key-unread", extra(b'"\\ud800":1')),
    ("lone-surrogate-id", event_id(b'"\\udfff"')),
    ("lone-surrogate-stamp", stamp(b'"\\ud800"')),
    ("raw-utf8", country("\"é😀\u2028\"".encode())),
    ("raw-del", country(b'"\x7f"')),
    ("raw-control-char", country(b'"a\x01b"')),
    ("raw-control-unread", extra(b'"x":"a\x1fb"')),
    ("invalid-utf8-read", country(b'"\xff"')),
    ("invalid-utf8-unread", extra(b'"x":"\xc3"')),
    ("invalid-utf8-key", extra(b'"\xe2\x82":1')),
    ("overlong-utf8", extra(b'"x":"\xc0\xaf"')),
    ("utf8-surrogate", extra(b'"x":"\xed\xa0\x80"')),
    ("noncharacter", country("\"\uffff\"".encode())),
    # numbers
    ("amount-minus-zero-int", amount(b"-0")),
    ("amount-minus-zero", amount(b"-0.0")),
    ("amount-exp", amount(b"1E5")),
    ("amount-exp-plus", amount(b"1e+5")),
    ("amount-exp-minus", amount(b"100e-2")),
    ("amount-underflow", amount(b"1e-400")),
    ("amount-subnormal", amount(b"4.9e-324")),
    ("amount-max", amount(b"1.7976931348623157e308")),
    ("amount-overflow", amount(b"1.7976931348623159e308")),
    ("amount-1e400", amount(b"1e400")),
    ("amount-2p64", amount(b"18446744073709551616")),
    ("amount-2p64-round", amount(b"18446744073709552639")),
    ("amount-huge-int", amount(b"1" + b"0" * 300)),
    ("amount-halfway", amount(b"9007199254740993")),
    ("amount-halfway-plus", amount(b"9007199254740993.0000000000000000000000001")),
    ("amount-long-mantissa", amount(b"0." + b"1" * 800)),
    ("amount-leading-zero", amount(b"01")),
    ("amount-dot", amount(b"1.")),
    ("amount-plus", amount(b"+1")),
    ("amount-bool", amount(b"true")),
    ("amount-string", amount(b'"1"')),
    ("unread-1e400", extra(b'"x":1e400')),
    ("unread-minus-1e400", extra(b'"x":-1e400')),
    ("unread-huge-int", extra(b'"x":' + b"9" * 400)),
    ("unread-nan", extra(b'"x":NaN')),
    ("unread-leading-zero", extra(b'"x":00')),
    # categories as numbers
    ("country-whole-float", country(b"1.0")),
    ("country-exp", country(b"1E5")),
    ("country-minus-zero", country(b"-0.0")),
    ("country-minus-zero-int", country(b"-0")),
    ("country-2p53-float", country(b"9007199254740993.0")),
    ("country-big-float", country(b"1e16")),
    ("country-frac", country(b"2.5")),
    ("country-uint64-max", country(b"18446744073709551615")),
    ("country-2p64", country(b"18446744073709551616")),
    ("country-int64-min", country(b"-9223372036854775808")),
    ("country-below-int64", country(b"-9223372036854775809")),
    ("country-true", country(b"true")),
    ("country-false", country(b"false")),
    ("country-1e400", country(b"1e400")),
    ("country-object", country(b'{"a":1}')),
    ("country-list", country(b"[]")),
    # event ids
    ("id-int", event_id(b"7")),
    ("id-minus-zero", event_id(b"-0")),
    ("id-int64-max", event_id(b"9223372036854775807")),
    ("id-2p63", event_id(b"9223372036854775808")),
    ("id-uint64-max", event_id(b"18446744073709551615")),
    ("id-2p64", event_id(b"18446744073709551616")),
    ("id-int64-min", event_id(b"-9223372036854775808")),
    ("id-below-int64", event_id(b"-9223372036854775809")),
    ("id-whole-float", event_id(b"1.0")),
    ("id-exp", event_id(b"1e2")),
    ("id-true", event_id(b"true")),
    ("id-empty", event_id(b'""')),
    ("id-object", event_id(b"{}")),
    # model versions
    ("version-int", version(b"3")),
    ("version-minus-zero", version(b"-0")),
    ("version-uint64-max", version(b"18446744073709551615")),
    ("version-2p64", version(b"18446744073709551616")),
    ("version-float", version(b"3.0")),
    ("version-true", version(b"true")),
    ("version-null", version(b"null")),
    ("version-list", version(b"[3]")),
    # timestamps
    ("ts-leap-second", stamp(b'"2016-12-31T23:59:60Z"')),
    ("ts-lower-t-z", stamp(b'"2026-11-25t10:00:00z"')),
    ("ts-space", stamp(b'"2026-11-25 10:00:00Z"')),
    ("ts-offset", stamp(b'"2026-11-25T15:30:00+05:30"')),
    ("ts-minus-zero-offset", stamp(b'"2026-11-25T10:00:00-00:00"')),
    ("ts-offset-2359", stamp(b'"2026-11-25T10:00:00+23:59"')),
    ("ts-offset-24", stamp(b'"2026-11-25T10:00:00+24:00"')),
    ("ts-offset-no-colon", stamp(b'"2026-11-25T10:00:00+0530"')),
    ("ts-frac-9", stamp(b'"2026-11-25T10:00:00.123456789Z"')),
    ("ts-frac-30", stamp(b'"2026-11-25T10:00:00.' + b"9" * 30 + b'Z"')),
    ("ts-frac-round-up", stamp(b'"2026-11-25T23:59:59.9999999Z"')),
    ("ts-frac-empty", stamp(b'"2026-11-25T10:00:00.Z"')),
    ("ts-comma", stamp(b'"2026-11-25T10:00:00,5Z"')),
    ("ts-hour-24", stamp(b'"2026-11-25T24:00:00Z"')),
    ("ts-feb-29", stamp(b'"2026-02-29T10:00:00Z"')),
    ("ts-naive", stamp(b'"2026-11-25T10:00:00"')),
    ("ts-escaped", stamp(b'"2026-11-25T10:00:00\\u005a"')),
    ("ts-year-1-offset", stamp(b'"0001-01-01T00:00:00+01:00"')),
    ("ts-year-9999-offset", stamp(b'"9999-12-31T23:59:59-23:59"')),
    ("ts-first-ok", stamp(b'"1000-01-01T00:00:00Z"')),
    ("ts-last-ok", stamp(b'"8999-12-31T23:59:59Z"')),
    ("ts-too-late", stamp(b'"9000-01-01T00:00:00Z"')),
    ("ts-epoch-int", stamp(b"1764064800")),
    ("ts-epoch-float", stamp(b"1764064800.25")),
    ("ts-epoch-exp", stamp(b"1.7640648e9")),
    ("ts-epoch-many-digits", stamp(b"1764064800.123456789012345678901234567890")),
    ("ts-epoch-minus-zero", stamp(b"-0")),
    ("ts-epoch-min", stamp(b"-30610224000")),
    ("ts-epoch-below-min", stamp(b"-30610224000.0001")),
    ("ts-epoch-max", stamp(b"221845392000")),
    ("ts-epoch-just-below-max", stamp(b"221845391999.99997")),
    ("ts-epoch-ms", stamp(b"1764064800000")),
    ("ts-epoch-2p64", stamp(b"18446744073709551616")),
    ("ts-epoch-1e400", stamp(b"1e400")),
    ("ts-bool", stamp(b"true")),
    ("ts-null", stamp(b"null")),
    ("ts-digits-string", stamp(b'"1764064800"')),
    # objects on the path
    ("features-null", sub(b'"features":{"amount":1.5,"age":2,"country":"DE"}', b'"features":null')),
    ("features-empty", sub(b'"features":{"amount":1.5,"age":2,"country":"DE"}', b'"features":{}')),
    ("features-list", sub(b'"features":{"amount":1.5,"age":2,"country":"DE"}', b'"features":[]')),
    ("features-number", sub(b'"features":{"amount":1.5,"age":2,"country":"DE"}', b'"features":1')),
    ("prediction-null", sub(b'"prediction":{"score":0.5}', b'"prediction":null')),
    ("prediction-string", sub(b'"prediction":{"score":0.5}', b'"prediction":"0.5"')),
    ("empty-key", extra(b'"":1')),
    ("empty-key-object", extra(b'"":{"":null}')),
    # whitespace, BOM, trailing bytes
    ("json-whitespace", BASE.replace(b",", b" ,\t").replace(b":", b"\r\n:\n ")),
    ("trailing-newline", BASE + b"\n"),
    ("trailing-crlf", BASE + b"\r\n"),
    ("trailing-spaces", BASE + b" \t "),
    ("leading-spaces", b" \n" + BASE),
    ("form-feed", BASE + b"\x0c"),
    ("nbsp", BASE + "\u00a0".encode()),
    ("bom", b"\xef\xbb\xbf" + BASE),
    ("trailing-garbage", BASE + b"x"),
    ("trailing-nul", BASE + b"\x00"),
    ("two-objects", BASE + BASE),
    ("trailing-comma", extra(b'"x":1,')),
    # deep nesting in an unused field (msgspec and orjson stop at different depths)
    ("deep-500", extra(b'"x":' + b"[" * 500 + b"]" * 500)),
    ("deep-1000", extra(b'"x":' + b"[" * 1000 + b"]" * 1000)),
    ("deep-1023", extra(b'"x":' + b"[" * 1023 + b"]" * 1023)),
    ("deep-1025", extra(b'"x":' + b"{\"a\":" * 1025 + b"1" + b"}" * 1025)),
    ("deep-3000", extra(b'"x":' + b"[" * 3000 + b"]" * 3000)),
]
GOOD = BASE.replace(b'"a"', b'"good"', 1)


@pytest.mark.parametrize(("kind", "raw"), EDGE, ids=[k for k, _ in EDGE])
def test_edge_case_paths_agree(kind: str, raw: bytes) -> None:
    for values in ([raw], [GOOD, raw], [raw, GOOD, raw]):
        check_paths_agree(DECODER, values)
    check_grouping(DECODER, [GOOD, raw, GOOD])


def test_edge_cases_are_distinct_and_most_differ_from_base() -> None:
    kinds = [k for k, _ in EDGE]
    assert len(kinds) == len(set(kinds))
    assert sum(raw != BASE for _, raw in EDGE) == len(EDGE)


def test_edge_cases_exercise_both_paths() -> None:
    # the table is useful only if the fast path accepts many of these and defers on others
    accepted = sum(fast_or_none(DECODER, [raw]) is not None for _, raw in EDGE)
    assert 40 < accepted < len(EDGE) - 40


# -- the layout itself: keys the config accepts -----------------------------------------------

ODD_KEYS = ["", "país", "a/b", "😀", "f0", "f1", " ", "\x7f"]


@pytest.mark.parametrize("key", ODD_KEYS)
def test_odd_but_valid_keys_read_alike(key: str) -> None:
    spec = DecoderSpec(("id",), ("ts",), ("v",), (("o", key),), ((key,),), None, max_event_bytes=MAX_BYTES)
    decoder = BatchDecoder(spec)
    event = {"id": 1, "ts": 1764064800, "v": None, "o": {key: 2.5}, key: "k"}
    for ascii_only in (True, False):
        raw = json.dumps(event, ensure_ascii=ascii_only).encode()
        fast = check_paths_agree(decoder, [raw])
        assert fast is not None and fast.columns.numeric.tolist() == [[2.5]]
        assert fast.columns.categorical[0].tolist() == ["k"]


# The config schema (dotted_path: "^[^.]+(\.[^.]+)*$") accepts any key but a dot; msgspec's
# defstruct refuses renamed fields holding a backslash, a double quote or a control character.
QUOTED_KEYS = ['amo"unt', "amo\\unt", "amo\tunt", "amo\x00unt", "amo\x1funt"]


@pytest.mark.parametrize("key", QUOTED_KEYS, ids=["quote", "backslash", "tab", "nul", "us"])
def test_keys_msgspec_cannot_rename_fall_back_to_the_careful_path(key: str) -> None:
    spec = DecoderSpec(("id",), ("ts",), ("v",), (("features", key),), (), None, max_event_bytes=MAX_BYTES)
    decoder = BatchDecoder(spec)
    raw = json.dumps({"id": "a", "ts": 1764064800, "features": {key: 2.5}}).encode()
    out = decoder.decode([raw])
    assert out.dead == () and out.columns.numeric.tolist() == [[2.5]]


def test_the_config_accepts_such_keys() -> None:
    # why the test above matters: a config file can hold such keys (parse_config, then
    # MonitorRuntime builds its BatchDecoder from these paths)
    from driftline.schemas.config import parse_config

    for key in QUOTED_KEYS[:3]:
        config = parse_config({"monitors": [{"name": "fraud", "source": "predictions", "features": {
            "amount": {"type": "numeric", "path": f"features.{key}"}}}]})
        assert config.monitors[0].features[0].path == ("features", key)


# -- hypothesis: JSON text built from fragments ------------------------------------------------


def _escape_all(text: str, upper: bool) -> str:
    out = []
    for ch in text:
        code = ord(ch)
        if code > 0xFFFF:
            code -= 0x10000
            pair = (0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF))
            out.extend(f"\\u{u:04X}" if upper else f"\\u{u:04x}" for u in pair)
        else:
            out.append(f"\\u{code:04X}" if upper else f"\\u{code:04x}")
    return "".join(out)


@st.composite
def string_lit(draw, text: str | None = None) -> bytes:
    """A JSON string literal of ``text`` (or drawn text), spelled in one of several ways."""
    if text is None:
        text = draw(st.text(st.characters(exclude_categories=["Cs"]), max_size=6))
    how = draw(st.sampled_from(["plain", "ascii", "escape-all", "escape-some"]))
    if how == "plain":
        return json.dumps(text, ensure_ascii=False).encode()
    if how == "ascii":
        return json.dumps(text, ensure_ascii=True).encode()
    if how == "escape-all":
        return ('"' + _escape_all(text, draw(st.booleans())) + '"').encode()
    body = json.dumps(text, ensure_ascii=False)[1:-1]
    if text and not any(c in '"\\' or ord(c) < 0x20 for c in text):
        i = draw(st.integers(0, len(text) - 1))
        body = text[:i] + _escape_all(text[i], draw(st.booleans())) + text[i + 1:]
    return ('"' + body + '"').encode()


@st.composite
def number_lit(draw) -> bytes:
    """A JSON number text (now and then an invalid one)."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from([b"1e400", b"-1e400", b"01", b"1.", b".5", b"+1", b"NaN", b"-Infinity",
                                     b"1" * 400, b"-0", b"0e999999", b"4.9e-324", b"1e-400"]))
    sign = draw(st.sampled_from([b"", b"", b"-"]))
    whole = draw(st.one_of(st.just(b"0"), st.integers(1, 10**25).map(lambda i: str(i).encode())))
    frac = draw(st.one_of(st.just(b""), st.text("0123456789", min_size=1, max_size=25).map(
        lambda t: b"." + t.encode())))
    exp = draw(st.one_of(st.just(b""), st.tuples(st.sampled_from([b"e", b"E"]), st.sampled_from([b"", b"+", b"-"]),
                                                 st.integers(0, 30)).map(lambda t: t[0] + t[1] + str(t[2]).encode())))
    return sign + whole + frac + exp


def int_lit(lo: int, hi: int):
    return st.integers(lo, hi).map(lambda i: str(i).encode())


EDGE_INTS = [0, 1, -1, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**30]
edge_int = st.sampled_from(EDGE_INTS).map(lambda i: str(i).encode())
whole_float = st.sampled_from([b"1.0", b"-0.0", b"2E0", b"1e2", b"100e-2", b"9007199254740993.0", b"1e16"])
literal = st.sampled_from([b"true", b"false", b"null"])

OFFSETS = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-23, minutes=-59)),
           timezone(timedelta(0))]


@st.composite
def rfc3339(draw) -> bytes:
    dt = draw(st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(8999, 12, 30)))
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    digits = draw(st.integers(0, 12))
    if digits:
        text += "." + (f"{dt.microsecond:06d}" + "".join(draw(st.lists(st.sampled_from("0159"), min_size=6,
                                                                          max_size=6))))[:digits]
    tz = draw(st.sampled_from(["Z", "z", "+00:00", "-00:00", "+05:30", "-23:59", "+24:00", ""]))
    text += tz
    if draw(st.integers(0, 5)) == 0:
        text = text.replace("T", draw(st.sampled_from(["t", " "])), 1)
    if draw(st.integers(0, 9)) == 0:
        text = text[:17] + "60" + text[19:]        # a leap second
    return draw(string_lit(text))


timestamp_value = st.one_of(
    rfc3339(), rfc3339(), int_lit(0, 4_000_000_000), number_lit(), edge_int,
    st.floats(-3.1e10, 2.3e11, allow_nan=False).map(lambda f: repr(f).encode()),
    st.sampled_from([b"-30610224000", b"221845392000", b"221845391999.99997", b"1764064800000", b"true", b"null",
                     b'"1764064800"']),
)
id_value = st.one_of(string_lit(), int_lit(-10**6, 10**6), edge_int, whole_float, literal)
version_value = st.one_of(string_lit(), int_lit(0, 99), edge_int, whole_float, literal)
number_value = st.one_of(number_lit(), edge_int, literal, string_lit())
label_value = st.one_of(string_lit(), int_lit(-99, 99), edge_int, whole_float, number_lit(), literal)
unused_value = st.one_of(
    number_lit(), edge_int, string_lit(), literal,
    st.sampled_from([b"[]", b"{}", b'{"a":[1,{"b":null}]}', b'"\\ud800"', b'"\xff"', b'"\x01"',
                     b'"\\ud83d\\ude00"', b"[" * 1010 + b"]" * 1010, b"[" * 2000 + b"]" * 2000]),
)


@st.composite
def key_lit(draw, key: str) -> bytes:
    return draw(string_lit(key))


ws = st.sampled_from([b"", b"", b" ", b"\t", b"\n", b"\r\n ", b"  "])


@st.composite
def obj(draw, members: list[tuple[bytes, bytes]]) -> bytes:
    parts = [draw(ws) + k + draw(ws) + b":" + draw(ws) + v + draw(ws) for k, v in members]
    return b"{" + b",".join(parts) + draw(ws) + b"}"


@st.composite
def members(draw, spec: list[tuple[str, object]], dup_values) -> list[tuple[bytes, bytes]]:
    """Members for ``spec`` (key, value strategy), some left out, some repeated (duplicates)."""
    out = []
    for key, strat in spec:
        if draw(st.integers(0, 9)) == 0:
            continue
        value = draw(strat)
        out.append((draw(key_lit(key)), value))
        if draw(st.integers(0, 7)) == 0:
            other = (draw(key_lit(key)), draw(dup_values))
            out.insert(draw(st.integers(0, len(out))), other)
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.sampled_from(["unused", "", "x", "features2"]))
        out.insert(draw(st.integers(0, len(out))), (draw(key_lit(name)), draw(unused_value)))
    return draw(st.permutations(out)) if draw(st.booleans()) else out


@st.composite
def nested(draw, spec: list[tuple[str, object]]) -> bytes:
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return b"null"
    if choice == 1:
        return draw(st.sampled_from([b"[]", b"1", b'"x"', b"{}"]))
    return draw(obj(draw(members(spec, st.one_of(number_value, label_value)))))


@st.composite
def event_text(draw) -> bytes:
    features = nested([("amount", number_value), ("age", number_value), ("country", label_value)])
    prediction = nested([("score", number_value)])
    spec = [("event_id", id_value), ("timestamp", timestamp_value), ("model_version", version_value),
            ("features", features), ("prediction", prediction)]
    body = draw(obj(draw(members(spec, st.one_of(id_value, timestamp_value, literal)))))
    pre = draw(st.sampled_from([b""] * 8 + [b" ", b"\xef\xbb\xbf"]))
    post = draw(st.sampled_from([b""] * 6 + [b"\n", b"\r\n", b" ", b"x", b"\x00", b"}"]))
    return pre + body + post


@st.composite
def plausible_event(draw) -> bytes:
    """Mostly valid events (so the fast path accepts whole batches often): fixed keys, odd
    but valid spellings of the values."""
    ident = draw(st.one_of(string_lit(), int_lit(-10**6, 10**6), st.sampled_from(
        [str(i).encode() for i in (2**63 - 1, 2**64 - 1, -(2**63))])))
    ts = draw(st.one_of(rfc3339(), int_lit(0, 4_000_000_000),
                        st.floats(0, 4e9, allow_nan=False).map(lambda f: repr(f).encode())))
    ver = draw(st.one_of(string_lit(), int_lit(0, 99), st.just(b"null")))
    num = st.one_of(number_lit(), st.just(b"null"), st.just(b"-0"))
    lab = st.one_of(string_lit(), int_lit(-99, 99), whole_float, st.sampled_from([b"true", b"false", b"null"]))
    feats = draw(obj([(b'"amount"', draw(num)), (b'"age"', draw(num)), (b'"country"', draw(lab))]))
    pred = draw(obj([(b'"score"', draw(num))]))
    mem = [(draw(key_lit("event_id")), ident), (b'"timestamp"', ts), (b'"model_version"', ver),
           (draw(key_lit("features")), feats), (b'"prediction"', pred)]
    if draw(st.booleans()):
        mem.append((draw(key_lit("unused")), draw(unused_value)))
    return draw(obj(mem)) + draw(st.sampled_from([b"", b"\n", b" "]))


@SETTINGS
@given(st.lists(event_text(), min_size=1, max_size=6))
def test_paths_agree_on_generated_json_text(values: list[bytes]) -> None:
    check_batch(DECODER, values)


@SETTINGS
@given(st.lists(plausible_event(), min_size=1, max_size=8))
def test_paths_agree_on_plausible_events(values: list[bytes]) -> None:
    check_batch(DECODER, values)


@st.composite
def event2_text(draw) -> bytes:
    """Events for SPEC2: id and version nested in "meta", a categorical prediction."""
    meta = nested([("id", id_value), ("v", version_value)])
    f = nested([("y", number_value), ("c", label_value)])
    spec = [("meta", meta), ("ts", timestamp_value), ("x", number_value), ("f", f), ("k", label_value),
            ("p", label_value)]
    return draw(obj(draw(members(spec, st.one_of(label_value, literal)))))


@SETTINGS
@given(st.lists(event2_text(), min_size=1, max_size=6))
def test_paths_agree_with_nested_ids_and_a_categorical_prediction(values: list[bytes]) -> None:
    check_batch(DECODER2, values)


# -- label events (label_decode.py) -----------------------------------------------------------


def label_view(b) -> dict:
    return {"ids": [_scalar(x) for x in b.event_ids], "labels": [_scalar(x) for x in b.labels.tolist()],
            "timestamps": [_scalar(x) for x in b.timestamps.tolist()],
            "dead": [(d.record.value, d.reason, d.stage) for d in b.dead]}


LABEL_DECODERS = {task: LabelDecoder(LabelSpec(("event_id",), ("label",), ("timestamp",), task, MAX_BYTES))
                  for task in ("binary", "classification", "regression")}


@st.composite
def label_event(draw) -> bytes:
    spec = [("event_id", id_value), ("label", st.one_of(label_value, st.sampled_from([b"0", b"1", b"0.0", b"1.0"]))),
            ("timestamp", timestamp_value)]
    return draw(obj(draw(members(spec, st.one_of(label_value, literal))))) + draw(st.sampled_from([b"", b"\n"]))


@SETTINGS
@given(st.sampled_from(sorted(LABEL_DECODERS)), st.lists(label_event(), min_size=1, max_size=6))
def test_label_paths_agree(task: str, values: list[bytes]) -> None:
    decoder = LABEL_DECODERS[task]
    slow = decoder._careful(values, None, None, None, False)
    try:
        fast = decoder._fast(values)
    except FAST_DEFERS:
        fast = None
    if fast is not None:
        assert slow.dead == ()
        assert label_view(fast) == label_view(slow)
    assert label_view(decoder.decode(values)) == label_view(slow)
    alone = [label_view(decoder.decode([v])) for v in values]
    assert [x for a in alone for x in a["ids"]] == label_view(slow)["ids"]
    assert [x for a in alone for x in a["dead"]] == label_view(slow)["dead"]


# -- sanity: the oracle sees a difference when there is one ------------------------------------


def test_view_tells_values_and_types_apart() -> None:
    a = DECODER._careful([amount(b"0.0")], None, None, None, False)
    b = DECODER._careful([amount(b"-0.0")], None, None, None, False)
    assert view(a) != view(b)                       # -0.0 is not 0.0
    c = DECODER._careful([event_id(b"1")], None, None, None, False)
    d = DECODER._careful([event_id(b'"1"')], None, None, None, False)
    assert view(c) != view(d)                       # id 1 is not id "1"
    assert math.isnan(DECODER._careful([amount(b"null")], None, None, None, False).columns.numeric[0, 0])
