"""A resolved performance alert carries the p-value of the test only for the metric tested
(accuracy / mae): a metric alerting on a min / max bound has no p-value, resolved or firing."""

from __future__ import annotations

import numpy as np
from driftline.detectors.judgement import WindowJudgement
from driftline.detectors.performance_baseline import PerformanceBaseline
from driftline.detectors.performance_judge import PerformanceJudge, PerformanceParams
from driftline.detectors.performance_sketch import PerformanceLayout, PerformanceSketch
from driftline.streams.alerts import observations


def _sketch(score, labels) -> PerformanceSketch:
    s = PerformanceSketch(PerformanceLayout.binary())
    s.update(np.asarray(score, dtype=float), np.asarray(labels, dtype=float))
    return s


def test_only_the_tested_metric_carries_the_tests_p_value() -> None:
    rng = np.random.default_rng(0)
    score = rng.random(2000)
    baseline = PerformanceBaseline.of(_sketch(score, (score >= 0.5) ^ (rng.random(2000) < 0.1)))
    judge = PerformanceJudge(baseline, PerformanceParams(minimum=(("auc", 0.8),)))
    w = rng.random(200)
    result = judge.judge(_sketch(w, w >= 0.5))
    assert result.p_value is not None
    seen = observations(WindowJudgement((), None), {}, result)
    assert seen[("performance", "accuracy")].p_value == result.p_value
    assert seen[("performance", "auc")].p_value is None
    assert seen[("performance", "log_loss")].p_value is None
