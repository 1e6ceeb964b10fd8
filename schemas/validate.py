"""JSON Schemas shipped as package data of ``driftline.schemas``, and validation against them.

>>> validate_instance("label_event", {"event_id": "7f3c9a", "label": 1})
>>> sorted(SCHEMA_KINDS)[:2]
['alert', 'config']
"""

from __future__ import annotations

import json
import numbers
from functools import cache
from importlib import resources
from typing import Any

from driftline.schemas.exceptions import InvalidInstanceError
from driftline.schemas.messages import pick, render
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from jsonschema.validators import extend

SCHEMA_KINDS: tuple[str, ...] = (
    "prediction_event",
    "label_event",
    "config",
    "window_report",
    "alert",
    "retrain_request",
    "dlq_record",
)


def _is_integer(checker: Any, value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, numbers.Integral) or (isinstance(value, float) and value.is_integer())


def _is_number(checker: Any, value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


# Like Draft 2020-12, but numpy scalars (registered as numbers.Integral / numbers.Real) count as
# integers / numbers, so objects can be checked before they are serialised.
_Validator = extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine_many(
        {"integer": _is_integer, "number": _is_number}
    ),
)


def _check_kind(kind: str) -> str:
    if kind not in SCHEMA_KINDS:
        raise KeyError(f"unknown schema {kind!r}; known: {', '.join(SCHEMA_KINDS)}")
    return kind


@cache
def load_schema(kind: str) -> dict[str, Any]:
    """The parsed ``<kind>.schema.json`` (cached; do not mutate)."""
    text = resources.files("driftline.schemas").joinpath(f"{_check_kind(kind)}.schema.json")
    schema: dict[str, Any] = json.loads(text.read_text(encoding="utf-8"))
    return schema


@cache
def validator_for(kind: str) -> Draft202012Validator:
    """A cached Draft 2020-12 validator for one schema (its schema is checked once)."""
    schema = load_schema(kind)
    Draft202012Validator.check_schema(schema)
    validator: Draft202012Validator = _Validator(schema)
    return validator


def instance_errors(kind: str, obj: Any) -> list[str]:
    """Every problem of ``obj`` against schema ``kind``, as ``"<path>: <message>"``."""
    return [_line(e) for e in validator_for(kind).iter_errors(obj)]


def _line(error: ValidationError) -> str:
    path, message = render(error)
    return f"{path or '<root>'}: {message}"


def validate_instance(kind: str, obj: Any) -> None:
    """Raise :class:`InvalidInstanceError` (a ``ValueError``) if ``obj`` does not match."""
    errors = list(validator_for(kind).iter_errors(obj))
    if not errors:
        return
    best = pick(errors)
    assert best is not None
    path, message = render(best)
    raise InvalidInstanceError(kind, path, message, [_line(e) for e in errors])


def is_valid(kind: str, obj: Any) -> bool:
    return validator_for(kind).is_valid(obj)
