"""Turn jsonschema errors into one-line messages an operator can act on.

Schemas may carry an ``x-expected`` annotation ("a duration like 30s, 5m, 1h") that is used
instead of jsonschema's wording. Values under ``kafka`` are never shown (they may be secrets).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from typing import Any

from jsonschema.exceptions import ValidationError, best_match, relevance

from .durations import DURATION_HINT, MAX_DURATION_SECONDS, format_duration

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}
_SECRET_SECTIONS = frozenset({"kafka"})
# Validators whose message is about a key, not about the value: x-expected does not apply.
_KEY_VALIDATORS = frozenset({"required", "additionalProperties"})


def format_path(parts: Iterable[Any]) -> str:
    """``["monitors", 0, "window", "size"]`` -> ``monitors[0].window.size``.

    >>> format_path(["monitors", 0, "window", "size"])
    'monitors[0].window.size'
    """
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def describe(value: Any) -> str:
    """What kind of value this is, without showing it: ``a list``, ``an empty mapping``."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a mapping" if value else "an empty mapping"
    if isinstance(value, list | tuple):
        return "a list" if value else "an empty list"
    if isinstance(value, str):
        return "a string" if value else "an empty string"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    return f"a {type(value).__name__}"


def show(value: Any, limit: int = 60) -> str:
    """A value as JSON, cut to ``limit`` characters."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def suggest(word: str, choices: Sequence[str]) -> str:
    """``'; did you mean "x"?'`` for the choice closest to ``word`` (nothing if none is close)."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f'; did you mean "{close[0]}"?' if close else ""


def _key(error: ValidationError) -> tuple[Any, ...]:
    # jsonschema's relevance, then: an unknown key beats a missing one at the same place
    # (a typo "featurs" is reported as such, not as "features is missing").
    return (*relevance(error), error.validator == "additionalProperties")


def pick(errors: Iterable[ValidationError]) -> ValidationError | None:
    """The most relevant error (``jsonschema.exceptions.best_match`` with a tie-break)."""
    return best_match(errors, key=_key)


def render(error: ValidationError) -> tuple[str, str]:
    """``(path, message)`` for one validation error."""
    parts = list(error.absolute_path)
    validator, value, schema = error.validator, error.instance, error.schema
    secret = bool(parts) and parts[0] in _SECRET_SECTIONS and len(parts) > 1
    expected = schema.get("x-expected") if isinstance(schema, dict) else None

    if validator == "required":
        missing = [k for k in error.validator_value if k not in value]
        return format_path([*parts, missing[0]]), "required key is missing"
    if validator == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        extra = [k for k in value if k not in allowed]
        hint = suggest(str(extra[0]), allowed)
        return format_path([*parts, extra[0]]), f"unknown key (allowed: {', '.join(allowed)}){hint}"
    if "propertyNames" in error.relative_schema_path:
        return format_path([*parts, value]), f"{show(value)} is not {expected or 'a valid name'}"
    if secret:
        what = expected or _type_words(schema.get("type"))
        return format_path(parts), f"expected {what or 'a valid value'}, got {describe(value)}"
    if validator in ("anyOf", "oneOf"):
        # a branch of the value's own type says what is wrong inside it (the exact key)
        inside = [e for e in error.context or () if e.validator != "type"]
        if inside:
            return render(best_match(inside))
    if validator in ("type", "anyOf", "oneOf", "minItems", "minProperties"):
        what = expected or _type_words(schema.get("type")) or "a valid value"
        return format_path(parts), f"expected {what}, got {describe(value)}"
    if expected == DURATION_HINT and validator == "maximum":   # a duration, well formed, too long
        return format_path(parts), f"{show(value)} is longer than the limit of {format_duration(MAX_DURATION_SECONDS)}"
    if expected:
        return format_path(parts), f"{show(value)} is not {expected}"
    return format_path(parts), _generic(validator, error.validator_value, value, error.message)


def _type_words(types: Any) -> str:
    if types is None:
        return ""
    names = [_TYPE_NAMES.get(t, t) for t in ([types] if isinstance(types, str) else types)]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _generic(validator: str, limit: Any, value: Any, fallback: str) -> str:
    if validator == "enum":
        hint = suggest(value, [str(c) for c in limit]) if isinstance(value, str) else ""
        return f"expected one of {', '.join(map(str, limit))}, got {show(value)}{hint}"
    if validator == "const":
        return f"expected {show(limit)}, got {show(value)}"
    words = {
        "minimum": "at least",
        "maximum": "at most",
        "exclusiveMinimum": "greater than",
        "exclusiveMaximum": "less than",
    }
    if validator in words:
        return f"must be {words[validator]} {limit}, got {show(value)}"
    if validator == "minLength":
        return "must not be empty" if limit == 1 else f"must be at least {limit} characters long"
    if validator == "maxLength":
        return f"must be at most {limit} characters long"
    if validator == "uniqueItems":
        return f"lists the same item twice: {show(value)}"
    return fallback
