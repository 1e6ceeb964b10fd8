"""The tested buckets of a categorical feature (detectors/rare_categories.py): the reference's rare
categories pooled with its "other" share and the unseen values, the pool's share estimated
without the bias of a category list picked by the reference sample itself."""

from __future__ import annotations

import numpy as np
import pytest
from driftline.detectors.drift_judge import DriftJudge
from driftline.detectors.rare_categories import RARE_COUNT, pool_rare
from driftline.detectors.reference import CategoricalReference, ReferenceProfile
from driftline.detectors.window_sketch import ColumnBatch, MonitorLayout, WindowSketch


def zipf(k: int, s: float = 1.0) -> np.ndarray:
    shares = 1.0 / np.arange(1, k + 1) ** s
    return shares / shares.sum()


def names(k: int) -> np.ndarray:
    return np.array([f"k{i}" for i in range(k)], dtype=object)


def test_the_pool_share_estimates_the_windows_share_of_the_pooled_categories() -> None:
    """Over references drawn from one law, the mean estimated pool share is the mean true
    probability that a window value falls in the pool, closer to it than the pooled categories'
    own share of the reference sample (which the Good-Turing argument says is low)."""
    rng = np.random.default_rng(3)
    k, m = 2_000, 2_000
    p = zipf(k)
    estimated, in_sample, true = [], [], []
    for _ in range(300):
        ref = CategoricalReference.build(names(k)[rng.choice(k, m, p=p)])
        buckets = pool_rare(ref.probs, ref.count)
        index = {name: i for i, name in enumerate(ref.categories)}
        pooled = np.ones(k, dtype=bool)     # never-seen categories are in the pool too
        for name, rare in zip(ref.categories, buckets.rare[:-1], strict=True):
            pooled[int(name[1:])] = rare
        true.append(p[pooled].sum())
        estimated.append(buckets.probs[-1])
        in_sample.append(sum(ref.probs[index[n]] for n in ref.categories if buckets.rare[index[n]]) + ref.probs[-1])
    bias, in_sample_bias = np.mean(estimated) - np.mean(true), np.mean(in_sample) - np.mean(true)
    assert abs(bias) < 0.2 * abs(in_sample_bias) and in_sample_bias < 0


def test_every_dropped_category_is_in_the_pool() -> None:
    """A reference that kept only its most frequent categories: the threshold rises above the
    smallest kept count, so that the categories it dropped (seen as often, or less) are pooled."""
    values = np.repeat(names(6), [500, 300, 100, 60, 40, 40]).astype(object)
    ref = CategoricalReference.build(values, max_categories=4)      # keeps k0..k3, drops k4, k5
    buckets = pool_rare(ref.probs, ref.count)
    assert ref.categories == ("k0", "k1", "k2", "k3")
    assert buckets.rare.tolist() == [False, False, False, True, True]    # k3 (60) pooled with "other"
    assert buckets.probs[-1] == pytest.approx((60 + 80) / 1040)
    assert RARE_COUNT < 60


def test_a_reference_of_only_rare_categories_is_tested_unpooled() -> None:
    """Pooled, every category would be in the one bucket and nothing could drift: they are
    tested as they stand (a window all of one category is a drift)."""
    ref = ReferenceProfile({}, {"c": CategoricalReference.build(names(40)[np.arange(480) % 40])})   # 12 each
    buckets = pool_rare(ref.categorical["c"].probs, 480)
    assert not buckets.rare[:-1].any() and buckets.probs.size == 41
    sketch = WindowSketch(MonitorLayout.from_reference(ref))
    sketch.update(ColumnBatch(np.zeros((500, 0)), (np.full(500, "k0", dtype=object),), None))
    assert DriftJudge(ref).judge(sketch).drifted_features == ("c",)


def _flagged(rng: np.random.Generator, k: int, m: int, n: int, windows: int) -> int:
    p, cats = zipf(k), names(k)
    flagged = 0
    for _ in range(windows):   # a new reference each time: the rate is over references too
        ref = ReferenceProfile({}, {"c": CategoricalReference.build(cats[rng.choice(k, m, p=p)])})
        sketch = WindowSketch(MonitorLayout.from_reference(ref))
        sketch.update(ColumnBatch(np.zeros((n, 0)), (cats[rng.choice(k, n, p=p)],), None))
        flagged += DriftJudge(ref).judge(sketch).drift
    return flagged


@pytest.mark.parametrize(("k", "m", "n"), [(2_000, 20_000, 10_000), (2_000, 2_000, 1_000)])
def test_stationary_high_cardinality_windows_are_not_flagged(k: int, m: int, n: int) -> None:
    """Thousands of Zipf-distributed categories, most of them rare: before the pooling, 100% of
    the windows of 10,000 against a reference of 20,000 were flagged, and 70% of the windows of
    1,000 against a reference of 2,000 (p <= 0.01)."""
    assert _flagged(np.random.default_rng(k + m + n), k, m, n, windows=40) <= 2


def test_a_category_whose_share_grows_is_still_flagged_among_thousands() -> None:
    rng = np.random.default_rng(9)
    k, p, cats = 2_000, zipf(2_000), names(2_000)
    ref = ReferenceProfile({}, {"c": CategoricalReference.build(cats[rng.choice(k, 20_000, p=p)])})
    q = p.copy()
    q[1] *= 3          # the second most common category, 8% of the values, triples its share
    q /= q.sum()
    sketch = WindowSketch(MonitorLayout.from_reference(ref))
    sketch.update(ColumnBatch(np.zeros((10_000, 0)), (cats[rng.choice(k, 10_000, p=q)],), None))
    assert DriftJudge(ref).judge(sketch).drifted_features == ("c",)


def test_a_long_tail_raises_no_new_category_issue_on_stationary_windows() -> None:
    """Its never-seen categories are about as common as those the reference saw once
    (Good-Turing): the baseline of new_category_rate (a fifth of every window before)."""
    rng = np.random.default_rng(12)
    k, p, cats = 2_000, zipf(2_000), names(2_000)
    issues = 0
    for _ in range(20):
        ref = ReferenceProfile({}, {"c": CategoricalReference.build(cats[rng.choice(k, 2_000, p=p)])})
        sketch = WindowSketch(MonitorLayout.from_reference(ref))
        sketch.update(ColumnBatch(np.zeros((1_000, 0)), (cats[rng.choice(k, 1_000, p=p)],), None))
        issues += bool(DriftJudge(ref).judge(sketch).quality)
    assert issues <= 1
