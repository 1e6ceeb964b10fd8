"""The `driftline` command end to end over real files (DESIGN 3.3): reference build, validate,
replay; exit 2 with one line on user error, never a traceback."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import orjson
import pytest
from driftline.schemas.validate import validate_instance
from driftline.streams.cli import main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftline import synth

KINDS = {"reports": "window_report", "alerts": "alert", "retrain": "retrain_request", "dlq": "dlq_record"}


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "driftline", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def run_main(capsys, *args: str) -> tuple[int, str]:
    """The command in this process (exit code, stderr): what ``python -m driftline`` does
    without an interpreter's start-up per case (see test_user_errors_in_a_process_of_their_own)."""
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:   # argparse's usage errors
        code = exc.code
    return code, capsys.readouterr().err


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("demo")
    rng = np.random.default_rng(3)
    synth.write_lines(d / "training.jsonl", synth.training_rows(rng, 10_000))
    drift = synth.Drift(at=10_000, mean_shift=0.5, category_share=0.25, score_shift=0.6)
    synth.write_lines(d / "events.jsonl", synth.events(rng, 20_000, rate=100.0, drift=drift))
    (d / "driftline.yaml").write_text(synth.config_yaml("reference.json"))
    assert main(["reference", "build", "--config", str(d / "driftline.yaml"), "--monitor", "fraud",
                 "--input", str(d / "training.jsonl"), "--out", str(d / "reference.json")]) == 0
    return d


def read(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_replay_writes_valid_outputs_and_catches_the_drift(demo, tmp_path):
    proc = run_cli("replay", "--config", str(demo / "driftline.yaml"), "--input", str(demo / "events.jsonl"),
                   "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    out = {name: read(tmp_path / "out" / f"{name}.jsonl") for name in KINDS}
    for name, kind in KINDS.items():
        for item in out[name]:
            validate_instance(kind, item)
    overall = [r for r in out["reports"] if r["model_version"] is None]
    assert sum(r["count"] for r in overall) == 20_000
    assert len(out["reports"]) == 2 * len(overall)       # one version (v3) + all versions
    firing = {(a["subject"], a["window_start"]) for a in out["alerts"] if a["status"] == "firing"}
    # event 10,000 at 100 events/s is 10:01:40, the first drifted window
    assert firing == {(s, "2026-11-25T10:01:40Z") for s in ("n00_normal", "country", "prediction")}
    assert len(out["retrain"]) == 1 and sorted(out["retrain"][0]["reasons"]) == sorted(
        a["alert_id"] for a in out["alerts"])
    assert out["dlq"] == []


SHIFTS = {
    "n00_normal": synth.Drift(at=1_500, mean_shift=0.5),
    "country": synth.Drift(at=1_500, category_share=0.25),
    "prediction": synth.Drift(at=1_500, score_shift=0.6),
}


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("subject", sorted(SHIFTS))
def test_a_change_mid_window_is_flagged_in_the_first_complete_window_after_it(demo, tmp_path, subject, seed):
    """One shift at a time, starting in the middle of a window (event 1,500 at 100 events/s,
    windows of 10 s = 1,000 events): the window of 10:00:20, the first one entirely after
    the change, flags that subject and no other feature; the window before the change flags
    nothing. (The synthetic model scores from the numeric features, so a shift of n00 also
    moves the prediction: that drift is real and may be flagged too.)"""
    lines = synth.events(np.random.default_rng(100 + seed), 4_000, rate=100.0, drift=SHIFTS[subject])
    synth.write_lines(tmp_path / "events.jsonl", lines)
    assert main(["replay", "--config", str(demo / "driftline.yaml"), "--input", str(tmp_path / "events.jsonl"),
                 "--out", str(tmp_path / "out")]) == 0
    by_start = {r["window_start"]: r for r in read(tmp_path / "out" / "reports.jsonl") if r["model_version"] is None}

    def flagged(report: dict) -> set[str]:
        return set(report["drifted_features"]) | ({"prediction"} if report["prediction"]["drift"] else set())

    assert flagged(by_start["2026-11-25T10:00:00Z"]) == set()
    after = flagged(by_start["2026-11-25T10:00:20Z"])
    assert subject in after and after - {subject} <= ({"prediction"} if subject == "n00_normal" else set())


def test_replay_is_deterministic(demo, tmp_path):
    for name in ("a", "b"):
        assert main(["replay", "--config", str(demo / "driftline.yaml"), "--input", str(demo / "events.jsonl"),
                     "--out", str(tmp_path / name)]) == 0
    for f in ("reports", "alerts", "retrain"):
        assert (tmp_path / "a" / f"{f}.jsonl").read_bytes() == (tmp_path / "b" / f"{f}.jsonl").read_bytes()


def test_a_rebuilt_reference_gives_the_same_windows_other_report_ids(demo, tmp_path):
    """A report id names one content: a window judged under another reference (after
    `run --discard-mismatched-state`, say) is another report."""
    cfg = tmp_path / "driftline.yaml"
    cfg.write_text((demo / "driftline.yaml").read_text())
    train = demo / "training.jsonl"
    (tmp_path / "t.jsonl").write_bytes(b"\n".join(train.read_bytes().splitlines()[:5000]))
    assert main(["reference", "build", "--config", str(cfg), "--monitor", "fraud", "--input", str(tmp_path / "t.jsonl"),
                 "--out", str(tmp_path / "reference.json")]) == 0
    reports = {}
    for name, config in (("old", demo / "driftline.yaml"), ("new", cfg)):
        assert main(["replay", "--config", str(config), "--input", str(demo / "events.jsonl"),
                     "--out", str(tmp_path / name)]) == 0
        reports[name] = read(tmp_path / name / "reports.jsonl")
    windows = [[(r["window_start"], r["model_version"], r["count"]) for r in reports[n]] for n in ("old", "new")]
    assert windows[0] == windows[1]
    assert not {r["report_id"] for r in reports["old"]} & {r["report_id"] for r in reports["new"]}


BAD_LINES = st.sampled_from([
    b"not json", b"[1]", b"42", b'"text"', b"{", b'{"timestamp": 1}', b'{"event_id": "x"}',
    b'{"event_id": "x", "timestamp": "soon"}', b'{"event_id": "x", "timestamp": NaN}',
    b'{"event_id": "x", "timestamp": 1, "features": {"n00_normal": "1.5"}}',
    b'{"event_id": "x", "timestamp": 1, "features": {"n00_normal": true}}',
    b'{"event_id": "x", "timestamp": 1, "features": {"country": ["DE"]}}',
    b'{"event_id": "x", "timestamp": 1, "features": 7}',
    b'{"event_id": "x", "timestamp": 1e999}', b"\xff\xfe\x00",
    # times whose windows Python's datetime cannot write, or beyond int64 milliseconds
    b'{"event_id": "x", "timestamp": 1e12}', b'{"event_id": "x", "timestamp": -1e11}',
    b'{"event_id": "x", "timestamp": 1e300}', b'{"event_id": "x", "timestamp": "9999-12-31T23:59:59Z"}',
    b'{"event_id": "x", "timestamp": "0001-01-01T00:00:00Z"}',
])


def _replay_lines(demo: Path, d: Path, lines: list[bytes]) -> tuple[list[dict], list[dict]]:
    """Replay ``lines`` with the demo config: (the dead letters, the all-versions reports)."""
    (d / "events.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    assert main(["replay", "--config", str(demo / "driftline.yaml"), "--input", str(d / "events.jsonl"),
                 "--out", str(d / "out")]) == 0
    reports = [r for r in read(d / "out" / "reports.jsonl") if r["model_version"] is None]
    return read(d / "out" / "dlq.jsonl"), reports


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(st.one_of(st.integers(0, 199), BAD_LINES), min_size=1, max_size=120))
def test_malformed_events_never_crash_replay_and_all_reach_the_dlq(demo, tmp_path_factory, plan):
    good = synth.events(np.random.default_rng(0), 200, rate=10.0)
    lines = [good[p] if isinstance(p, int) else p for p in plan]
    dlq, reports = _replay_lines(demo, tmp_path_factory.mktemp("mixed"), lines)
    bad = [i for i, p in enumerate(plan) if not isinstance(p, int)]
    assert [x["offset"] for x in dlq] == bad                       # event for event, in order
    assert all(x["reason"] and x["detail"] for x in dlq)
    assert [x["raw"].encode() for x in dlq if b"\xff" not in lines[x["offset"]]] == \
        [lines[i] for i in bad if b"\xff" not in lines[i]]
    # every line is counted once: in a window, as late (its window had closed), or in the DLQ
    assert sum(r["count"] + r["late"] for r in reports) + len(dlq) == len(lines)
    if reports:   # with no valid event at all there is no window to report them with
        assert sum(r["invalid"] for r in reports) == len(dlq)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
PATHS = [("event_id",), ("timestamp",), ("model_version",), ("features",), ("features", "n00_normal"),
         ("features", "country"), ("prediction",), ("prediction", "score")]


@st.composite
def mutated_event(draw) -> bytes:
    """A valid event with a random JSON value (or nothing) at one of the paths the monitor reads."""
    event = orjson.loads(synth.events(np.random.default_rng(draw(st.integers(0, 9))), 1, rate=10.0)[0])
    path = draw(st.sampled_from(PATHS))
    holder = event
    for key in path[:-1]:
        holder = holder[key]
    if draw(st.booleans()):
        holder[path[-1]] = draw(JSON_VALUES)
    else:
        holder.pop(path[-1], None)
    return json.dumps(event, ensure_ascii=False).encode()   # integers beyond 64 bits too


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(mutated_event(), min_size=1, max_size=30))
def test_events_with_any_value_at_any_path_are_each_counted_once(demo, tmp_path_factory, lines):
    """Whatever value lands wherever the monitor reads, replay never crashes and each event is
    either in a window (or late) or in the DLQ with a reason, exactly once."""
    dlq, reports = _replay_lines(demo, tmp_path_factory.mktemp("mutated"), lines)
    offsets = [x["offset"] for x in dlq]
    assert offsets == sorted(set(offsets)) and all(x["reason"] and x["detail"] for x in dlq)
    assert [x["raw"].encode() for x in dlq] == [lines[i] for i in offsets]
    assert sum(r["count"] + r["late"] for r in reports) + len(dlq) == len(lines)


CONFIG_ERRORS = [
    ("monitors: [{name: Fraud, source: t, features: {x: {type: numeric}}}]", "monitors[0].name"),
    ("monitors: [{name: f, source: t, features: {x: {type: numeric}}, window: {size: 5 minutes}}]",
     "monitors[0].window.size"),
    ("monitors: [{name: f, source: t, featurs: {x: {type: numeric}}}]", "monitors[0].featurs"),
    ("monitors: [{name: f, source: t, features: {x: {type: text}}}]", "monitors[0].features.x.type"),
    ("monitors: []", "monitors"),
    ("monitors: [{name: f, source: t, features: {x: {type: numeric}}}]\nkafka: [1]", "kafka"),
    ("monitors: [{name: f, source: t, features: {x: {type: numeric, min: 3, max: 1}}}]",
     "monitors[0].features.x.min"),
    ("monitors: [{name: f, source: t, features: {x: {type: numeric}}, drift: {fdr_q: 2}}]", "monitors[0].drift.fdr_q"),
    ("monitors: [{name: f, source: t, features: {x: {type: numeric}}, window: {size: 7s, slide: 2s}}]",
     "monitors[0].window.size"),
    ("monitors: [{name: f, source: t, features: {x: {type: numeric}}, window: {size: 0.0001s}}]",
     "monitors[0].window.size"),
    ("monitors: [{name: f, source: t, features: {x: {type: numeric}}, window: {size: 5s, grace: 99999999999d}}]",
     "monitors[0].window.grace"),
    ("monitors: [{name: f, source: {predictions: ''}, features: {x: {type: numeric}}}]",
     "monitors[0].source.predictions"),
    ("monitors: [{name: f, source: t, features: {x: {type: numeric}}}]\nhttp: {port: 70000}", "http.port"),
    ("monitors: [{name: f, source: t, features: {x: {type: numeric}}}]\nlimits: {max_future: soon}",
     "limits.max_future"),
    ("monitors: [{name: f, source: t, features: {x: {type: numeric}}}]\nlimits: {max_model_versions: 0}",
     "limits.max_model_versions"),
    ("monitors: {name: f}", "monitors"),
    ("monitors: [{name: f, source: t, features: {x: {type: numeric}}}", "{cfg}"),   # YAML syntax: the file
]


@pytest.mark.parametrize(("text", "where"), CONFIG_ERRORS)
@pytest.mark.parametrize("command", ["validate", "replay"])
def test_bad_config_exits_2_with_one_line_naming_the_key(tmp_path, capsys, text, where, command):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text + "\n")
    args = ["--config", str(cfg)]
    if command == "replay":
        (tmp_path / "e.jsonl").write_text("")
        args += ["--input", str(tmp_path / "e.jsonl"), "--out", str(tmp_path / "out")]
    code, stderr = run_main(capsys, command, *args)
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"driftline: error: {where.format(cfg=cfg)}: "), lines[0]


@pytest.mark.parametrize(("args", "fragment"), [
    (["replay", "--config", "{cfg}", "--input", "{dir}/missing.jsonl", "--out", "{dir}/o"], "missing.jsonl"),
    (["reference", "build", "--config", "{cfg}", "--monitor", "nope", "--input", "{dir}/t.jsonl",
      "--out", "{dir}/r.json"], "no monitor named 'nope' in {cfg} (its monitors: 'fraud')"),
    (["reference", "build", "--config", "{cfg}", "--monitor", "frod", "--input", "{dir}/t.jsonl",
      "--out", "{dir}/r.json"], """(its monitors: 'fraud'); did you mean "fraud"?"""),
    (["replay", "--config", "{cfg}", "--monitor", "frod", "--input", "{dir}/t.jsonl", "--out", "{dir}/o"],
     """no monitor named 'frod' in {cfg} (its monitors: 'fraud'); did you mean "fraud"?"""),
    (["reference", "build", "--config", "{cfg}", "--monitor", "fraud", "--input", "{dir}/t.txt",
      "--out", "{dir}/r.json"], "t.txt"),
    (["validate", "--config", "{dir}/nothing.yaml"], "nothing.yaml"),
    (["replay", "--config", "{cfg}", "--input", "{dir}/t.txt", "--out", "{dir}/t.txt"], "cannot write the outputs"),
    (["replay", "--config", "{cfg}", "--input", "{dir}/t.txt", "--out", "{dir}/t.txt/o"],
     "cannot write the outputs there ({dir}/t.txt is a file, not a directory)"),
    (["replay", "--config", "{cfg}", "--input", "{dir}/o/reports.jsonl", "--out", "{dir}/o"],
     "is also an output (" "{dir}/o/reports.jsonl): writing it would destroy the input"),
    (["replay", "--config", "{cfg}", "--input", "{dir}/t.jsonl", "--labels", "{dir}", "--out", "{dir}/o"],
     "is a directory, not a file"),
    (["replay", "--config", "{cfg}", "--input", "{dir}/broken.parquet", "--out", "{dir}/o"],
     "is a Parquet file; replay reads JSON lines"),
    (["replay", "--config", "{cfg}", "--input", "{dir}/misspelt.csv", "--out", "{dir}/o"],
     "looks like a CSV table; replay reads JSON lines"),
    (["replay", "--config", "{cfg}", "--input", "{dir}/truncated.jsonl.gz", "--out", "{dir}/o"],
     "truncated.jsonl.gz: cannot read it (Compressed file ended"),
    (["replay", "--config", "{cfg}", "--input", "{dir}/corrupt.jsonl.gz", "--out", "{dir}/o"],
     "corrupt.jsonl.gz: cannot read it (Error -3 while decompressing data"),
    (["replay", "--config", "{cfg}", "--input", "{dir}/t.jsonl", "--labels", "{dir}/t.jsonl", "--out", "{dir}/o"],
     "--labels {dir}/t.jsonl is the --input file"),
    (["reference", "build", "--config", "{cfg}", "--monitor", "fraud", "--input", "{dir}/t.jsonl",
      "--out", "{dir}/t.jsonl"], "--input {dir}/t.jsonl is also an output"),
    (["reference", "build", "--config", "{cfg}", "--monitor", "fraud", "--input", "{dir}/t.jsonl",
      "--out", "{dir}/t.txt/r.json"], "cannot write the reference there (" "{dir}/t.txt is a file, not a directory)"),
    (["reference", "build", "--config", "{cfg}", "--monitor", "fraud", "--input", "{dir}/long.csv",
      "--out", "{dir}/r.json"], "long.csv:3: more fields than the header's 2"),
    (["reference", "build", "--config", "{cfg}", "--monitor", "fraud", "--input", "{dir}/short.csv",
      "--out", "{dir}/r.json"], "short.csv:2: fewer fields than the header's 2"),
    (["reference", "build", "--config", "{cfg}", "--monitor", "fraud", "--input", "{dir}/strings.jsonl",
      "--out", "{dir}/r.json"], "feature 'n00_normal', row 2: '1.5' is a string, not a number"),
    (["reference", "build", "--config", "{cfg}", "--monitor", "fraud", "--input", "{dir}/latin1.csv",
      "--out", "{dir}/r.json"], "not UTF-8"),
    (["reference", "build", "--config", "{cfg}", "--monitor", "fraud", "--input", "{dir}/broken.parquet",
      "--out", "{dir}/r.json"], "not a readable Parquet file"),
    (["reference", "build", "--config", "{cfg}", "--monitor", "fraud", "--input", "{dir}/t.jsonl",
      "--out", "{dir}"], "is a directory"),
    (["reference", "build", "--config", "{cfg}", "--monitor", "fraud", "--input", "{dir}/misspelt.csv",
      "--out", "{dir}/r.json"], "feature 'n00_normal': no row has it"),
    (["reference", "build", "--config", "{cfg}", "--monitor", "fraud", "--input", "{dir}/renamed.jsonl",
      "--out", "{dir}/r.json"], "prediction: no row has it (looked for 'prediction.score' and column 'prediction')"),
    (["replay", "--config", "{cfg}"], "required"),
    (["frobnicate"], "invalid choice"),
])
def test_user_errors_exit_2_with_one_line(demo, tmp_path, capsys, args, fragment):
    (tmp_path / "t.txt").write_text("x")
    (tmp_path / "latin1.csv").write_bytes("country\nEspa\xf1a\n".encode("latin-1"))
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    (tmp_path / "misspelt.csv").write_text("n00_nromal,country\n1.0,DE\n2.0,FR\n")
    (tmp_path / "t.jsonl").write_bytes((demo / "training.jsonl").read_bytes())
    (tmp_path / "renamed.jsonl").write_bytes((demo / "training.jsonl").read_bytes().replace(b'"prediction"', b'"score"'))
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "reports.jsonl").write_bytes((demo / "events.jsonl").read_bytes())
    packed = gzip.compress((demo / "events.jsonl").read_bytes())
    (tmp_path / "truncated.jsonl.gz").write_bytes(packed[:5000])
    (tmp_path / "corrupt.jsonl.gz").write_bytes(packed[:200] + bytes(b ^ 0x5A for b in packed[200:260]) + packed[260:])
    (tmp_path / "long.csv").write_text("n00_normal,country\n1.0,DE\n2.0,FR,x\n")
    (tmp_path / "short.csv").write_text("n00_normal,country\n1.0\n2.0,FR\n")
    rows = [orjson.loads(r) for r in synth.training_rows(np.random.default_rng(1), 3)]
    rows[1]["n00_normal"] = "1.5"
    (tmp_path / "strings.jsonl").write_bytes(b"\n".join(map(orjson.dumps, rows)))
    inputs = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    args = [a.format(cfg=demo / "driftline.yaml", dir=tmp_path) for a in args]
    code, stderr = run_main(capsys, *args)
    assert code == 2
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert fragment.format(dir=tmp_path, cfg=demo / "driftline.yaml") in stderr
    assert {p: p.read_bytes() for p in inputs} == inputs, "an input file was changed"


@pytest.mark.parametrize("args", [["frobnicate"], ["validate", "--config", "{dir}/nothing.yaml"],
                                  ["validate", "--config", "{dir}/bad.yaml"]])
def test_user_errors_in_a_process_of_their_own(tmp_path, args):
    """As the in-process cases above, through the console entry point: exit 2, one line, no
    traceback (the others run in this process, where a traceback would fail them too)."""
    (tmp_path / "bad.yaml").write_text("monitors: [{name: f, source: t, features: {x: {type: numbr}}}]\n")
    proc = run_cli(*[a.format(dir=tmp_path) for a in args])
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr, proc.stderr


def test_gzip_and_a_byte_order_mark_read_as_the_plain_file(demo, tmp_path):
    plain = demo / "events.jsonl"
    (tmp_path / "events.jsonl.gz").write_bytes(gzip.compress(plain.read_bytes()))
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    outs = {}
    for name, path in (("plain", plain), ("gzip", tmp_path / "events.jsonl.gz"), ("bom", tmp_path / "bom.jsonl")):
        proc = run_cli("replay", "--config", str(demo / "driftline.yaml"), "--input", str(path),
                       "--out", str(tmp_path / name))
        assert proc.returncode == 0, proc.stderr
        outs[name] = [(tmp_path / name / f).read_bytes() for f in ("reports.jsonl", "alerts.jsonl", "dlq.jsonl")]
    assert outs["plain"][0] and outs["plain"][2] == b""
    assert outs["gzip"] == outs["plain"] and outs["bom"] == outs["plain"]


def test_a_failed_replay_leaves_the_previous_outputs_as_they_were(demo, tmp_path):
    out = tmp_path / "o"
    assert run_cli("replay", "--config", str(demo / "driftline.yaml"), "--input", str(demo / "events.jsonl"),
                   "--out", str(out)).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(before) == ["alerts.jsonl", "dlq.jsonl", "reports.jsonl", "retrain.jsonl"] and before["reports.jsonl"]
    proc = run_cli("replay", "--config", str(demo / "driftline.yaml"), "--input", str(tmp_path / "typo.jsonl"),
                   "--out", str(out))
    assert proc.returncode == 2 and "typo.jsonl" in proc.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before    # no .tmp files left either


def test_validate_reports_a_missing_and_a_stale_reference(tmp_path, demo):
    (tmp_path / "driftline.yaml").write_text(synth.config_yaml("reference.json"))
    proc = run_cli("validate", "--config", str(tmp_path / "driftline.yaml"))
    assert proc.returncode == 2 and "reference not found" in proc.stderr
    ref = orjson.loads((demo / "reference.json").read_bytes())
    del ref["features"]["country"]
    (tmp_path / "reference.json").write_bytes(orjson.dumps(ref))
    proc = run_cli("validate", "--config", str(tmp_path / "driftline.yaml"))
    assert proc.returncode == 2 and "'country'" in proc.stderr and "rebuild" in proc.stderr
    (tmp_path / "reference.json").write_bytes((demo / "reference.json").read_bytes())
    proc = run_cli("validate", "--config", str(tmp_path / "driftline.yaml"))
    assert proc.returncode == 0
    # valid, but on Kafka its performance section has no labels topic to judge from
    assert proc.stdout.splitlines()[1] == (
        "warning: monitors ['fraud'] have a `performance:` section but no `source.labels` topic, so run "
        "judges no performance (replay does, with --labels)")


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_reference_build_reads_csv_jsonl_and_parquet(tmp_path, fmt):
    rows = [orjson.loads(r) for r in synth.training_rows(np.random.default_rng(1), 2000)]
    path = tmp_path / f"train.{fmt}"
    if fmt == "jsonl":
        path.write_bytes(b"\n".join(orjson.dumps(r) for r in rows))
    elif fmt == "csv":
        import csv

        with path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    (tmp_path / "driftline.yaml").write_text(synth.config_yaml("reference.json"))
    assert main(["reference", "build", "--config", str(tmp_path / "driftline.yaml"), "--monitor", "fraud",
                 "--input", str(path), "--out", str(tmp_path / "reference.json")]) == 0
    ref = orjson.loads((tmp_path / "reference.json").read_bytes())
    assert ref["features"]["n00_normal"]["count"] == 2000
    assert ref["features"]["country"]["categories"][0] == "DE" or "DE" in ref["features"]["country"]["categories"]
    # the label column gives the performance baseline (CSV spells the labels "0" / "1")
    assert ref["performance"]["task"] == "binary" and ref["performance"]["count"] == 2000
    assert ref["performance"]["correct"] == sum((r["prediction"] >= 0.5) == r["label"] for r in rows)
    assert main(["validate", "--config", str(tmp_path / "driftline.yaml")]) == 0


def test_integer_categories_stored_as_floats_read_as_the_live_events_send_them(tmp_path):
    # pandas / Parquet keep an integer column with nulls as floats: 1.0 is category "1", as a
    # live event's 1 is; 1.5 is refused, as the live decoder refuses it
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [orjson.loads(r) for r in synth.training_rows(np.random.default_rng(1), 300)]
    for i, r in enumerate(rows):
        r["country"] = None if i % 10 == 0 else float(i % 3)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "train.parquet")
    (tmp_path / "driftline.yaml").write_text(synth.config_yaml("reference.json"))
    build = ["reference", "build", "--config", str(tmp_path / "driftline.yaml"), "--monitor", "fraud",
             "--input", str(tmp_path / "train.parquet"), "--out", str(tmp_path / "reference.json")]
    assert main(build) == 0
    ref = orjson.loads((tmp_path / "reference.json").read_bytes())
    assert sorted(ref["features"]["country"]["categories"]) == ["0", "1", "2"]
    rows[5]["country"] = 1.5
    (tmp_path / "half.jsonl").write_bytes(b"\n".join(orjson.dumps(r) for r in rows))
    proc = run_cli(*build[:-4], "--input", str(tmp_path / "half.jsonl"), "--out", str(tmp_path / "r2.json"))
    assert proc.returncode == 2 and "feature 'country', row 6: 1.5 is not a category" in proc.stderr
    # a boolean column is the categories "false" and "true", as live events' booleans are
    for i, r in enumerate(rows):
        r["country"] = None if i % 10 == 0 else i % 3 == 0
    (tmp_path / "bool.jsonl").write_bytes(b"\n".join(orjson.dumps(r) for r in rows))
    assert main([*build[:-4], "--input", str(tmp_path / "bool.jsonl"), "--out", str(tmp_path / "reference.json")]) == 0
    assert sorted(orjson.loads((tmp_path / "reference.json").read_bytes())["features"]["country"]["categories"]) == [
        "false", "true"]


def test_the_summary_counts_events_once_whatever_the_monitors_and_blank_lines(demo, tmp_path):
    text = synth.config_yaml(str(demo / "reference.json"))
    monitor = text[text.index("  - name: fraud"):text.index("kafka:")]
    (tmp_path / "two.yaml").write_text(text.replace("kafka:", monitor.replace("name: fraud", "name: fraud2") + "kafka:"))
    lines = (demo / "events.jsonl").read_bytes().splitlines()[:2500]     # 25 s: two windows close
    late = lines[0].replace(b'"e0"', b'"again"')          # its window closed: late for each monitor
    (tmp_path / "e.jsonl").write_bytes(b"\n".join([*lines[:50], b"", b"not json", b"", b"[1]", *lines[50:], late]) + b"\n")
    proc = run_cli("replay", "--config", str(tmp_path / "two.yaml"), "--input", str(tmp_path / "e.jsonl"),
                   "--out", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    # late per monitor: each has its own windows and grace
    assert proc.stdout.startswith("2503 events (2 invalid, late: fraud 1, fraud2 1)"), proc.stdout
    assert len(read(tmp_path / "o" / "dlq.jsonl")) == 4     # each monitor's dead letters


def test_a_csv_column_of_whole_decimals_reads_as_integers(tmp_path):
    # pandas writes an integer column with nulls as "1.0" in CSV: those are the categories
    # "0", "1", "2" that live events send as 0, 1, 2 (or 1.0); a column with a true decimal
    # ("1.5") is text, kept as it is
    import csv

    rows = [orjson.loads(r) for r in synth.training_rows(np.random.default_rng(1), 300)]

    def build(country) -> list[str]:
        for i, r in enumerate(rows):
            r["country"] = country(i)
        with (tmp_path / "train.csv").open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        assert main(["reference", "build", "--config", str(tmp_path / "driftline.yaml"), "--monitor", "fraud",
                     "--input", str(tmp_path / "train.csv"), "--out", str(tmp_path / "reference.json")]) == 0
        return sorted(orjson.loads((tmp_path / "reference.json").read_bytes())["features"]["country"]["categories"])

    (tmp_path / "driftline.yaml").write_text(synth.config_yaml("reference.json"))
    assert build(lambda i: None if i % 10 == 0 else float(i % 3)) == ["0", "1", "2"]
    assert build(lambda i: ["1.0", "1.5"][i % 2]) == ["1.0", "1.5"]
    assert build(lambda i: ["7", "-3.00", "+4."][i % 3]) == ["-3", "4", "7"]
    assert build(lambda i: [True, False][i % 2]) == ["false", "true"]        # pandas writes True



def test_a_model_version_per_event_is_pooled_beyond_the_cap(demo, tmp_path):
    """``fields.model_version`` pointing at an id: at most ``limits.max_model_versions``
    per-version reports per window, every one complete; the all-versions reports are those of
    a replay without the cap; the summary warns."""
    lines = (demo / "events.jsonl").read_bytes().splitlines()[:300]    # 3 windows of 100 events
    ids = [orjson.dumps({**orjson.loads(line), "model_version": f"req-{i:05d}"}) for i, line in enumerate(lines)]
    (tmp_path / "e.jsonl").write_bytes(b"\n".join(ids) + b"\n")
    text = (demo / "driftline.yaml").read_text().replace("reference.json", str(demo / "reference.json"))
    text = text.replace("size: 10s", "size: 1s")                      # 100 events a window
    outs, said = {}, {}
    for cap in (4, 100_000):
        (tmp_path / f"c{cap}.yaml").write_text(text + f"limits: {{max_model_versions: {cap}}}\n")
        proc = run_cli("replay", "--config", str(tmp_path / f"c{cap}.yaml"), "--input", str(tmp_path / "e.jsonl"),
                       "--out", str(tmp_path / f"o{cap}"))
        assert proc.returncode == 0, proc.stderr
        said[cap] = proc.stdout + proc.stderr
        outs[cap] = {r["report_id"]: r for r in read(tmp_path / f"o{cap}" / "reports.jsonl")}
        for r in outs[cap].values():
            validate_instance("window_report", r)
    capped, free = outs[4], outs[100_000]
    overall = [r for r in capped.values() if r["model_version"] is None]
    assert len(overall) == 3 and all(r["pooled_events"] == 96 for r in overall)
    for r in overall:
        assert {**r, "pooled_events": None} == {**free[r["report_id"]], "pooled_events": None}
    versions = [r for r in capped.values() if r["model_version"] is not None]
    assert len(versions) == 4 * 3
    assert all(r == free[r["report_id"]] for r in versions)       # each one whole
    assert "3 window(s) had more model versions than limits.max_model_versions (4)" in said[4]
    assert "max_model_versions" not in said[100_000]


def test_reference_build_warns_of_bounds_the_training_data_crosses(demo, tmp_path, capsys):
    # n05_normal is drawn from normal(50, 6) (synth): about a fifth of the rows are above 55
    cfg = tmp_path / "c.yaml"
    text = (demo / "driftline.yaml").read_text()
    assert "n05_normal: {type: numeric}" in text
    cfg.write_text(text.replace("n05_normal: {type: numeric}", "n05_normal: {type: numeric, max: 55}")
                   .replace("n00_normal: {type: numeric}", "n00_normal: {type: numeric, min: -10, max: 10}"))
    assert main(["reference", "build", "--config", str(cfg), "--monitor", "fraud",
                 "--input", str(demo / "training.jsonl"), "--out", str(tmp_path / "r.json")]) == 0
    warnings = [line for line in capsys.readouterr().out.splitlines() if line.startswith("warning:")]
    (line,) = warnings                                      # n00_normal's bounds hold every value
    share = float(line.split("'n05_normal': ")[1].split("%")[0]) / 100
    rate = orjson.loads((tmp_path / "r.json").read_bytes())["features"]["n05_normal"]["out_of_range_rate"]
    assert share == pytest.approx(rate, abs=5e-4) and 0.05 < share < 0.5
    assert line.endswith("are outside its [min, max]; out-of-range issues are judged against that rate "
                         "(above it by quality.out_of_range_rate): check the bounds in the config, then build the reference "
                         "again")


def test_replay_warns_when_no_event_has_any_value_it_watches(demo, tmp_path, capsys):
    # label events given as --input: every event valid (an id and a time), none with a feature
    labels = [orjson.dumps({"event_id": f"e{i}", "timestamp": 1795600000 + i, "label": i % 2}) for i in range(100)]
    (tmp_path / "labels.jsonl").write_bytes(b"\n".join(labels))
    args = ["replay", "--config", str(demo / "driftline.yaml"), "--out", str(tmp_path / "o"), "--input"]
    assert main([*args, str(tmp_path / "labels.jsonl")]) == 0
    warnings = [line for line in capsys.readouterr().out.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: monitor 'fraud': no event of {tmp_path / 'labels.jsonl'} had a value (not null) "
                        f"for any of its features or its prediction: check the fields and feature paths of the "
                        f"config (is {tmp_path / 'labels.jsonl'} the labels file?)"]
    # one event with a single value is enough to say nothing
    (tmp_path / "one.jsonl").write_bytes(b"\n".join(
        [orjson.dumps({"event_id": "x", "timestamp": 1795600000, "features": {"channel": "web"}}), *labels]))
    assert main([*args, str(tmp_path / "one.jsonl")]) == 0
    assert "warning:" not in capsys.readouterr().out
