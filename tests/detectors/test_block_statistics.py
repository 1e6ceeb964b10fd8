"""The vectorized block statistics equal the per-feature functions of statistics.py."""

from __future__ import annotations

import numpy as np
import pytest
from driftline.detectors.block_statistics import NumericBlockReference, block_stats
from driftline.detectors.calibration import ks_pvalue
from driftline.detectors.numeric_sketch import NumericLayout, NumericSketch
from driftline.detectors.reference import NumericReference
from driftline.detectors.statistics import (
    coarse_counts,
    js_distance,
    ks_binned,
    psi,
    wasserstein_binned,
)


def _columns(rng: np.random.Generator, n: int, shift: float) -> np.ndarray:
    return np.column_stack([
        rng.normal(shift, 1, n),
        rng.lognormal(0, 1, n) + shift,
        rng.poisson(3, n).astype(float) + shift,
        rng.standard_t(3, n),
        np.full(n, 7.0),                       # constant: one bin, no edges
        np.where(rng.random(n) < 0.3, np.nan, rng.normal(0, 2, n)),
    ])


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("shift", [0.0, 0.4])
def test_block_equals_per_feature(seed, shift):
    rng = np.random.default_rng(seed)
    train = _columns(rng, 5000, 0.0)
    refs = [NumericReference.build(train[:, j]) for j in range(train.shape[1])]
    layout = NumericLayout.from_edges(tuple(f"f{j}" for j in range(len(refs))), tuple(r.fine_edges for r in refs))
    sketch = NumericSketch(layout)
    sketch.update(_columns(rng, 800, shift))
    stats = block_stats(NumericBlockReference.build(refs), sketch.flat_bins, sketch.all_tail_means())
    for j, ref in enumerate(refs):
        fine = sketch.bin_counts(j)
        n = int(fine.sum())
        coarse = coarse_counts(fine, ref.coarse_starts)
        assert stats.n[j] == n
        assert stats.psi[j] == pytest.approx(psi(coarse, ref.coarse_probs), abs=1e-12)
        assert stats.js[j] == pytest.approx(js_distance(coarse, ref.coarse_probs), abs=1e-12)
        ks = ks_binned(fine, ref.fine_probs)
        assert stats.ks[j] == pytest.approx(ks, abs=1e-12)
        assert stats.p_value[j] == pytest.approx(ks_pvalue(ks, n, ref.count), rel=1e-9, abs=1e-300)
        w1 = wasserstein_binned(fine, ref.fine_probs, ref.fine_edges, sketch.tail_means(j), ref.tail_means, ref.std,
                                ref.atom_bins)
        if np.isnan(w1):
            assert np.isnan(stats.wasserstein[j])
        else:
            assert stats.wasserstein[j] == pytest.approx(w1, abs=1e-12)


def test_scipy_jensenshannon_agrees():
    from scipy.spatial.distance import jensenshannon

    rng = np.random.default_rng(1)
    for _ in range(20):
        counts = rng.integers(0, 50, size=12)
        ref = rng.dirichlet(np.ones(12))
        assert js_distance(counts, ref) == pytest.approx(jensenshannon(counts / counts.sum(), ref, base=2), abs=1e-12)
