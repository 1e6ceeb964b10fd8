"""Shared helpers of the ``driftline run`` benchmarks on a real broker (``run_*.py``): the
local Kafka broker, configs and references for the synthetic monitor, worker processes and
their /metrics, a live producer, the machine description and the BENCHMARKS.md section.
Not a benchmark itself.

Every broker and process started here is registered and stopped at exit (also on SIGTERM /
SIGINT), by its own pid only.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
BROKER_PY = ROOT / "kafka" / "broker.py"

sys.path.insert(0, str(ROOT))

from _common import cpu_model as _cpu_model  # noqa: E402  (same folder: scripts run from it)
from _common import git_revision  # noqa: E402, F401  (re-exported for the run_* scripts)
from driftline.streams.changelog import watermarks  # noqa: E402

from driftline import synth  # noqa: E402

# -- things to stop at exit --------------------------------------------------------------------

_PROCS: list[subprocess.Popen] = []
_BROKERS: list[Any] = []


def _cleanup() -> None:
    for p in list(_PROCS):
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()
    _PROCS.clear()
    for b in list(_BROKERS):
        with contextlib.suppress(Exception):
            b.stop()
    _BROKERS.clear()


def _on_signal(signum: int, _frame: Any) -> None:
    _cleanup()
    raise SystemExit(128 + signum)


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def load_broker_module():
    """kafka/broker.py, imported by path (kafka/ is not a package)."""
    name = "driftline_kafka_broker"
    mod = sys.modules.get(name)
    if mod is None:
        spec = importlib.util.spec_from_file_location(name, BROKER_PY)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return mod


def start_broker(log=print):
    broker = load_broker_module()
    k = broker.LocalKafka()
    _BROKERS.append(k)
    k.start()
    log(f"Kafka {broker.KAFKA_VERSION} at {k.bootstrap} (pid {k.pid}), started in {k.startup_seconds:.1f} s")
    return k


def stop_broker(k) -> None:
    k.stop()
    if k in _BROKERS:
        _BROKERS.remove(k)


def spawn(cmd: list[str], log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """A child in its own process group (output to ``log_path``), stopped at exit."""
    fh = log_path.open("ab")
    try:
        p = subprocess.Popen(cmd, stdout=fh, stderr=fh, start_new_session=True,
                             env={**os.environ, **(env or {})}, cwd=ROOT)
    finally:
        fh.close()
    _PROCS.append(p)
    return p


def stop_proc(p: subprocess.Popen, timeout: float = 60.0) -> int:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    if p in _PROCS:
        _PROCS.remove(p)
    return p.returncode


# -- machine -------------------------------------------------------------------------------------

def machine_line() -> str:
    import confluent_kafka
    import faust

    broker = load_broker_module()
    mem = ""
    with contextlib.suppress(OSError, AttributeError):
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f", RAM {kb / 2**20:.0f} GiB"
    try:
        java = subprocess.run([broker.find_java(), "-version"], capture_output=True, text=True).stderr
        java = java.splitlines()[0].replace('"', "")
    except Exception:
        java = "java ?"
    return (f"nproc {os.cpu_count()}, CPU {_cpu_model()}{mem}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, numpy {np.__version__}, orjson {orjson.__version__}, "
            f"confluent-kafka {confluent_kafka.__version__} (librdkafka {confluent_kafka.libversion()[0]}), "
            f"faust-streaming {faust.__version__}, Kafka {broker.KAFKA_VERSION} (KRaft, single node, "
            f"same machine), {java}")


def load_average() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def now_utc() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


# -- config and reference --------------------------------------------------------------------------

def workdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"driftline-{prefix}-"))


def write_setup(d: Path, bootstrap: str, topic: str, group: str, *, window: str = "10s",
                grace: str = "2s", idle: str = "5s", limits: str = "{batch_size: 5000}",
                earliest: bool = True, extra: str = "", n_train: int = 20_000) -> Path:
    """Config + reference (built once in ``d``) for the synthetic monitor on ``topic``."""
    from driftline.schemas.config import load_config
    from driftline.streams.reference_io import build_profile, write_reference

    text = synth.config_yaml("reference.json", window=window, topic=topic, bootstrap=bootstrap)
    text = text.replace("grace: 2s, idle_timeout: 5s", f"grace: {grace}, idle_timeout: {idle}")
    kafka = f"bootstrap.servers: '{bootstrap}', group.id: {group}"
    if earliest:
        kafka += ", auto.offset.reset: earliest"
    text = text.replace(f"kafka: {{bootstrap.servers: '{bootstrap}'}}", f"kafka: {{{kafka}}}")
    text += "http: {port: 0}\n"
    if limits:
        text += f"limits: {limits}\n"
    text += extra
    cfg = d / f"{group}.yaml"
    cfg.write_text(text)
    ref = d / "reference.json"
    if not ref.exists():
        rng = np.random.default_rng(1)
        synth.write_lines(d / "training.jsonl", synth.training_rows(rng, n_train))
        write_reference(build_profile(load_config(cfg).monitors[0], d / "training.jsonl"), ref)
    return cfg


def precreate_topics(k, group: str, outputs: tuple[str, ...] = ("driftline.reports", "driftline.alerts",
                     "driftline.retrain", "driftline.dlq")) -> None:
    """Create the worker's internal and output topics and wait for their leaders, as they exist
    after a worker's first start. Works around a start-up race of ``driftline run`` with topics it
    has just created itself (it can die in its first rebalance: NOT_LEADER_FOR_PARTITION from the
    changelog read in ``on_assign``, or a confluent-kafka ``CallState_get`` assertion)."""
    existing = set(k.admin().list_topics(timeout=10).topics)
    for name in outputs:
        if name not in existing:
            k.create_topic(name, 1)
    k.create_topic(f"driftline.{group}.partials", 1)
    k.create_topic(f"driftline.{group}.changelog", 1,
                   {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"})


# -- workers ------------------------------------------------------------------------------------------

def start_worker(cfg: Path, log_path: Path, prefix: list[str] | None = None) -> subprocess.Popen:
    """``driftline run --config cfg`` (one worker: the pid started is the worker); ``prefix``
    replaces the interpreter (e.g. ``python -m cProfile -o FILE``)."""
    cmd = [*(prefix or [sys.executable]), "-m", "driftline", "run", "--config", str(cfg)]
    return spawn(cmd, log_path)


def log_lines(log_path: Path) -> list[dict]:
    out = []
    for line in log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            with contextlib.suppress(orjson.JSONDecodeError):
                out.append(orjson.loads(line))
    return out


def wait_metrics_url(log_path: Path, proc: subprocess.Popen, timeout: float = 120.0) -> str:
    """The /metrics URL from the worker's "worker started" log line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited ({proc.returncode}):\n{log_path.read_text()[-3000:]}")
        for entry in log_lines(log_path):
            if entry.get("msg") == "worker started":
                return entry["metrics"]
        time.sleep(0.05)
    raise RuntimeError(f"worker did not start within {timeout}s:\n{log_path.read_text()[-3000:]}")


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    ready = url.replace("/metrics", "/readyz")
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited ({proc.returncode})")
        if http_get(ready)[0] == 200:
            return
        time.sleep(0.05)
    raise RuntimeError("worker not ready")


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:
        return 0, ""


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(url: str) -> list[tuple[str, dict[str, str], float]]:
    """Samples of a /metrics page: (name, labels, value); [] when unreachable."""
    code, text = http_get(url)
    if code != 200:
        return []
    out = []
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        m = _SAMPLE.match(line)
        if m:
            labels = dict(_LABEL.findall(m.group(2) or ""))
            out.append((m.group(1), labels, float(m.group(3))))
    return out


def metric_sum(samples, name: str, **match: str) -> float:
    return sum(v for n, lab, v in samples if n == name and all(lab.get(k) == x for k, x in match.items()))


def histogram(samples, name: str, **match: str) -> tuple[list[tuple[float, float]], float, float]:
    """Cumulative buckets [(le, count)], count and sum of a histogram."""
    buckets = [(float(lab["le"]), v) for n, lab, v in samples
               if n == f"{name}_bucket" and all(lab.get(k) == x for k, x in match.items())]
    buckets.sort()
    return buckets, metric_sum(samples, f"{name}_count", **match), metric_sum(samples, f"{name}_sum", **match)


def histogram_delta(after, before) -> tuple[list[tuple[float, float]], float, float]:
    if before is None:
        return after
    b = dict(before[0])
    return [(le, c - b.get(le, 0.0)) for le, c in after[0]], after[1] - before[1], after[2] - before[2]


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus' ``histogram_quantile``: linear interpolation inside the bucket."""
    if not buckets or buckets[-1][1] <= 0:
        return float("nan")
    total = buckets[-1][1]
    rank = q * total
    prev_le, prev_c = 0.0, 0.0
    for le, c in buckets:
        if c >= rank:
            if le == float("inf"):
                return prev_le
            if c == prev_c:
                return le
            return prev_le + (le - prev_le) * (rank - prev_c) / (c - prev_c)
        prev_le, prev_c = le, c
    return buckets[-2][0] if len(buckets) > 1 else float("nan")


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process (seconds)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


# -- producing ---------------------------------------------------------------------------------------

def producer(bootstrap: str, **extra: Any):
    from confluent_kafka import Producer

    return Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "linger.ms": 5,
                     **extra})


def produce_all(p, topic: str, values: list[bytes], keys: list[bytes]) -> None:
    for i, (v, k) in enumerate(zip(values, keys, strict=True)):
        while True:
            try:
                p.produce(topic, v, k)
                break
            except BufferError:
                p.poll(0.05)
        if i % 5000 == 0:
            p.poll(0)
    left = p.flush(120)
    if left:
        raise RuntimeError(f"{left} messages not delivered")


def iso_ms(t: float) -> str:
    ms = round(t * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


class EventPool:
    """Pre-drawn synthetic feature rows (normal and drifted), serialised at send time with the
    event time and id of the moment, so a live stream costs little CPU."""

    def __init__(self, size: int = 20_000, seed: int = 11) -> None:
        rng = np.random.default_rng(seed)
        self.size = size
        self.rows = {False: self._rows(rng, size, None), True: self._rows(
            rng, size, synth.Drift(at=0, mean_shift=0.5, category_share=0.25, score_shift=0.6))}

    @staticmethod
    def _rows(rng, n: int, drift) -> list[tuple[dict, dict]]:
        x, cats, s = synth.draw(rng, n, drift)
        names = list(synth.CATEGORIES)
        xs, cs, ss = x.tolist(), [cats[c].tolist() for c in names], s.tolist()
        out = []
        for i in range(n):
            f = dict(zip(synth.NUMERIC, xs[i], strict=True))
            f.update({c: cs[j][i] for j, c in enumerate(names)})
            out.append((f, {"score": ss[i], "label": int(ss[i] > 0.5)}))
        return out

    def event(self, g: int, t: float, drifted: bool) -> bytes:
        f, pred = self.rows[drifted][g % self.size]
        return orjson.dumps({"event_id": f"e{g}", "model_id": "fraud-scorer", "model_version": "v3",
                             "timestamp": iso_ms(t), "features": f, "prediction": pred})


def live_stream(bootstrap: str, topic: str, rate: float, seconds: float, *, pool: EventPool,
                drifted: Callable[[float], bool] = lambda _t: False,
                tick: Callable[[float], None] | None = None, tick_every: float = 1.0,
                log=print) -> dict[str, float]:
    """Produce ``rate`` events/s for ``seconds`` with event time = the wall-clock time each
    event is due (it is sent as soon as it is due). ``drifted(elapsed)`` picks the drifted
    rows; ``tick(elapsed)`` is called about every ``tick_every`` seconds."""
    p = producer(bootstrap)
    t0 = time.time()
    g = 0
    behind_max = 0.0
    next_tick = 0.0
    while True:
        now = time.time()
        elapsed = now - t0
        if elapsed >= seconds:
            break
        due = int(elapsed * rate)
        if due > g:
            behind_max = max(behind_max, now - (t0 + g / rate))
        while g < due:
            t = t0 + g / rate
            while True:
                try:
                    p.produce(topic, pool.event(g, t, drifted(t - t0)), f"e{g}".encode())
                    break
                except BufferError:
                    p.poll(0.01)
            g += 1
        p.poll(0)
        if tick is not None and elapsed >= next_tick:
            tick(elapsed)
            next_tick += tick_every
        time.sleep(0.005)
    left = p.flush(60)
    if left:
        log(f"warning: {left} events not delivered")
    return {"events": g, "seconds": time.time() - t0, "producer_behind_max_s": behind_max, "t0": t0}


def read_messages(bootstrap: str, topic: str, timeout: float = 30.0) -> list:
    """Every message now in ``topic`` (all partitions)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-reader-{time.time_ns()}",
                  "enable.auto.commit": False})
    try:
        md = c.list_topics(topic, timeout=10)
        if topic not in md.topics or md.topics[topic].error is not None:
            return []
        parts = list(md.topics[topic].partitions)
        ends = {p: watermarks(c, TopicPartition(topic, p), "reading")[1] for p in parts}  # waits out elections
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts if ends[p] > 0])
        got = dict.fromkeys(parts, 0)
        out = []
        deadline = time.monotonic() + timeout
        while any(got[p] < ends[p] for p in parts) and time.monotonic() < deadline:
            for m in c.consume(1000, 0.5):
                if m.error():
                    continue
                out.append(m)
                got[m.partition()] = m.offset() + 1
        return out
    finally:
        c.close()


class CommittedReader:
    """A ``read_committed`` consumer of ``topics`` from their start, on a thread, recording
    (topic, value, wall time of receipt) for every message until :meth:`stop`."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        import threading

        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        self.got: list[tuple[str, bytes, float]] = []
        self._stop = threading.Event()
        self._c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-committed-{time.time_ns()}",
                            "enable.auto.commit": False, "isolation.level": "read_committed",
                            "fetch.wait.max.ms": 10})
        md = self._c.list_topics(timeout=10)
        self._c.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t in topics for p in md.topics[t].partitions])
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            for m in self._c.consume(1000, 0.05):
                if m.error() is None:
                    self.got.append((m.topic(), m.value(), time.time()))

    def stop(self, drain: float = 5.0) -> list[tuple[str, bytes, float]]:
        time.sleep(drain)   # the worker's last transaction is committed on SIGTERM
        self._stop.set()
        self._thread.join(timeout=30)
        self._c.close()
        return self.got


# -- statistics ----------------------------------------------------------------------------------------

def percentile(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    return float(np.percentile(np.asarray(xs, dtype=float), q * 100, method="linear"))


# -- BENCHMARKS.md -----------------------------------------------------------------------------------

SECTION = "kafka_run"
SECTION_TITLE = "## driftline run on a real broker"
_INTRO = (
    "Measured by `benchmarks/run_throughput.py`, `benchmarks/run_latency.py` and "
    "`benchmarks/run_soak.py`: each starts its own single-node Kafka 4.1 broker (KRaft, "
    "`kafka/broker.py`) on the same machine, and `driftline run` as a separate process "
    "(one worker), exactly as a user would. The measurement subsections are rewritten by their "
    "scripts with `--write`; the summary and the profile notes are written by hand from those runs."
)
_ORDER = ("summary", "throughput", "profile", "latency", "soak")


def write_subsection(name: str, body: str) -> None:
    """Replace (or add) subsection ``name`` of this file's section "driftline run on a real
    broker" (between ``<!-- BEGIN kafka_run -->`` and ``<!-- END kafka_run -->``); the rest of
    BENCHMARKS.md is left as it is. The file is re-read right before writing."""
    begin, end = f"<!-- BEGIN {SECTION} -->", f"<!-- END {SECTION} -->"
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else "# Benchmarks\n"
    outer = re.compile(re.escape(begin) + r"\n?(.*?)" + re.escape(end) + r"\n?", re.S)
    m = outer.search(text)
    subs: dict[str, str] = {}
    if m:
        for sm in re.finditer(r"<!-- BEGIN kafka_run:(\w+) -->\n?(.*?)<!-- END kafka_run:\1 -->", m.group(1), re.S):
            subs[sm.group(1)] = sm.group(2).rstrip()
    subs[name] = body.rstrip()
    parts = [begin, SECTION_TITLE, "", _INTRO, ""]
    def rank(key: str) -> tuple[int, str]:
        head = key.split("_")[0]
        return (_ORDER.index(head) if head in _ORDER else 99, key)

    for key in sorted(subs, key=rank):
        parts += [f"<!-- BEGIN {SECTION}:{key} -->", subs[key], f"<!-- END {SECTION}:{key} -->", ""]
    parts[-1] = end
    block = "\n".join(parts) + "\n"
    text = text[:m.start()] + block + text[m.end():] if m else text.rstrip() + "\n\n" + block
    BENCHMARKS_MD.write_text(text)


def read_subsections() -> dict[str, str]:
    """The subsections of this file's section now in BENCHMARKS.md, by key."""
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else ""
    m = re.search(rf"<!-- BEGIN {SECTION} -->\n?(.*?)<!-- END {SECTION} -->", text, re.S)
    if not m:
        return {}
    return {sm.group(1): sm.group(2).rstrip() for sm in re.finditer(
        r"<!-- BEGIN kafka_run:(\w+) -->\n?(.*?)<!-- END kafka_run:\1 -->", m.group(1), re.S)}


def remove_subsection(name: str) -> None:
    """Drop subsection ``name`` (re-reads the file right before writing)."""
    text = BENCHMARKS_MD.read_text()
    pattern = re.compile(rf"<!-- BEGIN {SECTION}:{name} -->\n.*?<!-- END {SECTION}:{name} -->\n\n?", re.S)
    BENCHMARKS_MD.write_text(pattern.sub("", text, count=1))
