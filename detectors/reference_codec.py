"""Reference profiles to and from plain JSON-ready dicts (no files here: see streams).

The format is versioned; ``from_dict`` rejects a version it does not know, so an old worker
never misreads a newer profile. Optional sections added within a version are written only when
there is something in them, and read when present: ``performance`` (the model's performance
on the labelled reference rows) is one; profiles without it load as before, and readers that
predate it ignore it, losing only the baseline of the performance test.

>>> import numpy as np
>>> from .reference import NumericReference, ReferenceProfile
>>> ref = ReferenceProfile({"x": NumericReference.build(np.arange(50.0))}, {})
>>> back = from_dict(to_dict(ref))
>>> np.array_equal(back.numeric["x"].fine_edges, ref.numeric["x"].fine_edges)
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from .performance_baseline import PerformanceBaseline
from .performance_metrics import METRICS, RANGES
from .reference import CategoricalReference, NumericReference, ReferenceProfile

FORMAT = "driftline.reference"
FORMAT_VERSION = 1


def _numeric_out(r: NumericReference) -> dict[str, Any]:
    return {
        "type": "numeric", "count": r.count, "null_rate": r.null_rate,
        "out_of_range_rate": r.out_of_range_rate, "mean": r.mean, "std": r.std,
        "min": r.min, "max": r.max, "fine_edges": r.fine_edges.tolist(),
        "fine_probs": r.fine_probs.tolist(), "coarse_starts": r.coarse_starts.tolist(),
        "tail_means": [None if np.isnan(v) else v for v in r.tail_means],
        "atom_bins": list(r.atom_bins),
        **({} if r.bounds is None else {"bounds": list(r.bounds)}),
    }


def _categorical_out(r: CategoricalReference) -> dict[str, Any]:
    return {"type": "categorical", "count": r.count, "null_rate": r.null_rate,
            "categories": list(r.categories), "probs": r.probs.tolist()}


def _one_out(r: NumericReference | CategoricalReference) -> dict[str, Any]:
    return _numeric_out(r) if isinstance(r, NumericReference) else _categorical_out(r)


def to_dict(profile: ReferenceProfile) -> dict[str, Any]:
    features = {n: _one_out(r) for n, r in profile.numeric.items()}
    features |= {n: _one_out(r) for n, r in profile.categorical.items()}
    out = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "features": features,
        "prediction": None if profile.prediction is None else _one_out(profile.prediction),
    }
    if profile.performance is not None:
        out["performance"] = _performance_out(profile.performance)
    return out


def _performance_out(b: PerformanceBaseline) -> dict[str, Any]:
    return {"task": b.task, "count": b.count, "correct": b.correct, "threshold": b.threshold,
            "abs_error_std": b.abs_error_std, "metrics": dict(b.metrics)}


def _number(key: str, v: Any, lo: float | None = None, hi: float | None = None) -> float | None:
    """``v`` as a float (None stays None); ``ValueError`` naming ``key`` when it is not a
    finite number within [lo, hi]."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v):
        raise ValueError(f"{key}: {v!r} is not a finite number; rebuild the reference")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        within = (f"between {lo:g} and {hi:g}" if lo is not None and hi is not None
                  else f"at least {lo:g}" if lo is not None else f"at most {hi:g}")
        raise ValueError(f"{key}: {v!r} is not {within}; rebuild the reference")
    return float(v)


def _whole(key: str, v: Any, lo: int, hi: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
        limit = f"from {lo} to {hi}" if hi is not None else f"at least {lo}"
        raise ValueError(f"{key}: {v!r} is not a whole number {limit}; rebuild the reference")
    return v


def _performance_in(d: dict[str, Any]) -> PerformanceBaseline:
    """The baseline, checked key by key: each error names its key (``performance.<key>``)."""
    task = d["task"]
    if task not in METRICS:
        raise ValueError(f"task: {task!r} is not one of {', '.join(METRICS)}; rebuild the reference")
    count = _whole("count", d["count"], 1)
    correct = _whole("correct", d["correct"], 0, count if task != "regression" else 0)
    metrics = d["metrics"]
    if not isinstance(metrics, dict):
        raise ValueError("metrics: not a mapping; rebuild the reference")
    for name in metrics:
        if name not in METRICS[task]:
            raise ValueError(f"metrics.{name}: not a metric of task {task} "
                             f"({', '.join(METRICS[task])}); rebuild the reference")
    missing = [name for name in METRICS[task] if name not in metrics]
    if missing:
        raise ValueError(f"metrics: {', '.join(missing)} missing; rebuild the reference")
    threshold = _number("threshold", d.get("threshold"), 0.0, 1.0)
    if (threshold is None) == (task == "binary"):
        raise ValueError(f"threshold: {'missing' if task == 'binary' else 'only binary baselines have one'}"
                         f" (task {task}); rebuild the reference")
    return PerformanceBaseline(
        task=task, count=count, correct=correct,
        metrics={k: _number(f"metrics.{k}", metrics[k], *RANGES[k]) for k in METRICS[task]},
        threshold=threshold,
        abs_error_std=_number("abs_error_std", d.get("abs_error_std"), 0.0),
    )


# Counts are stored as JSON integers and read into int64 arrays.
_MAX_COUNT = 2**63 - 1


def _finite(key: str, v: Any, lo: float | None = None, hi: float | None = None) -> float:
    """A required finite number (see ``_number``)."""
    out = _number(key, v, lo, hi)
    if out is None:
        raise ValueError(f"{key}: is missing (null); rebuild the reference")
    return out


def _shares(key: str, probs: np.ndarray) -> None:
    if not np.all(np.isfinite(probs)) or np.any(probs < 0) or abs(float(probs.sum()) - 1.0) > 1e-6:
        raise ValueError(f"{key}: shares must be finite, non-negative and sum to 1; rebuild the reference")


def _one_in(d: dict[str, Any]) -> NumericReference | CategoricalReference:
    if d["type"] == "numeric":
        count = _whole("count", d["count"], 2, _MAX_COUNT)
        rates = [_finite(k, d[k], 0.0, 1.0) for k in ("null_rate", "out_of_range_rate")]
        mean, std = _finite("mean", d["mean"]), _finite("std", d["std"], 0.0)
        lo, hi = _finite("min", d["min"]), _finite("max", d["max"])
        if lo > hi:
            raise ValueError(f"min: {lo!r} is above max {hi!r}; rebuild the reference")
        if any(type(v) is not int for v in d["coarse_starts"]):
            raise ValueError("coarse_starts: must be whole numbers; rebuild the reference")
        edges = np.asarray(d["fine_edges"], dtype=np.float64)
        probs = np.asarray(d["fine_probs"], dtype=np.float64)
        starts = np.asarray(d["coarse_starts"], dtype=np.int64)
        if probs.size != edges.size + 1 or starts.size == 0 or starts[0] != 0 or starts[-1] > edges.size \
                or np.any(np.diff(starts) <= 0):
            raise ValueError("fine_probs / coarse_starts: do not fit fine_edges; rebuild the reference")
        if not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
            raise ValueError("fine_edges: must be finite and increasing; rebuild the reference")
        _shares("fine_probs", probs)
        tails = d["tail_means"]
        if len(tails) != 2 or any(t is None and p > 0 for t, p in zip(tails, (probs[0], probs[-1]), strict=True)):
            raise ValueError("tail_means: needs the means of the two outer bins; rebuild the reference")
        # absent from references built before atoms were kept: no atoms, as they were judged
        atoms = d.get("atom_bins", [])
        if not isinstance(atoms, list) or any(type(b) is not int or not 0 < b < edges.size for b in atoms):
            raise ValueError("atom_bins: must be indices of inner fine bins; rebuild the reference")
        # absent from references built before bounds were recorded: not checked against the config
        bounds = d.get("bounds")
        if bounds is not None and (not isinstance(bounds, list) or len(bounds) != 2):
            raise ValueError("bounds: must be [min, max] (null: unbounded); rebuild the reference")
        return NumericReference(
            count=count, null_rate=rates[0], out_of_range_rate=rates[1], mean=mean, std=std, min=lo, max=hi,
            fine_edges=edges, fine_probs=probs, coarse_starts=starts,
            tail_means=tuple(float("nan") if v is None else float(v) for v in tails),
            atom_bins=tuple(atoms),
            bounds=None if bounds is None else (_number("bounds[0]", bounds[0]), _number("bounds[1]", bounds[1])),
        )
    if d["type"] == "categorical":
        count = _whole("count", d["count"], 1, _MAX_COUNT)
        null_rate = _finite("null_rate", d["null_rate"], 0.0, 1.0)
        categories = d["categories"]
        if not isinstance(categories, list) or any(type(c) is not str for c in categories) \
                or len(set(categories)) != len(categories):
            raise ValueError("categories: must be a list of distinct strings; rebuild the reference")
        probs = np.asarray(d["probs"], dtype=np.float64)
        if probs.size != len(categories) + 1:
            raise ValueError("probs: needs one share per category plus 'other'; rebuild the reference")
        _shares("probs", probs)
        return CategoricalReference(count=count, null_rate=null_rate, categories=tuple(categories), probs=probs)
    raise ValueError(f"type: unknown feature type {d['type']!r}; rebuild the reference")


_R = TypeVar("_R")


def _located(where: str, d: dict[str, Any], read: Callable[[dict[str, Any]], _R] = _one_in) -> _R:  # type: ignore[assignment]
    """``read(d)``, its errors prefixed with ``where`` (a missing key or a wrong type named too)."""
    try:
        return read(d)
    except ValueError as exc:
        raise ValueError(f"{where}.{exc}") from None
    except KeyError as exc:
        raise ValueError(f"{where}.{exc.args[0]}: is missing; rebuild the reference") from None
    except (TypeError, AttributeError):
        raise ValueError(f"{where}: a value has the wrong type; rebuild the reference") from None


def from_dict(d: dict[str, Any]) -> ReferenceProfile:
    """Raises ``ValueError`` (with what is wrong) for anything that is not a valid profile."""
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise ValueError("not a driftline reference profile (build one with `driftline reference build`)")
    if d.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"reference format version {d.get('format_version')!r} is not supported "
                         f"(this driftline reads version {FORMAT_VERSION}); rebuild the reference")
    numeric: dict[str, NumericReference] = {}
    categorical: dict[str, CategoricalReference] = {}
    try:
        for name, f in d["features"].items():
            ref = _located(f"features.{name}", f)
            (numeric if isinstance(ref, NumericReference) else categorical)[name] = ref  # type: ignore[index]
        prediction = None if d.get("prediction") is None else _located("prediction", d["prediction"])
        performance = (None if d.get("performance") is None
                       else _located("performance", d["performance"], _performance_in))
    except KeyError as exc:
        raise ValueError(f"reference profile is missing {exc} (rebuild it with `driftline reference build`)") from None
    except (TypeError, AttributeError):
        raise ValueError("reference profile has a value of the wrong type (rebuild it with "
                         "`driftline reference build`)") from None
    return ReferenceProfile(numeric, categorical, prediction, performance=performance)
