"""Alert lifecycle (DESIGN 3.5): one ``firing`` alert per episode, one ``resolved`` when the
condition clears, with hysteresis, deterministic ids, and retrain requests with a cooldown.

Conditions checked per window (and per model version when asked): each feature's data
drift, the prediction's drift, each data-quality rate, and each degraded performance metric
(when labels are joined); for all versions together also the window's pipeline rates (dead
letters and late events are not told apart by version). A condition that was never bad
has no state; once bad it keeps a ``Hysteresis`` until it resolves. A window may leave some
subjects unjudged (a feature or a performance metric is not judged below ``min_count``
values or labels; a model version without events in the window is not judged at all): their
states are left as they are, neither bad nor good, so a firing alert does not resolve on a
sparse window. After ``expire_after`` such windows in a row a firing alert resolves anyway,
saying so in its evidence (a rolled-back canary's alerts end). A subject the monitor no
longer watches (a feature or metric dropped from its config or reference) counts as good in
every window, so an alert of it resolves.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from driftline.detectors.hysteresis import Hysteresis
from driftline.detectors.judgement import FeatureResult, QualityIssue, WindowJudgement
from driftline.detectors.performance_judge import PerformanceIssue, PerformanceResult
from driftline.detectors.pipeline_health import SUBJECTS as PIPELINE_SUBJECTS
from driftline.detectors.pipeline_health import PipelineIssue, PipelineResult
from driftline.schemas.config import AlertsConfig, RetrainConfig

from .ids import stable_id
from .timefmt import rfc3339

Key = tuple[str | None, str, str]   # (model_version, kind, subject)


@dataclass(frozen=True)
class Condition:
    """One bad condition in one window, with the numbers an on-call person needs."""

    kind: str
    subject: str
    statistic: str
    value: float | None
    threshold: float | None
    p_value: float | None
    evidence: dict[str, Any]


def conditions(judgement: WindowJudgement, floors: dict[str, float],
               performance: PerformanceResult | None = None,
               pipeline: PipelineResult | None = None) -> list[Condition]:
    """The bad conditions of a judged window; ``floors`` maps feature type to effect floor."""
    out = [_drift_condition("data_drift", r, floors) for r in judgement.features if r.drift]
    if judgement.prediction is not None and judgement.prediction.drift:
        out.append(_drift_condition("prediction_drift", judgement.prediction, floors))
    new = {r.name: r.new_categories for r in judgement.features}
    out += [_quality_condition(q, new.get(q.feature, ())) for q in judgement.quality]
    if performance is not None:
        out += [_performance_condition(i, performance) for i in performance.issues]
    if pipeline is not None:
        out += [_pipeline_condition(i) for i in pipeline.issues]
    return out


def observations(judgement: WindowJudgement, floors: dict[str, float],
                 performance: PerformanceResult | None = None,
                 pipeline: PipelineResult | None = None) -> dict[tuple[str, str], Condition]:
    """What a judged window measured of each subject, bad or not, by (kind, subject): the
    numbers a ``resolved`` alert carries (what the condition came back to)."""
    out: dict[tuple[str, str], Condition] = {}
    results = [*(("data_drift", r) for r in judgement.features),
               *([("prediction_drift", judgement.prediction)] if judgement.prediction is not None else [])]
    for kind, r in results:
        if r.effect is not None:
            out[(kind, r.name)] = _drift_condition(kind, r, floors)
    for r in judgement.features:
        for rate, (k, n) in r.rate_counts().items():
            if n:
                out[("data_quality", f"{r.name}:{rate}")] = Condition(
                    "data_quality", f"{r.name}:{rate}", rate, k / n, None, None, {"feature": r.name, "count": k, "of": n})
    if performance is not None:
        # the test against the reference is of one metric: its p-value is that metric's; a
        # bounded metric has none (as when its alert fires)
        for metric, value in performance.metrics.items():
            if value is not None:
                p_value = performance.p_value if metric == performance.tested else None
                out[("performance", metric)] = Condition("performance", metric, metric, value, None, p_value,
                                                         {"count": performance.count, "metrics": dict(performance.metrics)})
    for subject, (k, n) in ({} if pipeline is None else pipeline.rates).items():
        out[("pipeline", subject)] = Condition("pipeline", subject, PIPELINE_SUBJECTS[subject], k / n, None, None,
                                               {"count": k, "of": n})
    return out


def unjudged_subjects(judgement: WindowJudgement, min_count: int) -> dict[str, set[str]]:
    """Per kind, the drift and data-quality subjects a judged window gave no verdict on: a
    feature (or the prediction) below ``min_count`` values has no p-value, and its quality
    rates are not tested below ``min_count`` values and nulls."""
    drift = {r.name for r in judgement.features if r.p_value is None or r.effect is None}
    quality = {f"{r.name}:{rate}" for r in judgement.features if r.count + r.nulls < min_count
               for rate in r.rate_counts()}
    p = judgement.prediction       # (None: no prediction watched any more: its alert resolves)
    prediction = {"prediction"} if p is not None and (p.p_value is None or p.effect is None) else set()
    return {"data_drift": drift, "data_quality": quality, "prediction_drift": prediction}


def _performance_condition(i: PerformanceIssue, r: PerformanceResult) -> Condition:
    """Subject and statistic: the metric; threshold: the reference's value less the effect
    floor (rule ``reference``) or the configured bound (``min`` / ``max``)."""
    reference = None if r.reference is None else r.reference.metrics.get(i.metric)
    evidence = {"count": r.count, "rule": i.rule, "reference": reference, "metrics": dict(r.metrics)}
    return Condition("performance", i.metric, i.metric, i.value, i.threshold, i.p_value, evidence)


def _pipeline_condition(i: PipelineIssue) -> Condition:
    """Threshold: the configured ceiling; p_value: of the rate being at most the ceiling."""
    return Condition("pipeline", i.subject, i.statistic, i.value, i.threshold, i.p_value, {"count": i.count, "of": i.total})


def _drift_condition(kind: str, r: FeatureResult, floors: dict[str, float]) -> Condition:
    evidence: dict[str, Any] = {"count": r.count, "psi": r.psi, "js": r.js}
    if r.type == "numeric":
        evidence |= {"ks": r.ks, "wasserstein": r.wasserstein, "mean": r.mean, "std": r.std}
    else:
        evidence |= {"new_categories": list(r.new_categories)}
    return Condition(kind, r.name, r.effect_statistic, r.effect, floors[r.type], r.p_value, evidence)


def _quality_condition(q: QualityIssue, new_categories: tuple[str, ...] = ()) -> Condition:
    evidence: dict[str, Any] = {"feature": q.feature, "count": q.count, "of": q.total, "reference_rate": q.reference}
    if q.statistic == "new_category_rate":
        evidence["new_categories"] = list(new_categories)
    return Condition("data_quality", f"{q.feature}:{q.statistic}", q.statistic, q.value, q.threshold,
                     q.p_value, evidence)


@dataclass
class AlertBook:
    monitor: str
    alerts: AlertsConfig
    retrain: RetrainConfig
    states: dict[Key, Hysteresis] = field(default_factory=dict)
    last_request_end: dict[str | None, int] = field(default_factory=dict)
    # windows in a row without a verdict, of the subjects with a state (see expire_after)
    unjudged_for: dict[Key, int] = field(default_factory=dict)

    def reset(self) -> None:
        """Forget every alert's state and the retrain cooldowns (as a new book)."""
        self.states.clear()
        self.last_request_end.clear()
        self.unjudged_for.clear()

    def observe(
        self, version: str | None, window_start: int, window_end: int, bad: list[Condition],
        unjudged: Mapping[str, Collection[str]] | None = None, absent: bool = False,
        observed: Callable[[], Mapping[tuple[str, str], Condition]] | None = None,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Feed one judged window; returns (alert events, retrain requests). ``unjudged``:
        per kind, the subjects this window gave no verdict on; ``absent``: the window has no
        events of ``version`` (nothing of it is judged). Unjudged subjects keep their state
        (until ``expire_after`` windows in a row). ``observed()``: what the window measured of
        each (kind, subject), the numbers of a ``resolved`` event (see :func:`observations`);
        called only when an alert resolves."""
        seen: Mapping[tuple[str, str], Condition] | None = None
        by_key = {(version, c.kind, c.subject): c for c in bad}
        unjudged = unjudged or {}
        events: list[dict[str, Any]] = []
        for key in sorted(set(self.states) | set(by_key), key=_sort_key):
            if key[0] != version:
                continue
            if key not in by_key and (absent or key[2] in unjudged.get(key[1], ())):
                event = self._no_verdict(key, window_start, window_end)   # no verdict on this subject
                if event is not None:
                    events.append(event)
                continue
            self.unjudged_for.pop(key, None)
            state = self.states.get(key)
            if state is None:
                state = self.states[key] = Hysteresis(self.alerts.fire_after, self.alerts.resolve_after)
            condition = by_key.get(key)
            transition = state.update(condition is not None, window_start)
            if transition is not None:
                if condition is None and seen is None:
                    seen = {} if observed is None else observed()
                shown = condition if condition is not None else seen.get(key[1:])
                events.append(self._event(key, transition, state, window_start, window_end, shown))
            if not state.firing and condition is None and transition != "firing":
                del self.states[key]   # back to "never bad": no state to keep
        return events, self._retrain(version, window_end, events)

    def firing(self) -> list[tuple[str | None, str, str, str]]:
        """The alerts firing now: (model version, kind, subject, severity)."""
        return [(*key, self.alerts.severity) for key, state in sorted(self.states.items(), key=lambda i: _sort_key(i[0]))
                if state.firing]

    def _no_verdict(self, key: Key, window_start: int, window_end: int) -> dict[str, Any] | None:
        """One more window without a verdict on ``key``: after ``expire_after`` in a row its
        state ends, and a firing alert resolves (an event saying why)."""
        count = self.unjudged_for[key] = self.unjudged_for.get(key, 0) + 1
        limit = self.alerts.expire_after
        if limit is None or count < limit:
            return None
        state = self.states.pop(key)
        del self.unjudged_for[key]
        if state.expire() is None:
            return None
        event = self._event(key, "resolved", state, window_start, window_end, None)
        event["evidence"] = {"expired_after_windows": count}
        return event

    def _event(self, key: Key, status: str, state: Hysteresis, start: int, end: int,
               c: Condition | None) -> dict[str, Any]:
        version, kind, subject = key
        return {
            "type": "alert",
            "alert_id": stable_id(self.monitor, version, kind, subject, state.episode_start),
            "status": status,
            "severity": self.alerts.severity,
            "kind": kind,
            "monitor": self.monitor,
            "model_version": version,
            "subject": subject,
            "window_start": rfc3339(start),
            "window_end": rfc3339(end),
            "statistic": None if c is None else c.statistic,
            "value": None if c is None else c.value,
            "threshold": None if c is None else c.threshold,
            "p_value": None if c is None else c.p_value,
            "evidence": {} if c is None else c.evidence,
            "runbook": self.alerts.runbook.replace("{kind}", kind.replace("_", "-")),
        }

    def _retrain(self, version: str | None, window_end: int, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not self.retrain.enabled:
            return []
        fired = [e for e in events if e["status"] == "firing" and e["kind"] in self.retrain.kinds]
        if not fired:
            return []
        last = self.last_request_end.get(version)
        if last is not None and window_end - last < self.retrain.cooldown * 1000:
            return []
        self.last_request_end[version] = window_end
        return [{
            "type": "retrain_request",
            "request_id": stable_id(self.monitor, version, "retrain", window_end),
            "monitor": self.monitor,
            "model_version": version,
            "reasons": [e["alert_id"] for e in fired],
            "window_end": rfc3339(window_end),
            "evidence": {e["alert_id"]: {k: e[k] for k in ("kind", "subject", "statistic", "value",
                                                           "threshold", "p_value")} for e in fired},
        }]

    def to_state(self) -> dict[str, Any]:
        return {
            "states": [[list(k), s.to_state()] for k, s in self.states.items()],
            "last_request_end": [[v, t] for v, t in self.last_request_end.items()],
            "unjudged_for": [[list(k), n] for k, n in self.unjudged_for.items()],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        a = self.alerts
        self.states = {tuple(k): Hysteresis.from_state(a.fire_after, a.resolve_after, s)
                       for k, s in state["states"]}
        self.last_request_end = {v: t for v, t in state["last_request_end"]}
        # (saved by versions from before expire_after: nothing unjudged counted yet)
        self.unjudged_for = {tuple(k): n for k, n in state.get("unjudged_for", [])}


def _sort_key(key: Key) -> tuple[str, str, str]:
    return ("" if key[0] is None else key[0], key[1], key[2])
