"""The JSON Schemas of the public contracts: the DESIGN examples validate, broken ones do not."""

from __future__ import annotations

import copy
import doctest
import importlib
import json
from importlib import resources
from typing import Any

import pytest
import yaml
from driftline.schemas import dlq
from driftline.schemas.exceptions import InvalidInstanceError
from driftline.schemas.validate import (
    SCHEMA_KINDS,
    instance_errors,
    is_valid,
    load_schema,
    validate_instance,
)
from jsonschema import Draft202012Validator

# fmt: off
# DESIGN 3.1
PREDICTION = {
    "event_id": "7f3c9a", "model_id": "fraud-scorer", "model_version": "v3",
    "timestamp": "2026-11-25T10:00:00.123Z",
    "features": {"amount": 120.5, "country": "DE", "age": None},
    "prediction": {"score": 0.83, "label": 1},
}
LABEL = {"event_id": "7f3c9a", "label": 1, "timestamp": "2026-11-25T10:03:00Z"}

# DESIGN 3.4, plus report_id and the numeric entries' mean/std.
REPORT = {
    "type": "window_report", "report_id": "fraud|2026-11-25T10:00:00Z|*", "monitor": "fraud",
    "model_version": None,
    "window_start": "2026-11-25T10:00:00Z", "window_end": "2026-11-25T10:05:00Z",
    "count": 10000, "invalid": 3, "late": 0, "drift": False, "drifted_features": [],
    "features": {
        "amount": {"type": "numeric", "count": 9990, "null_rate": 0.001, "out_of_range_rate": 0.0,
                   "mean": 118.2, "std": 40.1,
                   "psi": 0.031, "ks": 0.018, "wasserstein": 0.021, "js": 0.044,
                   "p_value": 0.41, "drift": False},
        "country": {"type": "categorical", "count": 10000, "null_rate": 0.0, "new_category_rate": 0.0,
                    "psi": 0.012, "js": 0.03, "p_value": 0.77, "drift": False},
    },
    "prediction": {"type": "numeric", "psi": 0.02, "ks": 0.01, "wasserstein": 0.015, "js": 0.03,
                   "p_value": 0.6, "drift": False},
    "performance": None,
}

# DESIGN 3.5 ("..." placeholders filled in)
ALERT = {
    "type": "alert", "alert_id": "5d41402abc4b2a76", "status": "firing", "severity": "warning",
    "kind": "data_drift", "monitor": "fraud", "model_version": None, "subject": "amount",
    "window_start": "2026-11-25T10:00:00Z", "window_end": "2026-11-25T10:05:00Z",
    "statistic": "wasserstein", "value": 0.31, "threshold": 0.1, "p_value": 1e-9, "evidence": {},
    "runbook": "https://github.com/driftline/driftline/blob/main/README.md#runbook",
}
RETRAIN = {
    "type": "retrain_request", "request_id": "r-1", "monitor": "fraud", "model_version": "v3",
    "reasons": ["5d41402abc4b2a76"], "window_end": "2026-11-25T10:05:00Z",
    "evidence": {"drifted_features": ["amount"]},
}
DLQ = {"type": "dead_letter", "reason": "invalid_json", "stage": "decode", "topic": "predictions",
       "partition": 0, "offset": 42, "raw": "{not json"}

EXAMPLES: dict[str, dict[str, Any]] = {
    "prediction_event": PREDICTION, "label_event": LABEL, "window_report": REPORT,
    "alert": ALERT, "retrain_request": RETRAIN, "dlq_record": DLQ,
}
# fmt: on


def test_every_schema_file_is_listed_and_valid() -> None:
    files = {
        p.name.removesuffix(".schema.json")
        for p in resources.files("driftline.schemas").iterdir()
        if p.name.endswith(".schema.json")
    }
    assert files == set(SCHEMA_KINDS)
    for kind in SCHEMA_KINDS:
        Draft202012Validator.check_schema(load_schema(kind))
        assert load_schema(kind)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_examples_validate(kind: str) -> None:
    validate_instance(kind, EXAMPLES[kind])
    assert instance_errors(kind, EXAMPLES[kind]) == []


def test_design_config_validates_against_config_schema(design_config: str) -> None:
    validate_instance("config", yaml.safe_load(design_config))


_REQUIRED = [
    (kind, key)
    for kind in (
        "window_report",
        "alert",
        "retrain_request",
        "dlq_record",
        "prediction_event",
        "label_event",
    )
    for key in load_schema(kind)["required"]
]


@pytest.mark.parametrize(("kind", "key"), _REQUIRED, ids=[f"{k}-{f}" for k, f in _REQUIRED])
def test_missing_required_key(kind: str, key: str) -> None:
    broken = copy.deepcopy(EXAMPLES[kind])
    del broken[key]
    with pytest.raises(InvalidInstanceError) as info:
        validate_instance(kind, broken)
    assert info.value.path == key
    assert "required key is missing" in str(info.value)


@pytest.mark.parametrize(
    ("kind", "path", "value"),
    [
        ("alert", ("status",), "fired"),
        ("alert", ("severity",), "high"),
        ("alert", ("kind",), "drift"),
        ("alert", ("type",), "window_report"),
        ("alert", ("p_value",), 2.0),
        ("alert", ("window_end",), "yesterday"),
        ("window_report", ("type",), "report"),
        ("window_report", ("features", "amount", "type"), "numerical"),
        ("window_report", ("features", "amount", "ks"), -0.1),
        ("window_report", ("features", "country", "wasserstein"), 0.1),
        ("window_report", ("prediction", "type"), "ordinal"),
        ("window_report", ("count",), -1),
        ("window_report", ("late",), 1.5),
        ("window_report", ("quality_alerts",), []),
        ("window_report", ("drift",), "no"),
        ("retrain_request", ("reasons",), []),
        ("dlq_record", ("type",), "dlq"),
        ("dlq_record", ("partition",), "0"),
        ("prediction_event", ("timestamp",), "25/11/2026"),
        ("prediction_event", ("features",), [1, 2]),
        ("label_event", ("label",), None),
    ],
)
def test_mutations_are_rejected(kind: str, path: tuple[str, ...], value: Any) -> None:
    broken = copy.deepcopy(EXAMPLES[kind])
    target = broken
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert not is_valid(kind, broken)
    with pytest.raises(InvalidInstanceError) as info:
        validate_instance(kind, broken)
    assert str(info.value).startswith(f"{kind}: ")


def test_null_statistics_are_allowed() -> None:
    report = copy.deepcopy(REPORT)
    for key in ("null_rate", "psi", "ks", "wasserstein", "js", "p_value", "mean", "std"):
        report["features"]["amount"][key] = None
    report["prediction"] = None
    report["performance"] = {**PERFORMANCE, "metrics": dict.fromkeys(PERFORMANCE["metrics"]),
                             "reference": None, "p_value": None}
    validate_instance("window_report", report)


# A report's performance object (binary score task), as the README shows it.
PERFORMANCE = {
    "task": "binary", "count": 812, "unmatched": 3, "dropped": {"late": 2, "null_prediction": 0, "duplicate": 1},
    "metrics": {"accuracy": 0.91, "balanced_accuracy": 0.88, "precision": 0.9, "recall": 0.8, "f1": 0.85,
                "auc": 0.95, "log_loss": 0.31, "base_rate": 0.3},
    "reference": {"count": 20000, "metrics": {"accuracy": 0.9, "balanced_accuracy": 0.87, "precision": 0.9,
                                              "recall": 0.78, "f1": 0.84, "auc": 0.94, "log_loss": 0.33,
                                              "base_rate": 0.32}},
    "p_value": 0.41, "degraded": False, "degraded_metrics": [],
}
REGRESSION = {"task": "regression", "count": 50, "unmatched": 0, "dropped": {"late": 0, "null_prediction": 0, "duplicate": 0},
              "metrics": {"mae": 1.2, "rmse": 1.6, "bias": -0.3, "r2": -2.5},
              "reference": None, "p_value": 1e-9, "degraded": True, "degraded_metrics": ["mae"]}


@pytest.mark.parametrize("performance", [PERFORMANCE, REGRESSION, {
    "task": "classification", "count": 1, "unmatched": 0, "dropped": {"late": 0, "null_prediction": 1, "duplicate": 0},
    "metrics": {"accuracy": 1.0, "balanced_accuracy": 1.0},
    "reference": None, "p_value": None, "degraded": False, "degraded_metrics": []}])
def test_performance_objects_validate(performance: dict) -> None:
    validate_instance("window_report", {**REPORT, "performance": performance})


@pytest.mark.parametrize(("base", "path", "value"), [
    (PERFORMANCE, ("metrics", "auc"), 1.5),
    (PERFORMANCE, ("metrics", "mae"), 1.0),                 # a regression metric in a binary report
    (PERFORMANCE, ("metrics", "ndcg"), 0.5),
    (PERFORMANCE, ("task",), "ranking"),
    (PERFORMANCE, ("count",), -1),
    (PERFORMANCE, ("unmatched",), 0.5),
    (PERFORMANCE, ("dropped", "late"), -1),
    (PERFORMANCE, ("dropped", "other"), 1),
    (PERFORMANCE, ("dropped",), 3),
    (PERFORMANCE, ("p_value",), 2),
    (PERFORMANCE, ("degraded",), "no"),
    (PERFORMANCE, ("reference", "metrics", "accuracy"), -0.1),
    (PERFORMANCE, ("extra",), 1),
    (REGRESSION, ("metrics", "accuracy"), 0.9),
    (REGRESSION, ("metrics", "rmse"), -1.0),
    (REGRESSION, ("metrics", "r2"), 1.5),
])
def test_broken_performance_objects_are_rejected(base: dict, path: tuple[str, ...], value: Any) -> None:
    performance = copy.deepcopy(base)
    target = performance
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert not is_valid("window_report", {**REPORT, "performance": performance})


@pytest.mark.parametrize("key", sorted(PERFORMANCE))
def test_performance_keys_are_required(key: str) -> None:
    performance = {k: v for k, v in PERFORMANCE.items() if k != key}
    assert not is_valid("window_report", {**REPORT, "performance": performance})
    metrics = {k: v for k, v in PERFORMANCE["metrics"].items() if k != "auc"}
    assert not is_valid("window_report", {**REPORT, "performance": {**PERFORMANCE, "metrics": metrics}})


def test_numeric_entry_needs_mean_and_std() -> None:
    report = copy.deepcopy(REPORT)
    del report["features"]["amount"]["std"]
    with pytest.raises(InvalidInstanceError) as info:
        validate_instance("window_report", report)
    assert info.value.path == "features.amount.std"


def test_resolved_and_epoch_variants() -> None:
    validate_instance(
        "alert",
        {
            **ALERT,
            "status": "resolved",
            "severity": "critical",
            "kind": "pipeline",
            "subject": None,
            "statistic": None,
            "value": None,
            "threshold": None,
            "p_value": None,
        },
    )
    validate_instance("prediction_event", {**PREDICTION, "timestamp": 1795600000.123})
    validate_instance("label_event", {"event_id": 7, "label": 12.5})


def test_dlq_helpers_match_schema() -> None:
    record = dlq.dlq_record(b"\xff\xfe{bad", "invalid_json", "decode", "predictions", 3, 99)
    validate_instance("dlq_record", record)
    assert record["raw"].startswith("\ufffd")
    validate_instance("dlq_record", dlq.dlq_record("x", "too_large", "decode"))
    assert load_schema("dlq_record")["x-kafka-headers"] == dlq.DLQ_HEADERS
    assert dict(dlq.dlq_headers("invalid_json", "decode", "t", 0, 5)) == {
        "driftline.error.reason": b"invalid_json",
        "driftline.error.stage": b"decode",
        "driftline.error.topic": b"t",
        "driftline.error.partition": b"0",
        "driftline.error.offset": b"5",
    }
    json.dumps(record)


def test_unknown_kind() -> None:
    with pytest.raises(KeyError):
        validate_instance("nope", {})


@pytest.mark.parametrize(
    "module", ["exceptions", "durations", "messages", "validate", "dlq", "config"]
)
def test_doctests(module: str) -> None:
    mod = importlib.import_module(f"driftline.schemas.{module}")
    result = doctest.testmod(mod)
    assert result.failed == 0


def test_numpy_scalars_count_as_numbers() -> None:
    import numpy as np
    record = {**DLQ, "partition": np.int64(3), "offset": np.int32(7)}
    validate_instance("dlq_record", record)
    report = copy.deepcopy(REPORT)
    report["count"] = np.int64(10)
    report["features"]["amount"]["psi"] = np.float64(0.2)
    validate_instance("window_report", report)
    assert not is_valid("dlq_record", {**DLQ, "partition": True})
