"""Golden detection tests on seeded synthetic streams (DESIGN 3.6 and 5).

False alarms: on stationary data with 20 numeric features of varied shapes and 5 categorical
ones, at most 1% of windows have any data-drift flag with the default config, at 100, 1,000,
10,000 and 100,000 events per window.
Power: at 1,000 events per window, a 0.5 sigma mean shift, a category share 10% -> 25% and a
score shift are each flagged in the first window after the change, and nothing else is.
"""

from __future__ import annotations

import numpy as np
import pytest
from driftline.detectors.drift_judge import DriftJudge
from driftline.detectors.reference import CategoricalReference, NumericReference, ReferenceProfile
from driftline.detectors.window_sketch import ColumnBatch, MonitorLayout, WindowSketch

from driftline import synth


@pytest.fixture(scope="module")
def reference() -> ReferenceProfile:
    x, cats, s = synth.draw(np.random.default_rng(2026), 50_000)
    return ReferenceProfile(
        {n: NumericReference.build(x[:, i]) for i, n in enumerate(synth.NUMERIC)},
        {c: CategoricalReference.build(v) for c, v in cats.items()},
        NumericReference.build(s),
    )


def _judge_window(reference, judge, x, cats, s):
    sketch = WindowSketch(MonitorLayout.from_reference(reference))
    sketch.update(ColumnBatch(x, tuple(cats[c] for c in synth.CATEGORIES), s))
    return judge.judge(sketch)


# (window size, windows): enough windows at every size that passing means something: with at
# most 1% of them flagged, a true false-alarm rate of 3% would pass with probability 0.02 at
# 300 windows and below 1e-4 at 1,000 (binomial), 2% with 0.01 at 1,000 and 3e-4 at 2,000.
FALSE_ALARM_CASES = [(100, 2000), (1_000, 1000), (10_000, 300), (100_000, 300)]


@pytest.mark.slow
@pytest.mark.parametrize(("size", "windows"), FALSE_ALARM_CASES)
def test_false_alarms_at_most_one_percent(reference, size, windows):
    rng = np.random.default_rng(size)
    judge = DriftJudge(reference)
    flagged = []
    for _ in range(windows):
        result = _judge_window(reference, judge, *synth.draw(rng, size))
        if result.drift:
            flagged.append(result.drifted_features)
    rate = len(flagged) / windows
    print(f"window size {size}: {len(flagged)}/{windows} windows flagged ({rate:.2%}): {flagged[:5]}")
    assert rate <= 0.01


POWER_CASES = {
    "mean_shift": (synth.Drift(at=0, mean_shift=0.5), "features", synth.NUMERIC[0]),
    "category_share": (synth.Drift(at=0, category_share=0.25), "features", "country"),
    "score_shift": (synth.Drift(at=0, score_shift=0.6), "prediction", "prediction"),
}


@pytest.mark.parametrize("case", sorted(POWER_CASES))
@pytest.mark.parametrize("seed", range(10))
def test_first_window_after_change_is_flagged(reference, case, seed):
    drift, where, name = POWER_CASES[case]
    judge = DriftJudge(reference)
    result = _judge_window(reference, judge, *synth.draw(np.random.default_rng(seed), 1000, drift))
    if where == "features":
        assert result.drifted_features == (name,)
    else:
        assert result.prediction.drift
        assert result.drifted_features == ()
