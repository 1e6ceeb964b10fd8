"""Pipeline health of one window: the share of events it could not use (dead letters) and the
share that arrived after their windows had closed (late), each held against a ceiling.

A rate is an issue when it is above its ceiling *and* significantly so: an exact one-sided
binomial test of "the true rate is at most the ceiling" (P(X >= k) for X ~ Binomial(n,
ceiling)) at level ``alpha``. With the ceiling as the null hypothesis a healthy pipeline
whose rate stays at or below it is flagged in at most ``alpha`` of its windows, whatever the
window's size: a window of 100 events needs 5 dead letters to breach a 1% ceiling, one of
10,000 about 125.

Examples
--------
>>> from driftline.detectors.pipeline_health import PipelineHealth
>>> health = PipelineHealth(invalid_rate=0.01, late_rate=0.01, alpha=0.01)
>>> result = health.judge(arrivals=1000, invalid=9, late=40)
>>> [(i.statistic, round(i.value, 4)) for i in result.issues]
[('late_rate', 0.0385)]
>>> sorted(result.judged)
['invalid_events', 'late_events']
>>> health.judge(arrivals=0, invalid=0, late=0).judged
frozenset()
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy.special import bdtrc

# subject of the alert -> the statistic it is judged on
SUBJECTS = {"invalid_events": "invalid_rate", "late_events": "late_rate"}


@dataclass(frozen=True)
class PipelineIssue:
    """A pipeline rate above its ceiling, and significantly so."""

    subject: str        # invalid_events | late_events
    statistic: str      # invalid_rate | late_rate
    value: float
    threshold: float    # the ceiling
    p_value: float
    count: int          # dead letters (or late events) ...
    total: int          # ... of this many events read over the same span


@dataclass(frozen=True)
class PipelineResult:
    """The rates of a window as (events counted, of how many) by subject, the issues among
    them, and the subjects judged (none when no event was read meanwhile)."""

    rates: dict[str, tuple[int, int]]
    issues: tuple[PipelineIssue, ...]
    judged: frozenset[str]


@dataclass(frozen=True)
class PipelineHealth:
    """The pipeline rule of a monitor; a ceiling of None leaves its rate unwatched.

    Parameters
    ----------
    invalid_rate
        Ceiling of the share of dead letters among the events read while they came.
    late_rate
        Ceiling of the share of late events among them.
    alpha
        Level of each one-sided binomial test against its ceiling.
    """

    invalid_rate: float | None = 0.01
    late_rate: float | None = 0.01
    alpha: float = 0.01

    @property
    def watched(self) -> frozenset[str]:
        """The subjects this rule judges."""
        ceilings = {"invalid_events": self.invalid_rate, "late_events": self.late_rate}
        return frozenset(s for s, c in ceilings.items() if c is not None)

    def judge(self, arrivals: int, invalid: int, late: int) -> PipelineResult:
        """Judge a window's ``invalid`` dead letters and ``late`` late events against the
        ``arrivals``, the usable events (not late) read while they were: not the window's
        events, of which a first or a hopping window holds more or fewer."""
        counts = {"invalid_events": (invalid, self.invalid_rate), "late_events": (late, self.late_rate)}
        rates: dict[str, tuple[int, int]] = {}
        issues = []
        for subject, (k, ceiling) in counts.items():
            n = arrivals + k
            if ceiling is None or n <= 0:
                continue
            rates[subject] = (k, n)
            # P(X >= k), X ~ Binomial(n, ceiling); bdtrc(k - 1, n, p) = binom(n, p).sf(k - 1)
            p = float(bdtrc(k - 1, n, ceiling)) if k > 0 else 1.0
            if k / n > ceiling and p <= self.alpha:
                issues.append(PipelineIssue(subject, SUBJECTS[subject], k / n, ceiling, p, k, n))
        return PipelineResult(rates, tuple(issues), frozenset(rates))
