"""Event times: epoch seconds as integer milliseconds, and milliseconds as RFC 3339."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np


def event_ms(timestamps: np.ndarray) -> np.ndarray:
    """Epoch seconds to integer milliseconds, rounding through microseconds first so that
    1.001 s (stored as 1.000999...) is 1001 ms, not 1000."""
    return np.floor_divide(np.rint(np.asarray(timestamps, dtype=np.float64) * 1e6).astype(np.int64), 1000)


def rfc3339(ms: int) -> str:
    """``2026-11-25T10:00:00Z``, with milliseconds only when there are any.

    >>> rfc3339(1795600000123), rfc3339(-30610224001000)
    ('2026-11-25T09:46:40.123Z', '0999-12-31T23:59:59Z')
    """
    dt = datetime.fromtimestamp(ms / 1000, UTC)
    # isoformat pads the year to four digits, where strftime's %Y gives glibc's "999"
    text = dt.replace(microsecond=0, tzinfo=None).isoformat()
    return f"{text}.{ms % 1000:03d}Z" if ms % 1000 else f"{text}Z"
