"""Mergeable sketch of a model's performance over one window: (prediction, label) pairs.

Three tasks, fixed by the monitor's config:

- ``binary``: a numeric score and labels 0 / 1. Kept: the pair count, the correct count at
  ``threshold`` (a score >= threshold predicts 1), the 2 x 2 confusion counts, a histogram of
  the scores of each label over ``bins`` equal bins of [0, 1] (scores outside are clipped into
  the end bins), from which the ROC AUC is read, and the exact sum of the log-loss terms;
- ``classification``: class labels predicted and observed. Kept: the pair count, the correct
  count (predicted == observed, compared as text) and the confusion counts over the layout's
  classes plus one "other" class for every class beyond them. A pair whose label and
  prediction both fold into "other" is on the diagonal only when they are the same class; one
  extra count (``other_mismatch``) keeps the other->other pairs that differ, so the diagonal
  is exactly the correct pairs;
- ``regression``: numeric predictions and labels. Kept: the pair count and exact sums of the
  error (prediction - label), of its absolute value, of the label, and of their squares.

Counts add and :class:`~driftline.detectors.exact_sum.ExactSums` are exact and order-free, so
``merge`` is exact: ``a.merge(b)`` equals the sketch of both windows' pairs, whatever the order.
A pair counts only when both the prediction and the label are present (not NaN / None).

>>> import numpy as np
>>> s = PerformanceSketch(PerformanceLayout.binary(threshold=0.5))
>>> s.update(np.array([0.9, 0.2, 0.7, np.nan]), np.array([1.0, 0.0, 0.0, 1.0]))
>>> s.count, s.correct, s.confusion.tolist()
(3, 2, [[1, 1], [0, 1]])
>>> r = PerformanceSketch(PerformanceLayout.regression())
>>> r.update(np.array([2.0, 3.0]), np.array([1.0, 3.5]))
>>> r.count, r.sums().tolist()
(2, [0.5, 1.5, 4.5])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import repeat

import numpy as np

from .exact_sum import ExactSums

TASKS = ("binary", "classification", "regression")
# 100 equal score bins on [0, 1] (200 counts per window): the binned AUC differs from the
# exact one only through positive/negative pairs that share a bin, by at most half their share
# (performance_metrics.auc_error_bound): 1 / (2 x 100) = 0.005 when the scores of both labels
# spread evenly over [0, 1], about 0.004 for the logistic scores of the tests (which hold it
# below 0.005); more only where the scores crowd into a few bins.
SCORE_BINS = 100
# Confusion counts grow with the square of the classes: 50 classes + "other" are 2,601 counts
# (~20 kB) per window sketch; rarer classes fold into "other".
MAX_CLASSES = 50
# Scores are clipped to [eps, 1 - eps] in the log loss so that a confident miss costs
# ln(1e15) = 34.5 instead of infinity (sklearn's long-standing default eps).
LOG_LOSS_EPS = 1e-15
# Columns of the exact sums per task: the log-loss terms (binary); the error, |error| and the
# label (regression; the squares come with them).
_SUM_COLUMNS = {"binary": 1, "classification": 0, "regression": 3}


@dataclass(frozen=True, eq=False)
class PerformanceLayout:
    """What a performance sketch keeps: the task and its fixed bins or classes."""

    task: str
    threshold: float = 0.5                 # binary: a score >= threshold predicts 1
    classes: tuple[str, ...] = ()          # classification: the named classes (then "other")
    bins: int = 0                          # binary: equal score bins on [0, 1]
    # class -> confusion index; derived from ``classes`` (never passed), so a layout built
    # directly folds exactly the classes beyond ``classes`` into "other", like the factories'
    lookup: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; expected one of {', '.join(TASKS)}")
        classes = tuple(str(c) for c in self.classes)
        if len(set(classes)) != len(classes):
            raise ValueError("classification classes must be distinct")
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "lookup", {c: i for i, c in enumerate(classes)})

    @classmethod
    def binary(cls, threshold: float = 0.5, bins: int = SCORE_BINS) -> PerformanceLayout:
        if not 0.0 <= threshold <= 1.0 or bins < 1:
            raise ValueError("a binary layout needs a threshold in [0, 1] and at least 1 score bin")
        return cls("binary", float(threshold), ("0", "1"), int(bins))

    @classmethod
    def classification(cls, classes: Sequence[str], max_classes: int = MAX_CLASSES) -> PerformanceLayout:
        """``classes``: most frequent first (a reference's predicted categories); the first
        ``max_classes`` are kept, the rest fold into "other"."""
        return cls("classification", 0.5, tuple(str(c) for c in classes)[:max_classes], 0)

    @classmethod
    def regression(cls) -> PerformanceLayout:
        return cls("regression")

    @property
    def k(self) -> int:
        """Side of the confusion matrix (0 for regression)."""
        if self.task == "binary":
            return 2
        return len(self.classes) + 1 if self.task == "classification" else 0

    @property
    def sum_columns(self) -> int:
        return _SUM_COLUMNS[self.task]

    @property
    def cells(self) -> int:
        """Confusion counts kept: k x k, plus other->other-but-different (classification)."""
        return self.k * self.k + (self.task == "classification")

    def compatible(self, other: object) -> bool:
        return self is other or (
            isinstance(other, PerformanceLayout)
            and (self.task, self.threshold, self.classes, self.bins)
            == (other.task, other.threshold, other.classes, other.bins)
        )


class PerformanceSketch:
    """Window state of (prediction, label) pairs; see the module docstring."""

    __slots__ = ("_confusion", "_correct", "_count", "_hist", "_layout", "_sums")

    def __init__(self, layout: PerformanceLayout) -> None:
        self._layout = layout
        self._count = 0
        self._correct = 0
        self._confusion = np.zeros(layout.cells, dtype=np.int64)
        self._hist = np.zeros(2 * layout.bins, dtype=np.int64)
        self._sums = ExactSums(layout.sum_columns)

    @property
    def layout(self) -> PerformanceLayout:
        return self._layout

    @property
    def count(self) -> int:
        """Pairs with both a prediction and a label."""
        return self._count

    @property
    def correct(self) -> int:
        """Pairs predicted right (binary: at the threshold); 0 for regression."""
        return self._correct

    @property
    def confusion(self) -> np.ndarray:
        """``(k, k)`` counts: row = label's class, column = predicted class. Classification:
        pairs whose label and prediction both fold into "other" but differ are not in it (see
        ``other_mismatch``), so the diagonal holds exactly the correct pairs."""
        k = self._layout.k
        return self._confusion[:k * k].reshape(k, k).copy()

    @property
    def other_mismatch(self) -> int:
        """Classification: pairs whose label and prediction are different classes that both
        fold into "other" (wrong, in the "other" row, off the diagonal); 0 otherwise."""
        k = self._layout.k
        return int(self._confusion[k * k]) if self._layout.task == "classification" else 0

    @property
    def histogram(self) -> np.ndarray:
        """Binary: ``(2, bins)`` score counts of the pairs labelled 0 (row 0) and 1 (row 1)."""
        return self._hist.reshape(2, self._layout.bins).copy()

    def sums(self) -> np.ndarray:
        """Correctly rounded sums of the task's columns (see ``_SUM_COLUMNS``)."""
        return self._sums.sums()

    def sums_of_squares(self) -> np.ndarray:
        return self._sums.sums_of_squares()

    def mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and sample standard deviation of each sum column over the pairs."""
        return self._sums.mean_std(np.full(self._sums.k, self._count, dtype=np.int64))

    def root_mean_square(self, j: int) -> float:
        """sqrt(mean of squares) of sum column ``j`` over the pairs (no overflow on the way)."""
        return self._sums.root_mean_square(j, self._count)

    def squares_over_spread(self, j: int, i: int) -> float | None:
        """sum of squares of column ``j`` / sum of squared deviations of column ``i`` (see
        ``ExactSums.squares_over_spread``)."""
        return self._sums.squares_over_spread(j, i, self._count)

    def update(self, prediction: np.ndarray, labels: np.ndarray) -> None:
        """Add pairs ``(prediction[i], labels[i])``; rows missing either one are skipped.

        Binary and regression take float arrays (NaN = missing; binary labels 0 or 1),
        classification object arrays of str (None = missing).
        """
        if len(prediction) != len(labels):
            raise ValueError(f"{len(prediction)} predictions but {len(labels)} labels")
        task = self._layout.task
        if task == "classification":
            self._update_classes(np.asarray(prediction, dtype=object), np.asarray(labels, dtype=object))
            return
        pred = np.asarray(prediction, dtype=np.float64)
        y = np.asarray(labels, dtype=np.float64)
        present = ~(np.isnan(pred) | np.isnan(y))
        if not present.all():
            pred, y = pred[present], y[present]
        if task == "binary":
            self._update_binary(pred, y)
        else:
            self._update_regression(pred, y)

    def _update_binary(self, score: np.ndarray, y: np.ndarray) -> None:
        if score.size == 0:
            return
        if np.any((y != 0.0) & (y != 1.0)):
            raise ValueError("binary labels must be 0 or 1")
        layout = self._layout
        yi = y.astype(np.int64)
        hat = (score >= layout.threshold).astype(np.int64)
        self._confusion += np.bincount(yi * 2 + hat, minlength=4)
        self._correct += int(np.count_nonzero(hat == yi))
        # bin i holds the scores s with floor(s * bins) == i; 1.0 joins the last bin
        where = np.minimum((np.clip(score, 0.0, 1.0) * layout.bins).astype(np.int64), layout.bins - 1)
        self._hist += np.bincount(yi * layout.bins + where, minlength=2 * layout.bins)
        q = np.clip(score, LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS)
        loss = -np.where(yi == 1, np.log(q), np.log1p(-q))
        self._sums.add_values(loss, np.zeros(loss.size, dtype=np.int64))
        self._count += int(score.size)

    def _update_classes(self, pred: np.ndarray, y: np.ndarray) -> None:
        present = (pred != None) & (y != None)  # noqa: E711 - elementwise comparison
        if not present.all():
            pred, y = pred[present], y[present]
        n = int(pred.size)
        if n == 0:
            return
        layout = self._layout
        other = len(layout.classes)
        p_idx = np.fromiter(map(layout.lookup.get, pred, repeat(other)), dtype=np.int64, count=n)
        y_idx = np.fromiter(map(layout.lookup.get, y, repeat(other)), dtype=np.int64, count=n)
        cell = y_idx * layout.k + p_idx
        same = np.asarray(pred == y, dtype=bool)
        # both folded into "other" yet different classes: the extra cell, off the diagonal
        cell[(cell == other * layout.k + other) & ~same] = layout.k * layout.k
        self._confusion += np.bincount(cell, minlength=layout.cells)
        self._correct += int(np.count_nonzero(same))
        self._count += n

    def _update_regression(self, pred: np.ndarray, y: np.ndarray) -> None:
        with np.errstate(over="ignore"):
            error = pred - y
        finite = np.isfinite(error)      # |error| beyond float64 (> 1.8e308): not a usable pair
        if not finite.all():
            error, y = error[finite], y[finite]
        if error.size == 0:
            return
        self._sums.update(np.column_stack([error, np.abs(error), y]))
        self._count += int(error.size)

    def merge(self, other: PerformanceSketch) -> PerformanceSketch:
        """A new sketch of both windows' pairs; neither operand changes."""
        if not isinstance(other, PerformanceSketch) or not self._layout.compatible(other._layout):
            raise ValueError("cannot merge performance sketches of different tasks, thresholds, "
                             "classes or score bins")
        out = PerformanceSketch(self._layout)
        out._count = self._count + other._count
        out._correct = self._correct + other._correct
        out._confusion = self._confusion + other._confusion
        out._hist = self._hist + other._hist
        out._sums = self._sums.merge(other._sums)
        return out

    def to_state(self) -> dict:
        return {
            "count": self._count,
            "correct": self._correct,
            "confusion": self._confusion.tolist(),
            "hist": self._hist.tolist(),
            "sums": self._sums.to_state(),
        }

    @classmethod
    def from_state(cls, layout: PerformanceLayout, state: dict) -> PerformanceSketch:
        out = cls(layout)
        confusion = np.asarray(state["confusion"], dtype=np.int64)
        hist = np.asarray(state["hist"], dtype=np.int64)
        sums = ExactSums.from_state(state["sums"])
        if confusion.shape != out._confusion.shape or hist.shape != out._hist.shape \
                or sums.k != layout.sum_columns:
            raise ValueError("snapshot does not match the performance layout of this monitor")
        out._count = int(state["count"])
        out._correct = int(state["correct"])
        out._confusion = confusion
        out._hist = hist
        out._sums = sums
        return out

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, PerformanceSketch)
            and self._layout.compatible(other._layout)
            and self._count == other._count
            and self._correct == other._correct
            and np.array_equal(self._confusion, other._confusion)
            and np.array_equal(self._hist, other._hist)
            and self._sums == other._sums
        )

    __hash__ = None  # type: ignore[assignment]
