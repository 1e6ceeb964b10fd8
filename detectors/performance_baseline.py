"""The model's performance on the reference data: what "no degradation" looks like.

Built by ``driftline reference build`` from the (prediction, label) pairs of the training or
validation file, with the same task, threshold and classes as the live windows, and kept in
the reference profile. The decision rule compares each window with it.

>>> import numpy as np
>>> from .performance_sketch import PerformanceLayout, PerformanceSketch
>>> s = PerformanceSketch(PerformanceLayout.binary())
>>> s.update(np.array([0.9, 0.8, 0.3, 0.1]), np.array([1.0, 0.0, 1.0, 0.0]))
>>> b = PerformanceBaseline.of(s)
>>> b.count, b.correct, b.metrics["accuracy"], b.metrics["auc"]
(4, 2, 0.5, 0.75)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .performance_metrics import abs_error_std, metrics
from .performance_sketch import TASKS, PerformanceSketch


@dataclass(frozen=True)
class PerformanceBaseline:
    """Counts the tests need exactly, and the task's metrics for people.

    ``correct``: pairs predicted right (binary and classification); ``abs_error_std``: sample
    standard deviation of |error| (regression), for the test of the mean absolute error.
    """

    task: str
    count: int
    correct: int
    metrics: dict[str, float | None] = field(default_factory=dict)
    threshold: float | None = None          # binary: the threshold the counts were taken at
    abs_error_std: float | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"unknown performance task {self.task!r}")
        if self.count < 1 or not 0 <= self.correct <= self.count:
            raise ValueError("a performance baseline needs at least 1 pair and 0 <= correct <= count")

    @classmethod
    def of(cls, sketch: PerformanceSketch) -> PerformanceBaseline:
        layout = sketch.layout
        return cls(
            task=layout.task,
            count=sketch.count,
            correct=sketch.correct,
            metrics=metrics(sketch),
            threshold=layout.threshold if layout.task == "binary" else None,
            abs_error_std=abs_error_std(sketch),
        )
