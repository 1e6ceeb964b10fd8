"""The statistics of ``statistics.py`` for every numeric feature of a window at once.

Each feature's fine bins sit in one flat array (``NumericLayout.offsets``); per-feature sums,
maxima and cumulative sums become ``reduceat`` and offset arithmetic, so judging a window costs
a handful of numpy calls whatever the number of features. ``tests/detectors`` checks that every
value equals the per-feature function's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import kolmogorov

from .reference import NumericReference
from .statistics import PSI_FLOOR


@dataclass(frozen=True, eq=False)
class NumericBlockReference:
    """The references of a block's features laid out like the block's flat bins."""

    offsets: np.ndarray        # fine bins of feature j: offsets[j]:offsets[j+1]
    probs: np.ndarray          # reference share of every fine bin
    cum_probs: np.ndarray      # reference CDF at the right end of every fine bin (per feature)
    widths: np.ndarray         # width of every fine bin (0 for the two open outer bins)
    atoms: np.ndarray          # bool: the fine bin's reference values all sit on its right edge
    coarse_starts: np.ndarray  # flat fine-bin index where each coarse bin starts
    coarse_feature: np.ndarray  # feature of each coarse bin
    coarse_offsets: np.ndarray  # coarse bins of feature j: coarse_offsets[j]:coarse_offsets[j+1]
    coarse_probs: np.ndarray
    first_edge: np.ndarray     # per feature
    last_edge: np.ndarray
    tail_means: np.ndarray     # (k, 2)
    counts: np.ndarray         # reference sample sizes
    stds: np.ndarray

    @classmethod
    def build(cls, refs: list[NumericReference]) -> NumericBlockReference:
        sizes = np.array([r.n_fine for r in refs], dtype=np.int64)
        offsets = np.concatenate(([0], np.cumsum(sizes)))
        probs = np.concatenate([r.fine_probs for r in refs]) if refs else np.zeros(0)
        widths = np.concatenate([_widths(r) for r in refs]) if refs else np.zeros(0)
        coarse_starts = np.concatenate([r.coarse_starts + off for r, off in zip(refs, offsets, strict=False)]) \
            if refs else np.zeros(0, dtype=np.int64)
        csizes = np.array([r.coarse_starts.size for r in refs], dtype=np.int64)
        coarse_offsets = np.concatenate(([0], np.cumsum(csizes)))
        coarse_probs = np.add.reduceat(probs, coarse_starts) if refs else np.zeros(0)
        return cls(
            offsets=offsets,
            probs=probs,
            cum_probs=_cumsum_per_feature(probs, offsets),
            widths=widths,
            atoms=np.concatenate([_atoms(r) for r in refs]) if refs else np.zeros(0, dtype=bool),
            coarse_starts=coarse_starts,
            coarse_feature=np.repeat(np.arange(len(refs)), csizes),
            coarse_offsets=coarse_offsets,
            coarse_probs=coarse_probs,
            first_edge=np.array([r.fine_edges[0] if r.fine_edges.size else np.nan for r in refs]),
            last_edge=np.array([r.fine_edges[-1] if r.fine_edges.size else np.nan for r in refs]),
            tail_means=np.array([r.tail_means for r in refs], dtype=np.float64).reshape(-1, 2),
            counts=np.array([r.count for r in refs], dtype=np.int64),
            stds=np.array([r.std for r in refs], dtype=np.float64),
        )


@dataclass(frozen=True, eq=False)
class NumericBlockStats:
    """Per feature (arrays of length k; NaN where a feature had no values)."""

    n: np.ndarray
    psi: np.ndarray
    js: np.ndarray
    ks: np.ndarray
    wasserstein: np.ndarray
    p_value: np.ndarray


def _widths(r: NumericReference) -> np.ndarray:
    """Width of each fine bin; the open outer bins (and a single-bin reference) get 0."""
    if r.fine_edges.size == 0:
        return np.zeros(1)
    return np.concatenate(([0.0], np.diff(r.fine_edges), [0.0]))


def _atoms(r: NumericReference) -> np.ndarray:
    out = np.zeros(r.n_fine, dtype=bool)
    out[list(r.atom_bins)] = True
    return out


def _cumsum_per_feature(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    if values.size == 0:
        return values.copy()
    total = np.cumsum(values)
    before = np.concatenate(([0.0], total))[offsets[:-1]]
    return total - np.repeat(before, np.diff(offsets))


def _per_feature(values: np.ndarray, starts: np.ndarray, ufunc=np.add) -> np.ndarray:
    return ufunc.reduceat(values, starts) if values.size else np.zeros(0)


def block_stats(ref: NumericBlockReference, bins: np.ndarray, tails: np.ndarray) -> NumericBlockStats:
    """``bins``: the block's flat fine-bin counts; ``tails``: (k, 2) window means of the values
    in each feature's lower and upper outer bins (NaN when empty)."""
    k = ref.offsets.size - 1
    starts = ref.offsets[:-1]
    sizes = np.diff(ref.offsets)
    n = _per_feature(bins.astype(np.float64), starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = bins / np.repeat(n, sizes)
    w = np.where(np.isfinite(w), w, 0.0)

    # KS: largest CDF gap at the inner edges (the last bin's right end is 1 for both)
    gap = _cumsum_per_feature(w, ref.offsets) - ref.cum_probs
    inner = np.ones(bins.size, dtype=bool)
    inner[ref.offsets[1:] - 1] = False
    ks = _per_feature(np.where(inner, np.abs(gap), 0.0), starts, np.maximum)

    # PSI and JS over the coarse bins
    cw = np.add.reduceat(w, ref.coarse_starts) if w.size else np.zeros(0)
    cr = ref.coarse_probs
    c, r = np.maximum(cw, PSI_FLOOR), np.maximum(cr, PSI_FLOOR)
    cstarts = ref.coarse_offsets[:-1]
    psi = _per_feature((c - r) * np.log(c / r), cstarts)
    mid = (cw + cr) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        kl_w = np.where(cw > 0, cw * np.log2(cw / mid), 0.0)
        kl_r = np.where(cr > 0, cr * np.log2(cr / mid), 0.0)
    js = np.sqrt(np.maximum(_per_feature(kl_w + kl_r, cstarts) / 2, 0.0))

    # Wasserstein: inner bins with linear CDFs (atoms: a step at the right edge, so the gap at
    # the left edge holds across the bin), outer bins placed by their means
    d_left = np.concatenate(([0.0], gap[:-1]))      # gap at each bin's left edge
    d_left[starts] = 0.0
    d0, d1 = d_left, gap
    a0, a1 = np.abs(d0), np.abs(d1)
    with np.errstate(invalid="ignore", divide="ignore"):
        crossing = np.where(a0 + a1 > 0, (d0 * d0 + d1 * d1) / (2 * (a0 + a1)), 0.0)
    area = np.where(ref.atoms, a0, np.where(d0 * d1 >= 0, (a0 + a1) / 2, crossing)) * ref.widths
    inner_area = _per_feature(area, starts)
    first, last = starts, ref.offsets[1:] - 1
    lower = _tail(w[first], tails[:, 0], ref.probs[first], ref.tail_means[:, 0], ref.first_edge, -1.0)
    upper = _tail(w[last], tails[:, 1], ref.probs[last], ref.tail_means[:, 1], ref.last_edge, 1.0)
    # over: values near the float limit give a distance beyond it, which reads as not finite
    # (the judge reports no effect for it) rather than warning on every window
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        wasserstein = np.where((ref.stds > 0) & (sizes > 1), (inner_area + lower + upper) / ref.stds, np.nan)

    n_eff = n * ref.counts / (n + ref.counts)
    p = kolmogorov(np.sqrt(n_eff) * ks)   # the survival function of kstwobign
    empty = n == 0
    for arr in (psi, js, ks, wasserstein, p):
        arr[empty] = np.nan
    return NumericBlockStats(n.astype(np.int64) if k else n, psi, js, ks, wasserstein, p)


def _tail(pw, mw, pr, mr, edge, sign: float) -> np.ndarray:
    """|p_w depth(m_w) - p_r depth(m_r)| with depth = (mean - edge) * sign, empty sides = 0."""
    with np.errstate(invalid="ignore"):
        w = np.where(pw > 0, pw * (mw - edge) * sign, 0.0)
        r = np.where(pr > 0, pr * (mr - edge) * sign, 0.0)
    return np.abs(w - r)
