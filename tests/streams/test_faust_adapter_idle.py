"""Idle partitions in the Faust adapter (``DriftlineFaustMonitor.check_idle``, through
``InProcessPipeline.advance_idle``), without a broker, on a clock the test moves. A partition
whose event time does not move for ``window.idle_timeout`` (5 s in the synth config) stops
holding the windows back, as in ``driftline run``; the windows judged then are replay's."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import numpy as np
import orjson
import pytest
from driftline.schemas.config import load_config
from driftline.streams.faust_adapter import CallbackSink, DriftlineFaustMonitor
from driftline.streams.reference_io import build_profile, write_reference
from driftline.streams.replay import replay

from driftline import synth

IDLE = 5.0        # synth.config_yaml's idle_timeout
N_WINDOWS = 4     # 400 events at 100 a second, 1 s windows


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> SimpleNamespace:
    d = tmp_path_factory.mktemp("idle")
    rng = np.random.default_rng(7)
    synth.write_lines(d / "training.jsonl", synth.training_rows(rng, 2000))
    cfg = d / "driftline.yaml"
    cfg.write_text(synth.config_yaml("reference.json", window="1s"))
    write_reference(build_profile(load_config(cfg).monitors[0], d / "training.jsonl"), d / "reference.json")
    events = synth.events(rng, 100 * N_WINDOWS, rate=100.0)
    synth.write_lines(d / "events.jsonl", events)
    want: list[dict] = []
    replay(load_config(cfg), d / "events.jsonl", CallbackSink(on_report=want.append))
    assert len(want) == 2 * N_WINDOWS            # all versions and v3, per window
    return SimpleNamespace(dir=d, config=cfg, events=events, want=want)


def _monitor(config, partitions: int = 2) -> tuple[DriftlineFaustMonitor, list[dict], Clock]:
    reports: list[dict] = []
    clock = Clock()
    mon = DriftlineFaustMonitor(config, CallbackSink(on_report=reports.append), partitions=partitions, clock=clock)
    return mon, reports, clock


def _windows(reports: list[dict]) -> list[str]:
    return sorted({r["window_start"] for r in reports})


def test_a_partition_without_events_stops_holding_the_windows_back(setup):
    mon, reports, clock = _monitor(setup.config)
    t0 = clock.now
    mon.feed(setup.events, partition=0)
    assert reports == [], "partition 1 has closed nothing yet: every window waits for it"
    mon.check_idle(t0 + IDLE - 1)
    assert reports == [], "judged before idle_timeout"
    for s in range(3):    # a claim a second: tier 2 lets an idle partition off after two
        mon.check_idle(t0 + IDLE + 1 + s)
    assert len(reports) == len(setup.want), _windows(reports)
    assert reports == setup.want                 # partition 0 moved on by idleness too: its last window
    assert mon.stats.late == 0
    mon.close()
    assert len(reports) == len(setup.want), "close() judged a window twice"


def test_claims_come_at_most_once_a_second_and_none_before_the_timeout(setup):
    mon, reports, clock = _monitor(setup.config)
    t0 = clock.now
    mon.check_idle(t0 + 100)            # nothing fed yet: no clock runs
    mon.feed(setup.events[:350], partition=0)    # its watermark (2 s of grace) passes 1 window
    mon.feed(setup.events[350:], partition=1)
    assert len(_windows(reports)) == 1
    mon.check_idle(t0 + IDLE - 1)
    assert len(_windows(reports)) == 1, "moved on before idle_timeout"
    mon.check_idle(t0 + IDLE)
    assert reports == setup.want, "both watermarks moved on: every window closed"


def test_ten_checks_within_a_second_are_one_claim(setup):
    """Partition 1 never gets an event: tier 2 lets it off at its second claim, which comes a
    second after the first however often ``check_idle`` is called."""
    mon, reports, clock = _monitor(setup.config)
    t0 = clock.now
    mon.feed(setup.events, partition=0)
    for ms in range(0, 1000, 100):
        mon.check_idle(t0 + IDLE + ms / 1000)
    assert reports == []
    mon.check_idle(t0 + IDLE + 1)
    assert reports == setup.want


def test_a_closed_monitor_judges_nothing_more(setup):
    mon, reports, clock = _monitor(setup.config)
    mon.feed(setup.events, partition=0)
    mon.close(judge_open_windows=False)
    for s in range(3):
        mon.check_idle(clock.now + IDLE + 1 + s)
    assert reports == []


def test_events_back_in_an_idle_partition_are_late_where_their_window_was_judged(setup):
    mon, reports, clock = _monitor(setup.config)
    t0 = clock.now
    first, rest = setup.events[:200], setup.events[200:]     # two windows each
    mon.feed(first, partition=0)
    for s in range(3):
        mon.check_idle(t0 + IDLE + 1 + s)
    # both partitions went idle: partition 0's watermark moved past its two windows, so they
    # were judged without waiting for partition 1
    assert _windows(reports) == _windows(setup.want[:4])
    clock.now = t0 + IDLE + 4
    mon.feed(first[-10:], partition=1, offsets=list(range(10)))   # of a judged window: late at tier 2
    mon.feed(rest, partition=1)                                     # moves its event time: active
    mon.check_idle()                                                # (too soon for anything)
    assert mon.stats.late == 0
    mon.close()
    assert mon.stats.late == 10, "late partials, closed by close(), are counted"
    assert mon.stats.events == len(setup.events) + 10
    assert _windows(reports) == _windows(setup.want)
    assert len(reports) == len(setup.want)
    later = [r for r in reports if r["window_start"] in _windows(setup.want[4:])]
    # reported with the next window judged (the pipeline alert's late_events sees them)
    assert later[0]["late"] == 10 and later[0]["model_version"] is None
    assert [{**r, "late": 0} if r is later[0] else r for r in later] == \
        [{**r, "late": 0} if i == 0 else r for i, r in enumerate(setup.want[4:])]


def test_an_old_event_of_an_idle_partition_holds_its_window_back(setup):
    """With more grace than idle_timeout, an event older than an idle partition's newest can
    still open a window of its own; the partition then claims that window at once (as run's
    progress message of the batch does), so tier 2 waits for it instead of judging the window
    without that event."""
    cfg = setup.dir / "long-grace.yaml"
    cfg.write_text(setup.config.read_text().replace("grace: 2s, idle_timeout: 5s", "grace: 8s, idle_timeout: 2s"))
    start = datetime(2026, 11, 25, 10, 0, tzinfo=UTC).timestamp()
    pool = iter(setup.events)

    def at(t: float) -> bytes:
        return orjson.dumps({**orjson.loads(next(pool)), "timestamp": start + t})

    mon, reports, clock = _monitor(cfg, partitions=3)
    mon.feed([at(t / 10) for t in range(200)], partition=0)     # 0 .. 19.9 s, then silent
    mon.feed([at(10.0), at(10.5)], partition=1)                 # newest 10.5 s, then silent
    mon.feed([at(t / 10) for t in range(30)], partition=2)      # 0 .. 2.9 s, and more below
    clock.now += 2
    mon.check_idle()                                            # all three claim
    mon.feed([at(3.5)], partition=2)
    clock.now += 1
    mon.check_idle()                                            # 0 and 1 again: horizons set
    mon.feed([at(5.5)], partition=1)                            # old: opens [5, 6) in partition 1
    mon.feed([at(14.5)], partition=2)                           # partition 2 closes [5, 6)
    mon.close()
    (window,) = [r for r in reports if r["model_version"] is None and r["window_start"].endswith(":05Z")]
    assert window["count"] == 11 and mon.stats.late == 0       # 10 of partition 0, 1 of partition 1
