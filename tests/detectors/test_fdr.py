"""bh_adjust (detectors/fdr.py) against its oracle, scipy.stats.false_discovery_control."""

from __future__ import annotations

import numpy as np
from driftline.detectors.fdr import bh_adjust
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import false_discovery_control

p_values = st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=60)


@settings(max_examples=300, deadline=None)
@given(p_values)
def test_equals_scipy_benjamini_hochberg(p: list[float]) -> None:
    np.testing.assert_allclose(bh_adjust(p), false_discovery_control(p, method="bh"),
                               rtol=1e-12, atol=0)


def test_ties_order_and_empty_input() -> None:
    p = [0.02, 0.02, 0.5, 0.001, 0.02]
    np.testing.assert_allclose(bh_adjust(p), false_discovery_control(p, method="bh"), rtol=1e-12)
    assert bh_adjust([]).size == 0
    assert bh_adjust([1.0]).tolist() == [1.0]
