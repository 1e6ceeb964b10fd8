"""Deterministic ids: the same window, episode or request always gets the same id, so a
replayed output can be recognised downstream."""

from __future__ import annotations

import hashlib


def stable_id(*parts: object) -> str:
    text = "|".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:24]
