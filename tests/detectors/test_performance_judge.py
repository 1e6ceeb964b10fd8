"""The performance decision (detectors/performance_judge.py) on seeded synthetic streams.

False alarms: a model with constant accuracy (the synthetic scorer, wrong on 10% of events,
reference baseline from 20,000 training pairs) degrades in at most 1% of windows, at 100, 1,000
and 10,000 pairs per window; the same for a regression model with constant error law.
Power: at 1,000 pairs per window, accuracy 0.90 -> 0.75 (binary score, and 4 classes) and a
regression MAE up by half are flagged in the first complete window after the change.
The p-values are scipy's: Welch's one-sided t-test (ttest_ind_from_stats, equal_var=False) and
the one-sided Fisher exact test (fisher_exact, alternative="greater").
"""

from __future__ import annotations

import numpy as np
import pytest
from driftline.detectors.hysteresis import Hysteresis
from driftline.detectors.performance_baseline import PerformanceBaseline
from driftline.detectors.performance_judge import PerformanceJudge, PerformanceParams, welch_greater
from driftline.detectors.performance_sketch import PerformanceLayout, PerformanceSketch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import fisher_exact, ttest_ind_from_stats

from driftline import synth

REFERENCE_PAIRS = 20_000
CLASSES = ("a", "b", "c", "d")


def binary_window(rng: np.random.Generator, n: int, error: float) -> PerformanceSketch:
    scores = synth.score(synth.numeric_columns(rng, n))
    s = PerformanceSketch(PerformanceLayout.binary())
    s.update(scores, synth.labels_for(rng, scores, error).astype(np.float64))
    return s


def class_window(rng: np.random.Generator, n: int, error: float) -> PerformanceSketch:
    truth = np.array(CLASSES, dtype=object)[rng.choice(4, size=n, p=[0.4, 0.3, 0.2, 0.1])]
    wrong = rng.random(n) < error
    shifted = np.array(CLASSES, dtype=object)[(np.searchsorted(CLASSES, truth) + rng.integers(1, 4, n)) % 4]
    s = PerformanceSketch(PerformanceLayout.classification(CLASSES))
    s.update(np.where(wrong, shifted, truth), truth)
    return s


def regression_window(rng: np.random.Generator, n: int, noise: float) -> PerformanceSketch:
    y = rng.lognormal(3.0, 0.5, n)
    s = PerformanceSketch(PerformanceLayout.regression())
    s.update(y + rng.standard_t(5, n) * noise, y)
    return s


WINDOWS = {"binary": (binary_window, 0.10, 0.25), "classification": (class_window, 0.10, 0.25),
           "regression": (regression_window, 1.0, 1.5)}


def judge_for(task: str, **params) -> PerformanceJudge:
    make, calm, _ = WINDOWS[task]
    baseline = PerformanceBaseline.of(make(np.random.default_rng(2026), REFERENCE_PAIRS, calm))
    return PerformanceJudge(baseline, PerformanceParams(**params))


# (task, pairs per window, windows)
FALSE_ALARM_CASES = [("binary", 100, 2000), ("binary", 1000, 1000), ("binary", 10_000, 100),
                     ("classification", 100, 1000), ("classification", 1000, 500),
                     ("regression", 100, 1000), ("regression", 1000, 500)]


@pytest.mark.slow
@pytest.mark.parametrize(("task", "size", "windows"), FALSE_ALARM_CASES)
def test_stationary_windows_rarely_degrade(task: str, size: int, windows: int) -> None:
    make, calm, _ = WINDOWS[task]
    judge = judge_for(task)
    rng = np.random.default_rng([size, windows])
    degraded = sum(judge.judge(make(rng, size, calm)).degraded for _ in range(windows))
    rate = degraded / windows
    print(f"{task}, {size} pairs per window: {degraded}/{windows} windows degraded ({rate:.2%})")
    assert rate <= 0.01


@pytest.mark.parametrize("task", sorted(WINDOWS))
@pytest.mark.parametrize("seed", range(10))
def test_the_first_window_after_the_change_is_flagged(task: str, seed: int) -> None:
    make, calm, bad = WINDOWS[task]
    judge = judge_for(task)
    rng = np.random.default_rng(seed)
    hysteresis = Hysteresis()       # the default fire_after=1 of the alert lifecycle
    transitions = []
    for w, level in enumerate([calm] * 5 + [bad]):
        result = judge.judge(make(rng, 1000, level))
        transitions.append(hysteresis.update(result.degraded, w))
    assert transitions[-1] == "firing"
    assert transitions[:-1] == [None] * 5
    issue = result.issues[0]
    assert issue.rule == "reference" and issue.p_value < 0.01
    if task == "regression":
        assert issue.metric == "mae" and issue.value >= issue.threshold
    else:
        assert issue.metric == "accuracy" and issue.value <= issue.threshold
        assert 0.70 < issue.value < 0.80 and issue.threshold == pytest.approx(result.reference.metrics["accuracy"] - 0.05)


def test_effect_floor_keeps_huge_windows_quiet() -> None:
    # accuracy 0.90 -> 0.88 over 200,000 pairs: significant, but below the 0.05 floor
    judge = judge_for("binary")
    result = judge.judge(binary_window(np.random.default_rng(5), 200_000, 0.12))
    assert result.p_value < 1e-10
    assert not result.degraded
    assert judge_for("binary", accuracy_drop=0.01).judge(
        binary_window(np.random.default_rng(5), 200_000, 0.12)).degraded


def test_absolute_bounds_fire_without_a_reference() -> None:
    window = binary_window(np.random.default_rng(1), 1000, 0.10)
    judge = PerformanceJudge(None, PerformanceParams(minimum=(("accuracy", 0.95), ("auc", 0.5)),
                                                     maximum=(("log_loss", 0.01),)))
    result = judge.judge(window)
    assert result.p_value is None and result.reference is None
    assert [(i.metric, i.rule, i.threshold, i.p_value) for i in result.issues] == [
        ("accuracy", "min", 0.95, None), ("log_loss", "max", 0.01, None)]
    assert result.issues[0].value == result.metrics["accuracy"]
    regression = PerformanceJudge(None, PerformanceParams(maximum=(("mae", 0.5), ("rmse", 100.0))))
    assert [i.metric for i in regression.judge(regression_window(np.random.default_rng(2), 500, 1.0)).issues] == ["mae"]


def test_one_issue_per_metric_the_test_first() -> None:
    judge = judge_for("binary", minimum=(("accuracy", 0.99),))
    result = judge.judge(binary_window(np.random.default_rng(3), 1000, 0.30))
    assert [(i.metric, i.rule) for i in result.issues] == [("accuracy", "reference")]


def test_small_windows_are_not_judged() -> None:
    judge = judge_for("binary", min_count=30, minimum=(("accuracy", 0.99),))
    result = judge.judge(binary_window(np.random.default_rng(4), 29, 0.9))
    assert not result.degraded and result.p_value is None and result.count == 29
    assert result.metrics["accuracy"] is not None          # still reported
    assert result.judged == ()                             # no verdict, good or bad


def test_a_window_says_which_metrics_it_judged() -> None:
    judge = judge_for("binary", minimum=(("auc", 0.5), ("precision", 0.1)))
    assert judge.judge(binary_window(np.random.default_rng(4), 500, 0.1)).judged == ("accuracy", "auc", "precision")
    one_class = PerformanceSketch(PerformanceLayout.binary())
    one_class.update(np.full(100, 0.2), np.ones(100))       # no AUC, nothing predicted positive
    assert judge.judge(one_class).judged == ("accuracy",)


def test_the_judge_watches_its_test_metric_and_its_bounded_ones() -> None:
    assert judge_for("binary", minimum=(("auc", 0.5),)).watched == {"accuracy", "auc"}
    assert judge_for("regression", maximum=(("rmse", 2.0),)).watched == {"mae", "rmse"}
    assert PerformanceJudge(None, PerformanceParams(minimum=(("f1", 0.5),))).watched == {"f1"}
    assert PerformanceJudge(None).watched == frozenset()


def test_task_mismatch_is_an_error() -> None:
    judge = judge_for("binary")
    with pytest.raises(ValueError, match="task"):
        judge.judge(PerformanceSketch(PerformanceLayout.regression()))


# -- the p-values against scipy.stats ------------------------------------------------------------

ORACLE = settings(max_examples=150, deadline=None)


@ORACLE
@given(st.floats(0.0, 100.0), st.floats(0.01, 50.0), st.integers(2, 100_000),
       st.floats(0.0, 100.0), st.floats(0.01, 50.0), st.integers(2, 100_000))
def test_welch_p_value_is_scipys(mean: float, sd: float, n: int, ref_mean: float, ref_sd: float, m: int) -> None:
    want = ttest_ind_from_stats(mean, sd, n, ref_mean, ref_sd, m, equal_var=False, alternative="greater").pvalue
    assert welch_greater(mean, sd, n, ref_mean, ref_sd, m) == pytest.approx(want, rel=1e-9, abs=1e-300)


@ORACLE
@given(st.integers(1, 2000), st.data(), st.integers(1, 20_000), st.data())
def test_fisher_p_value_is_scipys(n: int, d1, m: int, d2) -> None:
    errors = d1.draw(st.integers(0, n))
    ref_errors = d2.draw(st.integers(0, m))
    window = PerformanceSketch(PerformanceLayout.binary())
    # scores 0.9 predict 1: labels 0 are the errors
    window.update(np.full(n, 0.9), np.r_[np.zeros(errors), np.ones(n - errors)])
    baseline = PerformanceBaseline("binary", m, m - ref_errors, threshold=0.5)
    result = PerformanceJudge(baseline, PerformanceParams(min_count=1)).judge(window)
    want = fisher_exact([[errors, n - errors], [ref_errors, m - ref_errors]], alternative="greater").pvalue
    assert result.p_value == pytest.approx(min(want, 1.0), rel=1e-9, abs=1e-300)
