"""Helpers that keep snapshots JSON-safe: JSON has no infinities, sketches do."""

from __future__ import annotations

import numpy as np


def floats_out(values: np.ndarray) -> list[float | str]:
    """Floats with infinities spelled ``"inf"`` / ``"-inf"`` (JSON cannot carry them)."""
    return [v if np.isfinite(v) else ("inf" if v > 0 else "-inf") for v in values.tolist()]


def floats_in(values: list[float | str]) -> np.ndarray:
    return np.array([float(v) for v in values], dtype=np.float64)
