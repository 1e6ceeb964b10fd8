"""Prometheus metrics (DESIGN 3.7): the worker keeps plain counters and last values; a
``Collector`` turns them into metric families at scrape time. Label values come from the
config (monitor, feature, topic names) and bounded code sets, never from payloads, with one
exception DESIGN 3.7 lists: ``model_version`` of ``driftline_model_performance`` (``""`` for
all versions together), bounded to the versions of each monitor's last judged window.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from driftline.detectors.judgement import WindowJudgement
from driftline.detectors.performance_judge import PerformanceResult
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .last_window import LastWindow

# Batch durations from 1 ms to ~8 s: a batch of up to a few thousand events.
BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Window close lag around the 1 s target (DESIGN 5), fine enough for a p99 below and above it.
LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0)
# driftline_model_performance's model_version for all versions together. Not "": Prometheus
# reads an empty label value as no label, and "" is a model version an event may carry. A real
# version spelled "*" is not exported per version (it would pass for all versions).
ALL_VERSIONS = "*"
# Model versions come from the events, so their series are capped (DESIGN 3.7: bounded labels):
# per monitor, the all-versions series plus the MAX_EXPORTED_VERSIONS versions with the most
# joined pairs in the last window (ties by name). A champion and a few canaries fit; a stream
# with a version per event cannot blow up the scrape (at most 11 x 8 series per monitor).
MAX_EXPORTED_VERSIONS = 10


@dataclass
class RuntimeStats:
    """What the worker counts; read by :class:`DriftlineCollector` under ``lock``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    events: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    invalid: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    late: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    alerts: dict[tuple[str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    last_event_ts: dict[str, float] = field(default_factory=dict)
    # monitor -> the gauges of its last judged window (with its last measured performance)
    last: dict[str, LastWindow] = field(default_factory=dict)
    consumer_lag: dict[tuple[str, int], int] = field(default_factory=dict)
    # run's label join: what became of labels read by this process (monitor, outcome), and
    # what waits in the joins of the partitions it holds (monitor, side: labels | predictions)
    labels: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    join_waiting: dict[tuple[str, str], int] = field(default_factory=dict)
    windows: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # saved state left out by --discard-mismatched-state (checkpoints and partials), per monitor
    discarded: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # monitor -> its alerts firing now: (model version, None for all; kind; subject; severity)
    firing: dict[str, list[tuple[str | None, str, str, str]]] = field(default_factory=dict)

    def known(self, monitor: str, topics: Iterable[str], severity: str) -> None:
        """Counters of a monitor start at 0 where their labels are known from the config, so
        that a rule on them works from the start: ``increase()`` of a series whose first
        sample is already 1 is 0, and ``rate() == 0`` finds no series that never appeared."""
        with self.lock:
            for topic in topics:
                self.events[(monitor, topic)] += 0
            for kind in ALERT_KINDS:
                self.alerts[(monitor, kind, severity)] += 0
            self.late[monitor] += 0
            self.windows[monitor] += 0

    def forget_judgements(self, monitors: Iterable[str]) -> None:
        """The last window's gauges and the firing alerts of ``monitors`` leave with their
        tier-2 partition: the worker that judges their windows now exports them (no frozen
        series here)."""
        with self.lock:
            for m in monitors:
                self.last.pop(m, None)
                self.firing.pop(m, None)

    def last_window_state(self, monitor: str) -> dict | None:
        """The monitor's last-window gauges for its tier-2 checkpoint (None: none yet)."""
        with self.lock:
            last = self.last.get(monitor)
        return None if last is None else last.to_state()

    def restore_last_window(self, monitor: str, state: dict | None) -> None:
        """The gauges saved with the monitor's tier-2 state, exported at once (a checkpoint of a
        version without them, or of a monitor never judged, has None)."""
        if state is None:
            return
        last = LastWindow.from_state(state)
        with self.lock:
            self.last[monitor] = last

    def alert_state(self, monitor: str, firing: list[tuple[str | None, str, str, str]]) -> None:
        """The monitor's alerts firing now (after a window, or restored with its tier-2 state)."""
        with self.lock:
            self.firing[monitor] = list(firing)

    def judged(self, monitor: str, judgement: WindowJudgement, alerts: list[dict],
               performance: dict[str | None, PerformanceResult] | None = None,
               firing: list[tuple[str | None, str, str, str]] | None = None) -> None:
        with self.lock:
            self.last[monitor] = LastWindow.of(judgement, performance, self.last.get(monitor))
            if firing is not None:
                self.firing[monitor] = list(firing)
            self.windows[monitor] += 1
            for a in alerts:
                if a["status"] == "firing":
                    self.alerts[(monitor, a["kind"], a["severity"])] += 1


# The alert kinds a monitor may fire (schemas/alert.schema.json), counted from 0.
ALERT_KINDS = ("data_drift", "prediction_drift", "data_quality", "performance", "pipeline")


class DriftlineCollector(Collector):
    def __init__(self, stats: RuntimeStats) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        s = self._stats
        with s.lock:
            yield _counter("driftline_events", "Events read from source topics.", ["monitor", "topic"], s.events)
            yield _counter("driftline_events_invalid", "Events sent to the dead-letter topic.",
                           ["monitor", "reason"], s.invalid)
            yield _counter("driftline_events_late", "Events older than the watermark of their window.",
                           ["monitor"], {(k,): v for k, v in s.late.items()})
            yield _counter("driftline_alerts", "Alerts fired.", ["monitor", "kind", "severity"], s.alerts)
            yield _counter("driftline_windows_judged", "Windows closed and judged.", ["monitor"],
                           {(k,): v for k, v in s.windows.items()})
            if s.discarded:
                yield _counter("driftline_state_discarded", "Saved window state (checkpoints, partials) left out "
                               "because it was saved under another reference, feature list or window size "
                               "(run --discard-mismatched-state).", ["monitor"],
                               {(k,): v for k, v in s.discarded.items()})
            yield _gauge("driftline_last_event_timestamp_seconds", "Event time of the newest event seen.",
                         ["monitor"], {(k,): v for k, v in s.last_event_ts.items()})
            yield _gauge("driftline_consumer_lag_messages", "Messages behind the end of each source partition.",
                         ["topic", "partition"], {(t, str(p)): v for (t, p), v in s.consumer_lag.items()})
            if s.labels or s.join_waiting:
                yield _counter("driftline_labels", "Label events joined by run, by outcome: pairs, unmatched, "
                               "late, null_prediction, duplicate, invalid; evicted_predictions counts "
                               "predictions that stopped waiting at the cap.", ["monitor", "outcome"], s.labels)
                yield _gauge("driftline_label_join_waiting", "Labels and predictions waiting in the label join "
                             "of the partitions this process holds.", ["monitor", "side"], s.join_waiting)
            yield self._firing(s)
            yield from self._drift(s)
            yield self._performance(s)

    @staticmethod
    def _drift(s: RuntimeStats) -> Iterator[Metric]:
        score = GaugeMetricFamily("driftline_feature_drift_score", "Drift statistic of a feature in the last window.",
                                  labels=["monitor", "feature", "statistic"])
        flag = GaugeMetricFamily("driftline_feature_drift", "1 when the feature drifted in the last window.",
                                 labels=["monitor", "feature"])
        ratio = GaugeMetricFamily("driftline_drifted_features_ratio", "Share of features that drifted in the last window.",
                                  labels=["monitor"])
        pred = GaugeMetricFamily("driftline_prediction_drift_score", "Drift statistic of the prediction in the last window.",
                                 labels=["monitor", "statistic"])
        pvalue = GaugeMetricFamily("driftline_feature_drift_p_value", "Calibrated p-value of a feature in the last window.",
                                   labels=["monitor", "feature"])
        for monitor, last in s.last.items():
            for f in last.features:
                for stat, value in f.scores.items():
                    score.add_metric([monitor, f.name, stat], value)
                flag.add_metric([monitor, f.name], 1.0 if f.drift else 0.0)
                if f.p_value is not None:
                    pvalue.add_metric([monitor, f.name], f.p_value)
            if (drifted := last.drifted_ratio) is not None:
                ratio.add_metric([monitor], drifted)
            for stat, value in (last.prediction or {}).items():
                pred.add_metric([monitor, stat], value)
        yield from (score, flag, ratio, pred, pvalue)

    @staticmethod
    def _firing(s: RuntimeStats) -> GaugeMetricFamily:
        """driftline's own alerts, as its hysteresis decides them: what rules should page on.
        Restored with the alert state after a restart or a rebalance (as the last window's
        gauges are)."""
        family = GaugeMetricFamily(
            "driftline_alert_firing",
            f"1 for each alert of driftline firing now (fire_after / resolve_after applied; model_version "
            f"\"{ALL_VERSIONS}\" = the all-versions alert).",
            labels=["monitor", "model_version", "kind", "subject", "severity"])
        for monitor, alerts in sorted(s.firing.items()):
            for version, kind, subject, severity in sorted(alerts, key=lambda a: (a[0] or "", *a[1:])):
                if version == ALL_VERSIONS:    # a real version spelled "*" would pass for all versions
                    continue
                family.add_metric([monitor, ALL_VERSIONS if version is None else version, kind, subject, severity], 1.0)
        return family

    @staticmethod
    def _performance(s: RuntimeStats) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "driftline_model_performance",
            f"Model performance on joined labels in the last window (model_version \"{ALL_VERSIONS}\" = all "
            f"versions; at most {MAX_EXPORTED_VERSIONS} versions, those with the most pairs).",
            labels=["monitor", "model_version", "metric"])
        for monitor, by_version in sorted((m, last.performance) for m, last in s.last.items()):
            versions = sorted((v for v in by_version if v is not None and v != ALL_VERSIONS),
                              key=lambda v: (-by_version[v].count, v))[:MAX_EXPORTED_VERSIONS]
            shown = ([(ALL_VERSIONS, by_version[None])] if None in by_version else []) + \
                [(v, by_version[v]) for v in sorted(versions)]
            for version, result in shown:
                for metric, value in result.metrics.items():
                    family.add_metric([monitor, version, metric], value)
        return family


def _counter(name: str, doc: str, labels: list[str], values: dict) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family


def _gauge(name: str, doc: str, labels: list[str], values: dict) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family


@dataclass
class Instruments:
    """Metrics observed as they happen (histograms), next to the collector's snapshots."""

    registry: CollectorRegistry
    batch_seconds: Histogram
    close_lag: Histogram


def build_registry(stats: RuntimeStats) -> Instruments:
    registry = CollectorRegistry()
    registry.register(DriftlineCollector(stats))
    batch = Histogram("driftline_batch_seconds", "Wall time to process one consumed batch.",
                      buckets=BATCH_BUCKETS, registry=registry)
    lag = Histogram("driftline_window_close_lag_seconds",
                    "Seconds from the watermark closing a window on its partition to the window's outputs.",
                    ["monitor"], buckets=LAG_BUCKETS, registry=registry)
    return Instruments(registry, batch, lag)
