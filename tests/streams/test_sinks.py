"""JsonlSink (streams/sinks.py) over real files: a replay's outputs replace the previous ones
only whole; a close that fails leaves no temporary files behind."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest
from driftline.streams.exceptions import InputError
from driftline.streams.sinks import JsonlSink

NAMES = ("reports", "alerts", "retrain", "dlq")


def previous_results(out: Path) -> dict[str, bytes]:
    out.mkdir()
    for name in NAMES:
        (out / f"{name}.jsonl").write_bytes(b'{"previous":"%s"}\n' % name.encode())
    return files(out)


def files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}


def a_run(out: Path) -> JsonlSink:
    sink = JsonlSink(out, atomic=True)
    big = {"pad": "x" * 2000}        # stays in the write buffer (8 KiB) until close flushes it
    sink.reports([big])
    sink.alerts([big])
    sink.retrain([big])
    return sink


def test_a_close_whose_flush_fails_drops_the_temporary_files(tmp_path):
    out = tmp_path / "out"
    before = previous_results(out)
    sink = a_run(out)
    assert sorted(p.name for p in out.glob(".*.tmp")) == sorted(f".{n}.jsonl.tmp" for n in NAMES)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    # a real write failure: no file may grow past 1000 bytes, so each buffered flush fails
    # (EFBIG; Python ignores SIGXFSZ) as it would on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (1000, hard))
    try:
        with pytest.raises(OSError, match="too large"):
            sink.close()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert sorted(p.name for p in out.iterdir()) == sorted(before)     # no .tmp left
    assert files(out) == before                                        # the previous results
    assert all(fh.closed for fh in sink._files.values())


def test_a_rename_that_fails_leaves_the_previous_results_and_no_temporary_files(tmp_path):
    out = tmp_path / "out"
    before = previous_results(out)
    (out / "reports.jsonl").unlink()
    (out / "reports.jsonl").mkdir()          # the first rename fails: a non-empty directory
    (out / "reports.jsonl" / "keep").write_bytes(b"kept")
    del before["reports.jsonl"]
    sink = a_run(out)
    with pytest.raises(InputError, match="cannot write the outputs there"):
        sink.close()
    assert sorted(p.name for p in out.iterdir()) == sorted([*before, "reports.jsonl"])
    assert files(out) == before
    assert (out / "reports.jsonl" / "keep").read_bytes() == b"kept"


def test_a_close_that_succeeds_replaces_every_file(tmp_path):
    out = tmp_path / "out"
    previous_results(out)
    a_run(out).close()
    after = files(out)
    assert sorted(after) == sorted(f"{n}.jsonl" for n in NAMES)      # and no .tmp
    assert after["dlq.jsonl"] == b"" and after["reports.jsonl"].startswith(b'{"pad":"xx')


def test_a_live_sink_appends_and_flushes_each_call(tmp_path):
    """A Faust app's sink (not atomic): a restarted app adds to the earlier outputs, and what
    the sink was handed is on disk before the call returns (a crash then loses none of it)."""
    out = tmp_path / "out"
    before = previous_results(out)
    sink = JsonlSink(out)
    sink.alerts([{"alert": 1}])
    sink.retrain([{"request": 1}])
    now = files(out)      # the sink is still open: nothing may wait in its buffers
    assert now["alerts.jsonl"] == before["alerts.jsonl"] + b'{"alert":1}\n'
    assert now["retrain.jsonl"] == before["retrain.jsonl"] + b'{"request":1}\n'
    assert now["reports.jsonl"] == before["reports.jsonl"]
    sink.close()
    assert files(out) == now


def test_a_live_sink_starts_a_new_line_after_one_a_crash_cut_short(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "alerts.jsonl").write_bytes(b'{"alert":1}\n{"alert":2')       # the last line cut short
    sink = JsonlSink(out)
    sink.alerts([{"alert": 3}])
    sink.close()
    assert (out / "alerts.jsonl").read_bytes().splitlines() == [b'{"alert":1}', b'{"alert":2', b'{"alert":3}']
