"""Cutting batches by bytes as well as by count: a batch of wide events (1,000 features) is
parsed into far more Python objects than the same number of narrow ones, so memory is bounded
by ``limits.batch_bytes`` of raw input per decoded batch."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np


def byte_slices(values: Sequence[bytes], limit: int) -> Iterator[slice]:
    """Consecutive slices of ``values`` of at most ``limit`` bytes each (at least one value)."""
    n = len(values)
    if n == 0:
        return
    sizes = np.fromiter(map(len, values), dtype=np.int64, count=n)
    total = int(sizes.sum())
    if total <= limit:
        yield slice(0, n)
        return
    ends = np.cumsum(sizes)
    start = 0
    while start < n:
        base = ends[start - 1] if start else 0
        stop = int(np.searchsorted(ends, base + limit, side="right"))
        stop = max(stop, start + 1)
        yield slice(start, stop)
        start = stop
