"""Mergeable sketch of a block of numeric features over one window.

Per feature: counts over the reference's fine bins (whose outer bins are open-ended), exact
sums and sums of squares, min and max, null and out-of-range counts. Everything is additive
(or a min / max), so ``merge`` is exact and order-free:
``a.merge(b) == NumericSketch.of(layout, rows_a + rows_b)``.

>>> import numpy as np
>>> layout = NumericLayout.from_edges(("x",), (np.array([0.0, 1.0]),))
>>> s = NumericSketch(layout)
>>> s.update(np.array([[-1.0], [0.5], [0.5], [np.nan], [3.0]]))
>>> s.bin_counts(0).tolist(), s.counts.tolist(), s.nulls.tolist()
([1, 2, 1], [4], [1])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .exact_sum import ExactSums
from .state_codec import floats_in, floats_out


@dataclass(frozen=True, eq=False)
class NumericLayout:
    """Which features a block holds and where each one's fine bins sit in the flat counts."""

    names: tuple[str, ...]
    edges: tuple[np.ndarray, ...]
    lower: np.ndarray        # per feature; -inf when unbounded
    upper: np.ndarray        # per feature; +inf when unbounded
    offsets: np.ndarray      # start of feature j's bins in the flat counts; last = total
    # derived from the edges: each feature's first and last edge (a value <= the first is in
    # the lower outer bin, one > the last in the upper), and whether it has a single bin (no
    # edges: that bin is both outer bins)
    first_edge: np.ndarray = field(init=False)
    last_edge: np.ndarray = field(init=False)
    one_bin: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        sizes = np.array([e.size for e in self.edges], dtype=np.int64)
        object.__setattr__(self, "first_edge", np.array([e[0] if e.size else np.inf for e in self.edges]))
        object.__setattr__(self, "last_edge", np.array([e[-1] if e.size else np.inf for e in self.edges]))
        object.__setattr__(self, "one_bin", sizes == 0)

    @classmethod
    def from_edges(
        cls,
        names: tuple[str, ...],
        edges: tuple[np.ndarray, ...],
        lower: tuple[float | None, ...] | None = None,
        upper: tuple[float | None, ...] | None = None,
    ) -> NumericLayout:
        k = len(names)
        lo = np.array([-np.inf if v is None else v for v in (lower or (None,) * k)], dtype=np.float64)
        hi = np.array([np.inf if v is None else v for v in (upper or (None,) * k)], dtype=np.float64)
        sizes = np.array([e.size + 1 for e in edges], dtype=np.int64)
        offsets = np.concatenate(([0], np.cumsum(sizes)))
        return cls(tuple(names), tuple(np.asarray(e, dtype=np.float64) for e in edges), lo, hi, offsets)

    @property
    def k(self) -> int:
        return len(self.names)

    def bin_counts(self, x: np.ndarray, valid_n: np.ndarray) -> np.ndarray:
        """Flat fine-bin counts of the rows of ``x`` (NaN ignored; ``valid_n``: non-NaN values
        per column). Value v of feature j is in bin b when ``edges[b-1] < v <= edges[b]``.

        Each column is sorted once and the edges are looked up in it (k small searches of
        ~200 edges) rather than every value in the edges: 4-5x faster for 1,000-5,000 rows.
        """
        xs = x.T.copy()                           # a copy, always: sorted in place next
        xs.sort(axis=1)                           # NaN sorts last: after every finite edge
        at_most = np.empty(int(self.offsets[-1]), dtype=np.int64)   # values <= each bin's top
        for j, edges in enumerate(self.edges):
            a, b = self.offsets[j], self.offsets[j + 1]
            at_most[a : b - 1] = np.searchsorted(xs[j], edges, side="right")
            at_most[b - 1] = valid_n[j]
        below = np.empty_like(at_most)            # values below each bin's bottom
        below[1:] = at_most[:-1]
        below[self.offsets[:-1]] = 0
        return at_most - below

    def compatible(self, other: object) -> bool:
        return self is other or (
            isinstance(other, NumericLayout)
            and self.names == other.names
            and all(np.array_equal(a, b) for a, b in zip(self.edges, other.edges, strict=True))
            and np.array_equal(self.lower, other.lower)
            and np.array_equal(self.upper, other.upper)
        )


class NumericSketch:
    """Window state of the numeric features of a layout; see the module docstring."""

    __slots__ = ("_bins", "_counts", "_layout", "_max", "_min", "_nulls", "_oor", "_sums")

    def __init__(self, layout: NumericLayout) -> None:
        k = layout.k
        self._layout = layout
        self._bins = np.zeros(int(layout.offsets[-1]), dtype=np.int64)
        self._counts = np.zeros(k, dtype=np.int64)
        self._nulls = np.zeros(k, dtype=np.int64)
        self._oor = np.zeros(k, dtype=np.int64)
        self._min = np.full(k, np.inf)
        self._max = np.full(k, -np.inf)
        # exact sums of each feature's values (columns 0..k-1), then of the values in its two
        # open outer bins (columns k+2j, k+2j+1): the Wasserstein distance needs where the
        # tails sit, not only how much mass they hold
        self._sums = ExactSums(3 * k)

    @property
    def layout(self) -> NumericLayout:
        return self._layout

    @property
    def counts(self) -> np.ndarray:
        """Non-null values per feature."""
        return self._counts.copy()

    @property
    def nulls(self) -> np.ndarray:
        return self._nulls.copy()

    @property
    def out_of_range(self) -> np.ndarray:
        return self._oor.copy()

    @property
    def minimum(self) -> np.ndarray:
        return self._min.copy()

    @property
    def maximum(self) -> np.ndarray:
        return self._max.copy()

    def bin_counts(self, j: int) -> np.ndarray:
        """Counts of feature ``j`` over its fine bins."""
        off = self._layout.offsets
        return self._bins[off[j] : off[j + 1]].copy()

    def mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        k = self._layout.k
        means, stds = self._sums.mean_std(np.concatenate([self._counts, np.zeros(2 * k, dtype=np.int64)]))
        return means[:k], stds[:k]

    @property
    def flat_bins(self) -> np.ndarray:
        """Fine-bin counts of every feature, laid out by ``layout.offsets``."""
        return self._bins.copy()

    def all_tail_means(self) -> np.ndarray:
        """``(k, 2)``: mean of each feature's values in its lower and upper outer bins."""
        off = self._layout.offsets
        counts = np.stack([self._bins[off[:-1]], self._bins[off[1:] - 1]], axis=1).astype(np.float64)
        sums = self._sums.sums()[self._layout.k:].reshape(-1, 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, sums / np.where(counts > 0, counts, 1.0), np.nan)

    def tail_means(self, j: int) -> tuple[float, float]:
        """Mean of feature ``j``'s values in its lower and upper outer bins (NaN if empty)."""
        bins = self.bin_counts(j)
        k = self._layout.k
        sums = self._sums.sums()[k + 2 * j : k + 2 * j + 2]
        counts = (bins[0], bins[-1])
        return tuple(float(t / c) if c else float("nan") for t, c in zip(sums, counts, strict=True))  # type: ignore[return-value]

    def update(self, x: np.ndarray) -> None:
        """Add rows of ``x`` (shape ``(n, k)``, columns in layout order, NaN = null; every
        other value finite: the decoder sends infinities to the dead letters)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self._layout.k:
            raise ValueError(f"expected an (n, {self._layout.k}) array, got shape {x.shape}")
        if np.isinf(x).any():
            raise ValueError("numeric values must be finite or NaN (null)")
        if x.shape[0] == 0:
            return
        null = np.isnan(x)
        nulls = null.sum(axis=0)
        valid_n = x.shape[0] - nulls
        self._nulls += nulls
        self._counts += valid_n
        self._oor += ((x < self._layout.lower) | (x > self._layout.upper)).sum(axis=0)
        # + 0.0 turns -0.0 into 0.0: fmin / fmax of 0.0 and -0.0 depend on argument order,
        # which would make merge's state depend on the order of its operands
        np.fmin(self._min, np.fmin.reduce(x, axis=0) + 0.0, out=self._min)
        np.fmax(self._max, np.fmax.reduce(x, axis=0) + 0.0, out=self._max)
        k = self._layout.k
        self._bins += self._layout.bin_counts(x, valid_n)
        # values in the open outer bins also go to their feature's two tail sums
        lo_rows, lo_cols = np.nonzero(x <= self._layout.first_edge)
        up_rows, up_cols = np.nonzero((x > self._layout.last_edge) | (self._layout.one_bin & ~null))
        grid = np.broadcast_to(np.arange(k, dtype=np.int64), x.shape).ravel()
        self._sums.add_values(np.concatenate([x.ravel(), x[lo_rows, lo_cols], x[up_rows, up_cols]]),
                              np.concatenate([grid, k + 2 * lo_cols, k + 2 * up_cols + 1]))

    def merge(self, other: NumericSketch) -> NumericSketch:
        """A new sketch of both windows' values; neither operand changes."""
        if not isinstance(other, NumericSketch) or not self._layout.compatible(other._layout):
            raise ValueError("cannot merge numeric sketches built on different reference bins")
        out = NumericSketch(self._layout)
        out._bins = self._bins + other._bins
        out._counts = self._counts + other._counts
        out._nulls = self._nulls + other._nulls
        out._oor = self._oor + other._oor
        out._min = np.fmin(self._min, other._min)
        out._max = np.fmax(self._max, other._max)
        out._sums = self._sums.merge(other._sums)
        return out

    def to_state(self) -> dict:
        return {
            "bins": self._bins.tolist(),
            "counts": self._counts.tolist(),
            "nulls": self._nulls.tolist(),
            "oor": self._oor.tolist(),
            "min": floats_out(self._min),
            "max": floats_out(self._max),
            "sums": self._sums.to_state(),
        }

    @classmethod
    def from_state(cls, layout: NumericLayout, state: dict) -> NumericSketch:
        out = cls(layout)
        bins = np.asarray(state["bins"], dtype=np.int64)
        if bins.shape != out._bins.shape:
            raise ValueError("snapshot does not match the reference bins of this monitor")
        out._bins = bins
        out._counts = np.asarray(state["counts"], dtype=np.int64)
        out._nulls = np.asarray(state["nulls"], dtype=np.int64)
        out._oor = np.asarray(state["oor"], dtype=np.int64)
        out._min = floats_in(state["min"])
        out._max = floats_in(state["max"])
        out._sums = ExactSums.from_state(state["sums"])
        if out._sums.k != 3 * layout.k:
            raise ValueError("snapshot does not match the numeric features of this monitor")
        return out

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, NumericSketch)
            and self._layout.compatible(other._layout)
            and np.array_equal(self._bins, other._bins)
            and np.array_equal(self._counts, other._counts)
            and np.array_equal(self._nulls, other._nulls)
            and np.array_equal(self._oor, other._oor)
            and np.array_equal(self._min, other._min)
            and np.array_equal(self._max, other._max)
            and self._sums == other._sums
        )

    __hash__ = None  # type: ignore[assignment]
