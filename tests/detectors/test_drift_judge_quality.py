"""Data-quality rules of the drift judge (README "Data quality"): each rate is an issue above
the reference's own rate + its setting, and significantly above the reference's rate."""

from __future__ import annotations

import numpy as np
import pytest
from driftline.detectors.drift_judge import DriftJudge
from driftline.detectors.reference import CategoricalReference, NumericReference, ReferenceProfile
from driftline.detectors.window_sketch import ColumnBatch, MonitorLayout, WindowSketch

UPPER = 1.0   # the configured max of feature x


def _numeric_reference(rng: np.random.Generator, null_share: float = 0.0) -> ReferenceProfile:
    x = rng.normal(size=20_000)
    x[rng.random(x.size) < null_share] = np.nan
    return ReferenceProfile({"x": NumericReference.build(x, upper=UPPER)}, {})


def _issues(ref: ReferenceProfile, x: np.ndarray) -> dict[str, tuple[float, float, float]]:
    sketch = WindowSketch(MonitorLayout.from_reference(ref, bounds={"x": (None, UPPER)}))
    sketch.update(ColumnBatch(x.reshape(-1, 1), (), None))
    return {q.statistic: (q.value, q.threshold, q.reference) for q in DriftJudge(ref).judge(sketch).quality}


def _with_share_above(rng: np.random.Generator, n: int, share: float) -> np.ndarray:
    """n values below the bound, then the first ``share`` of them moved above it."""
    x = np.minimum(rng.normal(size=n), UPPER - 1e-9)
    x[: round(share * n)] = UPPER + 1.0 + rng.random(round(share * n))
    return x


def test_out_of_range_is_judged_against_the_references_own_rate():
    rng = np.random.default_rng(5)
    ref = _numeric_reference(rng)
    above = ref.numeric["x"].out_of_range_rate            # a normal sample above 1.0: about 16%
    assert 0.15 < above < 0.17
    # the training data's own share outside the bounds is no issue ...
    assert _issues(ref, _with_share_above(rng, 1_000, above)) == {}
    # ... a share 0.15 above it is, with the reference rate + 0.01 as the threshold
    value, threshold, reference = _issues(ref, _with_share_above(rng, 1_000, above + 0.15))["out_of_range_rate"]
    assert value == pytest.approx(above + 0.15, abs=1e-3)
    assert (threshold, reference) == (pytest.approx(above + 0.01), above)


def test_with_bounds_the_training_data_keeps_any_rate_above_the_setting_is_an_issue():
    rng = np.random.default_rng(6)
    x = rng.uniform(-0.9, 0.9, size=20_000)               # all inside the bound
    ref = ReferenceProfile({"x": NumericReference.build(x, upper=UPPER)}, {})
    assert ref.numeric["x"].out_of_range_rate == 0.0
    window = rng.uniform(-0.9, 0.9, size=1_000)
    window[:15] = 3.0                                      # 1.5% out of range: impossible under the reference
    assert _issues(ref, window)["out_of_range_rate"] == (0.015, 0.01, 0.0)
    window[:15] = 0.0
    window[:10] = 3.0                                      # 1.0%: not above the threshold
    assert _issues(ref, window) == {}


def test_a_null_rate_just_over_its_threshold_in_a_small_window_is_no_issue_yet():
    rng = np.random.default_rng(7)
    ref = _numeric_reference(rng, null_share=0.10)
    reference_rate = ref.numeric["x"].null_rate
    assert 0.09 < reference_rate < 0.11

    def window(n: int, nulls: int) -> np.ndarray:
        x = np.minimum(rng.normal(size=n), UPPER - 1e-9) * 0.0   # in range, whatever the draw
        x[:nulls] = np.nan
        return x

    # 17 nulls of 100: above the reference + 0.05, but P(X >= 17) under 10% is about 0.02
    assert _issues(ref, window(100, 17)) == {}
    # the same share of 2,000 values is far beyond chance
    value, threshold, reference = _issues(ref, window(2_000, 340))["null_rate"]
    assert (value, threshold, reference) == (0.17, pytest.approx(reference_rate + 0.05), reference_rate)
    # fewer than drift.min_count values (nulls included): not judged
    assert _issues(ref, window(29, 29)) == {}


def test_new_categories_count_against_their_expected_share():
    rng = np.random.default_rng(8)
    known = np.array(["a", "b", "c"], dtype=object)
    ref = ReferenceProfile({}, {"c": CategoricalReference.build(known[rng.choice(3, 20_000)])})
    sketch = WindowSketch(MonitorLayout.from_reference(ref))
    values = known[rng.choice(3, 1_000)]
    values[:80] = "new"                                     # 8% in a category the reference does not list
    sketch.update(ColumnBatch(np.zeros((1_000, 0)), (values,), None))
    (issue,) = DriftJudge(ref).judge(sketch).quality
    assert (issue.statistic, issue.value, issue.count, issue.total) == ("new_category_rate", 0.08, 80, 1_000)
    assert issue.threshold == pytest.approx(issue.reference + 0.05)
