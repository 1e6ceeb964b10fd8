"""Mergeable sketch of a block of categorical features over one window.

Per feature: counts over the reference categories, one bucket for values the reference has
not seen, one for nulls, and the names of up to ``MAX_NEW_NAMES`` new categories (the
lexicographically smallest, which keeps ``merge`` exact and order-free).

>>> layout = CategoricalLayout.from_categories(("c",), (("a", "b"),))
>>> s = CategoricalSketch(layout)
>>> s.update([["a", "z", None, "a", "y"]])
>>> s.category_counts(0).tolist(), s.nulls.tolist(), s.new_names(0)
([2, 0, 2], [1], ('y', 'z'))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat

import numpy as np

# Enough names to tell an operator what is new, few enough to keep partials small.
MAX_NEW_NAMES = 20


@dataclass(frozen=True, eq=False)
class CategoricalLayout:
    """Per feature ``j``: slots ``offsets[j] + i`` for category ``i``, then unseen, then null."""

    names: tuple[str, ...]
    categories: tuple[tuple[str, ...], ...]
    offsets: np.ndarray
    lookups: tuple[dict, ...]

    @classmethod
    def from_categories(
        cls, names: tuple[str, ...], categories: tuple[tuple[str, ...], ...]
    ) -> CategoricalLayout:
        sizes = np.array([len(c) + 2 for c in categories], dtype=np.int64)
        offsets = np.concatenate(([0], np.cumsum(sizes)))
        lookups = []
        for off, cats in zip(offsets[:-1].tolist(), categories, strict=True):
            lookup: dict = {c: off + i for i, c in enumerate(cats)}
            lookup[None] = off + len(cats) + 1
            lookups.append(lookup)
        return cls(tuple(names), tuple(tuple(c) for c in categories), offsets, tuple(lookups))

    @property
    def k(self) -> int:
        return len(self.names)

    def compatible(self, other: object) -> bool:
        return self is other or (
            isinstance(other, CategoricalLayout)
            and self.names == other.names
            and self.categories == other.categories
        )


class CategoricalSketch:
    """Window state of the categorical features of a layout; see the module docstring."""

    __slots__ = ("_bins", "_layout", "_new")

    def __init__(self, layout: CategoricalLayout) -> None:
        self._layout = layout
        self._bins = np.zeros(int(layout.offsets[-1]), dtype=np.int64)
        self._new: list[tuple[str, ...]] = [()] * layout.k

    @property
    def layout(self) -> CategoricalLayout:
        return self._layout

    def _slot(self, j: int, back: int) -> int:
        return int(self._layout.offsets[j + 1]) - back

    @property
    def nulls(self) -> np.ndarray:
        return self._bins[self._layout.offsets[1:] - 1].copy()

    @property
    def unseen(self) -> np.ndarray:
        return self._bins[self._layout.offsets[1:] - 2].copy()

    @property
    def counts(self) -> np.ndarray:
        """Non-null values per feature."""
        return np.add.reduceat(self._bins, self._layout.offsets[:-1]) - self.nulls

    def category_counts(self, j: int) -> np.ndarray:
        """Counts of feature ``j`` over the reference categories then the unseen bucket."""
        off = self._layout.offsets
        return self._bins[off[j] : off[j + 1] - 1].copy()

    def new_names(self, j: int) -> tuple[str, ...]:
        return self._new[j]

    def update(self, columns: Sequence[Sequence[str | None]]) -> None:
        """Add values: ``columns[j]`` holds feature ``j``'s values (str, or None for null)."""
        if len(columns) != self._layout.k:
            raise ValueError(f"expected {self._layout.k} columns, got {len(columns)}")
        idx = []
        for j, col in enumerate(columns):
            lookup = self._layout.lookups[j]
            unseen = self._slot(j, 2)
            slots = np.fromiter(map(lookup.get, col, repeat(unseen)), dtype=np.int64, count=len(col))
            idx.append(slots)
            where = np.flatnonzero(slots == unseen)
            if where.size:
                self._new[j] = _smallest(self._new[j], {col[i] for i in where.tolist()})
        if idx:
            self._bins += np.bincount(np.concatenate(idx), minlength=self._bins.size)

    def merge(self, other: CategoricalSketch) -> CategoricalSketch:
        """A new sketch of both windows' values; neither operand changes."""
        if not isinstance(other, CategoricalSketch) or not self._layout.compatible(other._layout):
            raise ValueError("cannot merge categorical sketches built on different reference categories")
        out = CategoricalSketch(self._layout)
        out._bins = self._bins + other._bins
        out._new = [_smallest(a, b) for a, b in zip(self._new, other._new, strict=True)]
        return out

    def to_state(self) -> dict:
        return {"bins": self._bins.tolist(), "new": [list(n) for n in self._new]}

    @classmethod
    def from_state(cls, layout: CategoricalLayout, state: dict) -> CategoricalSketch:
        out = cls(layout)
        bins = np.asarray(state["bins"], dtype=np.int64)
        if bins.shape != out._bins.shape or len(state["new"]) != layout.k:
            raise ValueError("snapshot does not match the reference categories of this monitor")
        out._bins = bins
        out._new = [tuple(n) for n in state["new"]]
        return out

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, CategoricalSketch)
            and self._layout.compatible(other._layout)
            and np.array_equal(self._bins, other._bins)
            and self._new == other._new
        )

    __hash__ = None  # type: ignore[assignment]


def _smallest(kept: tuple[str, ...], more: set[str] | tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(set(kept).union(more))[:MAX_NEW_NAMES])
