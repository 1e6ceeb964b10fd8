"""Performance metrics (detectors/performance_metrics.py) against direct numpy / scipy oracles.

- accuracy, balanced accuracy, precision, recall, F1, log loss, base rate: computed directly
  from the pairs with numpy;
- AUC: the exact ROC AUC is U / (n1 n0) with U the Mann-Whitney statistic of the positives'
  scores against the negatives' (scipy.stats.mannwhitneyu); the binned AUC is within the
  bound auc_error_bound reports, which stays below 0.005 (1 / (2 x 100 bins)) for scores spread
  over [0, 1], as SCORE_BINS' comment and the README say;
- MAE, RMSE, bias, R^2: numpy on the errors (math.fsum for the exact sums);
- every metric read from the confusion counts (accuracy, balanced accuracy, precision, recall,
  F1, base rate) equals a brute-force computation on the raw pairs, for any pairs (hypothesis),
  classes folded into "other" included.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from driftline.detectors.performance_baseline import PerformanceBaseline
from driftline.detectors.performance_judge import PerformanceJudge
from driftline.detectors.performance_metrics import (
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    METRICS,
    abs_error_std,
    auc_error_bound,
    metrics,
)
from driftline.detectors.performance_sketch import PerformanceLayout, PerformanceSketch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import mannwhitneyu


def binary_pairs(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores of a logistic model and labels drawn from them (an imperfect, calibrated model)."""
    rng = np.random.default_rng(seed)
    score = 1.0 / (1.0 + np.exp(-rng.normal(-0.5, 1.5, n)))
    return score, (rng.random(n) < score).astype(np.float64)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("threshold", [0.5, 0.3])
def test_binary_metrics_match_direct_computation(seed: int, threshold: float) -> None:
    score, y = binary_pairs(seed, 3000)
    s = PerformanceSketch(PerformanceLayout.binary(threshold))
    for part in np.array_split(np.arange(score.size), 7):     # in pieces, merged: the same
        piece = PerformanceSketch(PerformanceLayout.binary(threshold))
        piece.update(score[part], y[part])
        s = s.merge(piece)
    m = metrics(s)
    assert list(m) == list(METRICS["binary"])
    hat = score >= threshold
    pos = y == 1
    tp, fp, fn = np.sum(hat & pos), np.sum(hat & ~pos), np.sum(~hat & pos)
    assert m["accuracy"] == pytest.approx(np.mean(hat == pos), abs=1e-15)
    assert m["precision"] == pytest.approx(tp / (tp + fp), abs=1e-15)
    assert m["recall"] == pytest.approx(tp / (tp + fn), abs=1e-15)
    p, r = tp / (tp + fp), tp / (tp + fn)
    assert m["f1"] == pytest.approx(2 * p * r / (p + r), abs=1e-12)
    assert m["balanced_accuracy"] == pytest.approx((np.mean(hat[pos]) + np.mean(~hat[~pos])) / 2, abs=1e-15)
    assert m["base_rate"] == pytest.approx(np.mean(pos), abs=1e-15)
    q = np.clip(score, 1e-15, 1 - 1e-15)
    losses = -(y * np.log(q) + (1 - y) * np.log(1 - q))
    assert m["log_loss"] == pytest.approx(math.fsum(losses.tolist()) / y.size, rel=1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_binned_auc_is_within_its_bound_of_the_exact_auc(seed: int) -> None:
    score, y = binary_pairs(100 + seed, 2000)
    s = PerformanceSketch(PerformanceLayout.binary())
    s.update(score, y)
    pos, neg = score[y == 1], score[y == 0]
    exact = mannwhitneyu(pos, neg).statistic / (pos.size * neg.size)
    neg_hist, pos_hist = s.histogram
    bound = auc_error_bound(pos_hist, neg_hist)
    got = metrics(s)["auc"]
    assert abs(got - exact) <= bound + 1e-12
    assert bound < 0.005                    # the documented size for scores spread over [0, 1]
    # the binned AUC is exactly the Mann-Whitney U of the bin indices (same bin = a tie)
    bins = np.minimum((score * 100).astype(np.int64), 99)
    assert got == pytest.approx(mannwhitneyu(bins[y == 1], bins[y == 0]).statistic / (pos.size * neg.size),
                                abs=1e-15)


def test_auc_of_tied_and_separated_scores_is_exact() -> None:
    s = PerformanceSketch(PerformanceLayout.binary())
    # scores at bin centres, one value per bin: the binned AUC is the exact one
    score = np.array([0.005, 0.015, 0.505, 0.995, 0.505, 0.215])
    y = np.array([0, 0, 1, 1, 0, 1.0])
    s.update(score, y)
    exact = mannwhitneyu(score[y == 1], score[y == 0]).statistic / (3 * 3)
    assert metrics(s)["auc"] == exact


def test_undefined_metrics_are_none() -> None:
    s = PerformanceSketch(PerformanceLayout.binary())
    assert set(metrics(s).values()) == {None}
    s.update(np.array([0.2, 0.3]), np.array([1.0, 1.0]))     # one class, nothing predicted positive
    m = metrics(s)
    assert m["auc"] is None and m["precision"] is None and m["f1"] is None
    assert m["recall"] == 0.0 and m["accuracy"] == 0.0 and m["balanced_accuracy"] == 0.0
    r = PerformanceSketch(PerformanceLayout.regression())
    r.update(np.array([1.0]), np.array([2.0]))
    assert metrics(r)["r2"] is None and abs_error_std(r) is None       # one pair
    r.update(np.array([3.0]), np.array([2.0]))
    assert metrics(r)["r2"] is None                                      # constant labels


@pytest.mark.parametrize("seed", range(5))
def test_classification_metrics_match_direct_computation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    classes = np.array(["a", "b", "c", "d"], dtype=object)
    y = classes[rng.choice(4, size=2000, p=[0.5, 0.3, 0.15, 0.05])]
    pred = np.where(rng.random(2000) < 0.8, y, classes[rng.integers(0, 4, 2000)])
    s = PerformanceSketch(PerformanceLayout.classification(["a", "b", "c", "d"]))
    s.update(pred, y)
    m = metrics(s)
    assert list(m) == list(METRICS["classification"])
    assert m["accuracy"] == pytest.approx(np.mean(pred == y), abs=1e-15)
    recalls = [np.mean(pred[y == c] == c) for c in classes]
    assert m["balanced_accuracy"] == pytest.approx(np.mean(recalls), abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_regression_metrics_match_direct_computation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.lognormal(2.0, 0.7, 5000)
    pred = y + rng.normal(0.3, 1.2, 5000)
    s = PerformanceSketch(PerformanceLayout.regression())
    s.update(pred, y)
    m = metrics(s)
    assert list(m) == list(METRICS["regression"])
    e = pred - y
    assert m["mae"] == pytest.approx(math.fsum(np.abs(e).tolist()) / e.size, rel=1e-14)
    assert m["bias"] == pytest.approx(math.fsum(e.tolist()) / e.size, rel=1e-14)
    assert m["rmse"] == pytest.approx(math.sqrt(math.fsum((e * e).tolist()) / e.size), rel=1e-14)
    sst = math.fsum(((y - y.mean()) ** 2).tolist())
    assert m["r2"] == pytest.approx(1 - math.fsum((e * e).tolist()) / sst, rel=1e-10)
    assert abs_error_std(s) == pytest.approx(np.std(np.abs(e), ddof=1), rel=1e-10)


def test_metric_kinds_cover_every_thresholdable_metric() -> None:
    every = {name for names in METRICS.values() for name in names}
    assert every >= HIGHER_IS_BETTER | LOWER_IS_BETTER
    assert not HIGHER_IS_BETTER & LOWER_IS_BETTER
    assert every - HIGHER_IS_BETTER - LOWER_IS_BETTER == {"bias", "base_rate"}   # two-sided


def test_balanced_accuracy_when_different_classes_fold_into_other() -> None:
    # x and y both fold into "other": (x, y) and (y, x) are wrong, not on the diagonal
    s = PerformanceSketch(PerformanceLayout.classification(["a"]))
    s.update(np.array(["a", "x", "y"], dtype=object), np.array(["a", "y", "x"], dtype=object))
    m = metrics(s)
    assert m["accuracy"] == pytest.approx(1 / 3)
    assert m["balanced_accuracy"] == 0.5            # recall of a: 1, of "other": 0


ORACLE = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_CLASS_VALUES = st.one_of(st.none(), st.sampled_from(["a", "b", "x", "y", "z"]))


def _recall_mean(hit: np.ndarray, group: np.ndarray) -> float | None:
    """Mean over the groups present of the share of hits: balanced accuracy by definition."""
    groups = sorted(set(group.tolist()))
    return None if not groups else float(np.mean([hit[group == g].mean() for g in groups]))


@ORACLE
@given(st.lists(st.tuples(_CLASS_VALUES, _CLASS_VALUES), max_size=60),
       st.sampled_from([(), ("a",), ("a", "b"), ("x", "a", "b", "y", "z")]))
def test_classification_metrics_against_brute_force(rows: list[tuple], classes: tuple[str, ...]) -> None:
    s = PerformanceSketch(PerformanceLayout.classification(classes))
    s.update(np.array([r[0] for r in rows], dtype=object), np.array([r[1] for r in rows], dtype=object))
    used = [(p, y) for p, y in rows if p is not None and y is not None]
    m = metrics(s)
    if not used:
        assert set(m.values()) == {None}
        return
    pred = np.array([p for p, _ in used], dtype=object)
    y = np.array([y for _, y in used], dtype=object)
    folded = np.array([v if v in classes else "\x00other" for v in y.tolist()], dtype=object)
    hit = np.array([p == v for p, v in used])
    assert m["accuracy"] == pytest.approx(hit.mean(), abs=1e-15)
    assert m["balanced_accuracy"] == pytest.approx(_recall_mean(hit, folded), abs=1e-12)
    assert s.correct == int(hit.sum()) and pred.size == s.count


@ORACLE
@given(st.lists(st.tuples(st.one_of(st.floats(-0.5, 1.5), st.sampled_from([0.0, 0.3, 0.5, 1.0, math.nan])),
                          st.sampled_from([0.0, 1.0, math.nan])), max_size=60),
       st.sampled_from([0.5, 0.3, 0.0, 1.0]))
def test_binary_metrics_against_brute_force(rows: list[tuple], threshold: float) -> None:
    s = PerformanceSketch(PerformanceLayout.binary(threshold))
    s.update(np.array([r[0] for r in rows]), np.array([r[1] for r in rows]))
    used = [(p, y) for p, y in rows if not (math.isnan(p) or math.isnan(y))]
    m = metrics(s)
    if not used:
        assert set(m.values()) == {None}
        return
    hat = np.array([p >= threshold for p, _ in used])
    pos = np.array([y == 1.0 for _, y in used])
    tp, fp, fn = int(np.sum(hat & pos)), int(np.sum(hat & ~pos)), int(np.sum(~hat & pos))
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = None
    if precision is not None and recall is not None:
        f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    want = {"accuracy": float(np.mean(hat == pos)), "balanced_accuracy": _recall_mean(hat == pos, pos),
            "precision": precision, "recall": recall, "f1": f1, "base_rate": float(np.mean(pos))}
    for name, value in want.items():
        assert m[name] == (None if value is None else pytest.approx(value, abs=1e-12)), name


def test_regression_metrics_of_errors_whose_squares_overflow_stay_finite() -> None:
    s = PerformanceSketch(PerformanceLayout.regression())
    s.update(np.zeros(3), np.array([1e200, -1e200, 0.0]))
    got = metrics(s)
    # exact: errors -1e200, 1e200, 0; rmse = 1e200 * sqrt(2/3); the labels' spread is the errors'
    assert got["rmse"] == pytest.approx(1e200 * math.sqrt(2 / 3), rel=1e-15)
    assert (got["mae"], got["bias"], got["r2"]) == (pytest.approx(2e200 / 3, rel=1e-15), 0.0, 0.0)
    assert abs_error_std(s) == pytest.approx(float(np.std([1e100, 1e100, 0.0], ddof=1)) * 1e100, rel=1e-12)


def test_a_huge_error_is_judged_against_the_reference() -> None:
    rng = np.random.default_rng(0)
    base = PerformanceSketch(PerformanceLayout.regression())
    y = rng.normal(size=5000)
    base.update(y + rng.normal(size=5000), y)
    window = PerformanceSketch(PerformanceLayout.regression())
    y = rng.normal(size=100)
    pred = y + rng.normal(size=100)
    pred[:50] = 1e160                      # half the errors beyond sqrt(float max)
    window.update(pred, y)
    result = PerformanceJudge(PerformanceBaseline.of(base)).judge(window)
    assert result.judged == ("mae",) and [i.metric for i in result.issues] == ["mae"]
