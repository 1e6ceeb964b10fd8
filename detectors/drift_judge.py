"""The decision rule of DESIGN 3.6: calibrated significance, an effect-size floor,
Benjamini-Hochberg across the features of a window. (Hysteresis across windows lives in
``hysteresis.py``.)

>>> import numpy as np
>>> from .reference import NumericReference, ReferenceProfile
>>> from .window_sketch import ColumnBatch, MonitorLayout, WindowSketch
>>> rng = np.random.default_rng(0)
>>> ref = ReferenceProfile({"x": NumericReference.build(rng.normal(size=50_000))}, {})
>>> sketch = WindowSketch(MonitorLayout.from_reference(ref))
>>> sketch.update(ColumnBatch(rng.normal(0.5, 1, size=(1000, 1)), (), None))
>>> judge = DriftJudge(ref, DriftParams())
>>> result = judge.judge(sketch)
>>> result.drifted_features, result.features[0].p_value < 1e-20
(('x',), True)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.special import bdtrc

from .block_statistics import NumericBlockReference, block_stats
from .calibration import (
    SIM_MAX_BUCKETS,
    chi2_homogeneity,
    needs_simulation,
    pooled_chi2,
    simulated_null,
    simulated_pvalue,
)
from .categorical_sketch import CategoricalSketch
from .discrete_ks import DiscreteKS
from .fdr import bh_adjust
from .judgement import FeatureResult, QualityIssue, WindowJudgement
from .numeric_sketch import NumericSketch
from .rare_categories import PooledBuckets, pool_rare, unseen_share
from .reference import CategoricalReference, NumericReference, ReferenceProfile
from .statistics import js_distance, psi
from .window_sketch import WindowSketch

# Simulated null laws kept per judge (each ~160 kB): windows of a stream mostly share a few sizes.
_NULL_CACHE_SIZE = 64


@dataclass(frozen=True)
class DriftParams:
    """Defaults are DESIGN 3.6's; see schemas/config.py for what each one means."""

    fdr_q: float = 0.01
    numeric_effect: float = 0.1
    categorical_effect: float = 0.1
    min_count: int = 30


@dataclass(frozen=True)
class QualityParams:
    null_rate_increase: float = 0.05
    out_of_range_rate: float = 0.01
    new_category_rate: float = 0.05


class DriftJudge:
    """Judges window sketches of one monitor against its reference."""

    def __init__(
        self,
        reference: ReferenceProfile,
        drift: DriftParams | None = None,
        quality: QualityParams | None = None,
    ) -> None:
        self._ref = reference
        self._drift = drift or DriftParams()
        self._quality = quality or QualityParams()
        # simulated null laws by (feature, window size): derived data, bounded, never state
        self._null_cache: dict[tuple[str, str, int], np.ndarray] = {}
        # the tested buckets of each categorical (feature or prediction): derived from the reference
        self._buckets: dict[tuple[str, str], PooledBuckets] = {}
        # the new_category_rate baseline of each categorical feature: derived from the reference
        self._unseen = {name: unseen_share(r.probs, r.count) for name, r in reference.categorical.items()}
        self._numeric_block = NumericBlockReference.build(list(reference.numeric.values()))
        self._prediction_block = (NumericBlockReference.build([reference.prediction])
                                  if isinstance(reference.prediction, NumericReference) else None)
        # the KS law of the numeric features (and prediction) on few levels, by position
        self._discrete = _discrete_tests(self._numeric_block)
        self._prediction_discrete = {} if self._prediction_block is None else _discrete_tests(self._prediction_block)

    def judge(self, sketch: WindowSketch) -> WindowJudgement:
        numeric = self._numeric_all(sketch.layout.numeric.names, sketch.numeric, self._numeric_block, self._discrete)
        categorical = [
            self._categorical(("feature", name), sketch.categorical, j, self._ref.categorical[name])
            for j, name in enumerate(sketch.layout.categorical.names)
        ]
        features = self._decide_fdr(numeric + categorical)
        prediction = None
        if sketch.prediction is not None and self._ref.prediction is not None:
            if isinstance(sketch.prediction, NumericSketch):
                raw = self._numeric_all(("prediction",), sketch.prediction, self._prediction_block,
                                        self._prediction_discrete)[0]
            else:
                raw = self._categorical(("prediction", "prediction"), sketch.prediction, 0, self._ref.prediction)
            prediction = self._decide_single(raw)
        return WindowJudgement(tuple(features), prediction, self._quality_issues(features))

    # -- statistics per feature -------------------------------------------------------------

    def _numeric_all(self, names: tuple[str, ...], s: NumericSketch, block: NumericBlockReference,
                     discrete: dict[int, DiscreteKS]) -> list[FeatureResult]:
        bins = s.flat_bins
        stats = block_stats(block, bins, s.all_tail_means())
        means, stds = s.mean_std()
        nulls, oor = s.nulls.tolist(), s.out_of_range.tolist()
        enough = stats.n >= self._drift.min_count
        p_values = stats.p_value.copy()
        for j, test in discrete.items():
            if enough[j]:
                # the law of the levels at the reference's steps; Kolmogorov's over every edge
                # (conservative on such data) still sees values between the levels (5-packs
                # become 3-packs: the CDFs part only inside an empty bin)
                p = test.pvalue(bins[block.offsets[j]:block.offsets[j + 1]])
                p_values[j] = p_values[j] if p is None else min(p, p_values[j])
        out = []
        for j, name in enumerate(names):
            n = int(stats.n[j])
            if n == 0:
                out.append(FeatureResult(name, "numeric", 0, nulls[j], None, None, None, "wasserstein",
                                         None, out_of_range=0))
                continue
            w1 = _finite(stats.wasserstein[j])
            statistic, effect = "wasserstein", w1
            if w1 is None:
                # a constant reference (W1 / std undefined) or values near the float limit (W1
                # beyond it): the effect is the share of the window the CDFs part by (KS),
                # else such a feature could never drift
                statistic, effect = "ks", float(stats.ks[j])
            out.append(FeatureResult(
                name, "numeric", n, nulls[j], psi=float(stats.psi[j]), js=float(stats.js[j]),
                p_value=float(p_values[j]) if enough[j] else None,
                effect_statistic=statistic, effect=effect, ks=float(stats.ks[j]), wasserstein=w1,
                mean=_finite(means[j]), std=_finite(stds[j]), out_of_range=oor[j],
            ))
        return out

    def _categorical(self, key: tuple[str, str], s: CategoricalSketch, j: int,
                     ref: CategoricalReference) -> FeatureResult:
        """``key``: (``feature`` or ``prediction``, name): a feature may be named "prediction"."""
        name = key[1]
        counts = s.category_counts(j)
        n = int(counts.sum())
        nulls = int(s.nulls[j])
        if n == 0:
            return FeatureResult(name, "categorical", 0, nulls, None, None, None, "js", None, unseen=0)
        js = js_distance(counts, ref.probs)
        return FeatureResult(
            name, "categorical", n, nulls, psi=psi(counts, ref.probs), js=js, p_value=self._chi2_pvalue(key, counts, ref),
            effect_statistic="js", effect=js, unseen=int(counts[-1]), new_categories=s.new_names(j),
        )

    def _chi2_pvalue(self, key: tuple[str, str], counts: np.ndarray, ref: CategoricalReference) -> float | None:
        """The homogeneity test's p-value over the tested buckets (the reference's rare
        categories pooled with its "other" share and the unseen values: see
        ``rare_categories``); None below ``min_count`` values."""
        buckets = self._buckets.get(key)
        if buckets is None:
            buckets = self._buckets[key] = pool_rare(ref.probs, ref.count)
        counts, probs = buckets.counts(counts), buckets.probs
        n = int(counts.sum())
        if n < self._drift.min_count:
            return None
        stat, _, asymptotic = chi2_homogeneity(counts, probs, ref.count)
        if not needs_simulation(probs, n):
            return asymptotic
        if probs.size > SIM_MAX_BUCKETS:
            return pooled_chi2(counts, probs, ref.count)
        null = self._null_cache.get((*key, n))
        if null is None:
            if len(self._null_cache) >= _NULL_CACHE_SIZE:
                self._null_cache.pop(next(iter(self._null_cache)))
            null = self._null_cache[(*key, n)] = simulated_null(probs, n, ref.count)
        return simulated_pvalue(stat, null, asymptotic)

    # -- decisions --------------------------------------------------------------------------

    def _floor(self, result: FeatureResult) -> float:
        return self._drift.numeric_effect if result.type == "numeric" else self._drift.categorical_effect

    def _decide_fdr(self, results: list[FeatureResult]) -> list[FeatureResult]:
        tested = [i for i, r in enumerate(results) if r.p_value is not None and r.effect is not None]
        if not tested:
            return results
        adjusted = bh_adjust([results[i].p_value for i in tested])
        out = list(results)
        for i, adj in zip(tested, adjusted, strict=True):
            r = results[i]
            if adj <= self._drift.fdr_q and r.effect >= self._floor(r):
                out[i] = _with_drift(r)
        return out

    def _decide_single(self, r: FeatureResult) -> FeatureResult:
        if r.p_value is not None and r.effect is not None and r.p_value <= self._drift.fdr_q \
                and r.effect >= self._floor(r):
            return _with_drift(r)
        return r

    def _quality_issues(self, features: list[FeatureResult]) -> tuple[QualityIssue, ...]:
        q = self._quality
        tests: list[tuple[str, str, int, int, float, float]] = []   # feature, statistic, k, n, p0, threshold
        for r in features:
            total = r.count + r.nulls
            if total < self._drift.min_count:
                continue
            if r.type == "numeric":
                ref = self._ref.numeric[r.name]
                # relative, like the other two: bounds the training data itself crosses would
                # otherwise alert in every window (reference build warns of such bounds)
                tests.append((r.name, "out_of_range_rate", r.out_of_range or 0, r.count, ref.out_of_range_rate,
                              ref.out_of_range_rate + q.out_of_range_rate))
            else:
                ref = self._ref.categorical[r.name]
                unseen = self._unseen[r.name]
                tests.append((r.name, "new_category_rate", r.unseen or 0, r.count, unseen,
                              unseen + q.new_category_rate))
            tests.append((r.name, "null_rate", r.nulls, total, ref.null_rate, ref.null_rate + q.null_rate_increase))
        if not tests:
            return ()
        k = np.array([t[2] for t in tests], dtype=np.int64)
        n = np.array([t[3] for t in tests], dtype=np.int64)
        p0 = np.array([t[4] for t in tests], dtype=np.float64)
        threshold = np.array([t[5] for t in tests], dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = np.where(n > 0, k / np.where(n > 0, n, 1.0), 0.0)
        # P(X >= k) for X ~ Binomial(n, p0): how surprising the count is under the reference rate
        # (bdtrc(k - 1, n, p) = binom(n, p).sf(k - 1), the ufunc without scipy.stats' overhead)
        p = np.where((n > 0) & (k > 0), bdtrc(np.maximum(k - 1, 0), n, p0), 1.0)
        adjusted = bh_adjust(p)
        bad = (value > threshold) & (adjusted <= self._drift.fdr_q)
        return tuple(
            QualityIssue(t[0], t[1], float(value[i]), float(threshold[i]), float(p[i]), int(k[i]), int(n[i]),
                         float(p0[i]))
            for i, t in enumerate(tests) if bad[i]
        )


def _discrete_tests(block: NumericBlockReference) -> dict[int, DiscreteKS]:
    """The features of a block whose reference sits on few levels, with their KS test."""
    tests = {}
    for j in range(block.offsets.size - 1):
        probs = block.probs[block.offsets[j]:block.offsets[j + 1]]
        if DiscreteKS.applies(probs):
            tests[j] = DiscreteKS(probs, int(block.counts[j]))
    return tests


def _with_drift(r: FeatureResult) -> FeatureResult:
    return replace(r, drift=True)


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None
