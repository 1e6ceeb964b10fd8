"""Performance metrics read from a :class:`~.performance_sketch.PerformanceSketch`.

Every metric is ``None`` where it is undefined (no pairs, AUC with one label class only,
precision with nothing predicted positive, R^2 of constant labels).

- ``accuracy`` = correct / count; ``balanced_accuracy`` = mean recall over the label classes
  present (with more than ``MAX_CLASSES`` classes, the folded "other" class counts as one: its
  recall is the share of its pairs predicted as their very class);
- binary: ``precision``, ``recall``, ``f1`` of class 1 at the threshold; ``auc`` = ROC AUC from
  the score histograms, pairs in the same bin counted as ties (see :func:`auc_error_bound`);
  ``log_loss`` = mean of -[y ln p + (1 - y) ln(1 - p)], p clipped to [1e-15, 1 - 1e-15];
  ``base_rate`` = share of labels equal to 1;
- regression (error = prediction - label): ``mae``, ``rmse``, ``bias`` (mean error) and
  ``r2`` = 1 - sum(error^2) / sum((label - mean label)^2).

>>> import numpy as np
>>> from .performance_sketch import PerformanceLayout, PerformanceSketch
>>> s = PerformanceSketch(PerformanceLayout.binary())
>>> s.update(np.array([0.9, 0.8, 0.3, 0.1]), np.array([1.0, 0.0, 1.0, 0.0]))
>>> m = metrics(s)
>>> m["accuracy"], m["auc"], m["precision"]
(0.5, 0.75, 0.5)
"""

from __future__ import annotations

import math

import numpy as np

from .performance_sketch import PerformanceSketch

METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "auc", "log_loss",
               "base_rate"),
    "classification": ("accuracy", "balanced_accuracy"),
    "regression": ("mae", "rmse", "bias", "r2"),
}
# Metrics an absolute threshold can bound: a floor for the first kind, a ceiling for the other.
HIGHER_IS_BETTER = frozenset({"accuracy", "balanced_accuracy", "precision", "recall", "f1", "auc", "r2"})
LOWER_IS_BETTER = frozenset({"log_loss", "mae", "rmse"})
# The values each metric can take (None: unbounded); a stored baseline outside is refused.
RANGES: dict[str, tuple[float | None, float | None]] = {
    **dict.fromkeys(("accuracy", "balanced_accuracy", "precision", "recall", "f1", "auc", "base_rate"),
                    (0.0, 1.0)),
    **dict.fromkeys(("log_loss", "mae", "rmse"), (0.0, None)),
    "r2": (None, 1.0),
    "bias": (None, None),
}


def metrics(sketch: PerformanceSketch) -> dict[str, float | None]:
    """The task's metrics (``METRICS[task]``, in that order)."""
    task = sketch.layout.task
    if sketch.count == 0:
        return dict.fromkeys(METRICS[task])
    if task == "regression":
        return _regression(sketch)
    out: dict[str, float | None] = {
        "accuracy": sketch.correct / sketch.count,
        "balanced_accuracy": balanced_accuracy(sketch.confusion, sketch.other_mismatch),
    }
    if task == "binary":
        out |= _binary(sketch)
    return out


def balanced_accuracy(confusion: np.ndarray, other_mismatch: int = 0) -> float | None:
    """Mean recall of the label classes present; ``other_mismatch``: wrong pairs of the last
    ("other") row kept outside the matrix (see ``PerformanceSketch.confusion``).

    >>> balanced_accuracy(np.array([[1, 0], [0, 0]]), other_mismatch=2)
    0.5
    """
    rows = confusion.sum(axis=1)
    rows[-1] += other_mismatch
    present = rows > 0
    if not present.any():
        return None
    return float(np.mean(np.diag(confusion)[present] / rows[present]))


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _binary(s: PerformanceSketch) -> dict[str, float | None]:
    (_tn, fp), (fn, tp) = s.confusion.tolist()
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    f1 = None
    if precision is not None and recall is not None:
        f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    neg, pos = s.histogram
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "auc": auc_binned(pos, neg),
        "log_loss": float(s.sums()[0]) / s.count,
        "base_rate": (tp + fn) / s.count,
    }


def auc_binned(pos: np.ndarray, neg: np.ndarray) -> float | None:
    """ROC AUC from per-bin counts of positives and negatives (bins in score order), a
    positive and a negative in the same bin counting one half; exact integer arithmetic.

    >>> auc_binned(np.array([0, 1, 1]), np.array([1, 1, 0]))
    0.875
    """
    counts = _class_counts(pos, neg)
    if counts is None:
        return None
    p, q, n1, n0 = counts
    below = 0           # negatives in lower bins
    twice = 0           # 2 x (wins + ties / 2)
    for pi, qi in zip(p, q, strict=True):
        twice += pi * (2 * below + qi)
        below += qi
    return twice / (2 * n1 * n0)


def _class_counts(pos: np.ndarray, neg: np.ndarray) -> tuple[list[int], list[int], int, int] | None:
    """Bin counts as Python ints (no overflow) and the class totals; None if a class is empty."""
    p, q = [int(v) for v in pos], [int(v) for v in neg]
    n1, n0 = sum(p), sum(q)
    return None if n1 == 0 or n0 == 0 else (p, q, n1, n0)


def auc_error_bound(pos: np.ndarray, neg: np.ndarray) -> float | None:
    """Largest possible gap between :func:`auc_binned` and the exact AUC of the scores
    behind the bins: each positive/negative pair sharing a bin counts 1/2 instead of 0, 1/2
    or 1, so the gap is at most sum_i pos_i neg_i / (2 n1 n0).

    >>> auc_error_bound(np.array([0, 1, 1]), np.array([1, 1, 0]))
    0.125
    """
    counts = _class_counts(pos, neg)
    if counts is None:
        return None
    p, q, n1, n0 = counts
    return sum(a * b for a, b in zip(p, q, strict=True)) / (2 * n1 * n0)


def _regression(s: PerformanceSketch) -> dict[str, float | None]:
    # columns: error, |error|, label; rmse and r2 from the exact sums, so errors whose squares
    # are beyond float range still give their finite rmse (and r2 its value or None)
    means, _ = s.mean_std()
    rmse = s.root_mean_square(0)
    ratio = s.squares_over_spread(0, 2)         # SSE / total sum of squares of the labels
    return {
        "mae": _finite_or_none(means[1]),
        "rmse": _finite_or_none(rmse),
        "bias": _finite_or_none(means[0]),
        "r2": None if ratio is None else 1.0 - ratio,
    }


def _finite_or_none(v: float) -> float | None:
    """A metric beyond float range has no honest float value: None (null in reports)."""
    return float(v) if math.isfinite(v) else None


def abs_error_std(sketch: PerformanceSketch) -> float | None:
    """Regression: sample standard deviation of |error| (None below 2 pairs)."""
    if sketch.layout.task != "regression" or sketch.count < 2:
        return None
    value = float(sketch.mean_std()[1][1])
    return value if np.isfinite(value) else None
