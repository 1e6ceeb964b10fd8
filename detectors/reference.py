"""Reference profiles: what "no drift" looks like for each feature, built from training data.

A profile keeps, per numeric feature, fine quantile edges (for KS and Wasserstein) with the
reference's share in every fine bin, the coarse quantile bins used by PSI and JS (a subset of
the fine edges, so window counts over fine bins aggregate exactly into coarse bins), moments
and the null / out-of-range rates; per categorical feature the most frequent categories with
their shares plus one bucket for everything else.

>>> import numpy as np
>>> rng = np.random.default_rng(7)
>>> ref = NumericReference.build(rng.normal(size=10_000))
>>> ref.coarse_starts.size, round(float(ref.fine_probs.sum()), 6)
(10, 1.0)
>>> cat = CategoricalReference.build(np.array(["a", "b", "a", None], dtype=object))
>>> cat.categories, cat.probs.round(6).tolist(), round(cat.null_rate, 2)
(('a', 'b'), [0.666667, 0.333333, 0.0], 0.25)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .performance_baseline import PerformanceBaseline

# 200 fine bins: each holds at most ~0.5% of a continuous reference, which bounds the error of
# the binned KS statistic to 0.005 (DESIGN 3.4 asks for <= 0.01).
FINE_BINS = 200
# 10 coarse bins for PSI / JS: the industry convention the PSI rules of thumb were made for.
COARSE_BINS = 10
# Categories beyond this many (by frequency) fold into the "other" bucket: bounds sketch size.
MAX_CATEGORIES = 1000
# Null and out-of-range rates are stored rounded: they are read by people, not summed.
_DECIMALS = 6


@dataclass(frozen=True, eq=False)
class NumericReference:
    """Reference of one numeric feature.

    ``fine_edges`` are the inner edges of the fine bins: bin ``i`` is ``(edges[i-1], edges[i]]``
    with the first and last bins open-ended. ``coarse_starts`` are the fine-bin indices where
    each coarse bin starts (for :func:`numpy.add.reduceat`).
    """

    count: int
    null_rate: float
    out_of_range_rate: float
    mean: float
    std: float
    min: float
    max: float
    fine_edges: np.ndarray
    fine_probs: np.ndarray
    coarse_starts: np.ndarray
    tail_means: tuple[float, float] = (float("nan"), float("nan"))   # means in the outer bins
    # inner fine bins whose reference values all sit on the bin's right edge (an atom of
    # discrete data): the CDFs step there instead of rising across the bin (Wasserstein)
    atom_bins: tuple[int, ...] = ()
    # the configured (min, max) that out_of_range_rate was measured under (None: unbounded);
    # None for references built before they were recorded
    bounds: tuple[float | None, float | None] | None = None

    @property
    def n_fine(self) -> int:
        return int(self.fine_edges.size + 1)

    @property
    def coarse_probs(self) -> np.ndarray:
        return np.add.reduceat(self.fine_probs, self.coarse_starts)

    @classmethod
    def build(
        cls,
        values: np.ndarray,
        *,
        lower: float | None = None,
        upper: float | None = None,
        fine_bins: int = FINE_BINS,
        coarse_bins: int = COARSE_BINS,
    ) -> NumericReference:
        """Profile ``values`` (float array, NaN = null); ``lower``/``upper`` bound the valid range."""
        values = np.asarray(values, dtype=np.float64)
        if fine_bins % coarse_bins:
            raise ValueError(f"fine_bins ({fine_bins}) must be a multiple of coarse_bins ({coarse_bins})")
        total = values.size
        present = values[~np.isnan(values)]
        m = present.size
        if m < 2:
            raise ValueError(f"a numeric reference needs at least 2 non-null values, got {m}")
        oor = _out_of_range(present, lower, upper)
        bounds = (lower, upper)
        probs = np.arange(1, fine_bins) / fine_bins
        with np.errstate(over="ignore"):
            quantiles = np.quantile(present, probs)
        if not np.isfinite(quantiles).all():   # values near the float limit: interpolation overflowed
            quantiles = _unit_scaled(lambda v: np.quantile(v, probs), present)
        step = fine_bins // coarse_bins
        coarse_values = np.unique(quantiles[step - 1 :: step])
        fine_edges = np.unique(quantiles)
        where, counts, atoms = _bins_and_atoms(present, fine_edges)
        # Discrete data: an atom bin (e, a] holds the reference's value a alone, so a window
        # value between e and a (a level the reference never had: 3 where it had 2 and 5)
        # would count as a. An edge just below each atom (and below the lowest value, when
        # the lower outer bin holds that value alone) gives such values a bin of their own,
        # with no reference share: KS sees them exactly, Wasserstein spreads them over it.
        below = np.nextafter(fine_edges, -np.inf)
        lowest = bool(counts[0] >= 2 and present[where == 0].min() == fine_edges[0])
        split = np.append(lowest, atoms[1:-1]) & (below > np.append(-np.inf, fine_edges[:-1]))
        if split.any():
            fine_edges = np.union1d(fine_edges, below[split])
            where, counts, atoms = _bins_and_atoms(present, fine_edges)
        lower, upper = present[where == 0], present[where == fine_edges.size]
        # Coarse bin j starts right after coarse edge j-1; coarse edges are fine edges too.
        coarse_starts = np.concatenate(([0], np.searchsorted(fine_edges, coarse_values) + 1))
        mean = _scaled(np.mean, present)
        std = _scaled(lambda v: np.std(v, ddof=1), present)
        return cls(
            count=int(m),
            null_rate=round((total - m) / total, _DECIMALS),
            out_of_range_rate=round(int(oor.sum()) / m, _DECIMALS),
            mean=mean,
            std=std if std > 0 else 0.0,
            min=float(present.min()),
            max=float(present.max()),
            fine_edges=fine_edges,
            fine_probs=counts / m,
            coarse_starts=coarse_starts.astype(np.int64),
            tail_means=(_scaled(np.mean, lower) if lower.size else float("nan"),
                        _scaled(np.mean, upper) if upper.size else float("nan")),
            atom_bins=tuple(np.flatnonzero(atoms).tolist()),
            bounds=bounds,
        )


def _bins_and_atoms(present: np.ndarray, fine_edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each value's fine bin, the bins' counts, and which inner bins are atoms (all their
    values on the right edge)."""
    where = np.searchsorted(fine_edges, present, side="left")
    counts = np.bincount(where, minlength=fine_edges.size + 1)
    # an atom needs two values: one value on an edge is what any small continuous sample
    # gives, and such bins keep the linear CDF that is tested on continuous data
    right_edge = np.append(fine_edges, np.inf)[where]       # bin b is (edges[b-1], edges[b]]
    on_edge = np.bincount(where[present == right_edge], minlength=fine_edges.size + 1)
    atoms = (on_edge == counts) & (counts >= 2)
    atoms[[0, -1]] = False                     # the outer bins are placed by their means
    return where, counts, atoms


def _scaled(stat: Callable[[np.ndarray], Any], values: np.ndarray) -> float:
    """``stat`` (a mean or std) of ``values`` scaled into [-1, 1] and scaled back.

    Finite for values near the float limit, whose sums and squares would overflow. The scale
    is a power of two, so scaling is exact (bar the underflow of values 2**-1074 times smaller
    than the largest): a scale such as max |x| rounds every value, which costs the std a
    relative ~eps * |mean| / std (1e-10 on epoch seconds, where numpy keeps ~1e-16).
    """
    return float(_unit_scaled(stat, values))


def _unit_scaled(stat: Callable[[np.ndarray], Any], values: np.ndarray) -> np.ndarray:
    """``stat`` of ``values`` computed on them scaled into [-1, 1] by a power of two, and
    scaled back (see ``_scaled``)."""
    exponent = math.frexp(float(np.max(np.abs(values))))[1]
    return np.ldexp(stat(np.ldexp(values, -exponent)), exponent)


def _out_of_range(values: np.ndarray, lower: float | None, upper: float | None) -> np.ndarray:
    mask = np.zeros(values.shape, dtype=bool)
    if lower is not None:
        mask |= values < lower
    if upper is not None:
        mask |= values > upper
    return mask


@dataclass(frozen=True, eq=False)
class CategoricalReference:
    """Reference of one categorical feature: shares of ``categories`` then of "other"."""

    count: int
    null_rate: float
    categories: tuple[str, ...]
    probs: np.ndarray

    @property
    def n_buckets(self) -> int:
        return len(self.categories) + 1

    @classmethod
    def build(cls, values: np.ndarray, *, max_categories: int = MAX_CATEGORIES) -> CategoricalReference:
        """Profile ``values`` (object array of str, ``None`` = null)."""
        values = np.asarray(values, dtype=object)
        total = values.size
        present = values[values != None]  # noqa: E711 - elementwise comparison
        m = present.size
        if m < 1:
            raise ValueError("a categorical reference needs at least 1 non-null value")
        cats, counts = np.unique(present.astype(str), return_counts=True)
        order = np.lexsort((cats, -counts))[:max_categories]
        kept = counts[order]
        probs = np.append(kept, m - kept.sum()) / m
        return cls(
            count=int(m),
            null_rate=round((total - m) / total, _DECIMALS),
            categories=tuple(str(c) for c in cats[order]),
            probs=probs,
        )


@dataclass(frozen=True, eq=False)
class ReferenceProfile:
    """All feature references of one monitor, plus the prediction's, and the model's
    performance on the reference's labelled rows (when it had labels)."""

    numeric: dict[str, NumericReference]
    categorical: dict[str, CategoricalReference]
    prediction: NumericReference | CategoricalReference | None = None
    format_version: int = 1
    performance: PerformanceBaseline | None = None
