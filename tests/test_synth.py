"""The synthetic data (driftline/synth.py): labels of a model whose accuracy drops at the drift
point, drawn without changing the prediction streams."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import orjson

from driftline import synth


def _accuracy(events: list[bytes], labels: list[bytes]) -> np.ndarray:
    score = np.array([orjson.loads(e)["prediction"]["score"] for e in events])
    truth = np.array([orjson.loads(line)["label"] for line in labels])
    return (score >= 0.5) == truth


def test_demo_writes_labels_whose_accuracy_drops_at_the_drift_point(tmp_path) -> None:
    assert synth.main(["demo", "--dir", str(tmp_path), "--events", "8000", "--drift-at", "4000"]) == 0
    assert {p.name for p in tmp_path.iterdir()} == {"driftline.yaml", "training.jsonl", "events.jsonl", "labels.jsonl"}
    events = (tmp_path / "events.jsonl").read_bytes().splitlines()
    labels = (tmp_path / "labels.jsonl").read_bytes().splitlines()
    assert [orjson.loads(line)["event_id"] for line in labels] == [orjson.loads(e)["event_id"] for e in events]
    ok = _accuracy(events, labels)
    assert abs(ok[:4000].mean() - (1 - synth.LABEL_ERROR)) < 0.015
    assert abs(ok[4000:].mean() - (1 - synth.DEMO_LABEL_ERROR)) < 0.02
    first_event, first_label = orjson.loads(events[0]), orjson.loads(labels[0])
    assert first_label["timestamp"] == "2026-11-25T10:01:00.000Z" == first_event["timestamp"].replace("10:00:00", "10:01:00")
    training = [orjson.loads(r) for r in (tmp_path / "training.jsonl").read_bytes().splitlines()]
    truth = np.array([r["label"] for r in training])
    assert abs(((np.array([r["prediction"] for r in training]) >= 0.5) == truth).mean() - 0.9) < 0.01


def test_labels_do_not_change_the_prediction_streams() -> None:
    # labels draw from their own generator: a stream is the same with or without labels drawn
    # between its batches
    plain = np.random.default_rng(3)
    a = synth.events(plain, 300) + synth.events(plain, 200, offset=300)
    labelled = np.random.default_rng(3)
    b = synth.events(labelled, 300)
    synth.label_events(b)
    b += synth.events(labelled, 200, offset=300)
    assert a == b
    rows = synth.training_rows(np.random.default_rng(9), 100)
    assert all(set(orjson.loads(r)) >= {"prediction", "label"} for r in rows)


def test_demo_user_errors_exit_2_with_one_line(tmp_path) -> None:
    (tmp_path / "afile").write_text("")
    for args, said in ((["--dir", str(tmp_path / "afile")], "it is a file, not a directory"),
                       (["--dir", str(tmp_path / "afile" / "d")], f"{tmp_path / 'afile'} is a file, not a directory"),
                       (["--dir", str(tmp_path / "d"), "--events", "-5"], "--events must be at least 1")):
        proc = subprocess.run([sys.executable, "-m", "driftline.synth", "demo", *args], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert len(proc.stderr.splitlines()) == 1 and said in proc.stderr, proc.stderr


def test_demo_says_whether_its_stream_drifts(tmp_path, capsys) -> None:
    assert synth.main(["demo", "--dir", str(tmp_path / "a"), "--events", "300", "--drift-at", "100"]) == 0
    assert "events.jsonl (300 events, drift from event 100), labels.jsonl (accuracy 0.90, then 0.75)" in \
        capsys.readouterr().out
    assert synth.main(["demo", "--dir", str(tmp_path / "b"), "--events", "50"]) == 0
    out = capsys.readouterr().out
    assert "events.jsonl (50 events, no drift: it would start at event 15000), labels.jsonl (accuracy 0.90)" in out
