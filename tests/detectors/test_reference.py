"""Reference profiles (detectors/reference.py) and their JSON codec (reference_codec.py)."""

from __future__ import annotations

import copy
import math
import re
import warnings
from collections.abc import Iterable
from fractions import Fraction

import numpy as np
import orjson
import pytest
from driftline.detectors.performance_baseline import PerformanceBaseline
from driftline.detectors.performance_sketch import PerformanceLayout, PerformanceSketch
from driftline.detectors.reference import (
    COARSE_BINS,
    FINE_BINS,
    MAX_CATEGORIES,
    CategoricalReference,
    NumericReference,
    ReferenceProfile,
)
from driftline.detectors.reference_codec import FORMAT, FORMAT_VERSION, from_dict, to_dict
from hypothesis import given, settings
from hypothesis import strategies as st


def right_closed_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts over (-inf, e0], (e0, e1], ..., (e_last, inf), independently of the code under test."""
    bins = np.concatenate(([-np.inf], np.nextafter(edges, np.inf), [np.inf]))
    return np.histogram(values, bins=bins)[0]


def coarse_edges(ref: NumericReference) -> np.ndarray:
    return ref.fine_edges[ref.coarse_starts[1:] - 1]


# -- numeric ----------------------------------------------------------------------------------


def test_continuous_reference_quantile_edges() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=20_000)
    ref = NumericReference.build(x)
    np.testing.assert_array_equal(ref.fine_edges, np.quantile(x, np.arange(1, FINE_BINS) / FINE_BINS))
    assert ref.n_fine == FINE_BINS
    assert ref.coarse_starts.tolist() == list(range(0, FINE_BINS, FINE_BINS // COARSE_BINS))
    np.testing.assert_array_equal(coarse_edges(ref), np.quantile(x, np.arange(1, COARSE_BINS) / COARSE_BINS))
    np.testing.assert_allclose(ref.fine_probs, 1 / FINE_BINS, atol=1 / x.size)
    np.testing.assert_allclose(ref.coarse_probs, 1 / COARSE_BINS, atol=1 / x.size)
    assert ref.count == x.size
    assert ref.null_rate == 0.0
    assert ref.mean == pytest.approx(float(np.mean(x)))
    assert ref.std == pytest.approx(float(np.std(x, ddof=1)))
    assert (ref.min, ref.max) == (float(x.min()), float(x.max()))


def _check_bins(ref: NumericReference, present: np.ndarray) -> None:
    edges = ref.fine_edges
    assert np.all(np.diff(edges) > 0), "fine edges strictly increasing"
    assert ref.fine_probs.size == edges.size + 1
    assert ref.fine_probs.sum() == pytest.approx(1.0, abs=1e-6)
    assert np.all(ref.fine_probs >= 0)
    # fine shares are the sample's shares over right-closed bins (stored to 9 decimals)
    np.testing.assert_allclose(ref.fine_probs, right_closed_counts(present, edges) / present.size, atol=1e-9)
    # coarse bins: start at 0, strictly increasing, every coarse edge is a fine edge
    starts = ref.coarse_starts
    assert starts[0] == 0
    assert np.all(np.diff(starts) > 0)
    assert starts[-1] <= edges.size
    assert set(coarse_edges(ref).tolist()) <= set(edges.tolist())
    assert ref.coarse_probs.size == starts.size
    assert ref.coarse_probs.sum() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(ref.coarse_probs, right_closed_counts(present, coarse_edges(ref)) / present.size,
                               atol=1e-8)
    # coarse edges are the decile values of the sample
    deciles = np.unique(np.quantile(present, np.arange(1, COARSE_BINS) / COARSE_BINS))
    np.testing.assert_array_equal(coarse_edges(ref), deciles)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.floats(-1e6, 1e6), st.integers(-3, 3).map(float), st.just(math.nan)),
                min_size=2, max_size=400))
def test_numeric_reference_bins_property(values: list[float]) -> None:
    x = np.array(values)
    present = x[~np.isnan(x)]
    if present.size < 2:
        with pytest.raises(ValueError):
            NumericReference.build(x)
        return
    ref = NumericReference.build(x)
    _check_bins(ref, present)
    assert ref.count == present.size
    assert ref.null_rate == pytest.approx((x.size - present.size) / x.size, abs=1e-6)


def test_null_rate_and_out_of_range() -> None:
    x = np.array([1.0, 2.0, np.nan, 3.0, 40.0, np.nan, -5.0, 6.0])
    ref = NumericReference.build(x, lower=0.0, upper=10.0)
    assert ref.null_rate == 0.25
    assert ref.count == 6
    assert ref.out_of_range_rate == pytest.approx(2 / 6, abs=1e-6)   # 40 and -5, of non-null values
    assert NumericReference.build(x).out_of_range_rate == 0.0


def test_discrete_reference_few_distinct_values() -> None:
    rng = np.random.default_rng(2)
    x = rng.choice([0.0, 1.0, 2.0, 5.0], p=[0.5, 0.3, 0.15, 0.05], size=10_000)
    ref = NumericReference.build(x)
    _check_bins(ref, x)
    # every distinct value sits alone in its own fine bin with its exact share
    for v in (0.0, 1.0, 2.0, 5.0):
        i = int(np.searchsorted(ref.fine_edges, v, side="left"))
        assert ref.fine_probs[i] == pytest.approx(np.mean(x == v), abs=1e-9)
    assert ref.n_fine < FINE_BINS
    # each value sits alone on the right edge of an inner bin (an atom), after an empty bin
    # that takes the window values between it and the level below (0's: the lower outer bin)
    inner = [i for i in range(1, ref.n_fine - 1) if ref.fine_probs[i] > 0]
    assert list(ref.atom_bins) == inner and len(inner) == 4
    assert all(ref.fine_probs[i - 1] == 0 for i in inner)
    assert ref.fine_edges.tolist() == [np.nextafter(v, -np.inf) if i % 2 == 0 else v
                                       for v in (0.0, 1.0, 2.0, 5.0) for i in range(2)]


def test_continuous_references_have_no_atoms() -> None:
    rng = np.random.default_rng(3)
    assert NumericReference.build(rng.normal(size=10_000)).atom_bins == ()
    # a small sample: bins hold one value each, some on their right edge; one value is no atom
    assert NumericReference.build(rng.normal(size=101)).atom_bins == ()


def test_constant_reference() -> None:
    ref = NumericReference.build(np.full(1000, 3.5))
    assert ref.std == 0.0
    # the value alone in an inner bin (an atom), values below it in the lower outer bin
    assert ref.fine_edges.tolist() == [np.nextafter(3.5, -np.inf), 3.5]
    assert ref.fine_probs.tolist() == [0.0, 1.0, 0.0] and ref.atom_bins == (1,)
    assert ref.coarse_starts.tolist() == [0, 2]
    assert ref.coarse_probs.tolist() == [1.0, 0.0]
    assert (ref.min, ref.max, ref.mean) == (3.5, 3.5, 3.5)


def test_numeric_reference_rejects_too_few_values() -> None:
    with pytest.raises(ValueError):
        NumericReference.build(np.array([1.0, np.nan, np.nan]))
    with pytest.raises(ValueError):
        NumericReference.build(np.array([1.0, 2.0]), fine_bins=25, coarse_bins=10)


# -- categorical ------------------------------------------------------------------------------


def test_categorical_reference_shares_and_nulls() -> None:
    x = np.array(["b", "a", "b", None, "c", "b", "a", None], dtype=object)
    ref = CategoricalReference.build(x)
    assert ref.categories == ("b", "a", "c")        # by frequency, then by name
    assert ref.probs.tolist() == pytest.approx([0.5, 1 / 3, 1 / 6, 0.0], abs=1e-6)
    assert ref.null_rate == 0.25
    assert ref.count == 6
    assert ref.n_buckets == 4
    with pytest.raises(ValueError):
        CategoricalReference.build(np.array([None, None], dtype=object))


def test_categorical_cap_folds_the_tail_into_other() -> None:
    # MAX_CATEGORIES + 50 categories: the 50 rarest (ties broken by name) fold into "other"
    total = MAX_CATEGORIES + 50
    names = [f"k{i:05d}" for i in range(total)]
    counts = [3 if i < 10 else (2 if i < MAX_CATEGORIES else 1) for i in range(total)]
    values = np.array([n for n, c in zip(names, counts, strict=True) for _ in range(c)], dtype=object)
    np.random.default_rng(3).shuffle(values)
    ref = CategoricalReference.build(values)
    assert len(ref.categories) == MAX_CATEGORIES
    assert ref.categories == tuple(names[:MAX_CATEGORIES])
    assert ref.probs.size == MAX_CATEGORIES + 1
    assert ref.probs[-1] == pytest.approx(50 / values.size, abs=1e-6)
    assert ref.probs.sum() == pytest.approx(1.0, abs=1e-4)


def test_categorical_small_cap() -> None:
    values = np.array([*list("aaaabbbccd"), None], dtype=object)
    ref = CategoricalReference.build(values, max_categories=2)
    assert ref.categories == ("a", "b")
    assert ref.probs.tolist() == pytest.approx([0.4, 0.3, 0.3], abs=1e-6)


# -- codec ------------------------------------------------------------------------------------


def _profile() -> ReferenceProfile:
    rng = np.random.default_rng(5)
    amount = rng.lognormal(size=5000)
    amount[::50] = np.nan
    return ReferenceProfile(
        {"amount": NumericReference.build(amount, lower=0.0),
         "flag": NumericReference.build(rng.integers(0, 2, 3000).astype(float)),
         "const": NumericReference.build(np.zeros(10))},
        {"country": CategoricalReference.build(rng.choice(np.array(["DE", "FR", "US", None], dtype=object), 3000)),
         "city": CategoricalReference.build(rng.choice(np.array([f"c{i}" for i in range(40)], dtype=object), 2000),
                                            max_categories=5)},
        CategoricalReference.build(np.array(["0", "1", "1"], dtype=object)),
        performance=_baseline(),
    )


def _baseline() -> PerformanceBaseline:
    s = PerformanceSketch(PerformanceLayout.classification(["1", "0"]))
    s.update(np.array(["0", "1", "1", "1"], dtype=object), np.array(["0", "1", "0", None], dtype=object))
    return PerformanceBaseline.of(s)


def _same(a: NumericReference | CategoricalReference, b: NumericReference | CategoricalReference) -> None:
    assert type(a) is type(b)
    if isinstance(a, NumericReference):
        for field in ("count", "null_rate", "out_of_range_rate", "mean", "std", "min", "max", "atom_bins"):
            assert getattr(a, field) == getattr(b, field), field
        for field in ("fine_edges", "fine_probs", "coarse_starts"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
            assert getattr(a, field).dtype == getattr(b, field).dtype
    else:
        assert (a.count, a.null_rate, a.categories) == (b.count, b.null_rate, b.categories)
        np.testing.assert_array_equal(a.probs, b.probs)


def test_codec_roundtrip_through_orjson() -> None:
    ref = _profile()
    d = to_dict(ref)
    assert d["format"] == FORMAT and d["format_version"] == FORMAT_VERSION
    back = from_dict(orjson.loads(orjson.dumps(d)))
    assert set(back.numeric) == set(ref.numeric)
    assert set(back.categorical) == set(ref.categorical)
    for name in ref.numeric:
        _same(ref.numeric[name], back.numeric[name])
    for name in ref.categorical:
        _same(ref.categorical[name], back.categorical[name])
    _same(ref.prediction, back.prediction)
    assert back.performance == ref.performance
    assert (back.performance.count, back.performance.correct) == (3, 2)
    # and the dict of the decoded profile is the same JSON
    assert orjson.dumps(to_dict(back)) == orjson.dumps(d)


def test_codec_roundtrip_numeric_prediction_and_none() -> None:
    ref = ReferenceProfile({"x": NumericReference.build(np.arange(100.0))}, {},
                           NumericReference.build(np.linspace(0, 1, 50)))
    back = from_dict(orjson.loads(orjson.dumps(to_dict(ref))))
    _same(ref.prediction, back.prediction)
    ref = ReferenceProfile({}, {"c": CategoricalReference.build(np.array(["a"], dtype=object))})
    back = from_dict(orjson.loads(orjson.dumps(to_dict(ref))))
    assert back.prediction is None and back.numeric == {}


def test_references_written_before_atoms_load_without_them() -> None:
    d = to_dict(ReferenceProfile({"x": NumericReference.build(np.repeat([0.0, 1.0, 2.0], 100))}, {}))
    assert d["features"]["x"]["atom_bins"] != []
    del d["features"]["x"]["atom_bins"]
    assert from_dict(d).numeric["x"].atom_bins == ()


def test_profiles_without_performance_keep_the_old_format() -> None:
    old = _valid()
    del old["performance"]
    back = from_dict(old)           # written before labels existed: loads, without a baseline
    assert back.performance is None
    assert "performance" not in to_dict(back)
    assert from_dict({**old, "performance": None}).performance is None


def test_regression_and_binary_baselines_roundtrip() -> None:
    rng = np.random.default_rng(9)
    reg = PerformanceSketch(PerformanceLayout.regression())
    reg.update(rng.normal(size=500), rng.normal(size=500))
    binary = PerformanceSketch(PerformanceLayout.binary(0.3))
    binary.update(rng.random(500), (rng.random(500) < 0.5).astype(float))
    for sketch in (reg, binary):
        ref = ReferenceProfile({"x": NumericReference.build(np.arange(10.0))}, {},
                               performance=PerformanceBaseline.of(sketch))
        back = from_dict(orjson.loads(orjson.dumps(to_dict(ref))))
        assert back.performance == ref.performance
    assert PerformanceBaseline.of(reg).abs_error_std > 0 and PerformanceBaseline.of(reg).threshold is None
    assert PerformanceBaseline.of(binary).threshold == 0.3


def _valid() -> dict:
    return orjson.loads(orjson.dumps(to_dict(_profile())))


def _mutate(path: list, value=None, delete: bool = False):
    def apply(d: dict) -> dict:
        node = d
        for key in path[:-1]:
            node = node[key]
        if delete:
            del node[path[-1]]
        else:
            node[path[-1]] = value
        return d
    return apply


BAD = {
    "not-a-dict": lambda d: [d],
    "wrong-format": _mutate(["format"], "something.else"),
    "no-format": _mutate(["format"], delete=True),
    "version-2": _mutate(["format_version"], 2),
    "version-string": _mutate(["format_version"], "1"),
    "no-version": _mutate(["format_version"], delete=True),
    "no-features": _mutate(["features"], delete=True),
    "features-list": _mutate(["features"], []),
    "feature-null": _mutate(["features", "amount"], None),
    "unknown-type": _mutate(["features", "amount", "type"], "ordinal"),
    "no-type": _mutate(["features", "amount", "type"], delete=True),
    "probs-too-short": lambda d: _mutate(["features", "amount", "fine_probs"],
                                         d["features"]["amount"]["fine_probs"][:-1])(d),
    "edges-too-long": lambda d: _mutate(["features", "amount", "fine_edges"],
                                        [*d["features"]["amount"]["fine_edges"], 1e9])(d),
    "edges-decreasing": lambda d: _mutate(["features", "amount", "fine_edges"],
                                          d["features"]["amount"]["fine_edges"][::-1])(d),
    "edges-null": lambda d: _mutate(["features", "amount", "fine_edges"],
                                    [None, *d["features"]["amount"]["fine_edges"][1:]])(d),
    "coarse-not-from-0": _mutate(["features", "amount", "coarse_starts"], [1, 20, 40]),
    "coarse-empty": _mutate(["features", "amount", "coarse_starts"], []),
    "coarse-past-end": _mutate(["features", "amount", "coarse_starts"], [0, 20, 400]),
    "coarse-decreasing": _mutate(["features", "amount", "coarse_starts"], [0, 100, 40]),
    "coarse-repeated": _mutate(["features", "amount", "coarse_starts"], [0, 40, 40, 60]),
    "no-fine-edges": _mutate(["features", "amount", "fine_edges"], delete=True),
    "count-text": _mutate(["features", "amount", "count"], "many"),
    "count-negative": _mutate(["features", "amount", "count"], -5),
    "count-beyond-int64": _mutate(["features", "amount", "count"], 2**64),
    "null-rate-above-1": _mutate(["features", "amount", "null_rate"], 2.0),
    "mean-text": _mutate(["features", "amount", "mean"], "nan"),
    "std-negative": _mutate(["features", "amount", "std"], -1.0),
    "min-above-max": _mutate(["features", "amount", "min"], 1e9),
    "coarse-text": _mutate(["features", "amount", "coarse_starts"], ["0"]),
    "fine-shares-sum-200": lambda d: _mutate(["features", "amount", "fine_probs"],
                                             [p * 200 for p in d["features"]["amount"]["fine_probs"]])(d),
    "cat-shares-zero": lambda d: _mutate(["features", "country", "probs"],
                                         [0.0] * len(d["features"]["country"]["probs"]))(d),
    "cat-duplicates": lambda d: _mutate(["features", "country", "categories"],
                                        [d["features"]["country"]["categories"][0]] * len(d["features"]["country"]["categories"]))(d),
    "cat-count-zero": _mutate(["features", "country", "count"], 0),
    "atoms-outer-bin": _mutate(["features", "amount", "atom_bins"], [0]),
    "atoms-past-end": _mutate(["features", "amount", "atom_bins"], [10_000]),
    "atoms-text": _mutate(["features", "amount", "atom_bins"], ["3"]),
    "atoms-not-a-list": _mutate(["features", "amount", "atom_bins"], 3),
    "cat-probs-short": lambda d: _mutate(["features", "country", "probs"],
                                         d["features"]["country"]["probs"][:-1])(d),
    "cat-no-categories": _mutate(["features", "country", "categories"], delete=True),
    "prediction-bad": _mutate(["prediction", "type"], "text"),
    "performance-task": _mutate(["performance", "task"], "ranking"),
    "performance-no-count": _mutate(["performance", "count"], delete=True),
    "performance-zero-count": _mutate(["performance", "count"], 0),
    "performance-correct-above-count": _mutate(["performance", "correct"], 4),
    "performance-metric-text": _mutate(["performance", "metrics", "accuracy"], "high"),
    "performance-metrics-list": _mutate(["performance", "metrics"], [0.9]),
    "performance-list": _mutate(["performance"], [1]),
    "performance-count-float": _mutate(["performance", "count"], 3.5),
    "performance-correct-bool": _mutate(["performance", "correct"], True),
    "performance-metric-of-another-task": _mutate(["performance", "metrics", "auc"], 0.7),
    "performance-metric-missing": _mutate(["performance", "metrics", "balanced_accuracy"], delete=True),
    "performance-accuracy-above-1": _mutate(["performance", "metrics", "accuracy"], 1.5),
    "performance-threshold-not-binary": _mutate(["performance", "threshold"], 0.5),
    "performance-negative-std": _mutate(["performance", "abs_error_std"], -1.0),
}


@pytest.mark.parametrize("name", list(BAD))
def test_from_dict_rejects_invalid_profiles_with_valueerror(name: str) -> None:
    bad = BAD[name](copy.deepcopy(_valid()))
    with pytest.raises(ValueError) as err:
        from_dict(bad)
    if name.startswith(("count", "null", "mean", "std", "min", "coarse", "fine", "atoms")):
        assert str(err.value).startswith("features.amount."), err.value     # names the key
    if name.startswith("cat-"):
        assert str(err.value).startswith("features.country."), err.value
    if name.startswith("performance-"):
        assert str(err.value).startswith("performance"), err.value
    assert "list indices" not in str(err.value) and "object has no attribute" not in str(err.value), err.value


def exact_mean(values: Iterable[float]) -> Fraction:
    xs = [Fraction(float(v)) for v in values]
    return sum(xs, Fraction(0)) / len(xs)


def exact_moments(values: np.ndarray) -> tuple[float, float]:
    """Mean and sample std (ddof=1) of ``values`` in exact rational arithmetic, each rounded once.

    Independent of numpy and of any scaling: every float is an exact Fraction. The variance
    may be far beyond a float (~1e616), so its root is taken as sqrt(var / 4**k) * 2**k, where
    the division and ldexp are exact and float() and sqrt round once each.
    """
    xs = [Fraction(float(v)) for v in values]
    mean = exact_mean(xs)
    var = sum(((x - mean) ** 2 for x in xs), Fraction(0)) / (len(xs) - 1)
    k = max(0, (var.numerator.bit_length() - var.denominator.bit_length()) // 2)
    return float(mean), math.ldexp(math.sqrt(var / 4**k), k)


def test_the_exact_moments_oracle() -> None:
    # [1, 2, 4]: mean 7/3, squared deviations (16 + 1 + 25) / 9 over n - 1 = 2 give 7/3
    assert exact_moments(np.array([1.0, 2.0, 4.0])) == (7 / 3, math.sqrt(7 / 3))
    # beyond a float: the 2**1000 scale is exact, so the moments scale with it
    assert exact_moments(np.array([1.0, 2.0, 4.0]) * 2.0**1000) == (
        math.ldexp(7 / 3, 1000), math.ldexp(math.sqrt(7 / 3), 1000))


# numpy's pairwise sums over n values err by ~log2(n) * eps relative (~2e-15 for n = 1000); 1e-13
# leaves room for that and still catches a wrong formula (ddof, a lost factor) or an overflow.
MOMENTS_REL = 1e-13


@pytest.mark.parametrize("values", [
    np.array([1e308, -1e308, 1.5e308, 0.0, 5.0]),               # max |x| is no power of two
    np.array([1.7e308, 1.6e308, 1.75e308, 1.65e308]),          # the plain sum overflows
    np.array([-1.7976931348623157e308, 1e-300, 3.0]),           # the largest float itself
    np.random.default_rng(7).uniform(-1.0, 1.0, 1000) * 1.79e308,   # outer bins' sums overflow
    np.array([-1e308, -1e308, 1e308, 1e308]),                   # a quantile between them overflows
], ids=["mixed", "all-high", "float-max", "uniform", "opposite"])
def test_values_near_the_float_limit_give_finite_moments(values: np.ndarray) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")                          # numpy's overflow warnings too
        ref = NumericReference.build(values)
    assert np.isfinite(ref.fine_edges).all() and (np.diff(ref.fine_edges) > 0).all()
    mean, std = exact_moments(values)
    assert math.isfinite(ref.mean) and math.isfinite(ref.std)
    assert ref.mean == pytest.approx(mean, rel=MOMENTS_REL)
    assert ref.std == pytest.approx(std, rel=MOMENTS_REL)
    lower, upper = values[values <= ref.fine_edges[0]], values[values > ref.fine_edges[-1]]
    expected = tuple(exact_mean(t) if t.size else math.nan for t in (lower, upper))   # (an empty outer bin: NaN)
    assert ref.tail_means == pytest.approx(expected, rel=MOMENTS_REL, nan_ok=True)
    back = from_dict(orjson.loads(orjson.dumps(to_dict(ReferenceProfile({"x": ref}, {})))))
    assert (back.numeric["x"].mean, back.numeric["x"].std) == (ref.mean, ref.std)


@pytest.mark.parametrize("values", [
    1.7e9 + np.random.default_rng(8).normal(0.0, 1.0, 1000),           # epoch seconds
    1e300 + np.random.default_rng(9).normal(0.0, 1e292, 1000),
], ids=["epoch-seconds", "1e300-offset"])
def test_moments_of_values_far_from_zero_keep_their_precision(values: np.ndarray) -> None:
    # the std is 1e-9 (1e-8) of the mean: a scale that rounds each value errs ~1e-10 here
    ref = NumericReference.build(values)
    mean, std = exact_moments(values)
    assert ref.mean == pytest.approx(mean, rel=MOMENTS_REL)
    assert ref.std == pytest.approx(std, rel=MOMENTS_REL)


def _binary_baseline() -> dict:
    s = PerformanceSketch(PerformanceLayout.binary(0.4))
    s.update(np.array([0.9, 0.2, 0.5, 0.1]), np.array([1.0, 0.0, 0.0, 1.0]))
    return to_dict(ReferenceProfile({}, {}, None, performance=PerformanceBaseline.of(s)))


@pytest.mark.parametrize(("path", "value", "message"), [
    (["threshold"], None, "performance.threshold: missing (task binary)"),
    (["threshold"], 1.5, "performance.threshold: 1.5 is not between 0 and 1"),
    (["metrics", "log_loss"], -0.1, "performance.metrics.log_loss: -0.1 is not at least 0"),
    (["metrics", "base_rate"], 2, "performance.metrics.base_rate: 2 is not between 0 and 1"),
    (["metrics", "mae"], 1.0, "performance.metrics.mae: not a metric of task binary"),
    (["metrics", "auc"], "high", "performance.metrics.auc: 'high' is not a finite number"),
    (["correct"], 5, "performance.correct: 5 is not a whole number from 0 to 4"),
    (["task"], "ranking", "performance.task: 'ranking' is not one of binary, classification, regression"),
])
def test_a_bad_baseline_names_its_key(path: list[str], value: object, message: str) -> None:
    d = _binary_baseline()
    assert from_dict(d).performance.threshold == 0.4
    target = d["performance"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        from_dict(d)


def test_from_dict_accepts_the_valid_base() -> None:
    from_dict(_valid())   # the BAD cases above differ from this by one change each


def test_the_bounds_of_the_out_of_range_rate_round_trip() -> None:
    ref = NumericReference.build(np.arange(100.0), upper=49.5)
    assert ref.bounds == (None, 49.5) and ref.out_of_range_rate == 0.5
    d = orjson.loads(orjson.dumps(to_dict(ReferenceProfile({"x": ref}, {}))))
    assert d["features"]["x"]["bounds"] == [None, 49.5]
    assert from_dict(d).numeric["x"].bounds == (None, 49.5)
    del d["features"]["x"]["bounds"]                        # built before bounds were recorded
    assert from_dict(d).numeric["x"].bounds is None
    for bad in ([1.0], "0..1", [None, "x"], [None, float("inf")]):
        d["features"]["x"]["bounds"] = bad
        with pytest.raises(ValueError, match="bounds"):
            from_dict(d)
