"""Prometheus metrics (streams/metrics.py), scraped from a CollectorRegistry of their own."""

from __future__ import annotations

import math

import numpy as np
import pytest
from driftline.detectors.judgement import WindowJudgement
from driftline.detectors.performance_judge import PerformanceJudge
from driftline.detectors.performance_sketch import PerformanceLayout, PerformanceSketch
from driftline.streams.metrics import MAX_EXPORTED_VERSIONS, DriftlineCollector, RuntimeStats
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

    # by hand from the pairs: predictions at 0.5 are 1, 1, 0, 1 for labels 1, 0, 0, 1; of the
    # positive/negative score pairs (0.9, 0.8), (0.9, 0.2), (0.6, 0.8), (0.6, 0.2) three are ordered
    assert value("*", "accuracy") == 0.75
    assert value("*", "precision") == 2 / 3
    assert value("*", "auc") == 0.75
    assert value("*", "log_loss") == pytest.approx(math.fsum(-np.log([0.9, 0.2, 0.8, 0.6])) / 4, rel=1e-15)
    assert value("v3", "accuracy") == 1.0 and value("v3", "precision") == 1.0
    assert value("", "accuracy") is None           # "" is a model version, not all of them
    # undefined metrics are left out, not exported as NaN
    one_class = _result([0.3], [1])
    stats.judged("fraud", WindowJudgement((), None), [], {None: one_class})
    assert value("*", "auc") is None and value("*", "accuracy") == 0.0
    assert value("v3", "accuracy") is None         # only the last window's versions remain
    assert b"# TYPE driftline_model_performance gauge" in generate_latest(registry)


def test_model_versions_are_capped_and_apart_from_all_versions() -> None:
    stats = RuntimeStats()
    by_version = {None: _result([0.9], [1]), "": _result([0.2, 0.1], [1, 1])}
    for i in range(MAX_EXPORTED_VERSIONS + 5):            # v00 has 1 pair, v14 has 15
        by_version[f"v{i:02d}"] = _result([0.9] * (i + 1), [1] * (i + 1))
    stats.judged("fraud", WindowJudgement((), None), [], by_version)
    samples = [s for m in _registry(stats).collect() if m.name == "driftline_model_performance"
               for s in m.samples if s.labels["metric"] == "accuracy"]
    got = {s.labels["model_version"]: s.value for s in samples}
    kept = {f"v{i:02d}" for i in range(5, MAX_EXPORTED_VERSIONS + 5)}    # the most pairs
    assert set(got) == {"*"} | kept
    assert got["*"] == 1.0
    by_version[""] = _result([0.2] * 99, [1] * 99)        # now "" has the most pairs: its own series
    stats.judged("fraud", WindowJudgement((), None), [], by_version)
    got = {s.labels["model_version"]: s.value for m in _registry(stats).collect()
           if m.name == "driftline_model_performance" for s in m.samples if s.labels["metric"] == "accuracy"}
    assert got[""] == 0.0 and got["*"] == 1.0 and len(got) == MAX_EXPORTED_VERSIONS + 1


def test_no_labels_no_series() -> None:
    stats = RuntimeStats()
    stats.judged("fraud", WindowJudgement((), None), [])
    stats.judged("fraud", WindowJudgement((), None), [], {})
    text = generate_latest(_registry(stats)).decode()
    assert "driftline_model_performance{" not in text
    assert 'driftline_windows_judged_total{monitor="fraud"} 2.0' in text


def test_a_monitor_judged_elsewhere_now_exports_no_last_window() -> None:
    # its tier-2 partition went to another worker in a rebalance: that worker exports the
    # last window's gauges from now on, this one none (no frozen series beside the live ones)
    stats = RuntimeStats()
    stats.judged("fraud", WindowJudgement((), None), [], {None: _result([0.9, 0.2], [1, 0])})
    stats.judged("spam", WindowJudgement((), None), [], {None: _result([0.9, 0.2], [1, 0])})
    registry = _registry(stats)

    def accuracy(monitor: str) -> float | None:
        return registry.get_sample_value("driftline_model_performance",
                                         {"monitor": monitor, "model_version": "*", "metric": "accuracy"})

    stats.forget_judgements(["fraud"])
    assert accuracy("fraud") is None and accuracy("spam") == 1.0
    assert registry.get_sample_value("driftline_windows_judged_total", {"monitor": "fraud"}) == 1.0   # counters stay


def test_counters_of_a_monitor_start_at_zero_where_the_config_knows_their_labels() -> None:
    """``increase()`` and ``rate() == 0`` rules need the series before the first event or alert."""
    stats = RuntimeStats()
    stats.known("fraud", ["predictions", "labels"], "critical")
    registry = _registry(stats)
    for topic in ("predictions", "labels"):
        assert registry.get_sample_value("driftline_events_total", {"monitor": "fraud", "topic": topic}) == 0
    for kind in ("data_drift", "prediction_drift", "data_quality", "performance", "pipeline"):
        assert registry.get_sample_value("driftline_alerts_total",
                                         {"monitor": "fraud", "kind": kind, "severity": "critical"}) == 0
    assert registry.get_sample_value("driftline_events_late_total", {"monitor": "fraud"}) == 0
    stats.events[("fraud", "predictions")] += 5
    stats.known("fraud", ["predictions"], "critical")      # again (a restart of state): nothing lost
    assert registry.get_sample_value("driftline_events_total", {"monitor": "fraud", "topic": "predictions"}) == 5


def test_firing_alerts_are_exported_until_they_resolve_or_leave_with_their_partition() -> None:
    stats = RuntimeStats()
    registry = _registry(stats)

    def firing() -> set[tuple[str, ...]]:
        return {(s.labels["model_version"], s.labels["kind"], s.labels["subject"], s.labels["severity"])
                for m in registry.collect() if m.name == "driftline_alert_firing" for s in m.samples}

    stats.judged("fraud", WindowJudgement((), None), [], None,
                 [(None, "data_drift", "amount", "warning"), ("v2", "performance", "accuracy", "warning")])
    assert firing() == {("*", "data_drift", "amount", "warning"), ("v2", "performance", "accuracy", "warning")}
    stats.alert_state("fraud", [("v2", "performance", "accuracy", "warning")])    # restored, say
    assert firing() == {("v2", "performance", "accuracy", "warning")}
    stats.forget_judgements(["fraud"])
    assert firing() == set()
    # a real model version spelled "*" would pass for the all-versions alert: not exported
    stats.alert_state("fraud", [("*", "data_drift", "amount", "warning"), (None, "data_drift", "amount", "warning")])
    assert firing() == {("*", "data_drift", "amount", "warning")}
    assert len([s for m in registry.collect() if m.name == "driftline_alert_firing" for s in m.samples]) == 1
