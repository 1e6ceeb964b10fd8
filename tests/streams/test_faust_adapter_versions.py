"""The Faust adapter (streams/faust_adapter.py) without a broker: a model version per event is
pooled beyond ``limits.max_model_versions`` as in replay, and the operator is told once (the
adapter's own log: a Faust app prints no driftline summary)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import orjson
from driftline.schemas.config import load_config
from driftline.streams.faust_adapter import CallbackSink, DriftlineFaustMonitor
from driftline.streams.reference_io import build_profile, write_reference

from driftline import synth


def test_versions_beyond_the_cap_are_pooled_and_logged_once(tmp_path: Path, caplog) -> None:
    rng = np.random.default_rng(2)
    synth.write_lines(tmp_path / "training.jsonl", synth.training_rows(rng, 2000))
    cfg = tmp_path / "driftline.yaml"
    cfg.write_text(synth.config_yaml("reference.json", window="1s") + "limits: {max_model_versions: 2}\n")
    write_reference(build_profile(load_config(cfg).monitors[0], tmp_path / "training.jsonl"), tmp_path / "reference.json")
    events = [orjson.dumps({**orjson.loads(line), "model_version": f"req-{i:04d}"})
              for i, line in enumerate(synth.events(rng, 400, rate=100.0))]      # 4 windows of 100
    reports: list[dict] = []
    monitor = DriftlineFaustMonitor(cfg, CallbackSink(on_report=reports.append), partitions=1)
    with caplog.at_level(logging.WARNING, logger="driftline"):
        for i in range(0, len(events), 50):
            monitor.feed(events[i:i + 50], partition=0)
        monitor.close()
    overall = [r for r in reports if r["model_version"] is None]
    assert len(overall) == 4 and all(r["pooled_events"] == 98 for r in overall)
    assert len(reports) == 4 * 3
    told = [r.getMessage() for r in caplog.records if "limits.max_model_versions (2)" in r.getMessage()]
    assert len(told) == 1, told
