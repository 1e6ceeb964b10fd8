"""Typed results of judging one window against the reference."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FeatureResult:
    """Statistics and decision for one feature (or the prediction) in one window.

    ``effect_statistic`` names the effect size that must reach its floor (``wasserstein`` for
    numeric values, ``ks`` where W1 / std has no value, ``js`` for
    categorical ones); ``p_value`` is the calibrated p-value, None
    when the window held fewer than ``min_count`` values.
    """

    name: str
    type: str
    count: int
    nulls: int
    psi: float | None
    js: float | None
    p_value: float | None
    effect_statistic: str
    effect: float | None
    drift: bool = False
    ks: float | None = None
    wasserstein: float | None = None
    mean: float | None = None
    std: float | None = None
    out_of_range: int | None = None
    unseen: int | None = None
    new_categories: tuple[str, ...] = ()

    def rate_counts(self) -> dict[str, tuple[int, int]]:
        """The data-quality rates as (values counted, of how many): ``null_rate`` and
        ``out_of_range_rate`` (numeric) or ``new_category_rate`` (categorical)."""
        if self.type == "numeric":
            return {"null_rate": (self.nulls, self.count + self.nulls), "out_of_range_rate": (self.out_of_range or 0, self.count)}
        return {"null_rate": (self.nulls, self.count + self.nulls), "new_category_rate": (self.unseen or 0, self.count)}

    @property
    def null_rate(self) -> float | None:
        total = self.count + self.nulls
        return self.nulls / total if total else None

    @property
    def out_of_range_rate(self) -> float | None:
        return None if self.out_of_range is None or not self.count else self.out_of_range / self.count

    @property
    def new_category_rate(self) -> float | None:
        return None if self.unseen is None or not self.count else self.unseen / self.count


@dataclass(frozen=True)
class QualityIssue:
    """A data-quality rate that is both above its threshold and significantly so."""

    feature: str
    statistic: str          # null_rate | out_of_range_rate | new_category_rate
    value: float
    threshold: float
    p_value: float
    count: int = 0                     # the values it counts (nulls, out of range, new) ...
    total: int = 0                     # ... of this many
    reference: float | None = None     # the reference's rate


@dataclass(frozen=True)
class WindowJudgement:
    features: tuple[FeatureResult, ...]
    prediction: FeatureResult | None
    quality: tuple[QualityIssue, ...] = field(default=())

    @property
    def drifted_features(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features if f.drift)

    @property
    def drift(self) -> bool:
        return any(f.drift for f in self.features)
