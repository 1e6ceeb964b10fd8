"""The last window's gauges (streams/last_window.py): what the collector exports, and their
round trip through the tier-2 checkpoint (a restarted worker exports them at once)."""

from __future__ import annotations

import numpy as np
import orjson
from driftline.detectors.judgement import FeatureResult, WindowJudgement
from driftline.detectors.performance_judge import PerformanceJudge
from driftline.detectors.performance_sketch import PerformanceLayout, PerformanceSketch
from driftline.streams.last_window import LastWindow
from driftline.streams.metrics import DriftlineCollector, RuntimeStats
from prometheus_client import CollectorRegistry, generate_latest


def _judgement() -> WindowJudgement:
    drifted = FeatureResult("x", "numeric", 1000, 3, psi=0.31, js=0.12, p_value=1e-9,
                            effect_statistic="wasserstein", effect=0.4, drift=True, ks=0.2, wasserstein=0.4)
    # a constant reference: no W1, the effect is the KS statistic; too few values: no p-value
    constant = FeatureResult("c", "numeric", 20, 0, psi=0.0, js=0.0, p_value=None,
                             effect_statistic="ks", effect=0.0, ks=0.0, wasserstein=None)
    empty = FeatureResult("y", "categorical", 0, 5, None, None, None, "js", None, unseen=0)
    prediction = FeatureResult("prediction", "numeric", 1000, 0, psi=0.05, js=0.02, p_value=0.3,
                               effect_statistic="wasserstein", effect=0.01, ks=0.03, wasserstein=0.01)
    return WindowJudgement((drifted, constant, empty), prediction)


def _performance(scores: list[float], labels: list[int]):
    s = PerformanceSketch(PerformanceLayout.binary())
    s.update(np.array(scores), np.array(labels, dtype=np.float64))
    return PerformanceJudge(None).judge(s)


def _scrape(stats: RuntimeStats) -> bytes:
    registry = CollectorRegistry()
    registry.register(DriftlineCollector(stats))
    return generate_latest(registry)


def _gauges(text: bytes) -> list[bytes]:
    """The scrape without the counter of windows judged (a restored worker judged none)."""
    return [line for line in text.splitlines() if b"windows_judged" not in line]


def test_the_gauges_hold_what_the_window_defined() -> None:
    last = LastWindow.of(_judgement(), None, None)
    x, c, y = last.features
    assert x.scores == {"psi": 0.31, "ks": 0.2, "wasserstein": 0.4, "js": 0.12} and x.drift and x.p_value == 1e-9
    assert c.scores == {"psi": 0.0, "ks": 0.0, "js": 0.0} and c.p_value is None
    assert y.scores == {} and not y.drift
    assert last.drifted_ratio == 1 / 3
    assert last.prediction == {"psi": 0.05, "ks": 0.03, "wasserstein": 0.01, "js": 0.02}
    assert LastWindow.of(WindowJudgement((), None), None, None).drifted_ratio is None


def test_performance_stays_until_a_window_measures_some() -> None:
    perf = {None: _performance([0.9, 0.2], [1, 0]), "v2": _performance([0.9], [0])}
    first = LastWindow.of(_judgement(), perf, None)
    assert first.performance[None].count == 2 and first.performance[None].metrics["accuracy"] == 1.0
    assert first.performance["v2"].metrics["accuracy"] == 0.0
    assert "auc" not in first.performance["v2"].metrics          # one class: undefined, left out
    assert LastWindow.of(_judgement(), None, first).performance == first.performance
    assert LastWindow.of(_judgement(), {}, first).performance == first.performance
    # what judge_window hands over for a window without labels: results of 0 pairs
    assert LastWindow.of(_judgement(), {None: _performance([], []), "v2": _performance([], [])},
                         first).performance == first.performance
    newer = {None: _performance([0.2], [1])}
    assert set(LastWindow.of(_judgement(), newer, first).performance) == {None}


def test_the_state_round_trips_through_json_and_scrapes_alike() -> None:
    stats = RuntimeStats()
    stats.judged("fraud", _judgement(), [], {None: _performance([0.9, 0.2], [1, 0]), "": _performance([0.4], [1])})
    state = orjson.loads(orjson.dumps(stats.last_window_state("fraud")))   # as the checkpoint saves it
    assert LastWindow.from_state(state) == stats.last["fraud"]
    restored = RuntimeStats()
    restored.restore_last_window("fraud", state)
    restored.restore_last_window("other", None)          # a checkpoint without gauges: nothing
    assert set(restored.last) == {"fraud"}
    assert _gauges(_scrape(restored)) == _gauges(_scrape(stats))
    assert b'driftline_model_performance{metric="accuracy",model_version="",monitor="fraud"} 0.0' in _scrape(restored)
    assert stats.last_window_state("never judged") is None


def test_a_monitor_judged_elsewhere_leaves_with_its_gauges() -> None:
    stats = RuntimeStats()
    stats.restore_last_window("fraud", LastWindow.of(_judgement(), None, None).to_state())
    stats.forget_judgements(["fraud"])
    assert b"driftline_feature_drift_score{" not in _scrape(stats)
