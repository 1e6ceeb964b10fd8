"""Prometheus metrics (streams/metrics.py), scraped from a CollectorRegistry of their own."""

from __future__ import annotations

import numpy as np
from driftline.detectors.judgement import WindowJudgement
from driftline.detectors.performance_judge import PerformanceJudge
from driftline.detectors.performance_sketch import PerformanceLayout, PerformanceSketch
from driftline.streams.metrics import DriftlineCollector, RuntimeStats
from prometheus_client import CollectorRegistry, generate_latest


def _result(scores: list[float], labels: list[float]):
    s = PerformanceSketch(PerformanceLayout.binary())
    s.update(np.array(scores), np.array(labels))
    return PerformanceJudge(None).judge(s)


def _registry(stats: RuntimeStats) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(DriftlineCollector(stats))
    return registry


def test_model_performance_per_monitor_version_and_metric() -> None:
    stats = RuntimeStats()
    overall = _result([0.9, 0.8, 0.2, 0.6], [1, 0, 0, 1])
    v3 = _result([0.9, 0.2], [1, 0])
    stats.judged("fraud", WindowJudgement((), None), [], {None: overall, "v3": v3})
    registry = _registry(stats)

    def value(version: str, metric: str) -> float | None:
        return registry.get_sample_value("driftline_model_performance",
                                         {"monitor": "fraud", "model_version": version, "metric": metric})

    assert value("", "accuracy") == overall.metrics["accuracy"] == 0.75
    assert value("v3", "accuracy") == 1.0
    assert value("", "auc") == overall.metrics["auc"]
    assert value("v3", "precision") == 1.0
    # undefined metrics are left out, not exported as NaN
    one_class = _result([0.3], [1])
    stats.judged("fraud", WindowJudgement((), None), [], {None: one_class})
    assert value("", "auc") is None and value("", "accuracy") == 0.0
    assert value("v3", "accuracy") is None         # only the last window's versions remain
    assert b"# TYPE driftline_model_performance gauge" in generate_latest(registry)


def test_no_labels_no_series() -> None:
    stats = RuntimeStats()
    stats.judged("fraud", WindowJudgement((), None), [])
    stats.judged("fraud", WindowJudgement((), None), [], {})
    text = generate_latest(_registry(stats)).decode()
    assert "driftline_model_performance{" not in text
    assert 'driftline_windows_judged_total{monitor="fraud"} 2.0' in text
