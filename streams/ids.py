"""Deterministic ids: the same window, episode or request always gets the same id, so a
replayed output can be recognised downstream.

The parts are hashed as a JSON array, so different parts never give the same text: a model
version ``""`` is not the all-versions ``null``, and a ``|`` inside a part is not a separator.

>>> stable_id("fraud", None, 0) == stable_id("fraud", "", 0), stable_id("a|b", "c") == stable_id("a", "b|c")
(False, False)
"""

from __future__ import annotations

import hashlib

import orjson


def stable_id(*parts: object) -> str:
    text = orjson.dumps([None if p is None else str(p) for p in parts])
    return hashlib.sha256(text).hexdigest()[:24]
