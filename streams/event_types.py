"""Typed event layouts for the decoder's fast path: msgspec structs built from a monitor's paths.

msgspec decodes a JSON event straight into a struct that holds only the fields the monitor
reads, checking their types in C as it goes; everything else in the event is skipped without
building Python objects for it. That is what lets the fast path run at about the speed of a
bare ``orjson.loads`` (which builds every value of the event as Python objects).

The layout mirrors the careful path's rules so both paths accept the same events:

- event id: a string or an integer, required;
- timestamp: a string (parsed afterwards like the careful path does) or a number, required;
- model version: a string, an integer (read as its text) or null; features and the numeric prediction: a number or null;
  categorical values and class labels: a string, a boolean, an integer, a float (the decoder
  then takes whole numbers only) or null; missing means null;
- an object on the way to a value (``features``, ``prediction``) may be missing or null.

Anything else (a float where a string belongs, ``true``, a number out of range, a missing id)
makes msgspec raise, and the decoder sends the batch to the careful path, which names the
reason for each event.

>>> import msgspec
>>> t = EventTypes.build({"event_id": ("id",), "timestamp": ("ts",),
...                       "x": ("features", "x")}, {"event_id": "event_id", "timestamp": "timestamp",
...                       "x": "number"})
>>> e = msgspec.json.decode(b'{"id": "a", "ts": 1.5, "features": {"x": 2, "y": [1]}}', type=t.event)
>>> t.slots["x"], t.slots["event_id"], t.objects[("features",)]
((('features',), 0), ((), 0), ((), 2))
>>> msgspec.structs.astuple(e.f3), e.f1     # features' fields, and the event id
((2.0,), 'a')
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import count
from typing import Any

import msgspec

# The type each kind of value may have in an event (JSON null also allowed where noted).
_LEAF_TYPES: dict[str, Any] = {
    "event_id": str | int,
    "timestamp": str | float,
    "timestamp_or_null": str | float | None,     # a label event's: optional
    "version": str | int | None,
    "number": float | None,
    "label": str | bool | int | float | None,     # a float only as a whole number (decode.py)
}
_REQUIRED = frozenset({"event_id", "timestamp"})


class LayoutConflict(ValueError):
    """The configured paths have no typed layout: one is a value another goes through, or a
    key holds what msgspec cannot rename a field to (a double quote, a backslash, a control
    character). Such a monitor's events all take the careful path."""


@dataclass(frozen=True)
class EventTypes:
    """The msgspec struct of a whole event and where each named value sits in it."""

    event: type
    # value name -> (key path of the object holding it, () for the event itself; its position
    # among that object's struct fields): where ``msgspec.structs.astuple`` puts it
    slots: Mapping[str, tuple[tuple[str, ...], int]]
    # key path of each nested object -> (that of its holder, its position there), parents
    # before children
    objects: Mapping[tuple[str, ...], tuple[tuple[str, ...], int]]
    # key path of each nested object -> its struct with every field null (a missing
    # or null object reads as one), or None when it has a required field
    empty: Mapping[tuple[str, ...], Any]

    @classmethod
    def build(cls, paths: Mapping[str, tuple[str, ...]], kinds: Mapping[str, str]) -> EventTypes:
        """``paths``: value name -> keys from the event's root; ``kinds``: value name -> one of
        ``event_id``, ``timestamp``, ``timestamp_or_null``, ``version``, ``number``, ``label``.

        Raises ``LayoutConflict`` when a path runs through another path's value.
        """
        root = _Node(count())   # attribute numbers, unique within this layout
        slots: dict[str, tuple[tuple[str, ...], int]] = {}
        for name, path in paths.items():
            node = root
            for key in path[:-1]:
                node = node.child(key, path)
            node.leaf(path[-1], kinds[name], path)
            slots[name] = (tuple(path[:-1]), list(node.keys).index(path[-1]))
        event = root.struct("Event")
        objects: dict[tuple[str, ...], tuple[tuple[str, ...], int]] = {}
        empty: dict[tuple[str, ...], Any] = {}
        root.walk((), objects, empty)
        return cls(event, slots, objects, empty)


class _Node:
    """One object level of the event: its keys, each a value kind or a nested level."""

    def __init__(self, numbers: Iterator[int]) -> None:
        self._numbers = numbers
        self.attr = f"f{next(numbers)}"
        self.keys: dict[str, _Node | tuple[str, str]] = {}
        self.built: type | None = None

    def child(self, key: str, path: tuple[str, ...]) -> _Node:
        node = self.keys.get(key)
        if node is None:
            node = self.keys[key] = _Node(self._numbers)
        if not isinstance(node, _Node):
            raise LayoutConflict(f"{'.'.join(path)} runs through a value")
        return node

    def leaf(self, key: str, kind: str, path: tuple[str, ...]) -> str:
        if key in self.keys:
            raise LayoutConflict(f"{'.'.join(path)} is used twice or also as an object")
        attr = f"f{next(self._numbers)}"
        self.keys[key] = (attr, kind)
        return attr

    def struct(self, label: str) -> type:
        fields: list[tuple] = []
        rename: dict[str, str] = {}
        for key, value in self.keys.items():
            if isinstance(value, _Node):
                rename[value.attr] = key
                fields.append((value.attr, value.struct(f"{label}_{key}") | None, None))
                continue
            attr, kind = value
            rename[attr] = key
            if kind in _REQUIRED:
                fields.append((attr, _LEAF_TYPES[kind]))
            else:
                fields.append((attr, _LEAF_TYPES[kind], None))
        # kw_only: required fields may follow optional ones; gc=False: these structs hold only
        # scalars and other such structs, never cycles, so the collector need not track them.
        try:
            self.built = msgspec.defstruct(label, fields, rename=rename, kw_only=True, gc=False)
        except ValueError as exc:     # a key msgspec cannot rename a field to
            raise LayoutConflict(str(exc)) from None
        return self.built

    def walk(self, where: tuple[str, ...], objects: dict[tuple[str, ...], tuple[tuple[str, ...], int]],
             empty: dict[tuple[str, ...], Any]) -> None:
        """Record every nested object under this one (key path ``where``), parents first."""
        for i, (key, value) in enumerate(self.keys.items()):
            if isinstance(value, _Node):
                path = (*where, key)
                objects[path] = (where, i)
                empty[path] = value.empty()
                value.walk(path, objects, empty)

    def empty(self) -> Any:
        """This object's struct with every field null; None when a field is required."""
        try:
            return self.built()   # type: ignore[misc]
        except TypeError:
            return None
