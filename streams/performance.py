"""Performance on joined labels, from a monitor's config: how its pairs are kept (the layout),
how they are judged, and the baseline ``driftline reference build`` records."""

from __future__ import annotations

import numpy as np
from driftline.detectors.performance_baseline import PerformanceBaseline
from driftline.detectors.performance_judge import PerformanceJudge, PerformanceParams
from driftline.detectors.performance_sketch import PerformanceLayout, PerformanceSketch
from driftline.detectors.reference import CategoricalReference, NumericReference
from driftline.schemas.config import MonitorConfig

from .exceptions import InputError, ReferenceProfileError


def performance_layout(cfg: MonitorConfig,
                       prediction: NumericReference | CategoricalReference | None) -> PerformanceLayout:
    """The layout of the monitor's task; classification classes are the reference's predicted
    classes, most frequent first."""
    if cfg.performance is None or cfg.prediction is None:
        raise InputError(f"monitor {cfg.name!r} does not judge performance on labels; add a "
                         f"`performance:` section (`performance: {{}}` for the defaults) to it")
    task = cfg.performance.task
    if task == "binary":
        return PerformanceLayout.binary(cfg.performance.threshold)
    if task == "regression":
        return PerformanceLayout.regression()
    classes = prediction.categories if isinstance(prediction, CategoricalReference) else ()
    return PerformanceLayout.classification(classes)


def performance_judge(cfg: MonitorConfig, baseline: PerformanceBaseline | None, source: str) -> PerformanceJudge:
    """The judge of the monitor's windows; a baseline of another task or threshold is refused."""
    p = cfg.performance
    assert p is not None
    if baseline is not None:
        if baseline.task != p.task:
            raise ReferenceProfileError(
                f"{source}: its performance baseline is for task {baseline.task}, monitor {cfg.name!r} "
                f"has task {p.task}; rebuild it with `driftline reference build`")
        if p.task == "binary" and baseline.threshold != p.threshold:
            raise ReferenceProfileError(
                f"{source}: its performance baseline was taken at threshold {baseline.threshold}, monitor "
                f"{cfg.name!r} has performance.threshold {p.threshold}; rebuild it with `driftline reference build`")
    params = PerformanceParams(p.alpha, p.accuracy_drop, p.mae_increase, p.min_count, p.min, p.max)
    return PerformanceJudge(baseline, params)


def training_baseline(cfg: MonitorConfig, prediction: NumericReference | CategoricalReference | None,
                      predictions: np.ndarray, labels: np.ndarray) -> PerformanceBaseline | None:
    """The model's performance over the rows that have both a prediction and a label (None
    when no row has both)."""
    sketch = PerformanceSketch(performance_layout(cfg, prediction))
    sketch.update(predictions, labels)
    return PerformanceBaseline.of(sketch) if sketch.count else None
