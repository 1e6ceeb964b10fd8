"""Significance calibrated for the window's and the reference's sample sizes (DESIGN 3.6).

- numeric features: the two-sample KS test through its asymptotic law with the effective size
  ``n_eff = n m / (n + m)``. The asymptotic law is conservative for small samples (the exact
  ``sqrt(n) D_n`` approaches it from below) and for discrete data, and the binned D is never
  above the exact one, so the p-value never understates the evidence against "no drift";
- categorical features: the chi-squared test of homogeneity of the window's counts against the
  reference's (a 2 x K table). Buckets whose expected window count is below
  ``MIN_EXPECTED`` are pooled first, the classic condition for the chi-squared law to hold, so
  small windows are not judged on a poor approximation;
- rates (null, out of range, new category): an exact one-sided binomial test against the
  reference's rate.

>>> round(ks_pvalue(0.0, 100, 1000), 3)
1.0
>>> ks_pvalue(0.3, 1000, 100_000) < 1e-60
True
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binom, chi2, kstwobign

from .statistics import n_effective

# Cochran's rule of thumb for the chi-squared approximation: expected counts of at least 5.
MIN_EXPECTED = 5.0


def ks_pvalue(d: float, n: int, m: int) -> float:
    """P(D >= d) under "same distribution" for window size ``n`` and reference size ``m``."""
    if n <= 0 or m <= 0:
        return 1.0
    return float(kstwobign.sf(np.sqrt(n_effective(n, m)) * d))


def chi2_homogeneity(window_counts: np.ndarray, ref_probs: np.ndarray, m: int) -> tuple[float, int, float]:
    """Chi-squared statistic, degrees of freedom and p-value of window vs reference counts.

    The reference's counts are ``ref_probs * m``. Buckets expected to hold fewer than
    ``MIN_EXPECTED`` window values are pooled into one.
    """
    w = np.asarray(window_counts, dtype=np.float64)
    r = np.asarray(ref_probs, dtype=np.float64) * m
    n = w.sum()
    if n <= 0 or m <= 0:
        return 0.0, 0, 1.0
    small = np.asarray(ref_probs) * n < MIN_EXPECTED
    if small.any():
        w = np.append(w[~small], w[small].sum())
        r = np.append(r[~small], r[small].sum())
    keep = (w + r) > 0
    w, r = w[keep], r[keep]
    df = w.size - 1
    if df < 1:
        return 0.0, 0, 1.0
    stat = float(n * m * np.sum((w / n - r / m) ** 2 / (w + r)))
    return stat, df, float(chi2.sf(stat, df))


def rate_pvalue(k: int, n: int, p0: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p0): how surprising ``k`` hits out of ``n`` are."""
    if n <= 0 or k <= 0:
        return 1.0
    return float(binom.sf(k - 1, n, p0))
