"""Deterministic ids: the same window, episode or request always gets the same id, so a
replayed output can be recognised downstream.

An id is a hash of its parts joined by ``|`` (None as nothing), as since the first version,
so the ids of episodes under way stay the same across an upgrade. Where that text would be
ambiguous (a part that is empty, or holds a ``|``) the parts are hashed as a JSON array
instead, which no joined text can equal (those begin with a monitor name): a model version
``""`` is not the all-versions ``null``, and ``a|b`` is not two parts.

>>> stable_id("fraud", None, 0) == stable_id("fraud", "", 0), stable_id("a|b", "c") == stable_id("a", "b|c")
(False, False)
>>> stable_id("fraud", None, "data_drift", "amount", 0)       # as the first version made it
'23d5b2c63376a83b41b9e6b3'
"""

from __future__ import annotations

import hashlib

import orjson


def stable_id(*parts: object) -> str:
    texts = [None if p is None else str(p) for p in parts]
    if any(t == "" or (t is not None and "|" in t) for t in texts):
        text = orjson.dumps(texts)
    else:
        text = "|".join("" if t is None else t for t in texts).encode()
    return hashlib.sha256(text).hexdigest()[:24]
