"""The sketch of one window (for one model version): a numeric block, a categorical block and
the prediction, all mergeable. ``MonitorLayout`` says which features go where; it is derived
from the reference profile, so every partition of every worker bins values identically.

>>> import numpy as np
>>> from .reference import NumericReference, ReferenceProfile
>>> ref = ReferenceProfile({"x": NumericReference.build(np.arange(100.0))}, {})
>>> layout = MonitorLayout.from_reference(ref)
>>> s = WindowSketch(layout)
>>> s.update(ColumnBatch(np.array([[1.0], [2.0]]), (), None))
>>> s.events, s.merge(s).events
(2, 4)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .categorical_sketch import CategoricalLayout, CategoricalSketch
from .numeric_sketch import NumericLayout, NumericSketch
from .performance_sketch import PerformanceLayout, PerformanceSketch
from .reference import CategoricalReference, NumericReference, ReferenceProfile


@dataclass(frozen=True, eq=False)
class ColumnBatch:
    """Decoded values of a batch of events, as columns.

    ``numeric``: ``(n, k)`` float array in layout order (NaN = null); ``categorical``: one object
    array per categorical feature (str or None); ``prediction``: float array (NaN = null) for a
    numeric prediction, object array for class labels, or None when not monitored.
    ``labels``: the ground truth joined to each event (float array with NaN, or object array
    with None, where an event has none), or None when labels are not joined.
    """

    numeric: np.ndarray
    categorical: tuple[np.ndarray, ...]
    prediction: np.ndarray | None
    labels: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.numeric.shape[0])

    def take(self, rows: np.ndarray) -> ColumnBatch:
        return ColumnBatch(
            self.numeric[rows],
            tuple(c[rows] for c in self.categorical),
            None if self.prediction is None else self.prediction[rows],
            None if self.labels is None else self.labels[rows],
        )


@dataclass(frozen=True, eq=False)
class MonitorLayout:
    numeric: NumericLayout
    categorical: CategoricalLayout
    prediction: NumericLayout | CategoricalLayout | None
    performance: PerformanceLayout | None = None     # None: no labels joined

    @classmethod
    def from_reference(
        cls,
        ref: ReferenceProfile,
        bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
        performance: PerformanceLayout | None = None,
    ) -> MonitorLayout:
        """``bounds``: the configured ``(min, max)`` of numeric features (out-of-range counts);
        ``performance``: how (prediction, label) pairs are kept, when labels are joined."""
        bounds = bounds or {}
        names = tuple(ref.numeric)
        numeric = NumericLayout.from_edges(
            names,
            tuple(ref.numeric[n].fine_edges for n in names),
            tuple(bounds.get(n, (None, None))[0] for n in names),
            tuple(bounds.get(n, (None, None))[1] for n in names),
        )
        cnames = tuple(ref.categorical)
        categorical = CategoricalLayout.from_categories(
            cnames, tuple(ref.categorical[n].categories for n in cnames)
        )
        pred: NumericLayout | CategoricalLayout | None = None
        if isinstance(ref.prediction, NumericReference):
            pred = NumericLayout.from_edges(("prediction",), (ref.prediction.fine_edges,))
        elif isinstance(ref.prediction, CategoricalReference):
            pred = CategoricalLayout.from_categories(("prediction",), (ref.prediction.categories,))
        return cls(numeric, categorical, pred, performance)


def _new_prediction_sketch(layout: NumericLayout | CategoricalLayout | None):
    if isinstance(layout, NumericLayout):
        return NumericSketch(layout)
    if isinstance(layout, CategoricalLayout):
        return CategoricalSketch(layout)
    return None


class WindowSketch:
    """Everything driftline keeps about one window of one model version."""

    __slots__ = ("_categorical", "_events", "_layout", "_numeric", "_performance", "_prediction")

    def __init__(self, layout: MonitorLayout) -> None:
        self._layout = layout
        self._events = 0
        self._numeric = NumericSketch(layout.numeric)
        self._categorical = CategoricalSketch(layout.categorical)
        self._prediction = _new_prediction_sketch(layout.prediction)
        self._performance = None if layout.performance is None else PerformanceSketch(layout.performance)

    @property
    def layout(self) -> MonitorLayout:
        return self._layout

    @property
    def events(self) -> int:
        return self._events

    @property
    def numeric(self) -> NumericSketch:
        return self._numeric

    @property
    def categorical(self) -> CategoricalSketch:
        return self._categorical

    @property
    def prediction(self) -> NumericSketch | CategoricalSketch | None:
        return self._prediction

    @property
    def performance(self) -> PerformanceSketch | None:
        """(prediction, label) pairs, when the monitor joins labels."""
        return self._performance

    def update(self, batch: ColumnBatch) -> None:
        n = len(batch)
        if n == 0:
            return
        self._events += n
        if self._layout.numeric.k:
            self._numeric.update(batch.numeric)
        if self._layout.categorical.k:
            self._categorical.update(batch.categorical)
        if isinstance(self._prediction, NumericSketch) and batch.prediction is not None:
            self._prediction.update(np.asarray(batch.prediction, dtype=np.float64).reshape(-1, 1))
        elif isinstance(self._prediction, CategoricalSketch) and batch.prediction is not None:
            self._prediction.update([batch.prediction])
        if self._performance is not None and batch.labels is not None and batch.prediction is not None:
            self._performance.update(batch.prediction, batch.labels)

    def add_pairs(self, prediction: np.ndarray, labels: np.ndarray) -> None:
        """Count (prediction, label) pairs whose events :meth:`update` already counted (a label
        that arrived after its prediction); only the performance sketch changes."""
        if self._performance is None:
            raise ValueError("this window sketch keeps no performance: its layout joins no labels")
        self._performance.update(prediction, labels)

    def merge(self, other: WindowSketch) -> WindowSketch:
        """A new sketch of both; neither operand changes. Raises ``ValueError`` when the two
        were built on different references."""
        out = WindowSketch.__new__(WindowSketch)
        out._layout = self._layout
        out._events = self._events + other._events
        out._numeric = self._numeric.merge(other._numeric)
        out._categorical = self._categorical.merge(other._categorical)
        if (self._prediction is None) != (other._prediction is None):
            raise ValueError("cannot merge a window sketch with a prediction into one without")
        out._prediction = None if self._prediction is None else self._prediction.merge(other._prediction)
        if (self._performance is None) != (other._performance is None):
            raise ValueError("cannot merge a window sketch with labels into one without")
        out._performance = None if self._performance is None else self._performance.merge(other._performance)
        return out

    def to_state(self) -> dict:
        state = {
            "events": self._events,
            "numeric": self._numeric.to_state(),
            "categorical": self._categorical.to_state(),
            "prediction": None if self._prediction is None else self._prediction.to_state(),
        }
        if self._performance is not None:   # absent without labels: such states are unchanged
            state["performance"] = self._performance.to_state()
        return state

    @classmethod
    def from_state(cls, layout: MonitorLayout, state: dict) -> WindowSketch:
        out = cls(layout)
        out._events = int(state["events"])
        out._numeric = NumericSketch.from_state(layout.numeric, state["numeric"])
        out._categorical = CategoricalSketch.from_state(layout.categorical, state["categorical"])
        if out._prediction is not None:
            out._prediction = type(out._prediction).from_state(layout.prediction, state["prediction"])
        if out._performance is not None and "performance" in state:
            # a snapshot taken before labels were joined has none: its windows have no pairs
            # yet, so the empty PerformanceSketch of ``cls(layout)`` is exactly their state
            out._performance = PerformanceSketch.from_state(layout.performance, state["performance"])
        return out

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, WindowSketch)
            and self._events == other._events
            and self._numeric == other._numeric
            and self._categorical == other._categorical
            and self._prediction == other._prediction
            and self._performance == other._performance
        )

    __hash__ = None  # type: ignore[assignment]
