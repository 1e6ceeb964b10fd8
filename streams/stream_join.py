"""The label join of ``driftline run``: a label and its prediction meet in tier 1, in either order.

The labels topic is keyed like the predictions topic (by event id) and has as many partitions,
so an event's label reaches the state of the partition that holds its prediction
(:class:`StreamJoin` is kept per source partition and monitor). Then:

- a prediction whose label already waits takes it as it is added, exactly as in replay
  (``LabelStore.attach``), and the pair counts in the prediction's windows;
- a prediction without one waits (value, model version, event time) while any of its windows
  is open; a label that comes for it before they close counts the pair in the open ones (or,
  when the prediction had no value, is dropped as ``null_prediction``, as in replay);
- a label whose prediction has not come waits; once the partition's watermark passes the
  label's timestamp plus the window size, a prediction of that label (never later than its
  label) could only be late for every window, so the label leaves as *unmatched*. A label
  without a timestamp waits until the cap evicts it.

So labels count when they arrive before their prediction's windows close: the monitor's
``window.grace`` is how long a window waits for its labels (a monitor of its own, with a long
grace, judges performance on late labels without delaying the drift alerts of another).

What became of labels that made no pair (unmatched; dropped as late, null_prediction or
duplicate) is reported with the next window the partition closes (:meth:`take_counts`).

Both stores are bounded (``limits.max_join_waiting`` each, per partition and monitor): beyond
a cap the oldest entries leave, a label as unmatched, a prediction by losing its chance of a
label (counted in ``evicted_predictions``); their indexes hold at most about twice as many
ids; nothing leaves uncounted. The Faust adapter joins labels the same way (through
``streams.pipeline``).

A label with no prediction yet waits (until the watermark passes 0.5 s + the window size):

>>> import numpy as np
>>> from .label_decode import LabelBatch
>>> from .windows import WindowSpec
>>> join = StreamJoin(WindowSpec(1000, 1000, 0), np.float64, max_labels=10, max_predictions=10)
>>> join.add_labels(LabelBatch(["b"], np.array([1.0]), np.array([0.5]), ()), windows=None)
0
>>> join.pending_labels, join.pending_predictions, join.expiry
(1, 0, {'b': 1500})
"""

from __future__ import annotations

import dataclasses
import heapq
from collections import OrderedDict
from itertools import compress, repeat
from operator import is_not, itemgetter

import numpy as np

from .label_decode import LabelBatch
from .label_join import JoinCounts, LabelStore, as_text
from .records import DecodedBatch
from .windows import Partial, PartitionWindows, WindowSpec, event_ms

# Stale index entries tolerated beyond twice the live ones before an index is rebuilt.
_SLACK = 1024
# The counts reported with windows (the others, read and pairs, are visible in the windows).
_REPORTED = ("unmatched", "late", "null_prediction", "duplicate")


class StreamJoin:
    def __init__(self, spec: WindowSpec, dtype: type, max_labels: int, max_predictions: int) -> None:
        self.spec = spec
        self.labels = LabelStore(max_labels, dtype, evict=True)
        self.max_predictions = max_predictions
        self._object = dtype is object
        # event id (text) -> (prediction, model version, event time in ms), oldest first (the cap
        # evicts from the front: an OrderedDict)
        self.predictions: OrderedDict[str, tuple] = OrderedDict()
        # end of the last window of a waiting prediction (ms) -> event ids: they leave when it
        # closes. Ids that left earlier (paired, evicted) stay until then, so the index is
        # rebuilt when it holds twice as many ids as wait (_indexed counts them).
        self._by_end: dict[int, list[str]] = {}
        self._indexed = 0
        # event id (text) -> watermark (ms) beyond which its waiting label leaves as unmatched
        # (only labels that wait and have a timestamp), and the same as a heap, so a close
        # looks only at the labels due; stale heap entries are skipped, and pruned likewise
        self.expiry: dict[str, int] = {}
        self._due: list[tuple[int, str]] = []
        self.evicted_predictions = 0
        self.reported = JoinCounts()   # the share of labels.counts already reported with a window

    @property
    def counts(self) -> JoinCounts:
        return self.labels.counts

    @property
    def pending_labels(self) -> int:
        return self.labels.pending

    @property
    def pending_predictions(self) -> int:
        return len(self.predictions)

    # -- predictions --------------------------------------------------------------------------

    def add_predictions(self, batch: DecodedBatch, windows: PartitionWindows) -> int:
        """Add a decoded prediction batch to ``windows`` with the labels that wait for it;
        the unlabelled ones wait for theirs. Returns how many events were late."""
        batch = self.labels.attach(batch)
        late, unplaced = windows.add_rows(batch)
        self.labels.settle(batch.columns, unplaced)
        labels = batch.columns.labels
        # a prediction without a value waits too: its label, when it comes, is dropped as
        # null_prediction (as in replay), not counted unmatched as if it had met no prediction
        labelled = labels != None if self._object else ~np.isnan(labels)  # noqa: E711 - elementwise
        waits = ~labelled
        if self.expiry and labelled.any():   # labels that left the store leave the expiry index
            taken = as_text([batch.event_ids[i] for i in np.flatnonzero(labelled).tolist()])
            for _ in map(self.expiry.pop, taken, repeat(None)):
                pass
        waits &= ~unplaced
        rows = np.flatnonzero(waits)
        if rows.size:
            self._keep(batch, rows)
        return late

    def _keep(self, batch: DecodedBatch, rows: np.ndarray) -> None:
        every = rows.size == len(batch)      # the usual case: no row of the batch had a label
        ids = as_text(list(batch.event_ids) if every else [batch.event_ids[i] for i in rows.tolist()])
        t_ms = event_ms(batch.timestamps if every else batch.timestamps[rows])
        entries = list(zip(batch.columns.prediction[rows].tolist(), batch.versions[rows].tolist(),
                           t_ms.tolist(), strict=True))
        fresh = dict(zip(ids, entries, strict=True))
        if len(fresh) < len(ids):
            # a repeated event id keeps its first prediction (as in replay: a label joins the
            # first), in arrival order
            first = dict(zip(reversed(ids), range(len(ids) - 1, -1, -1), strict=True))
            fresh = {ids[i]: entries[i] for i in sorted(first.values())}
        for taken in fresh.keys() & self.predictions.keys():
            del fresh[taken]
        if not fresh:
            return
        self.predictions.update(fresh)
        if len(fresh) < len(ids):
            ids = list(fresh)
            t_ms = np.fromiter((e[2] for e in fresh.values()), dtype=np.int64, count=len(fresh))
        self._index(ids, t_ms)
        excess = len(self.predictions) - self.max_predictions
        if excess > 0:
            for _ in range(excess):
                self.predictions.popitem(last=False)
            self.evicted_predictions += excess
        if self._indexed > 2 * len(self.predictions) + _SLACK:
            self._reindex()

    def _index(self, ids: list[str], t_ms: np.ndarray) -> None:
        ends, which = np.unique(self._last_end(t_ms), return_inverse=True)
        for k, end in enumerate(ends.tolist()):
            self._by_end.setdefault(end, []).extend(ids if len(ends) == 1 else compress(ids, (which == k).tolist()))
        self._indexed += len(ids)

    def _reindex(self) -> None:
        self._by_end, self._indexed = {}, 0
        if self.predictions:
            t = np.fromiter((e[2] for e in self.predictions.values()), dtype=np.int64, count=len(self.predictions))
            self._index(list(self.predictions), t)

    def _last_end(self, t_ms):
        """End (ms) of the last window that contains each time."""
        return (t_ms // self.spec.slide_ms) * self.spec.slide_ms + self.spec.size_ms

    # -- labels -------------------------------------------------------------------------------

    def add_labels(self, batch: LabelBatch, windows: PartitionWindows) -> int:
        """Join a decoded label batch: labels of waiting predictions count in their windows,
        the others wait. Returns the pairs counted."""
        counts = self.counts
        counts.invalid += len(batch.dead)
        if len(batch) == 0:
            return 0
        ids = as_text(batch.event_ids)
        counts.read += len(ids)   # the waiting ones are counted again by labels.add: taken off below
        # within a batch the last label of an event id wins, as in the store
        last = dict(zip(ids, range(len(ids)), strict=True))
        counts.duplicate += len(ids) - len(last)
        keep = np.fromiter(last.values(), dtype=np.int64, count=len(last))
        ids = list(last)
        found = list(map(self.predictions.pop, ids, repeat(None)))
        hit = np.fromiter(map(is_not, found, repeat(None)), dtype=bool, count=len(found))
        pairs = 0
        if hit.any():
            pairs = self._pair([f for f in found if f is not None], batch.labels[keep[hit]], windows)
        miss = keep[~hit]
        if miss.size:
            counts.read -= miss.size
            waiting = LabelBatch([ids[i] for i in np.flatnonzero(~hit).tolist()], batch.labels[miss],
                                 batch.timestamps[miss], ())
            self.labels.add(waiting)
            t = batch.timestamps[miss]
            timed = ~np.isnan(t)
            if self.expiry and not timed.all():   # a label without a time replaced one with
                for _ in map(self.expiry.pop, compress(waiting.event_ids, (~timed).tolist()), repeat(None)):
                    pass
            if timed.any():
                until = (event_ms(t[timed]) + self.spec.size_ms).tolist()
                timed_ids = list(compress(waiting.event_ids, timed.tolist()))
                self.expiry.update(zip(timed_ids, until, strict=True))
                for item in zip(until, timed_ids, strict=True):
                    heapq.heappush(self._due, item)
            for _ in map(self.expiry.pop, self.labels.evicted, repeat(None)):
                pass
            if len(self._due) > 2 * len(self.expiry) + _SLACK:
                self._due = [(until, event_id) for event_id, until in self.expiry.items()]
                heapq.heapify(self._due)
        return pairs

    def _pair(self, found: list[tuple], labels: np.ndarray, windows: PartitionWindows) -> int:
        counts = self.counts
        prediction = np.array([f[0] for f in found], dtype=object if self._object else np.float64)
        if self._object:
            usable = prediction != None  # noqa: E711 - elementwise comparison
        else:
            with np.errstate(over="ignore", invalid="ignore"):
                usable = np.isfinite(prediction - labels)   # a regression error beyond the float range
        counts.null_prediction += int(np.count_nonzero(~usable))
        rows = np.flatnonzero(usable)
        if rows.size == 0:
            return 0
        t_ms = np.array([found[i][2] for i in rows.tolist()], dtype=np.int64)
        versions = [found[i][1] for i in rows.tolist()]
        late = windows.add_pairs(t_ms, versions, prediction[rows], labels[rows])
        counts.late += late
        counts.pairs += rows.size - late
        return rows.size - late

    # -- closing ------------------------------------------------------------------------------

    def close(self, windows: PartitionWindows, watermark: int | None = None) -> list[Partial]:
        """Close the windows the watermark has passed (``windows.close_ready``), let go of what
        can no longer pair, and give the first partial what became of such labels."""
        partials = windows.close_ready(watermark)
        self.on_close(windows.closed_through, windows.watermark)
        if partials:
            partials[0].joined = self.take_counts()
        return partials

    def on_close(self, closed_through: int | None, watermark: int | None) -> None:
        """After the partition closed windows: predictions whose windows have all closed stop
        waiting, and labels whose prediction could only be late leave as unmatched."""
        if closed_through is not None and self._by_end:
            predictions = self.predictions
            for end in [e for e in self._by_end if e <= closed_through]:
                ids = self._by_end.pop(end)
                self._indexed -= len(ids)
                gone = list(map(predictions.pop, ids, repeat(None)))
                where = np.flatnonzero(np.fromiter(map(is_not, gone, repeat(None)), dtype=bool, count=len(gone)))
                left = [gone[i] for i in where.tolist()]
                t = np.fromiter(map(itemgetter(2), left), dtype=np.int64, count=len(left))
                # a later prediction of a repeated id (another end) was taken too: it goes back
                for i in np.flatnonzero(self._last_end(t) != end).tolist():
                    predictions[ids[int(where[i])]] = left[i]
        gone = []
        while self._due and watermark is not None and self._due[0][0] <= watermark:
            until, event_id = heapq.heappop(self._due)
            if self.expiry.get(event_id) == until:   # else a later label of the id took its place
                del self.expiry[event_id]
                gone.append(event_id)
        if gone:
            self.labels.expire(gone)

    def take_counts(self) -> JoinCounts | None:
        """What became of labels since the last call (unmatched and dropped), to report with
        the window closing now; None when nothing did."""
        delta = JoinCounts(**{k: getattr(self.counts, k) - getattr(self.reported, k) for k in _REPORTED})
        if not any(getattr(delta, k) for k in _REPORTED):
            return None
        for k in _REPORTED:
            setattr(self.reported, k, getattr(self.counts, k))
        return delta

    # -- snapshots ----------------------------------------------------------------------------

    def to_state(self) -> dict:
        entries = list(self.predictions.values())
        label_ids, label_values = self.labels.items()
        return {
            "predictions": {"ids": list(self.predictions), "values": [e[0] for e in entries],
                            "versions": [e[1] for e in entries], "t": [e[2] for e in entries]},
            # each waiting label's expiry (null: none), aligned with its id
            "labels": {"ids": label_ids, "values": label_values,
                       "until": list(map(self.expiry.get, label_ids))},
            "evicted_predictions": self.evicted_predictions,
            "counts": dataclasses.asdict(self.counts),
            "reported": {k: getattr(self.reported, k) for k in _REPORTED},
        }

    @classmethod
    def from_state(cls, state: dict, spec: WindowSpec, dtype: type, max_labels: int,
                   max_predictions: int) -> StreamJoin:
        join = cls(spec, dtype, max_labels, max_predictions)
        p = state["predictions"]
        join.predictions = OrderedDict(zip(p["ids"], zip(p["values"], p["versions"], p["t"], strict=True),
                                           strict=True))
        join._reindex()
        labels = state["labels"]
        join.labels.restore(labels["ids"], labels["values"], JoinCounts(**state["counts"]))
        join.expiry = {i: u for i, u in zip(labels["ids"], labels["until"], strict=True) if u is not None}
        join._due = [(until, event_id) for event_id, until in join.expiry.items()]
        heapq.heapify(join._due)
        join.evicted_predictions = int(state["evicted_predictions"])
        join.reported = JoinCounts(**state["reported"])
        return join
