"""RFC 3339 rendering of event times (milliseconds since the epoch)."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(ms: int) -> str:
    """``2026-11-25T10:00:00Z``, with milliseconds only when there are any."""
    dt = datetime.fromtimestamp(ms / 1000, UTC)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{ms % 1000:03d}Z" if ms % 1000 else f"{text}Z"
