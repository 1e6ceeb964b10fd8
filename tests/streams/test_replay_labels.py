"""``driftline replay --labels`` end to end over real files (streams/replay.py, the CLI).

- each label joins its prediction by event id; the pair counts in the window(s) of the
  prediction's event time, per model version and for all versions; the metrics in the reports
  are those of the joined pairs, recomputed here from the files;
- a drop of accuracy 0.90 -> 0.75 fires a ``performance`` alert (and a retrain request) in the
  first window after the change, and nothing else about performance fires;
- malformed labels go to dlq.jsonl (stage decode_labels, offset = line of the labels file);
  labels without a prediction are counted as ``unmatched``; the last duplicate wins;
- user errors exit 2 with one line: a missing labels file, the label cap, a monitor without
  a prediction, a baseline of another task.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import orjson
import pytest
from driftline.schemas.validate import validate_instance
from driftline.streams.cli import main

from driftline import synth

EVENTS = 6000            # 100 events/s, 10 s windows: 6 windows of 1,000 events
CHANGE = 3000            # accuracy 0.90 -> 0.75 from here (10:00:30, a window start)
BAD_LABELS = [b"not json", b'{"event_id": "e5", "label": 3}', b'{"label": 1}',
              b'{"event_id": "e6", "label": "1"}', b'{"event_id": "e7", "label": 1, "timestamp": "noon"}']
STRANGERS = [b'{"event_id": "nobody-1", "label": 1}', b'{"event_id": "nobody-2", "label": 0}']


def read(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "driftline", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("labels")
    rng = np.random.default_rng(11)
    synth.write_lines(d / "training.jsonl", synth.training_rows(rng, 20_000))
    drift = synth.Drift(at=CHANGE, label_error=0.25)
    events = synth.events(rng, EVENTS, rate=100.0, drift=drift, versions=("v3", "v4"))
    synth.write_lines(d / "events.jsonl", events)
    labels = synth.label_events(events, drift)
    # e10 is labelled twice: the second (opposite) label wins; e20 has no label at all
    first = orjson.loads(labels[10])
    flipped = orjson.dumps({**first, "label": 1 - first["label"]})
    labels = [labels[10], *labels[:10], *BAD_LABELS, *labels[11:20], *labels[21:], *STRANGERS, flipped]
    synth.write_lines(d / "labels.jsonl", labels)
    (d / "driftline.yaml").write_text(synth.config_yaml("reference.json"))
    assert main(["reference", "build", "--config", str(d / "driftline.yaml"), "--monitor", "fraud",
                 "--input", str(d / "training.jsonl"), "--out", str(d / "reference.json")]) == 0
    return d


@pytest.fixture(scope="module")
def out(data: Path, tmp_path_factory) -> dict[str, list[dict]]:
    o = tmp_path_factory.mktemp("out")
    assert main(["replay", "--config", str(data / "driftline.yaml"), "--input", str(data / "events.jsonl"),
                 "--labels", str(data / "labels.jsonl"), "--out", str(o)]) == 0
    return {name: read(o / f"{name}.jsonl") for name in ("reports", "alerts", "retrain", "dlq")}


def test_reference_records_the_training_performance(data: Path) -> None:
    ref = orjson.loads((data / "reference.json").read_bytes())["performance"]
    assert ref["task"] == "binary" and ref["count"] == 20_000 and ref["threshold"] == 0.5
    assert 0.89 < ref["metrics"]["accuracy"] < 0.91
    assert ref["correct"] == round(ref["metrics"]["accuracy"] * 20_000)


def test_outputs_validate_against_the_schemas(out) -> None:
    for name, kind in (("reports", "window_report"), ("alerts", "alert"), ("retrain", "retrain_request"),
                       ("dlq", "dlq_record")):
        for item in out[name]:
            validate_instance(kind, item)


def _pairs_by_window(data: Path) -> dict[tuple[str | None, str], tuple[int, int]]:
    """(version, window start) -> (pairs, correct), straight from the files."""
    label_of: dict[str, int] = {}
    for line in (data / "labels.jsonl").read_bytes().splitlines():
        try:
            e = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(e, dict) and e.get("event_id") is not None and e.get("label") in (0, 1) \
                and not isinstance(e.get("label"), str) and e.get("timestamp", "") != "noon":
            label_of[str(e["event_id"])] = int(e["label"])        # the last label wins
    out: dict[tuple[str | None, str], list[int]] = {}
    for e in read(data / "events.jsonl"):
        if e["event_id"] not in label_of:
            continue
        start = e["timestamp"][:18] + "0Z"                        # 10 s windows
        ok = int((e["prediction"]["score"] >= 0.5) == label_of[e["event_id"]])
        for key in ((None, start), (e["model_version"], start)):
            acc = out.setdefault(key, [0, 0])
            acc[0] += 1
            acc[1] += ok
    return {k: (v[0], v[1]) for k, v in out.items()}


def test_each_window_reports_the_performance_of_its_predictions(data: Path, out) -> None:
    want = _pairs_by_window(data)
    reports = out["reports"]
    assert len(reports) == 3 * EVENTS // 1000                  # all versions, v3, v4
    for r in reports:
        p = r["performance"]
        n, correct = want[(r["model_version"], r["window_start"])]
        assert p["task"] == "binary"
        assert p["count"] == n
        assert p["metrics"]["accuracy"] == correct / n
        assert p["reference"]["count"] == 20_000
    overall = [r for r in reports if r["model_version"] is None]
    # every event but e20 has a valid label (the bad lines are extra)
    assert sum(r["performance"]["count"] for r in overall) == EVENTS - 1
    per_version = [r for r in reports if r["model_version"] is not None]
    assert sum(r["performance"]["count"] for r in per_version) == EVENTS - 1


def test_unmatched_labels_come_with_the_last_window(out) -> None:
    overall = [r for r in out["reports"] if r["model_version"] is None]
    assert [r["performance"]["unmatched"] for r in overall] == [0] * (len(overall) - 1) + [len(STRANGERS)]
    assert all(r["performance"]["unmatched"] == 0 for r in out["reports"] if r["model_version"] is not None)


def test_the_accuracy_drop_fires_in_the_first_window_after_it(out) -> None:
    perf = [a for a in out["alerts"] if a["kind"] == "performance"]
    assert [(a["status"], a["subject"], a["model_version"], a["window_start"]) for a in perf] == [
        ("firing", "accuracy", None, "2026-11-25T10:00:30Z")]
    alert = perf[0]
    assert alert["statistic"] == "accuracy" and alert["value"] < 0.80 and alert["p_value"] < 1e-10
    assert alert["threshold"] == pytest.approx(alert["evidence"]["reference"] - 0.05)
    assert alert["evidence"]["rule"] == "reference" and alert["runbook"].endswith("#performance")
    overall = [r for r in out["reports"] if r["model_version"] is None]
    assert [r["performance"]["degraded"] for r in overall] == [False, False, False, True, True, True]
    assert overall[3]["performance"]["degraded_metrics"] == ["accuracy"]
    assert [alert["alert_id"]] == [a for r in out["retrain"] for a in r["reasons"]]


def test_bad_labels_reach_the_dlq_with_their_line(data: Path, out) -> None:
    dlq = out["dlq"]
    assert [(d["offset"], d["reason"], d["stage"]) for d in dlq] == [
        (11, "invalid_json", "decode_labels"), (12, "bad_label", "decode_labels"),
        (13, "missing_field", "decode_labels"), (14, "wrong_type", "decode_labels"),
        (15, "bad_timestamp", "decode_labels")]
    assert [d["raw"].encode() for d in dlq] == BAD_LABELS
    assert all(d["monitor"] == "fraud" and d["detail"] for d in dlq)
    assert {d["topic"] for d in dlq} == {str(data / "labels.jsonl")}   # told from the predictions'


def test_dead_letters_name_the_file_they_come_from(data: Path, tmp_path: Path) -> None:
    events = (data / "events.jsonl").read_bytes().splitlines()
    (tmp_path / "e.jsonl").write_bytes(b"\n".join([b"not json", *events[:2000]]) + b"\n")
    assert main(["replay", "--config", str(data / "driftline.yaml"), "--input", str(tmp_path / "e.jsonl"),
                 "--labels", str(data / "labels.jsonl"), "--out", str(tmp_path / "o")]) == 0
    dlq = read(tmp_path / "o" / "dlq.jsonl")
    assert [(d["topic"], d["stage"]) for d in dlq] == [(str(data / "labels.jsonl"), "decode_labels")] * 5 + [
        (str(tmp_path / "e.jsonl"), "decode")]


def test_without_labels_performance_stays_null(data: Path, tmp_path: Path) -> None:
    assert main(["replay", "--config", str(data / "driftline.yaml"), "--input", str(data / "events.jsonl"),
                 "--out", str(tmp_path)]) == 0
    assert {r["performance"] is None for r in read(tmp_path / "reports.jsonl")} == {True}
    assert not [a for a in read(tmp_path / "alerts.jsonl") if a["kind"] == "performance"]


def test_hopping_windows_count_a_pair_in_each_of_its_windows(data: Path, tmp_path: Path) -> None:
    cfg = (data / "driftline.yaml").read_text().replace("window: {size: 10s,", "window: {size: 20s, slide: 10s,")
    (tmp_path / "c.yaml").write_text(cfg.replace("reference.json", str(data / "reference.json")))
    assert main(["replay", "--config", str(tmp_path / "c.yaml"), "--input", str(data / "events.jsonl"),
                 "--labels", str(data / "labels.jsonl"), "--out", str(tmp_path / "o")]) == 0
    overall = [r for r in read(tmp_path / "o" / "reports.jsonl") if r["model_version"] is None]
    assert sum(r["performance"]["count"] for r in overall) == 2 * (EVENTS - 1)
    # windows of 2,000 events, each pair in two of them; e20 (10:00:00.2) has no label
    assert [(r["window_start"][11:], r["count"], r["performance"]["count"]) for r in overall] == [
        ("09:59:50Z", 1000, 999), ("10:00:00Z", 2000, 1999), *[(f"10:00:{s}0Z", 2000, 2000) for s in range(1, 5)],
        ("10:00:50Z", 1000, 1000)]


def test_a_reference_without_labels_judges_only_absolute_bounds(data: Path, tmp_path: Path) -> None:
    ref = orjson.loads((data / "reference.json").read_bytes())
    del ref["performance"]
    (tmp_path / "reference.json").write_bytes(orjson.dumps(ref))
    cfg = (data / "driftline.yaml").read_text().replace(
        "    performance: {}\n", "    performance: {min: {accuracy: 0.85}}\n")
    (tmp_path / "c.yaml").write_text(cfg)
    assert main(["replay", "--config", str(tmp_path / "c.yaml"), "--input", str(data / "events.jsonl"),
                 "--labels", str(data / "labels.jsonl"), "--out", str(tmp_path / "o")]) == 0
    reports = [r for r in read(tmp_path / "o" / "reports.jsonl") if r["model_version"] is None]
    assert {r["performance"]["reference"] is None and r["performance"]["p_value"] is None for r in reports} == {True}
    perf = [a for a in read(tmp_path / "o" / "alerts.jsonl") if a["kind"] == "performance"]
    assert [(a["status"], a["window_start"], a["threshold"], a["p_value"], a["evidence"]["rule"]) for a in perf] == [
        ("firing", "2026-11-25T10:00:30Z", 0.85, None, "min")]


def _with_monitors(data: Path, *extra: str) -> str:
    """The fixture's config (absolute reference path) with more monitors: fraud's block renamed
    and edited by each ``extra`` (python replace pairs joined by '|')."""
    text = (data / "driftline.yaml").read_text().replace("reference.json", str(data / "reference.json"))
    head, kafka = text.split("kafka:")
    block = head.split("monitors:\n")[1]
    for spec in extra:
        name, *edits = spec.split("|")
        more = block.replace("name: fraud", f"name: {name}")
        for old, new in zip(edits[::2], edits[1::2], strict=True):
            more = more.replace(old, new)
        head += more
    return head + "kafka:" + kafka


def test_only_monitors_with_a_performance_section_join_labels(data: Path, tmp_path: Path) -> None:
    # "inputs" watches the features alone, "twin" judges performance like fraud
    cfg = _with_monitors(data, "inputs|    prediction: {type: numeric}\n||    performance: {}\n|", "twin")
    (tmp_path / "c.yaml").write_text(cfg)
    proc = run_cli("replay", "--config", str(tmp_path / "c.yaml"), "--input", str(data / "events.jsonl"),
                   "--labels", str(data / "labels.jsonl"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    reports = read(tmp_path / "o" / "reports.jsonl")
    by_monitor = {m: [r for r in reports if r["monitor"] == m and r["model_version"] is None]
                  for m in ("fraud", "inputs", "twin")}
    assert {r["performance"] is None for r in by_monitor["inputs"]} == {True}
    for m in ("fraud", "twin"):                 # both get every pair, from one decoding
        assert sum(r["performance"]["count"] for r in by_monitor[m]) == EVENTS - 1
    dlq = read(tmp_path / "o" / "dlq.jsonl")
    assert sorted({d["monitor"] for d in dlq if d["stage"] == "decode_labels"}) == ["fraud", "twin"]
    lines = sum(1 for line in (data / "labels.jsonl").read_bytes().splitlines() if line.strip())
    # e10's first label is a replaced duplicate: dropped
    assert f"{lines} label events (fraud: {EVENTS - 1} joined, 5 invalid, 2 without a prediction, 1 dropped; " \
           f"twin: {EVENTS - 1} joined, 5 invalid, 2 without a prediction, 1 dropped)" in proc.stdout


def test_labels_for_no_monitor_that_judges_performance(data: Path, tmp_path: Path) -> None:
    cfg = _with_monitors(data, "inputs|    prediction: {type: numeric}\n||    performance: {}\n|")
    (tmp_path / "c.yaml").write_text(cfg)
    args = ["replay", "--config", str(tmp_path / "c.yaml"), "--input", str(data / "events.jsonl"),
            "--labels", str(data / "labels.jsonl"), "--out", str(tmp_path / "o")]
    _one_line_error(run_cli(*args, "--monitor", "inputs"),
                    "monitor 'inputs' does not judge performance on labels; add a `performance:`")
    (tmp_path / "c.yaml").write_text(cfg.replace("    performance: {}\n", ""))
    _one_line_error(run_cli(*args), "no monitor judges performance on labels")


def _tiny_monitor(tmp_path: Path, performance: str = "{}") -> Path:
    """A monitor of one feature x and a score, 10 s windows, grace 1 s, and its reference."""
    rows = [{"x": float(i % 7), "prediction": (i % 10) / 10, "label": i % 2} for i in range(200)]
    synth.write_lines(tmp_path / "t.jsonl", [orjson.dumps(r) for r in rows])
    (tmp_path / "c.yaml").write_text(
        "monitors:\n  - name: tiny\n    source: p\n    features: {x: {type: numeric}}\n"
        f"    prediction: {{type: numeric}}\n    performance: {performance}\n"
        "    reference: {path: r.json}\n    window: {size: 10s, grace: 1s}\n"
        "    alerts: {fire_after: 1, resolve_after: 1}\n")
    assert main(["reference", "build", "--config", str(tmp_path / "c.yaml"), "--monitor", "tiny",
                 "--input", str(tmp_path / "t.jsonl"), "--out", str(tmp_path / "r.json")]) == 0
    return tmp_path / "c.yaml"


def _event(i: int | str, t: float, score: float | None) -> bytes:
    return orjson.dumps({"event_id": i, "timestamp": 1_800_000_000 + t, "features": {"x": 1.0},
                         "prediction": {"score": score}})


def test_every_label_is_accounted_for(tmp_path: Path) -> None:
    cfg = _tiny_monitor(tmp_path)
    # 40 events in the first window; one at 25 s closes it; then one late for it (t = 1 s) and
    # one without a score
    events = [_event(i, i / 10, 0.9) for i in range(40)]
    events += [_event(40, 25.0, 0.9), _event(41, 1.0, 0.9), _event(42, 26.0, None)]
    labels = [orjson.dumps({"event_id": i, "label": 1}) for i in range(43)]
    labels += [orjson.dumps({"event_id": 0, "label": 1}), orjson.dumps({"event_id": "nobody", "label": 0})]
    synth.write_lines(tmp_path / "e.jsonl", events)
    synth.write_lines(tmp_path / "l.jsonl", labels)
    proc = run_cli("replay", "--config", str(cfg), "--input", str(tmp_path / "e.jsonl"),
                   "--labels", str(tmp_path / "l.jsonl"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    reports = [r for r in read(tmp_path / "o" / "reports.jsonl") if r["model_version"] is None]
    for r in reports:
        validate_instance("window_report", r)
    pairs = sum(r["performance"]["count"] for r in reports)
    last = reports[-1]["performance"]
    assert (pairs, last["unmatched"], last["dropped"]) == (41, 1, {"late": 1, "null_prediction": 1, "duplicate": 1})
    assert [r["performance"]["dropped"] for r in reports[:-1]] == [{"late": 0, "null_prediction": 0, "duplicate": 0}]
    # labels read = pairs + unmatched + dropped
    assert len(labels) == pairs + last["unmatched"] + sum(last["dropped"].values())
    assert "45 label events (tiny: 41 joined, 0 invalid, 1 without a prediction, 3 dropped)" in proc.stdout


def test_windows_with_too_few_labels_leave_a_performance_alert_as_it_is(tmp_path: Path) -> None:
    cfg = _tiny_monitor(tmp_path, "{min: {accuracy: 0.9}}")
    # four windows of 100 events: all wrong on 100 labels, then on 5 (below min_count 30), then
    # no label at all, then all right on 100 labels
    events, labels = [], []
    for w, (n_labels, label) in enumerate([(100, 0), (5, 0), (0, 0), (100, 1)]):
        for i in range(100):
            eid = f"w{w}-{i}"
            events.append(_event(eid, w * 10 + i / 10, 0.9))
            if i < n_labels:
                labels.append(orjson.dumps({"event_id": eid, "label": label}))
    synth.write_lines(tmp_path / "e.jsonl", events)
    synth.write_lines(tmp_path / "l.jsonl", labels)
    assert main(["replay", "--config", str(cfg), "--input", str(tmp_path / "e.jsonl"),
                 "--labels", str(tmp_path / "l.jsonl"), "--out", str(tmp_path / "o")]) == 0
    perf = [a for a in read(tmp_path / "o" / "alerts.jsonl") if a["kind"] == "performance"]
    assert [(a["status"], a["window_start"][11:]) for a in perf] == [("firing", "08:00:00Z"), ("resolved", "08:00:30Z")]


def test_label_runs_that_measure_nothing_say_so(tmp_path: Path) -> None:
    cfg = _tiny_monitor(tmp_path)
    events = [_event(i, i / 10, 0.9) for i in range(50)]
    synth.write_lines(tmp_path / "e.jsonl", events)
    synth.write_lines(tmp_path / "bad.jsonl", [b"nope", b'{"event_id": 1, "label": 7}'])
    synth.write_lines(tmp_path / "l.jsonl", [orjson.dumps({"event_id": i, "label": 1}) for i in range(50)])

    def replay(events: str, labels: str) -> list[str]:
        proc = run_cli("replay", "--config", str(cfg), "--input", str(tmp_path / events),
                       "--labels", str(tmp_path / labels), "--out", str(tmp_path / "o"))
        assert proc.returncode == 0, proc.stderr
        return [line for line in proc.stdout.splitlines() if line.startswith("warning: ")]

    assert replay("e.jsonl", "l.jsonl") == []
    assert replay("e.jsonl", "bad.jsonl") == [
        "warning: monitor 'tiny': every label event (2) went to the dead letters (dlq.jsonl, stage "
        "decode_labels): no performance was measured"]
    (tmp_path / "empty.jsonl").write_bytes(b"\n \n")
    assert replay("empty.jsonl", "l.jsonl")[0] == (
        f"warning: {tmp_path / 'empty.jsonl'} holds no events (only blank lines, or nothing): no window was judged")
    (tmp_path / "none.jsonl").write_bytes(b"not an event\n")
    assert replay("none.jsonl", "l.jsonl") == [
        "warning: every event (1) went to the dead letters (dlq.jsonl), the first (line 1) as invalid_json: "
        "invalid literal, expected 'null': line 1 column 1 (char 0)",
        "warning: monitor 'tiny' closed no window: its labels (50 unmatched, 0 dropped) are in no report, "
        "only in this summary"]
    synth.write_lines(tmp_path / "strangers.jsonl", [orjson.dumps({"event_id": f"x{i}", "label": 1}) for i in range(9)])
    assert replay("e.jsonl", "strangers.jsonl") == [
        "warning: monitor 'tiny': no label joined a prediction (9 without one, 0 dropped): check that the labels' "
        "event ids are the predictions' (fields.event_id)"]
    ref = orjson.loads((tmp_path / "r.json").read_bytes())
    del ref["performance"]
    (tmp_path / "r.json").write_bytes(orjson.dumps(ref))
    assert [w[:66] for w in replay("e.jsonl", "l.jsonl")] == [
        "warning: monitor 'tiny': its reference has no performance baseline"]


def test_regression_end_to_end(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    y_train = rng.normal(50, 10, 5000)
    rows = [{"x": float(v), "prediction": float(v + e), "label": float(v)}
            for v, e in zip(y_train, rng.normal(0, 2, 5000), strict=True)]
    synth.write_lines(tmp_path / "train.jsonl", [orjson.dumps(r) for r in rows])
    (tmp_path / "c.yaml").write_text(
        "monitors:\n  - name: price\n    source: prices\n    features: {x: {type: numeric}}\n"
        "    prediction: {type: numeric}\n    performance: {task: regression, max: {rmse: 100}}\n"
        "    reference: {path: ref.json}\n    window: {size: 10s}\n")
    assert main(["reference", "build", "--config", str(tmp_path / "c.yaml"), "--monitor", "price",
                 "--input", str(tmp_path / "train.jsonl"), "--out", str(tmp_path / "ref.json")]) == 0
    events, labels = [], []
    for i in range(4000):
        y = float(rng.normal(50, 10))
        noise = 2.0 if i < 2000 else 4.0                       # MAE doubles from 10:00:20 on
        ts = f"2026-11-25T10:00:{i // 100:02d}.{i % 100:02d}0Z"
        events.append(orjson.dumps({"event_id": i, "timestamp": ts, "features": {"x": y},
                                    "prediction": {"score": y + float(rng.normal(0, noise))}}))
        labels.append(orjson.dumps({"event_id": str(i), "label": y}))
    synth.write_lines(tmp_path / "events.jsonl", events)
    synth.write_lines(tmp_path / "labels.jsonl", labels)
    assert main(["replay", "--config", str(tmp_path / "c.yaml"), "--input", str(tmp_path / "events.jsonl"),
                 "--labels", str(tmp_path / "labels.jsonl"), "--out", str(tmp_path / "o")]) == 0
    reports = [r for r in read(tmp_path / "o" / "reports.jsonl") if r["model_version"] is None]
    assert [r["performance"]["count"] for r in reports] == [1000] * 4
    assert [r["performance"]["degraded"] for r in reports] == [False, False, True, True]
    assert 1.4 < reports[0]["performance"]["metrics"]["mae"] < 1.8 < 2.9 < reports[3]["performance"]["metrics"]["mae"]
    perf = [a for a in read(tmp_path / "o" / "alerts.jsonl") if a["kind"] == "performance"]
    assert [(a["subject"], a["window_start"]) for a in perf] == [("mae", "2026-11-25T10:00:20Z")]


# -- user errors: exit 2, one line ------------------------------------------------------------


def _one_line_error(proc: subprocess.CompletedProcess, fragment: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_missing_labels_file(data: Path, tmp_path: Path) -> None:
    proc = run_cli("replay", "--config", str(data / "driftline.yaml"), "--input", str(data / "events.jsonl"),
                   "--labels", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o"))
    _one_line_error(proc, "nope.jsonl")


def test_more_labels_than_the_cap(data: Path, tmp_path: Path) -> None:
    cfg = (data / "driftline.yaml").read_text() + "limits: {max_pending_labels: 1000}\n"
    (tmp_path / "c.yaml").write_text(cfg.replace("reference.json", str(data / "reference.json")))
    proc = run_cli("replay", "--config", str(tmp_path / "c.yaml"), "--input", str(data / "events.jsonl"),
                   "--labels", str(data / "labels.jsonl"), "--out", str(tmp_path / "o"))
    _one_line_error(proc, "limits.max_pending_labels: more than 1,000 labels wait for their predictions; "
                          "raise limits.max_pending_labels or replay fewer labels at once")


def test_a_monitor_without_prediction(data: Path, tmp_path: Path) -> None:
    cfg = (data / "driftline.yaml").read_text().replace("    prediction: {type: numeric}\n", "")
    cfg = cfg.replace("reference.json", str(data / "reference.json"))
    (tmp_path / "c.yaml").write_text(cfg)
    proc = run_cli("validate", "--config", str(tmp_path / "c.yaml"))
    _one_line_error(proc, "monitors[0].performance: needs a prediction to compare labels with")
    (tmp_path / "c.yaml").write_text(cfg.replace("    performance: {}\n", ""))
    proc = run_cli("replay", "--config", str(tmp_path / "c.yaml"), "--input", str(data / "events.jsonl"),
                   "--labels", str(data / "labels.jsonl"), "--out", str(tmp_path / "o"))
    _one_line_error(proc, "does not judge performance on labels")


def test_a_baseline_of_another_threshold(data: Path, tmp_path: Path) -> None:
    cfg = (data / "driftline.yaml").read_text().replace(
        "    performance: {}\n", "    performance: {threshold: 0.3}\n")
    (tmp_path / "c.yaml").write_text(cfg.replace("reference.json", str(data / "reference.json")))
    proc = run_cli("replay", "--config", str(tmp_path / "c.yaml"), "--input", str(data / "events.jsonl"),
                   "--labels", str(data / "labels.jsonl"), "--out", str(tmp_path / "o"))
    _one_line_error(proc, "taken at threshold 0.5")
    _one_line_error(run_cli("validate", "--config", str(tmp_path / "c.yaml")), "taken at threshold 0.5")
    # without --labels the baseline is not used, and replay runs
    assert main(["replay", "--config", str(tmp_path / "c.yaml"), "--input", str(data / "events.jsonl"),
                 "--out", str(tmp_path / "o2")]) == 0


def test_a_broken_baseline_is_a_one_line_error(data: Path, tmp_path: Path) -> None:
    ref = orjson.loads((data / "reference.json").read_bytes())
    ref["performance"]["metrics"]["accuracy"] = 1.5
    (tmp_path / "reference.json").write_bytes(orjson.dumps(ref))
    (tmp_path / "c.yaml").write_text((data / "driftline.yaml").read_text())
    proc = run_cli("validate", "--config", str(tmp_path / "c.yaml"))
    _one_line_error(proc, f"{tmp_path / 'reference.json'}: performance.metrics.accuracy: 1.5 is not between 0 and 1")


def test_bad_training_labels_are_a_one_line_error(tmp_path: Path) -> None:
    rows = [orjson.loads(r) for r in synth.training_rows(np.random.default_rng(1), 300)]
    rows[7]["label"] = 0.5
    synth.write_lines(tmp_path / "t.jsonl", [orjson.dumps(r) for r in rows])
    (tmp_path / "c.yaml").write_text(synth.config_yaml("reference.json"))
    args = ["reference", "build", "--config", str(tmp_path / "c.yaml"), "--monitor", "fraud",
            "--input", str(tmp_path / "t.jsonl"), "--out", str(tmp_path / "r.json")]
    _one_line_error(run_cli(*args), "label, row 8: 0.5 is not 0, 1, true or false")
    # JSON holds numbers: the text "1" is refused, as a live label "1" goes to the dead letters
    rows[7]["label"] = "1"
    synth.write_lines(tmp_path / "t.jsonl", [orjson.dumps(r) for r in rows])
    _one_line_error(run_cli(*args), "label, row 8: '1' is a string, not 0, 1, true or false; live labels")
    # in CSV a cell is text: "1" and "true" are the label's spellings there
    spelled = {0: ("0", "false"), 1: ("1", "true"), "1": ("1", "true")}
    header = [k for k in rows[0] if k != "label"]
    cells = [[*("" if r[k] is None else str(r[k]) for k in header), spelled[r["label"]][i % 2]]
             for i, r in enumerate(rows)]
    (tmp_path / "t.csv").write_text("\n".join(map(",".join, [[*header, "label"], *cells])) + "\n")
    assert main([*args[:-4], "--input", str(tmp_path / "t.csv"), "--out", str(tmp_path / "r.json")]) == 0


def test_training_class_labels_read_as_the_live_decoder_reads_them(tmp_path: Path) -> None:
    # a Parquet / pandas integer column with nulls arrives as floats: 1.0 is the class "1", as
    # the live label 1 is; "1.0" text stays "1.0"
    rows = [{"x": float(i), "prediction": p, "label": y}
            for i, (p, y) in enumerate([("1", 1.0), ("2", 2), ("a", "a"), ("1.0", "1.0"), ("b", None)] * 10)]
    synth.write_lines(tmp_path / "t.jsonl", [orjson.dumps(r) for r in rows])
    (tmp_path / "c.yaml").write_text(
        "monitors:\n  - name: kind\n    source: k\n    features: {x: {type: numeric}}\n"
        "    prediction: {type: categorical}\n    performance: {}\n    reference: {path: r.json}\n")
    args = ["reference", "build", "--config", str(tmp_path / "c.yaml"), "--monitor", "kind",
            "--input", str(tmp_path / "t.jsonl"), "--out", str(tmp_path / "r.json")]
    assert main(args) == 0
    ref = orjson.loads((tmp_path / "r.json").read_bytes())["performance"]
    assert (ref["task"], ref["count"], ref["correct"]) == ("classification", 40, 40)
    rows[3]["label"] = 1.5                       # the live decoder refuses it: so does this
    synth.write_lines(tmp_path / "t.jsonl", [orjson.dumps(r) for r in rows])
    _one_line_error(run_cli(*args), "label, row 4: 1.5 is not a category (a string, a boolean, an integer or a whole")


def _regression_rows(tmp_path: Path, performance: str | None) -> Path:
    """Training rows of a regression model, its label column included, and a config."""
    rows = [{"x": 1.0 + i, "prediction": 76.3 + i, "label": 76.37 + i} for i in range(50)]
    synth.write_lines(tmp_path / "t.jsonl", [orjson.dumps(r) for r in rows])
    section = "" if performance is None else f"    performance: {performance}\n"
    (tmp_path / "c.yaml").write_text(
        "monitors:\n  - name: price\n    source: prices\n    features: {x: {type: numeric}}\n"
        f"    prediction: {{type: numeric}}\n{section}    reference: {{path: r.json}}\n")
    return tmp_path / "c.yaml"


def test_a_label_column_without_a_performance_section_is_not_read(tmp_path: Path) -> None:
    # a numeric prediction with a label column built before labels were joined: it still builds
    cfg = _regression_rows(tmp_path, None)
    assert main(["reference", "build", "--config", str(cfg), "--monitor", "price",
                 "--input", str(tmp_path / "t.jsonl"), "--out", str(tmp_path / "r.json")]) == 0
    assert "performance" not in orjson.loads((tmp_path / "r.json").read_bytes())


def test_a_performance_section_records_the_baseline_of_its_task(tmp_path: Path) -> None:
    cfg = _regression_rows(tmp_path, "{task: regression}")
    assert main(["reference", "build", "--config", str(cfg), "--monitor", "price",
                 "--input", str(tmp_path / "t.jsonl"), "--out", str(tmp_path / "r.json")]) == 0
    ref = orjson.loads((tmp_path / "r.json").read_bytes())["performance"]
    assert ref["task"] == "regression" and ref["count"] == 50
    assert ref["metrics"]["mae"] == pytest.approx(0.07)
    # an explicit task the labels do not fit is still the clear one-line error
    cfg = _regression_rows(tmp_path, "{}")
    proc = run_cli("reference", "build", "--config", str(cfg), "--monitor", "price",
                   "--input", str(tmp_path / "t.jsonl"), "--out", str(tmp_path / "r2.json"))
    _one_line_error(proc, "label, row 1: 76.37 is not 0, 1, true or false")


def test_a_class_label_prediction_reports_its_new_classes_within_the_schema(tmp_path: Path) -> None:
    rows = [{"x": float(i), "prediction": "ab"[i % 2]} for i in range(200)]
    synth.write_lines(tmp_path / "t.jsonl", [orjson.dumps(r) for r in rows])
    (tmp_path / "c.yaml").write_text(
        "monitors:\n  - name: kind\n    source: k\n    features: {x: {type: numeric}}\n"
        "    prediction: {type: categorical}\n    window: {size: 60s}\n    reference: {path: r.json}\n")
    assert main(["reference", "build", "--config", str(tmp_path / "c.yaml"), "--monitor", "kind",
                 "--input", str(tmp_path / "t.jsonl"), "--out", str(tmp_path / "r.json")]) == 0
    events = [orjson.dumps({"event_id": f"e{i}", "timestamp": 1_764_064_800 + i / 10, "features": {"x": float(i)},
                            "prediction": {"score": "abc"[i % 3]}}) for i in range(300)]
    synth.write_lines(tmp_path / "e.jsonl", events)
    assert main(["replay", "--config", str(tmp_path / "c.yaml"), "--input", str(tmp_path / "e.jsonl"),
                 "--out", str(tmp_path / "o")]) == 0
    (report,) = read(tmp_path / "o" / "reports.jsonl")
    validate_instance("window_report", report)
    assert report["prediction"]["type"] == "categorical"
    assert report["prediction"]["new_categories"] == ["c"]


def test_reference_build_says_whether_it_recorded_a_performance_baseline(tmp_path: Path, capsys) -> None:
    cfg = _regression_rows(tmp_path, "{task: regression}")
    args = ["reference", "build", "--config", str(cfg), "--monitor", "price",
            "--input", str(tmp_path / "t.jsonl"), "--out", str(tmp_path / "r.json")]
    assert main(args) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].endswith("; performance baseline (regression) from 50 labelled rows")
    assert out[1].startswith("warning: 50 rows make a thin reference")
    rows = [{"x": 1.0 + i, "prediction": 76.3 + i} for i in range(50)]     # no label column
    synth.write_lines(tmp_path / "t.jsonl", [orjson.dumps(r) for r in rows])
    assert main(args) == 0
    assert capsys.readouterr().out.strip().splitlines()[0].endswith(
        "no row has a label (looked for 'label' and column 'label'), so no performance baseline: "
        "performance alerts need performance.min / performance.max")


def test_replay_warns_when_every_event_is_a_dead_letter_or_no_label_was_read(data: Path, tmp_path: Path) -> None:
    events = [orjson.loads(line) for line in (data / "events.jsonl").read_bytes().splitlines()[:50]]
    for e in events:        # epoch milliseconds: every one out of range
        e["timestamp"] = int(datetime.fromisoformat(e["timestamp"]).timestamp() * 1000)
    synth.write_lines(tmp_path / "ms.jsonl", [orjson.dumps(e) for e in events])
    (tmp_path / "empty.jsonl").write_bytes(b"")
    proc = run_cli("replay", "--config", str(data / "driftline.yaml"), "--input", str(tmp_path / "ms.jsonl"),
                   "--labels", str(tmp_path / "empty.jsonl"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert out[0].startswith("50 events (50 invalid, 0 late), 0 label events, 0 windows"), out
    ms = events[0]["timestamp"]
    assert out[1].startswith("warning: every event (50) went to the dead letters (dlq.jsonl), the first (line 1) "
                             f"as bad_timestamp: timestamp {ms} (epoch seconds) is outside the years"), out
    assert out[1].endswith(f"if it is epoch milliseconds, send {ms / 1000:.3f} (seconds) instead"), out
    assert out[2] == f"warning: --labels {tmp_path / 'empty.jsonl'} holds no label events: no performance was measured"


def test_labels_read_from_a_pipe_as_from_a_file(data: Path, out: dict[str, list[dict]], tmp_path: Path) -> None:
    """``--labels <(zcat labels.jsonl.gz)``: a named pipe, read once (as --input may be)."""
    import os
    import threading

    fifo = tmp_path / "labels.fifo"
    os.mkfifo(fifo)

    def feed() -> None:
        with fifo.open("wb") as fh:
            fh.write((data / "labels.jsonl").read_bytes())

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    assert main(["replay", "--config", str(data / "driftline.yaml"), "--input", str(data / "events.jsonl"),
                 "--labels", str(fifo), "--out", str(tmp_path / "o")]) == 0
    writer.join(timeout=60)
    assert read(tmp_path / "o" / "reports.jsonl") == out["reports"]
    assert read(tmp_path / "o" / "dlq.jsonl") == [{**d, "topic": str(fifo)} if d["topic"].endswith("labels.jsonl")
                                                  else d for d in out["dlq"]]
