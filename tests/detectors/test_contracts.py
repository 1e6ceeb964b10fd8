"""River-style contract checks for every mergeable state class in driftline.detectors.

Every class defined in a ``driftline.detectors`` module that has both ``update`` and ``merge``
must survive pickle, ``copy.deepcopy`` and ``to_state`` / ``from_state`` unchanged. Each needs
a factory below: a new class without one fails ``test_every_mergeable_class_has_a_factory``,
so it cannot slip in untested. Hysteresis (update, no merge) is checked on its own.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import pickle
import pkgutil
from collections.abc import Callable

import driftline.detectors as detectors_pkg
import numpy as np
import orjson
import pytest
from driftline.detectors.categorical_sketch import CategoricalLayout, CategoricalSketch
from driftline.detectors.exact_sum import ExactSums
from driftline.detectors.hysteresis import Hysteresis
from driftline.detectors.numeric_sketch import NumericLayout, NumericSketch
from driftline.detectors.performance_sketch import PerformanceLayout, PerformanceSketch
from driftline.detectors.reference import CategoricalReference, NumericReference, ReferenceProfile
from driftline.detectors.window_sketch import ColumnBatch, MonitorLayout, WindowSketch
from hypothesis import given, settings
from hypothesis import strategies as st


def mergeable_classes() -> list[type]:
    found = []
    for info in pkgutil.iter_modules(detectors_pkg.__path__):
        module = importlib.import_module(f"{detectors_pkg.__name__}.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            if callable(getattr(cls, "update", None)) and callable(getattr(cls, "merge", None)):
                found.append(cls)
    return sorted(set(found), key=lambda c: f"{c.__module__}.{c.__qualname__}")


# -- fixtures: a populated instance and how to rebuild it from its state ----------------------

# (populated instance, rebuild from state, add more data to an instance in place)
Built = tuple[object, Callable[[dict], object], Callable[[object], None]]
RNG_SEED = 123


def _profile() -> ReferenceProfile:
    rng = np.random.default_rng(RNG_SEED)
    return ReferenceProfile(
        {"amount": NumericReference.build(rng.lognormal(size=2000)),
         "age": NumericReference.build(rng.integers(18, 90, size=2000).astype(float))},
        {"country": CategoricalReference.build(rng.choice(np.array(["DE", "FR", "US"], dtype=object), 2000))},
        NumericReference.build(rng.random(2000)),
    )


def make_exact_sums() -> Built:
    s = ExactSums(3)
    s.update(np.array([[0.1, 1e300, np.nan], [0.2, -1e-300, 5.0], [0.3, 7.0, -2.5]]))
    return s, ExactSums.from_state, lambda o: o.update(np.array([[1.0, 2.0, 3.0]]))


def make_numeric_sketch() -> Built:
    layout = NumericLayout.from_edges(("a", "b"), (np.array([0.0, 1.0]), np.array([-1.0])),
                                      lower=(0.0, None), upper=(None, 5.0))
    s = NumericSketch(layout)
    s.update(np.array([[0.5, np.nan], [-3.0, 9.0], [1e300, -2.0]]))
    return (s, lambda state: NumericSketch.from_state(layout, state),
            lambda o: o.update(np.array([[0.25, 0.0]])))


def make_categorical_sketch() -> Built:
    layout = CategoricalLayout.from_categories(("c", "d"), (("a", "b"), ()))
    s = CategoricalSketch(layout)
    s.update([["a", "z", None, "b"], [None, "q", "q", "r"]])
    return (s, lambda state: CategoricalSketch.from_state(layout, state),
            lambda o: o.update([["a", "new"], ["s", None]]))


def make_window_sketch(labels: bool = True) -> Built:
    """With labels joined (the performance member goes through every contract too) or without
    (what ``driftline run`` keeps)."""
    performance = PerformanceLayout.binary() if labels else None
    layout = MonitorLayout.from_reference(_profile(), {"amount": (0.0, None)}, performance)
    s = WindowSketch(layout)
    rng = np.random.default_rng(RNG_SEED + 1)
    n = 50
    truth = rng.choice(np.array([0.0, 1.0, np.nan]), n)
    s.update(ColumnBatch(np.column_stack([rng.lognormal(size=n), rng.integers(18, 90, n).astype(float)]),
                         (rng.choice(np.array(["DE", "FR", "US", "XX", None], dtype=object), n),),
                         rng.random(n), truth if labels else None))
    more = ColumnBatch(np.array([[1.0, 30.0]]), (np.array(["FR"], dtype=object),), np.array([0.5]),
                       np.array([1.0]) if labels else None)
    return s, lambda state: WindowSketch.from_state(layout, state), lambda o: o.update(more)


def make_window_sketch_without_labels() -> Built:
    return make_window_sketch(labels=False)


def make_performance_sketch() -> Built:
    layout = PerformanceLayout.binary(threshold=0.4, bins=20)
    s = PerformanceSketch(layout)
    s.update(np.array([0.9, 0.1, 0.4, np.nan, 1.7]), np.array([1.0, 1.0, 0.0, 1.0, np.nan]))
    return (s, lambda state: PerformanceSketch.from_state(layout, state),
            lambda o: o.update(np.array([0.3]), np.array([0.0])))


# every class has one or more factories; each contract test runs on each of them
FACTORIES: dict[type, tuple[Callable[[], Built], ...]] = {
    ExactSums: (make_exact_sums,),
    NumericSketch: (make_numeric_sketch,),
    CategoricalSketch: (make_categorical_sketch,),
    WindowSketch: (make_window_sketch, make_window_sketch_without_labels),
    PerformanceSketch: (make_performance_sketch,),
}

CLASSES = mergeable_classes()
CASES = [pytest.param(cls, factory, id=f"{cls.__qualname__}-{factory.__name__}")
         for cls in CLASSES for factory in FACTORIES.get(cls, (None,))]


def test_discovery_finds_the_known_sketches() -> None:
    assert {ExactSums, NumericSketch, CategoricalSketch, WindowSketch, PerformanceSketch} <= set(CLASSES)
    assert Hysteresis not in CLASSES


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__qualname__)
def test_every_mergeable_class_has_a_factory(cls: type) -> None:
    assert cls in FACTORIES, (
        f"{cls.__module__}.{cls.__qualname__} has update and merge but no factory in "
        "tests/detectors/test_contracts.py: add one so its contracts are checked")


def _built(cls: type, factory: Callable[[], Built] | None) -> Built:
    if factory is None:
        pytest.fail(f"no factory for {cls.__qualname__}")
    return factory()


@pytest.mark.parametrize(("cls", "factory"), CASES)
def test_pickle_roundtrip(cls: type, factory: Callable[[], Built] | None) -> None:
    obj, _, more = _built(cls, factory)
    state = obj.to_state()
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(obj, protocol=protocol))
        assert type(back) is cls
        assert back == obj
        assert back.to_state() == state
        more(back)                      # the copy is independent of the original
        assert back != obj
        assert obj.to_state() == state


@pytest.mark.parametrize(("cls", "factory"), CASES)
def test_deepcopy_is_equal_and_independent(cls: type, factory: Callable[[], Built] | None) -> None:
    obj, _, more = _built(cls, factory)
    state = obj.to_state()
    clone = copy.deepcopy(obj)
    assert type(clone) is cls
    assert clone == obj
    assert clone.to_state() == state
    more(clone)
    assert clone != obj
    assert obj.to_state() == state
    # and the other way round
    clone = copy.deepcopy(obj)
    more(obj)
    assert clone.to_state() == state


@pytest.mark.parametrize(("cls", "factory"), CASES)
def test_state_roundtrip(cls: type, factory: Callable[[], Built] | None) -> None:
    obj, rebuild, more = _built(cls, factory)
    state = obj.to_state()
    wire = orjson.loads(orjson.dumps(state))    # state is JSON-ready
    back = rebuild(wire)
    assert type(back) is cls
    assert back == obj
    assert back.to_state() == state
    # a rebuilt object keeps working: merging and updating it as the original does
    assert back.merge(obj) == obj.merge(obj)
    more(back)
    more(obj)
    assert back == obj


@pytest.mark.parametrize(("cls", "factory"), CASES)
def test_merge_returns_a_new_equal_type(cls: type, factory: Callable[[], Built] | None) -> None:
    obj, _, _ = _built(cls, factory)
    out = obj.merge(obj)
    assert type(out) is cls
    assert out is not obj


@pytest.mark.parametrize(("cls", "factory"), CASES)
def test_not_hashable(cls: type, factory: Callable[[], Built] | None) -> None:
    # mutable state with value equality: hashing would break dict/set invariants
    obj, _, _ = _built(cls, factory)
    with pytest.raises(TypeError):
        hash(obj)


# -- Hysteresis -------------------------------------------------------------------------------


def test_hysteresis_state_roundtrip_and_pickle() -> None:
    h = Hysteresis(fire_after=3, resolve_after=2)
    for bad, start in [(True, 0), (True, 60), (True, 120), (False, 180), (True, 240)]:
        h.update(bad, start)
    back = Hysteresis.from_state(3, 2, orjson.loads(orjson.dumps(h.to_state())))
    assert back == h
    assert back.firing and back.episode_start == 0
    assert pickle.loads(pickle.dumps(h)) == h
    assert copy.deepcopy(h) == h


def test_hysteresis_rejects_zero_counts() -> None:
    for f, r in [(0, 1), (1, 0), (-1, 2)]:
        with pytest.raises(ValueError):
            Hysteresis(fire_after=f, resolve_after=r)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 5),
    st.integers(1, 5),
    st.lists(st.booleans(), max_size=60),
    st.integers(0, 60),
)
def test_hysteresis_transitions(fire_after: int, resolve_after: int, verdicts: list[bool], cut: int) -> None:
    h = Hysteresis(fire_after=fire_after, resolve_after=resolve_after)
    transitions = []
    for i, bad in enumerate(verdicts):
        if i == cut:   # a restart from a snapshot mid-stream changes nothing
            h = Hysteresis.from_state(fire_after, resolve_after, orjson.loads(orjson.dumps(h.to_state())))
        transitions.append(h.update(bad, i * 60))

    firing = False
    episode_start = None
    for i, t in enumerate(transitions):
        bad_run = _run(verdicts, i, True)
        good_run = _run(verdicts, i, False)
        if t == "firing":
            assert not firing, f"firing twice without resolving, at {i}"
            # exactly fire_after consecutive bad windows end here
            assert bad_run == fire_after, (i, bad_run)
            firing = True
            episode_start = (i - fire_after + 1) * 60
        elif t == "resolved":
            assert firing, f"resolved while not firing, at {i}"
            assert good_run == resolve_after, (i, good_run)
            firing = False
        else:
            # no transition: the condition for one does not hold
            assert not (not firing and bad_run >= fire_after), (i, "should have fired")
            assert not (firing and good_run >= resolve_after), (i, "should have resolved")
    assert h.firing == firing
    if episode_start is not None:
        assert h.episode_start == episode_start
    # alternation, starting with firing
    seq = [t for t in transitions if t is not None]
    assert all(t == ("firing" if k % 2 == 0 else "resolved") for k, t in enumerate(seq))


def _run(verdicts: list[bool], i: int, value: bool) -> int:
    """Length of the run of ``value`` ending at ``i`` (0 if verdicts[i] != value)."""
    k = 0
    while i - k >= 0 and verdicts[i - k] is value:
        k += 1
    return k
