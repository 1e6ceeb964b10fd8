"""The label join: labels wait here, by event id, for the prediction they belong to.

- ids are compared as text, so an integer id 7 and the string "7" are the same event;
- a duplicate label of an event id replaces the earlier one: the last label read wins;
- a label joins one prediction, the first valid one with its id (a repeated prediction gets
  none), and leaves the store; labels still waiting at the end are *unmatched*;
- every label is accounted for (:class:`JoinCounts`): read = pairs + unmatched + dropped, a
  label being *dropped* when a later label of its event id replaced it (``duplicate``), or
  when it left the store with a prediction that made no pair: a prediction late for every
  window it belongs to (``late``) or without a usable value (``null_prediction``: null, or a
  regression error beyond the float range);
- the store is bounded: more than ``cap`` waiting labels raise :class:`LabelCapError`, never
  a silent truncation (``evict=True``, in ``run``: the oldest leave, counted as unmatched).

Joining is vectorized per batch: ``dict.update`` and ``map(dict.pop, ...)`` run in C.

>>> import numpy as np
>>> from .label_decode import LabelBatch
>>> store = LabelStore(cap=10, dtype=np.float64)
>>> store.add(LabelBatch(["a", 7, "a"], np.array([1.0, 0.0, 0.0]), np.full(3, np.nan), ()))
>>> store.pending, store.lookup(["7", "a", "zz"]).tolist(), store.pending
(2, [0.0, 0.0, nan], 0)
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass
from itertools import repeat
from operator import is_not

import numpy as np
from driftline.detectors.window_sketch import ColumnBatch

from .exceptions import InputError
from .label_decode import LabelBatch
from .records import DecodedBatch


class LabelCapError(InputError):
    """More labels wait for their predictions than ``limits.max_pending_labels`` allows."""


def as_text(ids: list) -> list:
    """Event ids as text (an integer id 7 and the string \"7\" are one event)."""
    return ids if set(map(type, ids)) <= {str} else list(map(str, ids))


@dataclass
class JoinCounts:
    """What became of the label events one monitor read."""

    read: int = 0            # valid labels added to the store
    invalid: int = 0         # label events sent to the dead letters
    pairs: int = 0           # labels joined to a prediction, the pair counted in its windows
    unmatched: int = 0       # labels that met no prediction by the end of the input
    duplicate: int = 0       # dropped: a later label of the same event id replaced it
    late: int = 0            # dropped: its prediction came after all its windows had closed
    null_prediction: int = 0  # dropped: its prediction had no usable value

    def plus(self, other: JoinCounts) -> JoinCounts:
        """Both counts added up (neither changes)."""
        return JoinCounts(**{f.name: getattr(self, f.name) + getattr(other, f.name)
                             for f in dataclasses.fields(self)})

    @property
    def dropped(self) -> dict[str, int]:
        """Dropped labels by reason (the report's ``performance.dropped``)."""
        return {"late": self.late, "null_prediction": self.null_prediction, "duplicate": self.duplicate}


class LabelStore:
    def __init__(self, cap: int, dtype: type, source: str | None = None, evict: bool = False) -> None:
        self.cap = cap
        self.evict = evict
        self._dtype = dtype
        self._missing = None if dtype is object else np.nan
        # evicting (oldest first) needs O(1) removal from the front: an OrderedDict
        self._labels: dict[str, float | str] = OrderedDict() if evict else {}
        self._source = source
        self.evicted: list[str] = []   # ids evicted by the last add (evict mode)
        self.counts = JoinCounts()

    @property
    def pending(self) -> int:
        """Labels waiting for their prediction."""
        return len(self._labels)

    def add(self, batch: LabelBatch) -> None:
        self.evicted = []
        self.counts.read += len(batch)
        self.counts.invalid += len(batch.dead)
        before = len(self._labels)
        self._labels.update(zip(as_text(batch.event_ids), batch.labels.tolist(), strict=True))
        self.counts.duplicate += before + len(batch) - len(self._labels)
        if len(self._labels) > self.cap and self.evict:
            excess = len(self._labels) - self.cap
            self.evicted = [self._labels.popitem(last=False)[0] for _ in range(excess)]
            self.counts.unmatched += excess
        elif len(self._labels) > self.cap:
            raise LabelCapError(
                f"limits.max_pending_labels: more than {self.cap:,} labels"
                f"{'' if self._source is None else ' of ' + self._source} wait for "
                f"their predictions; raise limits.max_pending_labels or replay fewer labels at once")

    def lookup(self, event_ids: list) -> np.ndarray:
        """The label of each event id (NaN / None where there is none); found labels leave."""
        found = list(map(self._labels.pop, as_text(event_ids), repeat(self._missing)))
        return np.array(found, dtype=self._dtype)

    def attach(self, batch: DecodedBatch) -> DecodedBatch:
        """``batch`` with its events' labels as ``columns.labels``."""
        if batch.event_ids is None:
            raise ValueError("the decoded batch has no event ids to join labels on")
        labels = self.lookup(list(batch.event_ids))
        return dataclasses.replace(batch, columns=dataclasses.replace(batch.columns, labels=labels))

    def settle(self, columns: ColumnBatch, unplaced: np.ndarray) -> None:
        """Account for the labels ``attach`` gave to ``columns``: a pair, or dropped because the
        prediction had no usable value or (``unplaced``) reached none of its windows."""
        labels, prediction = columns.labels, columns.prediction
        if labels is None or prediction is None:
            raise ValueError("settle needs the columns attach returned, with a prediction")
        if self._dtype is object:
            has = labels != None  # noqa: E711 - elementwise comparison
            usable = prediction != None  # noqa: E711
        else:
            has = ~np.isnan(labels)
            with np.errstate(over="ignore", invalid="ignore"):
                usable = np.isfinite(prediction - labels)   # NaN prediction or overflowing error
        null = has & ~usable
        late = has & usable & unplaced
        self.counts.null_prediction += int(np.count_nonzero(null))
        self.counts.late += int(np.count_nonzero(late))
        self.counts.pairs += int(np.count_nonzero(has)) - int(np.count_nonzero(null | late))

    def take_unmatched(self) -> int:
        """How many labels never met their prediction; the store is emptied."""
        n = len(self._labels)
        self._labels.clear()
        self.counts.unmatched += n
        return n

    def expire(self, event_ids: list[str]) -> int:
        """The waiting labels of ``event_ids`` (text) leave as unmatched; returns how many did."""
        gone = sum(map(is_not, map(self._labels.pop, event_ids, repeat(None)), repeat(None)))
        self.counts.unmatched += gone
        return gone

    def items(self) -> tuple[list[str], list]:
        """The waiting labels: event ids and labels, oldest first (for snapshots)."""
        return list(self._labels), list(self._labels.values())

    def restore(self, event_ids: list[str], labels: list, counts: JoinCounts) -> None:
        """Put back what :meth:`items` and :attr:`counts` held."""
        self._labels = (OrderedDict if self.evict else dict)(zip(event_ids, labels, strict=True))
        self.counts = counts
