"""Label events (DESIGN 3.1) to columns, with every unusable label routed to the dead letters.

A label event: ``{"event_id": "7f3c9a", "label": 1, "timestamp": "..."}`` (paths from the
monitor's ``fields``). What a label must be depends on the monitor's performance task:

- ``binary``: 0, 1, true or false (as a float column of 0.0 / 1.0);
- ``classification``: a class name, a string or an integer (read as its decimal text, like
  categorical predictions; a whole float, 2.0, as its integer's; a boolean as true / false);
- ``regression``: a finite number (booleans and numeric strings are refused, not guessed).

The timestamp is optional; when present it must be RFC 3339 or epoch seconds. Two paths, as in
``streams/decode.py``: a fast path over the whole batch (``orjson.loads`` in a comprehension,
``map`` over ``dict.get`` / ``dict.__getitem__``, one numpy conversion per column and a set of
the value types to prove the column is clean), and on any surprise the careful path, event by
event, which gives each bad label its reason. Label events are small (an id, a label, a time),
so ``orjson`` building them whole costs little. Reasons are
those of the prediction decoder, plus ``bad_label`` (a value of the right type the task cannot
use, like 2 for a binary label); dead letters carry ``stage = "decode_labels"``.

>>> d = LabelDecoder(LabelSpec(("event_id",), ("label",), ("timestamp",), "binary"))
>>> out = d.decode([b'{"event_id": "a", "label": true}', b'{"event_id": "b", "label": 2}'])
>>> out.event_ids, out.labels.tolist(), [(x.reason, x.stage) for x in out.dead]
(['a'], [1.0], [('bad_label', 'decode_labels')])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, repeat

import numpy as np
import orjson

from .decode import (
    _Bad,
    _dotted,
    _get,
    _timestamp_one,
    _timestamps_fast,
    each_event,
    event_size,
    fast_or_careful,
    finite_float,
    parse_object,
    typed_reading,
    whole_number_text,
)
from .event_types import EventTypes, LayoutConflict
from .records import DeadLetter

STAGE = "decode_labels"          # the DLQ stage of a label event (predictions: "decode")
# JSON value types a label may have, per task (bool is not int here: type() is compared)
_BINARY_TYPES = frozenset({int, float, bool})
_CLASS_TYPES = frozenset({str, int})
_NUMBER_TYPES = frozenset({int, float})
_NONE = type(None)


@dataclass(frozen=True)
class LabelSpec:
    """Where the values of a label event sit, and the task its labels serve."""

    event_id: tuple[str, ...]
    label: tuple[str, ...]
    timestamp: tuple[str, ...]
    task: str                        # binary | classification | regression
    max_event_bytes: int = 1_048_576


@dataclass(frozen=True, eq=False)
class LabelBatch:
    """The usable labels of a batch, plus the dead letters."""

    event_ids: list                  # str or int, per valid label
    labels: np.ndarray               # float64 (binary 0/1, regression) or object (class names)
    timestamps: np.ndarray           # float64 epoch seconds; NaN where the event has none
    dead: tuple[DeadLetter, ...]

    def __len__(self) -> int:
        return len(self.event_ids)


class LabelDecoder:
    def __init__(self, spec: LabelSpec) -> None:
        if spec.task not in ("binary", "classification", "regression"):
            raise ValueError(f"unknown performance task {spec.task!r}")
        self.spec = spec
        try:
            types = EventTypes.build({"event_id": spec.event_id, "label": spec.label, "timestamp": spec.timestamp},
                                     {"event_id": "event_id", "label": "label", "timestamp": "timestamp_or_null"})
        except LayoutConflict:   # conflicting paths: orjson's reading alone (the careful path names it)
            types = None
        # unknown fields are ignored, as in prediction events: even JSON orjson refuses there
        self._typed = typed_reading(None if types is None else types.event)

    @property
    def label_dtype(self) -> type:
        return object if self.spec.task == "classification" else np.float64

    def decode(
        self,
        values: Sequence[bytes],
        topic: str | None = None,
        partition: int | None = None,
        offsets: Sequence[int] | None = None,
        skip_blank: bool = False,
    ) -> LabelBatch:
        """Decode raw label events; ``offsets[i]`` (when known) is where ``values[i]`` was read."""
        return fast_or_careful(values, self._fast, _concat,
                               lambda: self._careful(values, topic, partition, offsets, skip_blank))

    # -- fast path --------------------------------------------------------------------------

    def _fast(self, values: Sequence[bytes]) -> LabelBatch:
        spec = self.spec
        if values and max(map(len, values)) > spec.max_event_bytes:
            raise _Bad("too_large", "")
        loads = orjson.loads
        objs = [loads(v) for v in values]
        if objs and set(map(type, objs)) != {dict}:
            raise _Bad("not_an_object", "")
        ids = _values(objs, spec.event_id)
        if not set(map(type, ids)) <= _CLASS_TYPES:         # None (missing) included
            raise _Bad("wrong_type", "event_id")
        labels = _label_column(_values(objs, spec.label), spec.task)
        stamps = _values(objs, spec.timestamp)
        kinds = set(map(type, stamps))
        if kinds == {_NONE}:
            times = np.full(len(objs), np.nan)
        elif _NONE in kinds:
            raise _Bad("bad_timestamp", "")   # some with, some without: the careful path
        else:
            times = _timestamps_fast(stamps)
        return LabelBatch(ids, labels, times, ())

    # -- careful path -----------------------------------------------------------------------

    def _careful(
        self,
        values: Sequence[bytes],
        topic: str | None,
        partition: int | None,
        offsets: Sequence[int] | None,
        skip_blank: bool,
    ) -> LabelBatch:
        good, _, dead, _ = each_event(values, self._one, topic, partition, offsets, skip_blank, STAGE)
        return LabelBatch(
            [g[0] for g in good],
            np.array([g[1] for g in good], dtype=self.label_dtype),
            np.array([g[2] for g in good], dtype=np.float64),
            tuple(dead),
        )

    def _one(self, value: bytes) -> tuple:
        spec = self.spec
        if event_size(value) > spec.max_event_bytes:
            raise _Bad("too_large", f"label event is {event_size(value)} bytes, the limit is {spec.max_event_bytes}")
        obj = parse_object(value, self._typed)
        event_id = _get(obj, spec.event_id)
        if event_id is None:
            raise _Bad("missing_field", f"{_dotted(spec.event_id)} is missing")
        if type(event_id) not in _CLASS_TYPES:
            raise _Bad("wrong_type", f"{_dotted(spec.event_id)} must be a string or an integer")
        raw = _get(obj, spec.label)
        if raw is None:
            raise _Bad("missing_field", f"{_dotted(spec.label)} is missing")
        label = _label_one(raw, spec.task, _dotted(spec.label))
        stamp = _get(obj, spec.timestamp)
        ts = math.nan if stamp is None else _timestamp_one(stamp, spec.timestamp)
        return event_id, label, ts


def _concat(parts: list[LabelBatch]) -> LabelBatch:
    return LabelBatch(list(chain.from_iterable(p.event_ids for p in parts)),
                      np.concatenate([p.labels for p in parts]),
                      np.concatenate([p.timestamps for p in parts]), ())


def _values(objs: list, path: tuple[str, ...]) -> list:
    """Fast path: the value at ``path`` of every event (None where the last key is missing);
    a missing or non-object parent raises, which sends the batch to the careful path."""
    level = objs
    for key in path[:-1]:
        level = list(map(dict.__getitem__, level, repeat(key)))
    return list(map(dict.get, level, repeat(path[-1])))


def _label_column(values: list, task: str) -> np.ndarray:
    """Fast path: the whole column, or ``_Bad`` at the first surprise (None included)."""
    kinds = set(map(type, values))
    if task == "classification":
        if not kinds <= _CLASS_TYPES | {float, bool}:
            raise _Bad("wrong_type", "")
        if not kinds.isdisjoint((int, float, bool)):
            values = [_label_one(v, task, "") for v in values]   # as the careful path: _Bad if unusable
        return np.array(values, dtype=object)
    if not kinds <= (_BINARY_TYPES if task == "binary" else _NUMBER_TYPES):
        raise _Bad("wrong_type", "")
    out = np.array(values, dtype=np.float64)
    if task == "binary" and not np.all((out == 0.0) | (out == 1.0)):
        raise _Bad("bad_label", "")
    if not np.all(np.isfinite(out)):
        raise _Bad("non_finite", "")
    return out


def _label_one(value, task: str, name: str) -> float | str:
    kind = type(value)
    if task == "classification":
        if kind is str:
            return value
        if kind is int:
            return str(value)
        if kind is bool:
            return "true" if value else "false"
        if kind is float and (text := whole_number_text(value)) is not None:
            return text
        what = f"{value!r}" if kind is float else kind.__name__
        raise _Bad("wrong_type", f"{name} must be a class name (a string, an integer or a boolean), got {what}")
    if task == "binary":
        if kind not in _BINARY_TYPES:
            raise _Bad("wrong_type", f"{name} must be 0, 1, true or false, got {kind.__name__}")
        if value not in (0, 1):
            raise _Bad("bad_label", f"{name} must be 0, 1, true or false, got {value!r}")
        return float(value)
    if kind not in _NUMBER_TYPES:
        raise _Bad("wrong_type", f"{name} must be a number, got {kind.__name__}")
    return finite_float(value, name)
