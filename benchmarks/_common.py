"""Shared helpers of the benchmarks: machine description, a discarding sink, cached synthetic
data, statistics and the BENCHMARKS.md section writer. Not a benchmark itself."""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from driftline import synth

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / ".data"
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"


# -- the subject's surroundings --------------------------------------------------------------

class NullSink:
    """An ``OutputSink`` (streams/sinks.py) that discards everything, so only the pipeline is
    measured; it only counts what it was given (consuming the iterables, as a real sink would)."""

    def __init__(self) -> None:
        self.counts = {"reports": 0, "alerts": 0, "retrain": 0, "dlq": 0}

    def reports(self, items: Iterable[dict[str, Any]]) -> None:
        self.counts["reports"] += sum(1 for _ in items)

    def alerts(self, items: Iterable[dict[str, Any]]) -> None:
        self.counts["alerts"] += sum(1 for _ in items)

    def retrain(self, items: Iterable[dict[str, Any]]) -> None:
        self.counts["retrain"] += sum(1 for _ in items)

    def dead(self, monitor: str, letters: Iterable[Any]) -> None:
        self.counts["dlq"] += sum(1 for _ in letters)

    def close(self) -> None:
        pass


def driftline_cli() -> list[str]:
    """The ``driftline`` console script of the running interpreter's environment."""
    script = Path(sys.executable).parent / "driftline"
    return [str(script)] if script.exists() else [sys.executable, "-m", "driftline"]


# -- machine ---------------------------------------------------------------------------------

def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, str]:
    import scipy

    info = {
        "nproc": str(os.cpu_count()),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "orjson": orjson.__version__,
        "os": f"{platform.system()} {platform.release()}",
    }
    try:
        mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        info["memory"] = f"{mem_kb / 2**20:.0f} GiB"
    except (OSError, AttributeError):
        pass
    if "OPENBLAS_CORETYPE" in os.environ:
        info["OPENBLAS_CORETYPE"] = os.environ["OPENBLAS_CORETYPE"]
    return info


def machine_line(info: dict[str, str]) -> str:
    parts = [f"nproc {info['nproc']}", f"CPU {info['cpu']}"]
    if "memory" in info:
        parts.append(f"RAM {info['memory']}")
    parts += [info["os"], f"Python {info['python']}", f"numpy {info['numpy']}",
              f"scipy {info['scipy']}", f"orjson {info['orjson']}"]
    if "OPENBLAS_CORETYPE" in info:
        parts.append(f"OPENBLAS_CORETYPE={info['OPENBLAS_CORETYPE']}")
    return ", ".join(parts)


def git_revision() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
        return rev + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def median(xs: list[float]) -> float:
    return statistics.median(xs)


# -- cached synthetic data -------------------------------------------------------------------

def _fingerprint(*parts: object, synth_source: bool = True) -> str:
    """Key of a cached data set: its parameters and (when it uses it) the synth module's source."""
    h = hashlib.sha256(Path(synth.__file__).read_bytes() if synth_source else b"")
    h.update(repr(parts).encode())
    return h.hexdigest()[:16]


def _stamp_ok(d: Path, key: str) -> bool:
    stamp = d / "STAMP"
    return stamp.exists() and stamp.read_text().strip() == key


def _write_stamp(d: Path, key: str) -> None:
    (d / "STAMP").write_text(key + "\n")


def write_events(path: Path, n: int, seed: int, drift: synth.Drift, rate: float = 100.0,
                 chunk: int = 20_000) -> None:
    """``n`` synthetic prediction events, generated and written in chunks (bounded memory)."""
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        for offset in range(0, n, chunk):
            lines = synth.events(rng, min(chunk, n - offset), rate=rate, drift=drift, offset=offset)
            fh.write(b"\n".join(lines) + b"\n")
    tmp.replace(path)


def synth_dataset(n_events: int, seed: int = 7, training: int = 20_000, regen: bool = False,
                  log=print) -> Path:
    """The 20 numeric + 5 categorical synthetic set under ``.data/``: ``events.jsonl``
    (``n_events`` events at 100 events/s of event time, the demo's drift from the middle on),
    ``training.jsonl``, ``driftline.yaml`` (10 s tumbling windows = 1,000 events each) and
    ``reference.json`` built by ``driftline reference build``. Built once, then reused."""
    drift_at = n_events // 2
    d = DATA / f"synth-{n_events}"
    key = _fingerprint("synth", n_events, seed, training, drift_at)
    if regen or not _stamp_ok(d, key):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        log(f"generating {d} (once; cached) ...")
        rng = np.random.default_rng(seed)
        synth.write_lines(d / "training.jsonl", synth.training_rows(rng, training))
        drift = synth.Drift(at=drift_at, mean_shift=0.5, category_share=0.25, score_shift=0.6)
        write_events(d / "events.jsonl", n_events, seed + 1, drift)
        (d / "driftline.yaml").write_text(synth.config_yaml("reference.json"))
        _write_stamp(d, key)
    ensure_reference(d, log)
    return d


def ensure_reference(d: Path, log=print) -> None:
    """(Re)build ``d/reference.json`` with the CLI unless the current code loads it."""
    ref = d / "reference.json"
    if ref.exists():
        ok = subprocess.run([*driftline_cli(), "validate", "--config", str(d / "driftline.yaml")],
                            capture_output=True, text=True)
        if ok.returncode == 0:
            return
    log(f"building {ref} with `driftline reference build` ...")
    subprocess.run([*driftline_cli(), "reference", "build", "--config", "driftline.yaml", "--monitor",
                    "fraud", "--input", "training.jsonl", "--out", "reference.json"],
                   cwd=d, check=True, stdout=subprocess.DEVNULL)


def head_lines(src: Path, dst: Path, n: int) -> Path:
    """The first ``n`` lines of ``src`` in ``dst`` (a shorter stream with the same events)."""
    if dst.exists() and dst.stat().st_mtime >= src.stat().st_mtime:
        return dst
    tmp = dst.with_suffix(".tmp")
    with src.open("rb") as fin, tmp.open("wb") as fout:
        for i, line in enumerate(fin):
            if i >= n:
                break
            fout.write(line)
    tmp.replace(dst)
    return dst


# -- BENCHMARKS.md ---------------------------------------------------------------------------

_HEADER = """# Benchmarks

Figures of DESIGN.md section 5, measured by the scripts in `benchmarks/` (never by timed tests).
Each section is rewritten by its script with `--write`; the machine is shared and noisy, so
the subject and its baseline are measured in the same run, interleaved, and medians are
reported. Synthetic data is generated once and cached in `benchmarks/.data/` (git-ignored).
"""


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section between ``<!-- BEGIN name -->`` and ``<!-- END name -->``."""
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    block = f"{begin}\n{body.rstrip()}\n{end}\n"
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else _HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block
    BENCHMARKS_MD.write_text(text)
