"""The KS p-value of a numeric feature whose reference sits on a few levels (counts, ratings,
0/1 flags).

Kolmogorov's law, which the continuous features use, is that of the supremum of a Brownian
bridge over all of [0, 1]; on data with a few levels the empirical CDFs can only part at the
levels, so that law overstates the p-value many times over: a 0/1 flag whose share of ones
went from 1% to 5% in a window of 1,000 got p = 0.09 (a Fisher exact test: 3.5e-20), and no
level of drift flagged it. The limit law there is the supremum of the bridge at the reference
CDF's steps ``c_1 < ... < c_k`` alone, ``max_i |B(c_i)|``, which this module simulates once
per feature and set of tested steps (it does not depend on the window size otherwise) and
reads ``sqrt(n_eff) * D`` against.

The normal limit at a step needs values on both sides of it: only the steps where the
window and the reference both expect at least ``MIN_EXPECTED`` values below and above it
(``n_eff * min(c, 1 - c) >= 5``) are tested, the statistic taken at those steps alone; with
none such (a rare level in a small window) the caller keeps the Kolmogorov p-value, which is
conservative there. The gap at each step is taken less Yates' continuity correction (the
counts there are binomial, skewed where few are expected). The judge takes the smaller of this
p-value and Kolmogorov's over every fine edge, which alone sees window values between the
reference's levels (where the CDFs part inside an empty bin, not at a step); that one being
very conservative on such data, the level of the pair stays that of this test.

>>> import numpy as np
>>> ks = DiscreteKS(np.array([0.0, 0.99, 0.0, 0.01, 0.0]), m=20_000)     # a 0/1 flag, 1% ones
>>> round(ks.pvalue(np.array([0, 990, 0, 10, 0])), 2)                    # 1% ones: nothing
1.0
>>> ks.pvalue(np.array([0, 950, 0, 50, 0])) < 1e-4                        # 5% ones
True
>>> ks.pvalue(np.array([0, 99, 0, 1, 0])) is None                         # 100 values: too few
True
"""

from __future__ import annotations

import numpy as np
from scipy.special import kolmogorov

from .calibration import SIM_DRAWS, simulated_pvalue
from .statistics import n_effective

# Features with at most this many levels (fine bins holding reference values) get the law of
# their levels; more levels are near continuous data, where Kolmogorov's law is close, and the
# simulated law would cost draws x levels.
MAX_LEVELS = 50
# Values expected on each side of a step for its normal limit to hold (as for chi-squared cells).
MIN_EXPECTED = 5.0
# Simulated laws kept per feature (one per set of tested steps, which changes with the window
# size only near MIN_EXPECTED); each is SIM_DRAWS float32 values, 80 kB, so a monitor of many
# such features stays within its memory budget.
NULLS_PER_FEATURE = 2


class DiscreteKS:
    """The KS test of one feature against its reference's fine-bin shares ``probs`` (``m``
    values), for windows given as counts over the same fine bins."""

    def __init__(self, probs: np.ndarray, m: int) -> None:
        probs = np.asarray(probs, dtype=np.float64)
        self._m = m
        # the reference CDF at the right end of each bin holding reference values (but the last)
        ends = np.flatnonzero(probs > 0)[:-1]
        self._ends = ends
        self._cdf = np.cumsum(probs)[ends]
        self._side = np.minimum(self._cdf, 1.0 - self._cdf)    # reference share on a step's far side
        self._nulls: dict[bytes, np.ndarray] = {}

    @staticmethod
    def applies(probs: np.ndarray) -> bool:
        """Whether a reference's fine-bin shares sit on few enough levels (two at least)."""
        return 2 <= int(np.count_nonzero(np.asarray(probs) > 0)) <= MAX_LEVELS

    def pvalue(self, counts: np.ndarray) -> float | None:
        """The p-value of a window's fine-bin ``counts``; None where no step may be tested."""
        n = float(np.sum(counts))
        if n <= 0:
            return None
        n_eff = n_effective(n, self._m)
        tested = self._side >= MIN_EXPECTED / n_eff
        if not tested.any():
            return None
        ends = self._ends[tested]
        gap = np.abs(np.cumsum(counts)[ends] / n - self._cdf[tested]).max()
        # Yates' continuity correction, half a value of each sample: the counts at a step are
        # binomial, skewed where few are expected, and the normal limit alone then puts too
        # little mass in their far tail (measured: 6 flags of 4 Poisson features in 2,000
        # stationary windows of 100 events, where BH's level allows about 3)
        stat = float(np.sqrt(n_eff) * max(gap - 0.5 / n - 0.5 / self._m, 0.0))
        key = tested.tobytes()
        null = self._nulls.get(key)
        if null is None:
            if len(self._nulls) >= NULLS_PER_FEATURE:
                self._nulls.pop(next(iter(self._nulls)))
            null = self._nulls[key] = bridge_maxima(self._cdf[tested]).astype(np.float32)
        return simulated_pvalue(stat, null, lambda: float(kolmogorov(stat)))


def bridge_maxima(steps: np.ndarray, draws: int = SIM_DRAWS) -> np.ndarray:
    """Sorted draws of ``max_i |B(c_i)|`` for a Brownian bridge ``B`` and points ``0 < c_1 < ...
    < c_k < 1`` (``B(c) = W(c) - c W(1)``, ``W`` from independent Gaussian increments); seeded
    by the points, so a feature always gets the same law."""
    c = np.asarray(steps, dtype=np.float64)
    rng = np.random.default_rng([c.size, *np.round(c * 1e9).astype(np.int64).tolist(), 20261127])
    widths = np.diff(np.concatenate(([0.0], c, [1.0])))
    w = np.cumsum(rng.standard_normal((draws, widths.size)) * np.sqrt(widths), axis=1)
    return np.sort(np.abs(w[:, :-1] - c * w[:, -1:]).max(axis=1))
