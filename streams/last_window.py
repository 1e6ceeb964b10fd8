"""The gauges of a monitor's last judged window, as plain values.

The collector exports them until the next window; the tier-2 checkpoint carries them, so that
after a restart or a rebalance the worker that now judges the monitor exports them at once
(they were absent until its next window: an hour without drift gauges for hourly windows).

>>> from driftline.detectors.judgement import FeatureResult, WindowJudgement
>>> r = FeatureResult("x", "numeric", 1000, 0, psi=0.3, js=0.1, p_value=1e-6,
...                   effect_statistic="wasserstein", effect=0.4, drift=True, ks=0.2, wasserstein=0.4)
>>> last = LastWindow.of(WindowJudgement((r,), None), None, None)
>>> last.features[0].scores, last.drifted_ratio
({'psi': 0.3, 'ks': 0.2, 'wasserstein': 0.4, 'js': 0.1}, 1.0)
>>> LastWindow.from_state(last.to_state()) == last
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from driftline.detectors.judgement import FeatureResult, WindowJudgement
from driftline.detectors.performance_judge import PerformanceResult

# The drift statistics exported per feature and for the prediction (DESIGN 3.7).
STATISTICS = ("psi", "ks", "wasserstein", "js")


@dataclass(frozen=True)
class FeatureGauges:
    name: str
    scores: dict[str, float]      # statistic -> value, those defined in the window
    drift: bool
    p_value: float | None

    @classmethod
    def of(cls, r: FeatureResult) -> FeatureGauges:
        return cls(r.name, _scores(r), r.drift, r.p_value)


@dataclass(frozen=True)
class VersionPerformance:
    count: int                    # joined pairs: which versions are exported is decided by it
    metrics: dict[str, float]     # the metrics defined in the window


@dataclass(frozen=True)
class LastWindow:
    features: tuple[FeatureGauges, ...]
    prediction: dict[str, float] | None
    # model version (None: all) -> performance; that of the last window that measured any
    performance: dict[str | None, VersionPerformance]

    @classmethod
    def of(cls, judgement: WindowJudgement, performance: dict[str | None, PerformanceResult] | None,
           before: LastWindow | None) -> LastWindow:
        """``before``: the monitor's previous last window, whose performance stays when this
        window measured none (labels come late and sparse)."""
        # a monitor that joins labels judges every window's pairs, so ``performance`` holds a
        # result (of 0 pairs) even for a window whose labels have not come: that one measured none
        if performance and any(r.count for r in performance.values()):
            perf = {v: VersionPerformance(r.count, {k: x for k, x in r.metrics.items() if x is not None})
                    for v, r in performance.items()}
        else:
            perf = {} if before is None else before.performance
        return cls(tuple(map(FeatureGauges.of, judgement.features)),
                   None if judgement.prediction is None else _scores(judgement.prediction), perf)

    @property
    def drifted_ratio(self) -> float | None:
        if not self.features:
            return None
        return sum(f.drift for f in self.features) / len(self.features)

    def to_state(self) -> dict[str, Any]:
        return {
            "features": [[f.name, f.scores, f.drift, f.p_value] for f in self.features],
            "prediction": self.prediction,
            "performance": [[v, p.count, p.metrics] for v, p in self.performance.items()],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LastWindow:
        return cls(
            tuple(FeatureGauges(str(name), _floats(scores), bool(drift), None if p is None else float(p))
                  for name, scores, drift, p in state["features"]),
            None if state["prediction"] is None else _floats(state["prediction"]),
            {v: VersionPerformance(int(count), _floats(metrics)) for v, count, metrics in state["performance"]},
        )


def _scores(r: FeatureResult) -> dict[str, float]:
    return {s: float(v) for s in STATISTICS if (v := getattr(r, s)) is not None}


def _floats(values: dict[str, Any]) -> dict[str, float]:
    return {str(k): float(v) for k, v in values.items()}
