"""Whatever the YAML holds, loading raises ConfigError (one line) or succeeds: never a crash."""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any

import yaml
from driftline.schemas.config import Config, parse_config
from driftline.schemas.exceptions import ConfigError
from driftline.schemas.yaml_io import parse_yaml
from hypothesis import given, settings
from hypothesis import strategies as st

BASE: dict[str, Any] = {
    "monitors": [
        {
            "name": "fraud",
            "source": {"predictions": "predictions", "labels": "labels"},
            "fields": {"prediction": "prediction.score"},
            "features": {"amount": {"type": "numeric", "min": 0, "max": 10}},
            "prediction": {"type": "numeric"},
            "reference": {"path": "refs/fraud.json"},
            "window": {"size": "5m", "slide": "1m", "grace": "30s", "idle_timeout": "30s"},
            "drift": {"fdr_q": 0.01, "numeric_effect": 0.1, "min_count": 30},
            "quality": {"out_of_range_rate": 0.01},
            "alerts": {"fire_after": 1, "resolve_after": 2, "severity": "warning"},
            "retrain": {"enabled": True, "cooldown": "1h", "kinds": ["data_drift"]},
        }
    ],
    "kafka": {"bootstrap.servers": "localhost:9092"},
    "outputs": {"reports": "r", "dlq": "d"},
    "http": {"port": 9464},
    "limits": {"batch_size": 10},
    "processing_guarantee": "at_least_once",
}


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


PATHS = _paths(BASE)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats()
    | st.sampled_from([float("nan"), float("inf"), 10**400, -(2**64)])
    | st.text(max_size=12)
    | st.sampled_from(["5m", "0s", "-1", "numeric", "categorical", "..", "a.b", ""])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _check(data: Any) -> None:
    try:
        config = parse_config(data)
    except ConfigError as exc:
        text = str(exc)
        assert "\n" not in text and text.strip()
        assert "localhost:9092" not in text
    else:
        assert isinstance(config, Config)
        _assert_finite(config)


def _assert_finite(node: Any) -> None:
    if dataclasses.is_dataclass(node):
        for f in dataclasses.fields(node):
            _assert_finite(getattr(node, f.name))
    elif isinstance(node, tuple | list):
        for item in node:
            _assert_finite(item)
    elif isinstance(node, dict):
        for item in node.values():
            _assert_finite(item)
    elif isinstance(node, float):
        assert math.isfinite(node)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PATHS), values)
def test_replaced_value(path: tuple[Any, ...], value: Any) -> None:
    data = copy.deepcopy(BASE)
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    _check(data)


@settings(max_examples=200, deadline=None)
@given(values)
def test_arbitrary_document(value: Any) -> None:
    _check(value)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_arbitrary_yaml_text(text: str) -> None:
    try:
        data = parse_yaml(text)
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    _check(data)


def test_base_is_valid() -> None:
    assert parse_config(yaml.safe_load(yaml.safe_dump(BASE))).monitors[0].window.slide == 60.0
