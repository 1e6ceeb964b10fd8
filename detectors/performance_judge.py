"""The performance decision: is a window's model performance worse than the reference's?

A window is *degraded* on a metric when either

1. it is significantly worse than the reference baseline AND worse by at least an effect
   floor (so that huge windows do not alert on irrelevant differences):

   - binary / classification: the error rate. One-sided Fisher exact test of the 2 x 2 table
     (window errors, window correct; reference errors, reference correct): under "same error
     rate" the window's errors are hypergeometric given the total, so
     ``p = P(X >= errors)``, exact for the window's and the reference's sizes (and
     conservative, being conditional). Floor: accuracy <= reference accuracy - ``accuracy_drop``;
   - regression: the mean absolute error. One-sided Welch t-test of the window's mean |error|
     against the reference's (means and standard deviations of |error| from exact sums).
     Floor: MAE >= reference MAE x (1 + ``mae_increase``);

   both only at ``p <= alpha`` and with at least ``min_count`` pairs; or

2. a metric crosses an absolute bound (``minimum`` for metrics where higher is better,
   ``maximum`` for errors), again with at least ``min_count`` pairs.

Across windows, hysteresis (``hysteresis.py``) turns degraded windows into alert episodes.
A window says which metrics it *judged* (``PerformanceResult.judged``): none below
``min_count`` pairs; the test's metric when the test ran; a bounded metric when it is defined.
A metric not judged is neither bad nor good: its alert state must not move (unless the
judge no longer watches it at all, ``PerformanceJudge.watched``: then it can only resolve).

>>> import numpy as np
>>> from .performance_sketch import PerformanceLayout, PerformanceSketch
>>> rng = np.random.default_rng(0)
>>> def window(n, error):
...     s = PerformanceSketch(PerformanceLayout.binary())
...     score = rng.random(n)
...     s.update(score, ((score >= 0.5) ^ (rng.random(n) < error)).astype(float))
...     return s
>>> judge = PerformanceJudge(PerformanceBaseline.of(window(20_000, 0.10)))
>>> judge.judge(window(1000, 0.10)).degraded
False
>>> bad = judge.judge(window(1000, 0.25))
>>> bad.degraded, bad.issues[0].metric, bad.p_value < 1e-20
(True, 'accuracy', True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import hypergeom
from scipy.stats import t as student_t

from .performance_baseline import PerformanceBaseline
from .performance_metrics import abs_error_std, metrics
from .performance_sketch import PerformanceSketch


@dataclass(frozen=True)
class PerformanceParams:
    """Defaults are the config's (schemas/config.py, ``performance``)."""

    alpha: float = 0.01
    accuracy_drop: float = 0.05
    mae_increase: float = 0.1
    min_count: int = 30
    minimum: tuple[tuple[str, float], ...] = ()     # (metric, floor): alert below
    maximum: tuple[tuple[str, float], ...] = ()     # (metric, ceiling): alert above


@dataclass(frozen=True)
class PerformanceIssue:
    """One metric found worse, by which rule: ``reference`` (the test), ``min`` or ``max``."""

    metric: str
    value: float
    threshold: float        # the effect boundary (reference rule) or the configured bound
    p_value: float | None
    rule: str


@dataclass(frozen=True)
class PerformanceResult:
    task: str
    count: int
    metrics: dict[str, float | None]
    p_value: float | None = None            # the test against the reference (None: not tested)
    issues: tuple[PerformanceIssue, ...] = ()
    reference: PerformanceBaseline | None = None
    judged: tuple[str, ...] = ()            # metrics judged (the others: no verdict this window)

    @property
    def degraded(self) -> bool:
        return bool(self.issues)

    @property
    def tested(self) -> str | None:
        """The metric ``p_value`` is of (see :func:`metric_tested`)."""
        return metric_tested(self.reference)


def metric_tested(baseline: PerformanceBaseline | None) -> str | None:
    """The metric the test against the reference is of: ``mae`` for regression, else
    ``accuracy``; None without a baseline (no test)."""
    if baseline is None:
        return None
    return "mae" if baseline.task == "regression" else "accuracy"


@dataclass(frozen=True)
class _Test:
    metric: str
    value: float
    boundary: float
    p_value: float
    worse_enough: bool


class PerformanceJudge:
    """Judges the performance sketches of one monitor against its baseline (if any)."""

    def __init__(self, baseline: PerformanceBaseline | None, params: PerformanceParams | None = None) -> None:
        self._baseline = baseline
        self._params = params or PerformanceParams()

    @property
    def baseline(self) -> PerformanceBaseline | None:
        return self._baseline

    @property
    def watched(self) -> frozenset[str]:
        """Every metric a window can be judged on: the test's (with a baseline) and the bounded ones."""
        tested = metric_tested(self._baseline)
        test = () if tested is None else (tested,)
        bounded = (metric for metric, _ in (*self._params.minimum, *self._params.maximum))
        return frozenset((*test, *bounded))

    def judge(self, sketch: PerformanceSketch) -> PerformanceResult:
        b, params = self._baseline, self._params
        if b is not None and b.task != sketch.layout.task:
            raise ValueError(f"the baseline is for task {b.task!r}, the window is {sketch.layout.task!r}")
        values = metrics(sketch)
        if sketch.count < params.min_count:
            return PerformanceResult(sketch.layout.task, sketch.count, values, reference=b)
        issues: list[PerformanceIssue] = []
        judged: dict[str, None] = {}            # ordered set
        p_value = None
        if b is not None:
            test = self._versus_reference(sketch, values, b)
            if test is not None:
                p_value = test.p_value
                judged[test.metric] = None
                if test.p_value <= params.alpha and test.worse_enough:
                    issues.append(PerformanceIssue(test.metric, test.value, test.boundary, test.p_value,
                                                   "reference"))
        flagged = {i.metric for i in issues}
        for rule, bounds, crossed in (("min", params.minimum, float.__lt__),
                                      ("max", params.maximum, float.__gt__)):
            for metric, bound in bounds:
                value = values.get(metric)
                if value is not None:
                    judged[metric] = None
                if value is not None and metric not in flagged and crossed(float(value), float(bound)):
                    issues.append(PerformanceIssue(metric, float(value), float(bound), None, rule))
                    flagged.add(metric)
        return PerformanceResult(sketch.layout.task, sketch.count, values, p_value, tuple(issues), b,
                                 tuple(judged))

    def _versus_reference(self, s: PerformanceSketch, values: dict[str, float | None],
                          b: PerformanceBaseline) -> _Test | None:
        n, m = s.count, b.count
        if s.layout.task == "regression":
            mae, ref_mae = values["mae"], b.metrics.get("mae")
            sd, ref_sd = abs_error_std(s), b.abs_error_std
            if mae is None or ref_mae is None or sd is None or ref_sd is None or m < 2:
                return None
            p = welch_greater(mae, sd, n, ref_mae, ref_sd, m)
            boundary = ref_mae * (1.0 + self._params.mae_increase)
            return _Test("mae", mae, boundary, p, mae >= boundary)
        errors, ref_errors = n - s.correct, m - b.correct
        # P(X >= errors), X ~ Hypergeometric(population n + m, successes = all errors, draws n)
        p = float(hypergeom.sf(errors - 1, n + m, errors + ref_errors, n))
        accuracy, ref_accuracy = s.correct / n, b.correct / m
        boundary = ref_accuracy - self._params.accuracy_drop
        return _Test("accuracy", accuracy, boundary, min(max(p, 0.0), 1.0), accuracy <= boundary)


def welch_greater(mean: float, sd: float, n: int, ref_mean: float, ref_sd: float, m: int) -> float:
    """One-sided p-value of "the window's mean is above the reference's" (Welch's t-test).

    >>> welch_greater(1.2, 1.0, 1000, 1.0, 1.0, 20_000) < 1e-8
    True
    >>> round(welch_greater(1.0, 1.0, 1000, 1.0, 1.0, 20_000), 6)
    0.5
    """
    # standard errors, combined with hypot: no squares, so huge errors do not overflow
    sa, sb = sd / math.sqrt(n), ref_sd / math.sqrt(m)
    se = math.hypot(sa, sb)
    if se == 0:
        return 0.0 if mean > ref_mean else 1.0
    # Welch-Satterthwaite degrees of freedom, from the shares of the variance (each <= 1)
    ra, rb = (sa / se) ** 2, (sb / se) ** 2
    den = (ra * ra / (n - 1) if n > 1 else 0.0) + (rb * rb / (m - 1) if m > 1 else 0.0)
    df = 1.0 / den if den > 0 else math.inf
    return float(student_t.sf((mean - ref_mean) / se, df))
