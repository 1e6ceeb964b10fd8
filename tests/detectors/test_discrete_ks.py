"""The KS test of numeric features on few levels (detectors/discrete_ks.py): calibrated where
Kolmogorov's law is many times too conservative, with the power of an exact test on a 0/1 flag,
and its law going over to Kolmogorov's (scipy) as the levels grow many."""

from __future__ import annotations

import numpy as np
import pytest
from driftline.detectors.discrete_ks import DiscreteKS, bridge_maxima
from driftline.detectors.reference import NumericReference
from scipy import stats


def _pvalues(rng: np.random.Generator, law, m: int, n: int, runs: int) -> np.ndarray:
    """The p-values of ``runs`` windows of ``n`` draws of ``law``, each against a reference of
    its own (``m`` draws): calibration is over references as well as windows."""
    out = []
    for _ in range(runs):
        ref = NumericReference.build(law(m))
        assert DiscreteKS.applies(ref.fine_probs)
        counts = np.bincount(np.searchsorted(ref.fine_edges, law(n), side="left"), minlength=ref.n_fine)
        out.append(DiscreteKS(ref.fine_probs, m).pvalue(counts))
    return np.array(out, dtype=float)


LAWS = {
    "flag_1pct": lambda rng: lambda size: (rng.random(size) < 0.01).astype(float),
    "poisson_0.3": lambda rng: lambda size: rng.poisson(0.3, size).astype(float),
    "poisson_3": lambda rng: lambda size: rng.poisson(3, size).astype(float),
    "rating_1_5": lambda rng: lambda size: rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], size, p=[.05, .1, .2, .35, .3]),
}


@pytest.mark.parametrize("law", sorted(LAWS))
@pytest.mark.parametrize("n", [1_000, 10_000])
def test_stationary_windows_get_uniform_p_values(law, n):
    """P(p <= 0.05) near 0.05 (Kolmogorov's law gave 0.0005-0.01 on these)."""
    rng = np.random.default_rng([sorted(LAWS).index(law), n])
    p = _pvalues(rng, LAWS[law](rng), 20_000, n, 300)
    assert not np.isnan(p).any()
    assert 0.025 <= (p <= 0.05).mean() <= 0.08
    assert (p <= 0.01).mean() <= 0.025


def test_a_flag_whose_ones_go_from_1_to_3_percent_is_seen_as_an_exact_test_sees_it():
    rng = np.random.default_rng(5)
    ref = (rng.random(20_000) < 0.01).astype(float)
    test = DiscreteKS(NumericReference.build(ref).fine_probs, 20_000)
    for _ in range(50):
        ones = int((rng.random(1_000) < 0.03).sum())
        fisher = stats.fisher_exact([[ones, 1_000 - ones], [ref.sum(), 20_000 - ref.sum()]]).pvalue
        p = test.pvalue(np.array([0, 1_000 - ones, 0, ones, 0]))
        assert p < 0.01 or fisher > 1e-4, (ones, p, fisher)


def test_too_few_values_around_every_step_leave_the_test_to_kolmogorovs_law():
    test = DiscreteKS(np.array([0.0, 0.99, 0.0, 0.01, 0.0]), 20_000)
    assert test.pvalue(np.array([0, 99, 0, 1, 0])) is None        # 1 one expected in 100
    assert test.pvalue(np.array([0, 990, 0, 10, 0])) is not None   # 10 in 1,000


def test_with_many_levels_the_law_is_kolmogorovs():
    """The supremum of the bridge at 400 evenly spread points is nearly that over all of [0, 1]
    (scipy's kstwobign), and below it at 5 points, never above."""
    q = [0.5, 0.9, 0.95, 0.99]
    many = np.quantile(bridge_maxima(np.linspace(0, 1, 402)[1:-1]), q)
    few = np.quantile(bridge_maxima(np.linspace(0, 1, 7)[1:-1]), q)
    kolmogorov = stats.kstwobign.ppf(q)
    assert np.allclose(many, kolmogorov, rtol=0.05), (many, kolmogorov)
    assert (few < 0.95 * kolmogorov).all()


def test_the_law_is_the_same_for_the_same_levels():
    steps = np.array([0.2, 0.7, 0.95])
    assert np.array_equal(bridge_maxima(steps), bridge_maxima(steps.copy()))


def test_the_judge_takes_the_law_of_the_levels_and_still_sees_values_between_them():
    """Through DriftJudge (the smaller of this test's p-value and Kolmogorov's): a flag going
    from 1% to 5% ones is a drift (it was not: p = 0.09), a stationary one is not."""
    from driftline.detectors.drift_judge import DriftJudge
    from driftline.detectors.reference import ReferenceProfile
    from driftline.detectors.window_sketch import ColumnBatch, MonitorLayout, WindowSketch

    rng = np.random.default_rng(8)
    ref = ReferenceProfile({"flag": NumericReference.build((rng.random(20_000) < 0.01).astype(float))}, {})
    judge = DriftJudge(ref)

    def judged(share: float):
        sketch = WindowSketch(MonitorLayout.from_reference(ref))
        sketch.update(ColumnBatch((rng.random((1_000, 1)) < share).astype(float), (), None))
        return judge.judge(sketch).features[0]

    assert judged(0.05).drift and judged(0.05).p_value < 1e-4
    assert not judged(0.01).drift
