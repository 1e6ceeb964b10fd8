"""Benjamini-Hochberg adjusted p-values, for the few p-values of one window.

This is ``scipy.stats.false_discovery_control(p, method="bh")`` (the tests hold it to that
oracle), written out because scipy's version spends ~0.5 ms per call validating its input
through the array-API layer, and the judge calls it twice for every window: at 1,000-event
windows that alone cost a quarter of the judging time.

>>> bh_adjust([0.01, 0.04, 0.03, 0.2]).round(4).tolist()
[0.04, 0.0533, 0.0533, 0.2]
"""

from __future__ import annotations

import numpy as np


def bh_adjust(p_values) -> np.ndarray:
    """Adjusted p-values ``min(1, min_{j >= i} p_(j) m / j)`` in the input's order."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out
