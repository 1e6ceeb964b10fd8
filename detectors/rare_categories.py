"""The buckets a categorical feature is tested on: the reference's rare categories pooled.

A categorical reference is a sample: its categories, and their shares, come from the training
rows it was built from. Testing a window against those shares as if the list had been fixed in
advance is biased wherever the sample is thin. A category seen once in 20,000 rows is, on
average, rarer than 1 in 20,000 (it was listed *because* it turned up), and the categories the
sample missed, or that fell beyond the reference's 1,000 kept ones, are more common than their
zero share or the "other" share says. On stationary data with hundreds of categories most of
them rare, the homogeneity test then flags most windows (measured: 100% of windows of 10,000
events, 2,000 Zipf-distributed categories, reference of 20,000 rows).

So the test pools every category the reference saw fewer than ``RARE_COUNT`` times together
with the reference's "other" share and the window's unseen values, into one bucket. Which
categories are pooled depends on the reference counts only, so the window's share of the pool
is a fixed target, and the reference's share of it is estimated without that bias by the
Good-Turing argument: with Poisson counts, the expected probability mass of the categories
seen fewer than ``t`` times is the expected share of the rows whose category was seen at most
``t`` times (``E[X 1{X <= t}] = lambda P(X < t)``). The unpooled categories share the rest,
in proportion to their counts. When the reference dropped categories beyond its kept ones, the
threshold rises above the smallest kept count, so that every dropped category (seen at most
that often) is in the pool too.

>>> import numpy as np
>>> b = pool_rare(np.array([0.5, 0.3, 0.19, 0.0095, 0.0005, 0.0]), 2000)   # 1000, 600, 380, 19, 1
>>> b.rare.tolist(), b.probs.round(4).tolist()
([False, False, False, True, True, True], [0.5, 0.3, 0.19, 0.01])
>>> b.counts(np.array([480, 310, 200, 5, 0, 10])).tolist()   # the pool: the two rare and the unseen
[480, 310, 200, 15]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Categories the reference saw fewer times than this are tested as one pooled bucket. Below
# about 10 the reference share of a single category is mostly noise and selection; the
# categories just above the threshold keep a little of that selection bias (the measured false
# alarm rates are in tests/detectors/test_rare_categories.py), which a higher threshold leaves
# to fewer categories at the cost of power on categories this rare.
RARE_COUNT = 20


@dataclass(frozen=True, eq=False)
class PooledBuckets:
    """Which of a reference's buckets (its categories, then "other" / unseen last) are pooled,
    and the reference shares of the tested buckets (the unpooled categories, then the pool)."""

    rare: np.ndarray     # bool, one per reference bucket; the last ("other" / unseen) always True
    probs: np.ndarray    # shares of the tested buckets, summing to 1

    def counts(self, window_counts: np.ndarray) -> np.ndarray:
        """A window's counts over the reference buckets, laid out as the tested buckets."""
        w = np.asarray(window_counts)
        return np.append(w[~self.rare], w[self.rare].sum())


def unseen_share(ref_probs: np.ndarray, m: int) -> float:
    """The share of a stationary stream's values in no category the reference kept: its
    "other" share plus, by Good-Turing, the share of the categories it never saw, which is
    about that of the categories it saw once. The baseline of the ``new_category_rate`` rule
    (a long tail otherwise raised it in every window).

    >>> unseen_share(np.array([0.5, 0.49, 0.005, 0.005, 0.0]), 200)    # two categories seen once
    0.01
    """
    counts = np.rint(np.asarray(ref_probs, dtype=np.float64) * m)
    return float(min(1.0, (counts[-1] + np.count_nonzero(counts[:-1] == 1)) / m)) if m > 0 else 0.0


def pool_rare(ref_probs: np.ndarray, m: int, rare_count: int = RARE_COUNT) -> PooledBuckets:
    """The tested buckets of a reference with shares ``ref_probs`` (categories, then "other")
    of ``m`` values."""
    counts = np.rint(np.asarray(ref_probs, dtype=np.float64) * m)
    cats, other = counts[:-1], float(counts[-1])
    threshold = float(rare_count)
    if other > 0 and cats.size:
        threshold = max(threshold, float(cats.min()) + 1.0)   # every dropped category pooled too
    rare = np.append(cats < threshold, True)
    kept = cats[~rare[:-1]]
    if m <= 0 or cats.size == 0:
        return PooledBuckets(rare, np.ones(1))
    if kept.size == 0:
        # every category is rare (a small reference, or many equal ones beyond the kept
        # 1,000): pooled, nothing would be left to test, so the categories are tested as they
        # stand, with the selection bias the pooling avoids elsewhere (README)
        return PooledBuckets(np.append(np.zeros(cats.size, dtype=bool), True), np.append(cats, other) / m)
    pool = min(1.0, (other + float(cats[cats <= threshold].sum())) / m)
    return PooledBuckets(rare, np.append(kept / kept.sum() * (1.0 - pool), pool))
