"""Idle partitions in the Faust adapter (``DriftlineFaustMonitor.check_idle``, through
``InProcessPipeline.advance_idle``), without a broker: the clock is passed in. A partition whose
event time does not move for ``window.idle_timeout`` (5 s in the synth config) stops holding
the windows back, as in ``driftline run``; the windows judged then are replay's windows."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest
from driftline.schemas.config import load_config
from driftline.streams.faust_adapter import CallbackSink, DriftlineFaustMonitor
from driftline.streams.reference_io import build_profile, write_reference
from driftline.streams.replay import replay

from driftline import synth

IDLE = 5.0        # synth.config_yaml's idle_timeout
N_WINDOWS = 4     # 400 events at 100 a second, 1 s windows


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
    return SimpleNamespace(config=cfg, events=events, want=want)


def _monitor(setup) -> tuple[DriftlineFaustMonitor, list[dict]]:
    reports: list[dict] = []
    return DriftlineFaustMonitor(setup.config, CallbackSink(on_report=reports.append), partitions=2), reports


def _windows(reports: list[dict]) -> list[str]:
    return sorted({r["window_start"] for r in reports})


def test_a_partition_without_events_stops_holding_the_windows_back(setup):
    mon, reports = _monitor(setup)
    t0 = time.monotonic()
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


def test_below_the_timeout_or_after_close_nothing_moves(setup):
    mon, reports = _monitor(setup)
    t0 = time.monotonic()
    mon.check_idle(t0 + 100)            # nothing fed yet: no clock runs
    mon.feed(setup.events[:350], partition=0)    # its watermark (2 s of grace) passes 1 window
    mon.feed(setup.events[350:], partition=1)
    assert len(_windows(reports)) == 1
    mon.check_idle(time.monotonic() + IDLE - 1)
    assert len(_windows(reports)) == 1, "moved on before idle_timeout"
    mon.close()
    judged = len(reports)
    mon.check_idle(t0 + 1000)
    assert len(reports) == judged


def test_events_back_in_an_idle_partition_are_late_where_their_window_was_judged(setup):
    mon, reports = _monitor(setup)
    t0 = time.monotonic()
    first, rest = setup.events[:200], setup.events[200:]     # two windows each
    mon.feed(first, partition=0)
    for s in range(3):
        mon.check_idle(t0 + IDLE + 1 + s)
    # both partitions went idle: partition 0's watermark moved past its two windows, so they
    # were judged without waiting for partition 1
    assert _windows(reports) == _windows(setup.want[:4])
    now = t0 + IDLE + 4
    mon.feed(first[-10:], partition=1, offsets=list(range(10)))   # of a judged window: late at tier 2
    mon.feed(rest, partition=1)                                     # moves its event time: active
    mon.check_idle(now)                                             # (too soon for anything)
    mon.close()
    assert mon.stats.late == 10
    assert mon.stats.events == len(setup.events) + 10
    assert _windows(reports) == _windows(setup.want)
    assert len(reports) == len(setup.want)
    assert [r for r in reports if r["window_start"] in _windows(setup.want[4:])] == setup.want[4:]
