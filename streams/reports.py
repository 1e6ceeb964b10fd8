"""Window reports (DESIGN 3.4) from a window's judgement."""

from __future__ import annotations

from typing import Any

from driftline.detectors.judgement import FeatureResult, WindowJudgement
from driftline.detectors.performance_judge import PerformanceResult

from .ids import stable_id
from .label_join import JoinCounts
from .timefmt import rfc3339


def _feature_entry(r: FeatureResult) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": r.type, "count": r.count, "null_rate": r.null_rate}
    if r.type == "numeric":
        entry |= {"out_of_range_rate": r.out_of_range_rate, "mean": r.mean, "std": r.std,
                  "psi": r.psi, "ks": r.ks, "wasserstein": r.wasserstein}
    else:
        entry |= {"new_category_rate": r.new_category_rate, "new_categories": list(r.new_categories),
                  "psi": r.psi}
    entry |= {"js": r.js, "p_value": r.p_value, "drift": r.drift}
    return entry


def _prediction_entry(r: FeatureResult) -> dict[str, Any]:
    entry = _feature_entry(r)
    entry.pop("out_of_range_rate", None)
    return entry


def performance_entry(r: PerformanceResult | None, joined: JoinCounts | None = None) -> dict[str, Any] | None:
    """The report's ``performance``: null without joined labels (and no labels accounted for
    with this window: ``joined``, the join's counts, come with the last window of a replay)."""
    joined = joined or JoinCounts()          # no counts: none unmatched, none dropped
    unmatched, dropped = joined.unmatched, joined.dropped
    if r is None or (r.count == 0 and unmatched == 0 and not any(dropped.values())):
        return None
    ref = r.reference
    return {
        "task": r.task,
        "count": r.count,
        "unmatched": unmatched,
        "dropped": dropped,
        "metrics": dict(r.metrics),
        "reference": None if ref is None else {"count": ref.count, "metrics": dict(ref.metrics)},
        "p_value": r.p_value,
        "degraded": r.degraded,
        "degraded_metrics": [i.metric for i in r.issues],
    }


def window_report(
    monitor: str,
    version: str | None,
    window_start: int,
    window_end: int,
    count: int,
    invalid: int,
    late: int,
    judgement: WindowJudgement,
    performance: dict[str, Any] | None = None,
    pooled_events: int = 0,
    basis: str = "",
) -> dict[str, Any]:
    """``pooled_events`` (all-versions report only): events of the window's model versions
    beyond ``limits.max_model_versions``, counted only in this report; written when > 0.
    ``basis``: what the window's state depends on (the monitor's state fingerprint), part of
    the id, as is the event count: a window judged again from other events (after its state
    was discarded for a new reference; in a Faust app, the part of a window read after a
    restart) gets another id, so deduplicating on ids keeps both reports, while the same
    window judged again from the same events (a crash in ``run``) gets the same id."""
    report = {
        "type": "window_report",
        "report_id": stable_id(monitor, version, window_start, window_end, basis, count),
        "monitor": monitor,
        "model_version": version,
        "window_start": rfc3339(window_start),
        "window_end": rfc3339(window_end),
        "count": count,
        "invalid": invalid,
        "late": late,
        "drift": judgement.drift,
        "drifted_features": list(judgement.drifted_features),
        "features": {r.name: _feature_entry(r) for r in judgement.features},
        "prediction": None if judgement.prediction is None else _prediction_entry(judgement.prediction),
        "performance": performance,
    }
    if pooled_events:
        report["pooled_events"] = pooled_events
    return report
