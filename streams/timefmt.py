"""Event times: epoch seconds as integer milliseconds, and milliseconds as RFC 3339."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np


def event_ms(timestamps: np.ndarray) -> np.ndarray:
    """Epoch seconds to integer milliseconds, rounding through microseconds first so that
    1.001 s (stored as 1.000999...) is 1001 ms, not 1000."""
    return np.floor_divide(np.rint(np.asarray(timestamps, dtype=np.float64) * 1e6).astype(np.int64), 1000)


def rfc3339(ms: int) -> str:
    """``2026-11-25T10:00:00Z``, with milliseconds only when there are any."""
    dt = datetime.fromtimestamp(ms / 1000, UTC)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{ms % 1000:03d}Z" if ms % 1000 else f"{text}Z"
