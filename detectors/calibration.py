"""Significance calibrated for the window's and the reference's sample sizes (DESIGN 3.6).

- numeric features: the two-sample KS test through its asymptotic law with the effective size
  ``n_eff = n m / (n + m)``. The asymptotic law is conservative for small samples (the exact
  ``sqrt(n) D_n`` approaches it from below) and for discrete data, and the binned D is never
  above the exact one, so the p-value never understates the evidence against "no drift";
- categorical features: the chi-squared test of homogeneity of the window's counts against the
  reference's (a 2 x K table). Where the chi-squared law is poor (some bucket expects fewer
  than ``MIN_EXPECTED`` window values) the statistic's null distribution is simulated instead:
  ``SIM_DRAWS`` seeded pairs of multinomial samples (window and reference sizes) from the
  reference shares, so small windows are judged on their own law, deterministically;
- rates (null, out of range, new category): an exact one-sided binomial test against the
  reference's rate (vectorized in ``drift_judge.DriftJudge``).

>>> round(ks_pvalue(0.0, 100, 1000), 3)
1.0
>>> ks_pvalue(0.3, 1000, 100_000) < 1e-60
True
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import chdtrc, kolmogorov

from .statistics import n_effective

# Cochran's rule of thumb for the chi-squared approximation: expected counts of at least 5.
MIN_EXPECTED = 5.0
# Simulated null draws: p-values resolve down to 1/20001 = 5e-5, below the Benjamini-Hochberg
# threshold q/k of a window with up to 200 features at q = 0.01.
SIM_DRAWS = 20_000
# Above this many buckets simulation gets slow (draws x buckets); such features pool their
# rare buckets into one instead, the classic remedy, and use the asymptotic law.
SIM_MAX_BUCKETS = 100


def ks_pvalue(d: float, n: int, m: int) -> float:
    """P(D >= d) under "same distribution" for window size ``n`` and reference size ``m``."""
    if n <= 0 or m <= 0:
        return 1.0
    return float(kolmogorov(np.sqrt(n_effective(n, m)) * d))   # kstwobign's survival function


def chi2_statistic(w: np.ndarray, r: np.ndarray, n: float, m: float) -> np.ndarray:
    """Homogeneity statistic of window counts ``w`` (size n) vs reference counts ``r`` (size m)
    along the last axis; empty buckets (0 in both) add nothing."""
    both = w + r
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(both > 0, (w / n - r / m) ** 2 / both, 0.0)
    return n * m * terms.sum(axis=-1)


def chi2_homogeneity(window_counts: np.ndarray, ref_probs: np.ndarray, m: int) -> tuple[float, int, float]:
    """Chi-squared statistic, degrees of freedom and asymptotic p-value of window vs
    reference counts (reference counts = ``ref_probs * m``)."""
    w = np.asarray(window_counts, dtype=np.float64)
    r = np.asarray(ref_probs, dtype=np.float64) * m
    n = w.sum()
    df = int(np.count_nonzero(w + r)) - 1
    if n <= 0 or m <= 0 or df < 1:
        return 0.0, 0, 1.0
    stat = float(chi2_statistic(w, r, n, m))
    return stat, df, float(chdtrc(df, stat))   # chi2(df).sf(stat), without scipy.stats' overhead


def pooled_chi2(window_counts: np.ndarray, ref_probs: np.ndarray, m: int) -> float:
    """Asymptotic p-value after pooling buckets expected to hold fewer than ``MIN_EXPECTED``."""
    small = np.asarray(ref_probs) * window_counts.sum() < MIN_EXPECTED
    w = np.append(window_counts[~small], window_counts[small].sum())
    r = np.append(ref_probs[~small], ref_probs[small].sum())
    return chi2_homogeneity(w, r, m)[2]


def needs_simulation(ref_probs: np.ndarray, n: int) -> bool:
    """True when some bucket the reference uses expects fewer than ``MIN_EXPECTED`` values."""
    used = ref_probs[ref_probs > 0]
    return bool(used.size) and float(used.min()) * n < MIN_EXPECTED


def simulated_null(ref_probs: np.ndarray, n: int, m: int, draws: int = SIM_DRAWS) -> np.ndarray:
    """Sorted chi-squared statistics of ``draws`` window/reference pairs drawn under "no drift".

    Seeded by the sizes, so the same window always gets the same p-value.
    """
    p = np.asarray(ref_probs, dtype=np.float64)
    p = p / p.sum()
    rng = np.random.default_rng([n, m, p.size, 20261126])
    w = rng.multinomial(n, p, size=draws).astype(np.float64)
    r = rng.multinomial(m, p, size=draws).astype(np.float64)
    return np.sort(chi2_statistic(w, r, n, m))


def simulated_pvalue(stat: float, null: np.ndarray, asymptotic: float | Callable[[], float]) -> float:
    """Share of simulated statistics at least ``stat`` (with the usual +1); beyond every
    simulated value, the asymptotic p-value (or what ``asymptotic()`` gives, computed only
    then) capped at the simulation's resolution."""
    above = null.size - int(np.searchsorted(null, stat - 1e-9 * max(stat, 1.0), side="left"))
    if above == 0:
        tail = asymptotic() if callable(asymptotic) else asymptotic
        return min(tail, 1.0 / (null.size + 1))
    return (above + 1) / (null.size + 1)
