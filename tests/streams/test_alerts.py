"""The alert book (streams/alerts.py) restored from its snapshot goes on exactly as the original.

The snapshot is what a worker writes to the changelog (tier 2) and restores after a crash or a
rebalance: a book cut at any window, written, read back and fed the rest of the windows
emits the same alert events and retrain requests as the book that never stopped.
"""

from __future__ import annotations

import orjson
from driftline.schemas.config import AlertsConfig, RetrainConfig
from driftline.streams.alerts import AlertBook, Condition
from hypothesis import given, settings
from hypothesis import strategies as st

WINDOW_MS = 10_000
SUBJECTS = [("data_drift", "x"), ("data_drift", "y"), ("prediction_drift", "prediction"),
            ("data_quality", "x:null_rate")]
# one window: the model version it is judged for, which subjects are bad in it, which ones it
# gives no verdict on, and whether the version has no events in it at all
WINDOWS = st.lists(st.tuples(st.sampled_from([None, "v1"]), st.sets(st.sampled_from(SUBJECTS)),
                             st.sets(st.sampled_from(SUBJECTS)), st.booleans()),
                   min_size=1, max_size=30)


def _book() -> AlertBook:
    return AlertBook("fraud", AlertsConfig(fire_after=2, resolve_after=2, expire_after=3), RetrainConfig(cooldown=30.0))


def _feed(book: AlertBook, windows: list, first: int) -> list:
    out = []
    for i, (version, bad, unjudged, absent) in enumerate(windows, start=first):
        conditions = [Condition(kind, subject, "psi", 0.5, 0.1, 1e-6, {"count": 100})
                      for kind, subject in sorted(bad)]
        by_kind: dict[str, set[str]] = {}
        for kind, subject in unjudged - bad:
            by_kind.setdefault(kind, set()).add(subject)
        out.append(book.observe(version, i * WINDOW_MS, (i + 1) * WINDOW_MS, [] if absent else conditions,
                                by_kind, absent=absent))
    return out


@settings(max_examples=300, deadline=None)
@given(windows=WINDOWS, data=st.data())
def test_a_restored_book_goes_on_as_the_original(windows, data) -> None:
    cut = data.draw(st.integers(0, len(windows)))
    whole = _book()
    expected = _feed(whole, windows, 0)
    first = _book()
    assert _feed(first, windows[:cut], 0) == expected[:cut]
    restored = _book()
    restored.load_state(orjson.loads(orjson.dumps(first.to_state())))
    assert restored.to_state() == first.to_state()
    assert _feed(restored, windows[cut:], cut) == expected[cut:]
    assert restored.to_state() == whole.to_state()


def test_the_property_sees_alerts_fire_resolve_and_request_retraining() -> None:
    """The strategy's windows do exercise the lifecycle: two bad windows fire, two good ones
    resolve, and the firing asks for retraining once within the cooldown."""
    book = _book()
    bad, good = (None, {SUBJECTS[0]}, set(), False), (None, set(), set(), False)
    out = _feed(book, [bad, bad, good, good, bad, bad], 0)
    statuses = [[e["status"] for e in events] for events, _ in out]
    assert statuses == [[], ["firing"], [], ["resolved"], [], ["firing"]]
    assert [len(requests) for _, requests in out] == [0, 1, 0, 0, 0, 1]
    # ... and expiry: windows without a verdict keep it firing (a verdict starts their count
    # again), the third in a row (expire_after) ends it
    unjudged, absent = (None, set(), {SUBJECTS[0]}, False), (None, set(), set(), True)
    out = _feed(book, [unjudged, absent, good, unjudged, absent, unjudged], 6)
    statuses = [[(e["status"], e["evidence"]) for e in events] for events, _ in out]
    assert statuses == [[], [], [], [], [], [("resolved", {"expired_after_windows": 3})]]


def test_an_unjudged_subject_keeps_its_state_and_an_unwatched_one_resolves() -> None:
    """A metric without a verdict (too few labels) stays as it was; one the monitor no longer
    watches (dropped from its config) counts as good, so its alert resolves."""
    book = _book()
    bad = [Condition("performance", m, m, 0.5, 0.8, None, {}) for m in ("accuracy", "auc")]
    for i in range(2):
        book.observe(None, i * WINDOW_MS, (i + 1) * WINDOW_MS, bad)
    resolved = []
    for i in range(2, 4):
        events, _ = book.observe(None, i * WINDOW_MS, (i + 1) * WINDOW_MS, [], {"performance": {"accuracy"}})
        resolved += [(e["subject"], e["status"]) for e in events]
    assert resolved == [("auc", "resolved")]
    assert book.states[(None, "performance", "accuracy")].firing


def test_a_data_quality_alert_says_how_many_of_how_many_against_what_rate() -> None:
    from driftline.detectors.judgement import FeatureResult, QualityIssue, WindowJudgement
    from driftline.streams.alerts import conditions, observations

    country = FeatureResult("country", "categorical", 1000, 0, 0.5, 0.3, 1e-9, "js", 0.3, unseen=200,
                            new_categories=("XX", "YY"))
    issue = QualityIssue("country", "new_category_rate", 0.2, 0.05, 1e-30, count=200, total=1000, reference=0.0)
    judgement = WindowJudgement((country,), None, (issue,))
    (quality,) = [c for c in conditions(judgement, {"categorical": 0.1}) if c.kind == "data_quality"]
    assert quality.evidence == {"feature": "country", "count": 200, "of": 1000, "reference_rate": 0.0,
                                "new_categories": ["XX", "YY"]}
    # what a resolving window shows of the same subject
    from driftline.streams.alerts import unjudged_subjects

    # no prediction judged any more (it left the config): its alert is not "without a verdict"
    # but unwatched, so it resolves; a prediction below min_count values has no verdict
    assert unjudged_subjects(judgement, 30)["prediction_drift"] == set()
    sparse = FeatureResult("prediction", "numeric", 10, 0, None, None, None, "wasserstein", None)
    assert unjudged_subjects(WindowJudgement((country,), sparse), 30)["prediction_drift"] == {"prediction"}
    seen = observations(judgement, {"categorical": 0.1})
    assert seen[("data_quality", "country:new_category_rate")].value == 0.2
    assert seen[("data_quality", "country:null_rate")].value == 0.0
    assert seen[("data_drift", "country")].statistic == "js"


def test_the_runbook_link_is_the_configured_one_with_the_kind_for_its_placeholder() -> None:
    def link(runbook: str | None, kind: str) -> str:
        alerts = AlertsConfig() if runbook is None else AlertsConfig(runbook=runbook)
        book = AlertBook("fraud", alerts, RetrainConfig())
        (event,), _ = book.observe(None, 0, WINDOW_MS, [Condition(kind, "x", "psi", 0.5, 0.1, 1e-6, {})])
        return event["runbook"]

    assert link(None, "data_drift") == "https://github.com/driftline/driftline/blob/main/README.md#data-drift"
    assert link(None, "data_quality").endswith("README.md#data-quality")
    assert link("https://wiki.example/ml/{kind}?from=driftline", "prediction_drift") == \
        "https://wiki.example/ml/prediction-drift?from=driftline"
    # without the placeholder the link is used as given, its own anchor included
    assert link("https://wiki.example/ml#on-call", "performance") == "https://wiki.example/ml#on-call"
