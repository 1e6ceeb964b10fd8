"""Raw bytes to numpy columns, with every unusable event routed to the dead letters.

Two paths give the same result. The fast path decodes each event into a typed msgspec struct
holding only the monitor's fields (``event_types.py``: types checked in C, the rest of the
event skipped), then lays each struct level out as an object table with
``msgspec.structs.astuple`` and one ``numpy.fromiter`` (no per-value Python code) and converts
its numeric columns with one ``astype`` per level. Any surprise in the batch (bad JSON, a
missing id, a wrong type) sends the whole batch to the careful path, which decodes event by
event with ``orjson`` and gives each bad event its reason. A clean batch never pays for the careful path.

Reason codes (bounded, used as metric labels): ``too_large``, ``invalid_json``,
``non_finite``, ``not_an_object``, ``missing_field``, ``wrong_type``, ``bad_timestamp``, and,
given the records' times, ``future_timestamp`` (``future_check.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from operator import attrgetter
from typing import TypeVar

import msgspec
import numpy as np
import orjson
from driftline.detectors.window_sketch import ColumnBatch
from msgspec.structs import astuple

from .batching import byte_slices
from .event_types import EventTypes, LayoutConflict
from .future_check import split_future
from .records import DeadLetter, DecodedBatch, RawRecord

# The fast path parses and extracts slices of about this many bytes at a time: the parsed
# objects of a slice stay in the CPU caches, which measured ~40% faster than whole batches.
_FAST_SLICE_BYTES = 262_144
_tzinfo = attrgetter("tzinfo")
# Event times outside [1000-01-01, 9000-01-01) UTC are bad timestamps: every window of such a
# time (at most 3650d long) starts and ends within the years 1..9999 that RFC 3339 and
# Python's datetime can write, and its milliseconds fit int64 by far.
_TS_MIN = -30_610_224_000.0
_TS_MAX = 221_845_392_000.0
_TS_RANGE = "outside the years 1000-8999"
# the integers orjson reads as integers (signed and unsigned 64-bit)
_INT_MIN = -(1 << 63)
_UINT_MAX = (1 << 64) - 1
_WHOLE_MAX = float(1 << 53)
T = TypeVar("T")


class _Bad(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class DecoderSpec:
    """Where each value sits in an event (paths are tuples of keys)."""

    event_id: tuple[str, ...]
    timestamp: tuple[str, ...]
    model_version: tuple[str, ...]
    numeric: tuple[tuple[str, ...], ...]
    categorical: tuple[tuple[str, ...], ...]
    prediction: tuple[str, ...] | None
    prediction_type: str = "numeric"
    max_event_bytes: int = 1_048_576
    max_future_ms: int | None = None   # limits.max_future (None: no check)


class BatchDecoder:
    def __init__(self, spec: DecoderSpec) -> None:
        self.spec = spec
        self._types = _event_types(spec)
        self._typed = typed_reading(None if self._types is None else self._types.event)
        if self._types is not None:
            self._decode_one = msgspec.json.Decoder(self._types.event).decode
            self._numeric_groups = _column_groups(self._types, "n", len(spec.numeric))
            self._label_groups = _column_groups(self._types, "c", len(spec.categorical))

    def decode(
        self,
        values: Sequence[bytes],
        topic: str | None = None,
        partition: int | None = None,
        offsets: Sequence[int] | None = None,
        skip_blank: bool = False,
        record_ms: Sequence[int | None] | np.ndarray | None = None,
    ) -> DecodedBatch:
        """Decode raw event bytes; ``offsets[i]`` (when known) is where ``values[i]`` was read.

        ``skip_blank``: blank values are not events (blank lines of a file); otherwise an
        empty message is a dead letter (reason ``invalid_json``). ``record_ms[i]`` (when
        known): the time of the Kafka record of ``values[i]`` in ms (None or negative: unknown);
        an event more than the spec's ``max_future_ms`` after it is a dead letter
        (``future_timestamp``).
        """
        batch = fast_or_careful(values, self._fast, _concat,
                                lambda: self._careful(values, topic, partition, offsets, skip_blank))
        limit = self.spec.max_future_ms
        if record_ms is None or limit is None:
            return batch
        return split_future(batch, values, record_ms, limit, _dotted(self.spec.timestamp), topic, partition,
                            offsets)

    # -- fast path --------------------------------------------------------------------------

    def _fast(self, values: Sequence[bytes]) -> DecodedBatch:
        spec = self.spec
        if self._types is None:
            raise _Bad("wrong_type", "")   # conflicting paths: only the careful path can say
        if max(map(len, values)) > spec.max_event_bytes:
            raise _Bad("too_large", "")
        if not b"".join(values).isascii():
            # msgspec skips the fields it does not read without checking their UTF-8
            for v in values:
                v.decode("utf-8")
        objs = list(map(self._decode_one, values))
        n = len(objs)
        tables = _tables(self._types, objs)
        slots = self._types.slots

        def column(name: str) -> np.ndarray:
            where, i = slots[name]
            return tables[where][:, i]

        stamps = _timestamps_fast(column("timestamp").tolist())
        numeric = np.empty((n, len(spec.numeric)), dtype=np.float64)
        for cols, where, at in self._numeric_groups:
            numeric[:, cols] = tables[where][:, at].astype(np.float64)
        if not np.isfinite(numeric[~np.isnan(numeric)]).all():
            raise _Bad("non_finite", "")
        cats: list[np.ndarray] = [None] * len(spec.categorical)  # type: ignore[list-item]
        for cols, where, at in self._label_groups:
            block = tables[where][:, at]
            for i, j in enumerate(cols):
                cats[j] = _labels_as_str(block[:, i])
        pred = None
        if spec.prediction is not None:
            raw = column("prediction")
            pred = (raw.astype(np.float64) if spec.prediction_type == "numeric"
                    else _labels_as_str(raw.copy()))
            if spec.prediction_type == "numeric" and not np.isfinite(pred[~np.isnan(pred)]).all():
                raise _Bad("non_finite", "")
        ids = column("event_id").tolist()
        if int in set(map(type, ids)):
            _orjson_ints(ids)
        versions = column("model_version")
        if int in set(map(type, versions.tolist())):
            versions = np.array([_version_one(v, ()) for v in versions.tolist()], dtype=object)
        return DecodedBatch(ColumnBatch(numeric, tuple(cats), pred), stamps, versions.copy(), (), event_ids=ids)

    # -- careful path -----------------------------------------------------------------------

    def _careful(
        self,
        values: Sequence[bytes],
        topic: str | None,
        partition: int | None,
        offsets: Sequence[int] | None,
        skip_blank: bool,
    ) -> DecodedBatch:
        spec = self.spec
        good, rows, dead, dead_rows = each_event(values, self._one, topic, partition, offsets,
                                                 skip_blank)
        n = len(good)
        kn, kc = len(spec.numeric), len(spec.categorical)
        numeric = np.array([g[3] for g in good], dtype=np.float64).reshape(n, kn)
        cats = tuple(np.array([g[4][j] for g in good], dtype=object) for j in range(kc))
        pred = None
        if spec.prediction is not None:
            values = [g[5] for g in good]
            pred = (np.array(values, dtype=np.float64) if spec.prediction_type == "numeric"
                    else np.array(values, dtype=object))
        return DecodedBatch(
            ColumnBatch(numeric, cats, pred),
            np.array([g[1] for g in good], dtype=np.float64),
            np.array([g[2] for g in good], dtype=object),
            tuple(dead),
            np.array(rows, dtype=np.int64),
            np.array(dead_rows, dtype=np.int64),
            event_ids=[g[0] for g in good],
        )

    def _one(self, value: bytes) -> tuple:
        spec = self.spec
        if event_size(value) > spec.max_event_bytes:
            raise _Bad("too_large", f"event is {event_size(value)} bytes, the limit is {spec.max_event_bytes}")
        obj = parse_object(value, self._typed)
        event_id = _get(obj, spec.event_id)
        if event_id is None:
            raise _Bad("missing_field", f"{_dotted(spec.event_id)} is missing")
        if type(event_id) not in (str, int) or not _int64(event_id):
            raise _Bad("wrong_type", f"{_dotted(spec.event_id)} must be a string or a 64-bit integer")
        ts = _timestamp_one(_get(obj, spec.timestamp), spec.timestamp)
        version = _version_one(_get(obj, spec.model_version), spec.model_version)
        nums = tuple(_number_one(_get(obj, p), p) for p in spec.numeric)
        cats = tuple(_label_one(_get(obj, p), p) for p in spec.categorical)
        pred = None
        if spec.prediction is not None:
            raw = _get(obj, spec.prediction)
            pred = (_number_one(raw, spec.prediction) if spec.prediction_type == "numeric"
                    else _label_one(raw, spec.prediction))
        return event_id, ts, version, nums, cats, pred


def typed_reading(event: type | None) -> Callable[[bytes], dict | None]:
    """The reading of an event through its typed layout ``event`` (see event_types), for the
    JSON ``orjson`` refuses only in a part driftline does not read (a number beyond float
    range in an unknown field): such an event is as valid as on the fast path. The reading
    returns None where the layout refuses the event too (or there is none)."""
    decode = None if event is None else msgspec.json.Decoder(event).decode

    def read(value: bytes) -> dict | None:
        if decode is None:
            return None
        try:
            value.decode("utf-8")    # msgspec skips the unread fields without checking them
            return msgspec.to_builtins(decode(value))
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            return None
    return read


def fast_or_careful(values: Sequence[bytes], fast: Callable[[Sequence[bytes]], T],
                    concat: Callable[[list[T]], T], careful: Callable[[], T]) -> T:
    """The two-path scheme: ``fast`` over slices of about ``_FAST_SLICE_BYTES``; at the first
    surprise (any of the errors a fast path raises on bad input), ``careful`` over the lot."""
    if not values:
        return careful()
    try:
        parts = [fast(values[s]) for s in byte_slices(values, _FAST_SLICE_BYTES)]
    except (_Bad, msgspec.DecodeError, orjson.JSONDecodeError, KeyError, TypeError, ValueError,
            AttributeError, OverflowError, RecursionError):   # msgspec: nesting ~1000 deep
        return careful()
    return parts[0] if len(parts) == 1 else concat(parts)


def each_event(
    values: Sequence[bytes],
    one: Callable[[bytes], tuple],
    topic: str | None,
    partition: int | None,
    offsets: Sequence[int] | None,
    skip_blank: bool,
    stage: str = "decode",
) -> tuple[list[tuple], list[int], list[DeadLetter], list[int]]:
    """The careful path's loop: ``one`` decodes an event or raises ``_Bad``; returns the good
    events, their input rows, the dead letters (with ``stage``) and their input rows."""
    good: list[tuple] = []
    dead: list[DeadLetter] = []
    rows: list[int] = []
    dead_rows: list[int] = []
    for i, value in enumerate(values):
        if skip_blank and not value.strip():
            continue
        try:
            good.append(one(value))
            rows.append(i)
        except _Bad as bad:
            offset = None if offsets is None else offsets[i]
            dead.append(DeadLetter(RawRecord(value, topic, partition, offset), bad.reason, bad.detail, stage))
            dead_rows.append(i)
    return good, rows, dead, dead_rows


def event_size(value: bytes) -> int:
    """The event's bytes, without the line terminator a file's line ends with (a Kafka
    message has none): the same event has the same size in a replayed file and on a topic."""
    return len(value) - (2 if value.endswith(b"\r\n") else 1 if value.endswith(b"\n") else 0)


def parse_object(value: bytes, fallback: Callable[[bytes], dict | None] | None = None) -> dict:
    """One event parsed by ``orjson`` (where it refuses, ``fallback``'s reading, if any), or
    ``_Bad`` with its reason: ``non_finite``, ``invalid_json`` or ``not_an_object``."""
    if not value:
        raise _Bad("invalid_json", "the value is empty (a Kafka tombstone, whose value is null, reads as empty)")
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        obj = None if fallback is None else fallback(value)
        if obj is None:
            text = str(exc)
            if "infinity" in text or _non_finite_literal(value, exc.pos):
                raise _Bad("non_finite", f"NaN or Infinity is not a number in JSON: {text}") from None
            raise _Bad("invalid_json", text) from None
    if not isinstance(obj, dict):
        raise _Bad("not_an_object", f"expected a JSON object, got {type(obj).__name__}")
    return obj


def _concat(parts: list[DecodedBatch]) -> DecodedBatch:
    first = parts[0].columns
    pred = None if first.prediction is None else np.concatenate([p.columns.prediction for p in parts])
    columns = ColumnBatch(
        np.concatenate([p.columns.numeric for p in parts]),
        tuple(np.concatenate(cols) for cols in zip(*(p.columns.categorical for p in parts), strict=True)),
        pred,
    )
    return DecodedBatch(columns, np.concatenate([p.timestamps for p in parts]),
                        np.concatenate([p.versions for p in parts]), (),
                        event_ids=list(chain.from_iterable(p.event_ids for p in parts)))


# -- helpers: fast path ---------------------------------------------------------------------

def _event_types(spec: DecoderSpec) -> EventTypes | None:
    """The typed layout of the monitor's events; None when its paths conflict (then every
    batch takes the careful path, which names the problem for each event)."""
    paths: dict[str, tuple[str, ...]] = {"event_id": spec.event_id, "timestamp": spec.timestamp,
                                         "model_version": spec.model_version}
    kinds = {"event_id": "event_id", "timestamp": "timestamp", "model_version": "version"}
    for j, p in enumerate(spec.numeric):
        paths[f"n{j}"], kinds[f"n{j}"] = p, "number"
    for j, p in enumerate(spec.categorical):
        paths[f"c{j}"], kinds[f"c{j}"] = p, "label"
    if spec.prediction is not None:
        paths["prediction"] = spec.prediction
        kinds["prediction"] = "number" if spec.prediction_type == "numeric" else "label"
    try:
        return EventTypes.build(paths, kinds)
    except LayoutConflict:
        return None


def _column_groups(types: EventTypes, prefix: str, k: int) -> list[tuple[list[int], tuple[str, ...], list[int]]]:
    """Columns ``prefix0 .. prefix{k-1}`` grouped by the object holding them: (columns, that
    object's path, their positions in its table), so a group is one numpy fancy index."""
    groups: dict[tuple[str, ...], tuple[list[int], list[int]]] = {}
    for j in range(k):
        where, i = types.slots[f"{prefix}{j}"]
        cols, at = groups.setdefault(where, ([], []))
        cols.append(j)
        at.append(i)
    return [(cols, where, at) for where, (cols, at) in groups.items()]


def _tables(types: EventTypes, objs: list) -> dict[tuple[str, ...], np.ndarray]:
    """One ``(n, fields)`` object array per struct level (() = the events themselves), built by
    ``astuple`` per struct and one ``fromiter`` per level (no numpy shape discovery on the
    structs). A missing or null nested object reads as its all-null struct."""
    tables = {(): _table(objs)}
    for where, (holder, i) in types.objects.items():
        items = tables[holder][:, i].tolist()
        if None in items:
            empty = types.empty[where]
            if empty is None:
                raise _Bad("missing_field", "")   # a required value sits in that object
            items = [empty if v is None else v for v in items]
        tables[where] = _table(items)
    return tables


def _table(structs: list) -> np.ndarray:
    n = len(structs)
    width = len(structs[0].__struct_fields__)
    return np.fromiter(chain.from_iterable(map(astuple, structs)), dtype=object,
                       count=n * width).reshape(n, width)


def _labels_as_str(col: np.ndarray) -> np.ndarray:
    """Integer labels (and whole floats) read as their decimal text, booleans as ``true`` /
    ``false``, as the careful path does."""
    values = col.tolist()
    kinds = set(map(type, values))
    if kinds.isdisjoint((int, float, bool)):
        return col
    if int in kinds:
        _orjson_ints(values)
    return np.array([_label_one(v, ()) for v in values], dtype=object)   # _Bad: the careful path says why


def _orjson_ints(values: list) -> None:
    """msgspec reads integers of any size, ``orjson`` (the careful path) only 64-bit ones (a
    longer one is a float there, so a wrong type for an id or a label): the careful path decides."""
    ints = [v for v in values if type(v) is int]
    if ints and (min(ints) < _INT_MIN or max(ints) > _UINT_MAX):
        raise _Bad("wrong_type", "")


def _timestamps_fast(values: list) -> np.ndarray:
    kinds = set(map(type, values))
    if kinds == {str}:
        parsed = msgspec.convert(values, list[datetime])   # RFC 3339, strictly; raises otherwise
        if None in set(map(_tzinfo, parsed)):
            raise _Bad("bad_timestamp", "")  # naive times: the careful path reads them as UTC
        out = np.fromiter(map(datetime.timestamp, parsed), dtype=np.float64, count=len(values))
    elif kinds <= {int, float}:
        out = np.array(values, dtype=np.float64)   # an int beyond float range raises: careful path
    else:
        raise _Bad("bad_timestamp", "")
    if not ((out >= _TS_MIN) & (out < _TS_MAX)).all():   # NaN too: the careful path says which
        raise _Bad("bad_timestamp", "")
    return out


def _non_finite_literal(value: bytes, pos: int) -> bool:
    """Whether the JSON parser stopped at a NaN / Infinity literal (not at such text in a string)."""
    text = value.decode("utf-8", errors="replace")   # orjson reports character positions
    rest = text[pos:pos + 9].lstrip("-")
    return rest.startswith(("NaN", "Infinity"))


# -- helpers: careful path ------------------------------------------------------------------

def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path)


def _get(obj: dict, path: tuple[str, ...]):
    """The value at ``path``; None when a key is missing or null on the way, ``wrong_type``
    when something on the way is not an object."""
    for depth, key in enumerate(path):
        if obj is None:
            return None
        if not isinstance(obj, dict):
            raise _Bad("wrong_type", f"{_dotted(path[:depth])} must be an object, got {type(obj).__name__}")
        obj = obj.get(key)
    return obj


def _timestamp_one(value, path: tuple[str, ...]) -> float:
    name = _dotted(path)
    if value is None:
        raise _Bad("missing_field", f"{name} is missing")
    if type(value) in (int, float):
        if not math.isfinite(value):
            raise _Bad("bad_timestamp", f"{name} is not finite")
        if not _TS_MIN <= value < _TS_MAX:
            raise _Bad("bad_timestamp", f"{name} {value!r} (epoch seconds) is {_TS_RANGE}{_unit_hint(value)}")
        return float(value)
    if type(value) is not str:
        raise _Bad("bad_timestamp", f"{name} must be an RFC 3339 string or epoch seconds")
    try:
        # RFC 3339 exactly (msgspec's parser, as the fast path's): a date alone, a time without
        # seconds or other ISO 8601 forms (week dates, no separators) are refused
        parsed = msgspec.convert(value, datetime)
    except msgspec.ValidationError:
        raise _Bad("bad_timestamp", f"{name} {value[:40]!r} is not an RFC 3339 time like "
                   "2026-11-25T10:00:00Z") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    out = parsed.timestamp()
    if not _TS_MIN <= out < _TS_MAX:
        raise _Bad("bad_timestamp", f"{name} {value[:40]!r} is {_TS_RANGE}")
    return out


def _unit_hint(value: float) -> str:
    """What an epoch timestamp out of range most likely is: milliseconds or microseconds."""
    for unit, scale in (("milliseconds", 1e3), ("microseconds", 1e6), ("nanoseconds", 1e9)):
        if _TS_MIN <= value / scale < _TS_MAX:
            return f"; if it is epoch {unit}, send {value / scale:.3f} (seconds) instead"
    return ""


def _number_one(value, path: tuple[str, ...]) -> float:
    if value is None:
        return math.nan
    if type(value) not in (int, float):
        raise _Bad("wrong_type", f"{_dotted(path)} must be a number or null, got {type(value).__name__}")
    return finite_float(value, _dotted(path))


def finite_float(value: int | float, name: str) -> float:
    """``value`` as a float, or ``_Bad`` (``non_finite``, naming ``name``) when it is NaN or
    infinite or an integer beyond float range."""
    try:
        out = float(value)
    except OverflowError:
        out = math.inf
    if not math.isfinite(out):
        raise _Bad("non_finite", f"{name} is not a finite number")
    return out


def _int64(value) -> bool:
    """False for an integer beyond what orjson reads as one (signed or unsigned 64-bit): the
    event's other fields decide whether orjson or msgspec read it, and both must agree."""
    return type(value) is not int or _INT_MIN <= value <= _UINT_MAX


def _version_one(value, path: tuple[str, ...]) -> str | None:
    """A model version: text, or an integer (a model registry's version 3) as its text."""
    if value is None or type(value) is str:
        return value
    if type(value) is int and _int64(value):
        return str(value)
    raise _Bad("wrong_type", f"{_dotted(path)} must be a string, an integer or null")


def _label_one(value, path: tuple[str, ...]) -> str | None:
    if value is None or type(value) is str:
        return value
    if type(value) is int and _int64(value):
        return str(value)
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) is float and (text := whole_number_text(value)) is not None:
        return text
    raise _Bad("wrong_type", f"{_dotted(path)} must be a string, a 64-bit integer, a boolean or null, got "
               f"{_what(value)}")


def whole_number_text(value: float) -> str | None:
    """A whole float's integer text (1.0 -> "1"), as the reference build reads it: tables keep
    integer columns with nulls as floats, so a category may come as 1.0. None for any other
    float, and beyond 2**53 (where floats no longer hold every integer)."""
    return str(int(value)) if value.is_integer() and abs(value) <= _WHOLE_MAX else None


def _what(value) -> str:
    """How an unusable category or class value is described in its dead letter."""
    if type(value) is int:
        return "an integer beyond 64 bits"
    if type(value) is float:
        return f"{value!r}, a whole number beyond 2**53" if value.is_integer() else f"{value!r}, not a whole number"
    return type(value).__name__
