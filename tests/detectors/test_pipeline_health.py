"""The pipeline rule: its p-value is scipy's binomial tail, a healthy pipeline at its ceiling
alerts in at most alpha of its windows at every window size, and a broken one is caught."""

from __future__ import annotations

import numpy as np
import pytest
from driftline.detectors.pipeline_health import PipelineHealth
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats


@settings(deadline=None)   # scipy's first binomial tail call can be slow on a loaded machine
@given(arrivals=st.integers(0, 10**6), invalid=st.integers(0, 10**4), late=st.integers(0, 10**4),
       ceiling=st.floats(0, 1), alpha=st.floats(1e-6, 0.5))
def test_issue_iff_above_the_ceiling_and_significant_by_scipys_binomial_tail(arrivals, invalid, late, ceiling, alpha):
    result = PipelineHealth(ceiling, ceiling, alpha).judge(arrivals, invalid, late)
    issues = {i.subject: i for i in result.issues}
    for subject, k in (("invalid_events", invalid), ("late_events", late)):
        n = arrivals + k
        if n == 0:
            assert subject not in result.judged and subject not in result.rates
            continue
        assert result.rates[subject] == (k, n)
        p = stats.binom(n, ceiling).sf(k - 1) if k else 1.0
        # (near alpha the two computations may round apart: no assertion on a coin flip)
        if abs(p - alpha) > 1e-9 * alpha:
            assert (subject in issues) == (k / n > ceiling and p <= alpha), (k, n, p)
        if subject in issues:
            i = issues[subject]
            assert i.p_value == pytest.approx(p, rel=1e-6, abs=1e-300)
            assert (i.count, i.total, i.threshold) == (k, n, ceiling)
            assert i.value == pytest.approx(k / n)


@pytest.mark.parametrize("size", [100, 1_000, 10_000, 100_000])
def test_a_pipeline_at_its_ceiling_alerts_in_at_most_alpha_of_its_windows(size):
    """The worst healthy case: the true rate is the ceiling itself."""
    rng = np.random.default_rng(size)
    health = PipelineHealth(invalid_rate=0.01, late_rate=0.01, alpha=0.01)
    windows = 4000
    invalid = rng.binomial(size, 0.01, windows)
    late = rng.binomial(size, 0.01, windows)
    alerted = sum(bool(health.judge(size, int(i), int(k)).issues) for i, k in zip(invalid, late, strict=True))
    # two tests at 1% each: at most 2% of windows, and 3 standard errors of 4,000 windows above it
    assert alerted / windows <= 0.02 + 3 * np.sqrt(0.02 * 0.98 / windows), alerted


@pytest.mark.parametrize(("size", "rate"), [(100, 0.10), (1_000, 0.03), (10_000, 0.015), (100_000, 0.012)])
def test_a_broken_pipeline_is_caught(size, rate):
    rng = np.random.default_rng(7)
    health = PipelineHealth(invalid_rate=0.01, late_rate=None, alpha=0.01)
    caught = [bool(health.judge(size, int(k), 0).issues) for k in rng.binomial(size, rate, 200)]
    assert np.mean(caught) >= 0.9


def test_a_ceiling_of_none_leaves_the_rate_unwatched():
    health = PipelineHealth(invalid_rate=None, late_rate=0.01)
    result = health.judge(100, invalid=100, late=0)
    assert health.watched == {"late_events"}
    assert result.judged == {"late_events"} and result.issues == ()
    assert result.rates == {"late_events": (0, 100)}


def test_dead_letters_with_no_usable_event_read_meanwhile_are_judged():
    """The rate stays defined (1.0, not a division by zero) when no usable event came along
    with the dead letters (rare: a window closes only with events in it)."""
    (issue,) = PipelineHealth().judge(0, invalid=20, late=0).issues
    assert (issue.subject, issue.statistic, issue.value, issue.count, issue.total) == \
        ("invalid_events", "invalid_rate", 1.0, 20, 20)
