"""One monitor's runtime: its decoder, window state factories, judge and alert book, built
from the config and the reference. The replay driver and the Kafka workers both drive it.
With ``labels=True`` it also decodes label events, joins them to predictions (``labels``, the
join store) and judges the model's performance on the pairs."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson
from driftline.detectors.drift_judge import DriftJudge, DriftParams, QualityParams
from driftline.detectors.judgement import WindowJudgement
from driftline.detectors.performance_judge import PerformanceResult
from driftline.detectors.pipeline_health import PipelineHealth, PipelineResult
from driftline.detectors.reference import CategoricalReference, NumericReference, ReferenceProfile
from driftline.detectors.reference_codec import to_dict as reference_to_dict
from driftline.detectors.window_sketch import MonitorLayout, WindowSketch
from driftline.schemas.config import LimitsConfig, MonitorConfig

from .alerts import AlertBook, conditions, observations, unjudged_subjects
from .decode import BatchDecoder, DecoderSpec
from .exceptions import ReferenceProfileError
from .label_decode import LabelDecoder, LabelSpec
from .label_join import JoinCounts, LabelStore
from .merge import MergedWindow, WindowMerger, pool_versions
from .performance import performance_judge, performance_layout
from .reports import performance_entry, window_report
from .stream_join import StreamJoin
from .windows import PartitionWindows, WindowSpec


@dataclass
class WindowOutputs:
    """What judging one window produces."""

    reports: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    retrain: list[dict[str, Any]] = field(default_factory=list)
    judgement: WindowJudgement | None = None      # all versions together (for metrics)
    window_end: int = 0
    # by model version (None = all versions), when labels are joined (for metrics)
    performance: dict[str | None, PerformanceResult] = field(default_factory=dict)


def fit_reference(cfg: MonitorConfig, ref: ReferenceProfile, source: str) -> ReferenceProfile:
    """The part of ``ref`` the config monitors, in config order; raises when something is missing."""
    numeric: dict[str, NumericReference] = {}
    categorical: dict[str, CategoricalReference] = {}
    for f in cfg.features:
        have = ref.numeric.get(f.name) or ref.categorical.get(f.name)
        if have is None:
            raise ReferenceProfileError(
                f"{source}: has no feature {f.name!r} of monitor {cfg.name!r}; rebuild it with "
                f"`driftline reference build`")
        kind = "numeric" if isinstance(have, NumericReference) else "categorical"
        if kind != f.type:
            raise ReferenceProfileError(
                f"{source}: feature {f.name!r} is {kind} in the reference but {f.type} in the config")
        bounds = getattr(have, "bounds", None)
        if bounds is not None and bounds != (f.min, f.max):
            # its out-of-range rate, the baseline of the data-quality rule, was measured under those
            raise ReferenceProfileError(
                f"{source}: feature {f.name!r} was profiled with min / max {_shown(bounds)} but the config has "
                f"{_shown((f.min, f.max))}; rebuild it with `driftline reference build`")
        (numeric if kind == "numeric" else categorical)[f.name] = have  # type: ignore[index]
    prediction = None
    if cfg.prediction is not None:
        prediction = ref.prediction
        want = NumericReference if cfg.prediction.type == "numeric" else CategoricalReference
        if not isinstance(prediction, want):
            raise ReferenceProfileError(
                f"{source}: has no {cfg.prediction.type} prediction profile for monitor {cfg.name!r}; "
                f"rebuild it with `driftline reference build`")
    return ReferenceProfile(numeric, categorical, prediction, performance=ref.performance)


class MonitorRuntime:
    def __init__(self, cfg: MonitorConfig, reference: ReferenceProfile, limits: LimitsConfig,
                 source: str = "reference", labels: bool = False) -> None:
        self.cfg = cfg
        self.limits = limits
        self.reference = fit_reference(cfg, reference, source)
        bounds = {f.name: (f.min, f.max) for f in cfg.features if f.type == "numeric"}
        perf = performance_layout(cfg, self.reference.prediction) if labels else None
        self.layout = MonitorLayout.from_reference(self.reference, bounds, perf)
        paths = {f.name: f.path for f in cfg.features}
        self.decoder = BatchDecoder(DecoderSpec(
            event_id=cfg.fields.event_id,
            timestamp=cfg.fields.timestamp,
            model_version=cfg.fields.model_version,
            numeric=tuple(paths[n] for n in self.layout.numeric.names),
            categorical=tuple(paths[n] for n in self.layout.categorical.names),
            prediction=None if cfg.prediction is None else cfg.prediction.path,
            prediction_type="numeric" if cfg.prediction is None else cfg.prediction.type,
            max_event_bytes=limits.max_event_bytes,
            max_future_ms=None if limits.max_future is None else round(limits.max_future * 1000),
        ))
        d, q = cfg.drift, cfg.quality
        self.judge = DriftJudge(
            self.reference,
            DriftParams(d.fdr_q, d.numeric_effect, d.categorical_effect, d.min_count),
            QualityParams(q.null_rate_increase, q.out_of_range_rate, q.new_category_rate),
        )
        self.floors = {"numeric": d.numeric_effect, "categorical": d.categorical_effect}
        self.pipeline = PipelineHealth(cfg.pipeline.invalid_rate, cfg.pipeline.late_rate, d.fdr_q)
        w = cfg.window
        self.window_spec = WindowSpec.from_seconds(w.size, w.slide, w.grace)
        self.pooled_windows = 0     # windows judged with versions beyond the cap, and the most
        self.most_pooled = 0        # events one of them pooled (for the operator's warning)
        self.alerts = AlertBook(cfg.name, cfg.alerts, cfg.retrain)
        self.label_decoder: LabelDecoder | None = None
        self.labels: LabelStore | None = None
        self.performance = None
        if perf is not None:
            self.label_decoder = LabelDecoder(LabelSpec(cfg.fields.event_id, cfg.fields.label, cfg.fields.timestamp,
                                                        perf.task, limits.max_event_bytes))
            self.labels = LabelStore(limits.max_pending_labels, self.label_decoder.label_dtype)
            self.performance = performance_judge(cfg, self.reference.performance, source)

    @functools.cached_property
    def state_fingerprint(self) -> str:
        """What the monitor's window state depends on (reference bins and categories, feature
        bounds, window size and slide, labels joined or not), hashed: a snapshot taken under
        another fingerprint cannot be restored into this monitor."""
        ref = {k: v for k, v in reference_to_dict(self.reference).items() if k != "performance"}
        layout = self.layout
        basis = {"reference": ref, "lower": layout.numeric.lower.tolist(), "upper": layout.numeric.upper.tolist(),
                 "window": [self.window_spec.size_ms, self.window_spec.slide_ms],
                 "performance": None if layout.performance is None else repr(layout.performance)}
        return hashlib.sha256(orjson.dumps(basis, option=orjson.OPT_SERIALIZE_NUMPY)).hexdigest()[:16]

    def new_partition(self) -> PartitionWindows:
        return PartitionWindows(self.window_spec, self.layout, max_versions=self.limits.max_model_versions)

    def new_join(self, state: dict | None = None) -> StreamJoin:
        """The label join of one partition (``run``), fresh or from a snapshot's ``state``."""
        if self.label_decoder is None:
            raise ValueError(f"monitor {self.cfg.name!r} joins no labels")
        args = (self.window_spec, self.label_decoder.label_dtype, self.limits.max_join_waiting,
                self.limits.max_join_waiting)
        return StreamJoin(*args) if state is None else StreamJoin.from_state(state, *args)

    def new_merger(self, partitions: frozenset[int]) -> WindowMerger:
        return WindowMerger(self.window_spec.size_ms, partitions)

    def pooling_warning(self) -> str | None:
        """One line for the operator once windows had more model versions than the cap."""
        if not self.pooled_windows:
            return None
        return (f"monitor {self.cfg.name!r}: {self.pooled_windows} window(s) had more model versions than "
                f"limits.max_model_versions ({self.limits.max_model_versions}); the events of the others (up to "
                f"{self.most_pooled} in a window) count only in the all-versions report. Is fields.model_version "
                f"({'.'.join(self.cfg.fields.model_version)}) a model version, not an id? Else raise the limit")

    def judge_window(self, merged: MergedWindow, joined: JoinCounts | None = None) -> WindowOutputs:
        """Reports, alerts and retrain requests of a closed window; ``joined``: the label
        join's final counts (unmatched and dropped labels), reported with it."""
        name = self.cfg.name
        start, end = merged.window_start, merged.window_end
        # versions with per-version alert state keep their report first, so that their
        # alerts go on being judged (limits.max_model_versions)
        prefer = frozenset(k[0] for k in self.alerts.states if k[0] is not None)
        sketches, pooled_events = pool_versions(merged.sketches, merged.pooled, self.limits.max_model_versions,
                                                prefer)
        if pooled_events:
            self.pooled_windows += 1
            self.most_pooled = max(self.most_pooled, pooled_events)
        versions = sorted(sketches, key=lambda v: "" if v is None else v)
        total = _merge_all([sketches[v] for v in versions], self.layout)
        overall = self.judge.judge(total)
        out = WindowOutputs(judgement=overall, window_end=end)
        perf = self._judge_performance(out, None, total)
        out.reports.append(window_report(name, None, start, end, total.events, merged.invalid,
                                         merged.late, overall, performance_entry(perf, joined),
                                         pooled_events, self.state_fingerprint))
        per_version: dict[str, WindowJudgement] = {}
        for v in versions:
            if v is None:
                continue
            # one version alone: its sketch is the whole window, so is its judgement
            alone = versions == [v]
            per_version[v] = overall if alone else self.judge.judge(sketches[v])
            if alone and perf is not None:
                out.performance[v] = perf
            v_perf = self._judge_performance(out, v, sketches[v])
            out.reports.append(window_report(name, v, start, end, sketches[v].events, 0, 0,
                                             per_version[v], performance_entry(v_perf),
                                             basis=self.state_fingerprint))
        # a late or invalid event is reported with the first window that closes after it came,
        # and is a share of the events that came meanwhile (late ones among them); not of the
        # window's events: a first window, partly filled, or a hopping one, which shares its
        # events with size / slide others, holds more or fewer. (Unknown right after restoring
        # an older snapshot: then the events of one slide.)
        spec = self.window_spec
        arrived = (total.events * spec.slide_ms // spec.size_ms if merged.arrived is None
                   else max(merged.arrived - merged.late, 0))
        pipeline = self.pipeline.judge(arrived, merged.invalid, merged.late)
        self._alert(out, None, start, end, overall, pipeline)
        if self.cfg.alerts.per_version:
            for v, judgement in per_version.items():
                self._alert(out, v, start, end, judgement)
            # versions with alert state and no events in this window: nothing of them is judged
            for v in sorted({k[0] for k in self.alerts.states if k[0] is not None}.difference(per_version)):
                out.alerts += self.alerts.observe(v, start, end, [], absent=True)[0]
        return out

    def _judge_performance(self, out: WindowOutputs, version: str | None,
                           sketch: WindowSketch) -> PerformanceResult | None:
        if self.performance is None or sketch.performance is None:
            return None
        if version not in out.performance:
            out.performance[version] = self.performance.judge(sketch.performance)
        return out.performance[version]

    def _alert(self, out: WindowOutputs, version: str | None, start: int, end: int,
               judgement: WindowJudgement, pipeline: PipelineResult | None = None) -> None:
        performance = out.performance.get(version)
        bad = conditions(judgement, self.floors, performance, pipeline)
        # subjects without a verdict (too few values, or labels) keep their alert state
        unjudged = unjudged_subjects(judgement, self.cfg.drift.min_count)
        if self.performance is not None:
            unjudged["performance"] = self.performance.watched.difference(
                () if performance is None else performance.judged)
        if pipeline is not None:
            unjudged["pipeline"] = self.pipeline.watched.difference(pipeline.judged)
        events, requests = self.alerts.observe(version, start, end, bad, unjudged,
                                               observed=lambda: observations(judgement, self.floors, performance,
                                                                             pipeline))
        out.alerts += events
        out.retrain += requests


def _shown(bounds: tuple[float | None, float | None]) -> str:
    return "[" + ", ".join("none" if b is None else f"{b:g}" for b in bounds) + "]"


def _merge_all(sketches: list[WindowSketch], layout: MonitorLayout) -> WindowSketch:
    if len(sketches) == 1:      # one version: its sketch is the total (sketches are not mutated
        return sketches[0]      # after the merge that made them)
    total = WindowSketch(layout)
    for s in sketches:
        total = total.merge(s)
    return total
