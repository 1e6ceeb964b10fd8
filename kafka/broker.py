#!/usr/bin/env python3
"""A real single-node Apache Kafka 4.x broker (KRaft, combined broker+controller).

Used by driftline's integration tests (``tests/integration/conftest.py``) and by
``make demo``.  No Docker, no mocks: the broker is the ``kafka_2.13`` jar from
Maven Central, run with the local Java (17+).  Stdlib only; ``confluent_kafka``
is used when importable (readiness check, :meth:`LocalKafka.create_topic`).

Library use::

    from broker import LocalKafka          # or import this file by path
    with LocalKafka() as k:
        k.create_topic("features", partitions=4)
        print(k.bootstrap)                 # "127.0.0.1:PORT"

Command line::

    python kafka/broker.py jars                     # fetch/cache the jars, print their dir
    python kafka/broker.py start --data-dir DIR     # foreground broker; writes DIR/bootstrap
                                                    # and DIR/pid; stops on SIGTERM/SIGINT

Environment:

``DRIFTLINE_KAFKA_JARS``
    directory of Kafka jars to use/populate instead of
    ``~/.cache/driftline/kafka-jars/<kafka version>``.  May also point at the
    ``libs/`` directory of an unpacked Kafka distribution (then Maven is not needed).
``DRIFTLINE_KAFKA_JVM_OPTS``
    extra JVM options for the broker (appended, whitespace separated).
``DRIFTLINE_KAFKA_CDS``
    ``0`` disables the class-data-sharing archives (see :class:`_Cds`) that cut
    broker startup by ~1.5 s after the first run.
``JAVA_HOME``
    preferred over ``java`` on ``PATH``.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "KAFKA_VERSION",
    "KafkaBrokerExited",
    "KafkaError",
    "KafkaSetupError",
    "KafkaStartError",
    "LocalKafka",
    "default_jars_dir",
    "ensure_jars",
    "find_java",
]

HERE = Path(__file__).resolve().parent
POM = HERE / "pom.xml"
LOG4J_CONFIG = HERE / "log4j2.properties"

log = logging.getLogger("driftline.kafka.broker")

DEFAULT_STARTUP_TIMEOUT = 90.0
DEFAULT_STOP_TIMEOUT = 20.0
DEFAULT_HEAP = "768m"
_JARS_MARKER = ".driftline-jars-complete"

# JVM flags.  The broker is a short-lived, tiny, single-client test broker, so:
#  * SerialGC: no G1 concurrent threads / region setup; plenty for <1 GB heaps.
#  * -UsePerfData: no /tmp/hsperfdata_* files (and a little less startup work).
# These shave a bit off startup but nothing is required on Java 17 (no --add-opens).
_BROKER_JVM_OPTS = (
    "-XX:+UseSerialGC",
    "-XX:-UsePerfData",
    "-Djava.awt.headless=true",
    "-Dfile.encoding=UTF-8",
)
# StorageTool runs for ~1 s: C1-only JIT + SerialGC take it from ~1.1 s to ~0.65 s here.
_TOOL_JVM_OPTS = (
    "-Xmx256m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-Djava.awt.headless=true",
)


class KafkaError(RuntimeError):
    """Base class for local-broker errors."""


class KafkaSetupError(KafkaError):
    """Java/Maven missing, or the jars could not be fetched."""


class KafkaStartError(KafkaError):
    """The broker process failed to start or to become ready in time."""


class _PortClash(Exception):
    """The broker could not bind a port we picked (raced by another process)."""


class KafkaBrokerExited(KafkaStartError):
    """The broker JVM exited during startup (see the log tail in the message)."""


# --------------------------------------------------------------------------- jars


def _pom_property(name: str, pom: Path = POM) -> str:
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ET.parse(pom).getroot()
    el = root.find(f"m:properties/m:{name}", ns)
    if el is None or not (el.text or "").strip():
        raise KafkaSetupError(f"{pom}: missing <properties><{name}>")
    return el.text.strip()


KAFKA_VERSION = _pom_property("kafka.version")


def default_jars_dir() -> Path:
    env = os.environ.get("DRIFTLINE_KAFKA_JARS")
    if env:
        return Path(env).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "driftline" / "kafka-jars" / KAFKA_VERSION


def _pom_digest() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def _jars_ready(d: Path) -> bool:
    if not d.is_dir():
        return False
    marker = d / _JARS_MARKER
    if marker.is_file():
        # Populated by us: valid as long as the pom did not change.
        return marker.read_text().strip() == _pom_digest()
    # Not ours (e.g. DRIFTLINE_KAFKA_JARS=<kafka dist>/libs): accept if it looks complete.
    names = [p.name for p in d.glob("*.jar")]
    return any(n.startswith("kafka_2.13-") for n in names) and any(
        n.startswith("kafka-server-") for n in names
    )


def find_java() -> str:
    """Path of the ``java`` executable (``$JAVA_HOME/bin/java`` first)."""
    home = os.environ.get("JAVA_HOME")
    if home:
        cand = Path(home) / "bin" / "java"
        if os.access(cand, os.X_OK):
            return str(cand)
    java = shutil.which("java")
    if not java:
        raise KafkaSetupError(
            "java not found (set JAVA_HOME or put java on PATH). Kafka 4.x needs Java 17+, "
            "e.g. `apt-get install openjdk-17-jre-headless`."
        )
    return java


def ensure_jars(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return a directory holding Kafka's runtime jars, fetching them with Maven if needed.

    Runs ``mvn dependency:copy-dependencies`` on ``kafka/pom.xml`` only when
    *cache_dir* (default :func:`default_jars_dir`) is not already populated.  The
    download goes to a temporary sibling directory that is renamed into place,
    under a file lock, so concurrent callers and interrupted downloads are safe.
    """
    dest = Path(cache_dir).expanduser() if cache_dir is not None else default_jars_dir()
    if _jars_ready(dest):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    lock_path = dest.parent / f".{dest.name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be downloading
        if _jars_ready(dest):
            return dest
        if dest.exists() and not (dest / _JARS_MARKER).is_file() and any(dest.iterdir()):
            # Never delete a directory we did not create (DRIFTLINE_KAFKA_JARS could be anything).
            raise KafkaSetupError(
                f"{dest} exists but holds no Kafka {KAFKA_VERSION} jars from kafka/pom.xml "
                "(nor kafka_2.13-*.jar + kafka-server-*.jar); point DRIFTLINE_KAFKA_JARS at an "
                "empty or missing directory, or at a Kafka distribution's libs/ directory."
            )
        find_java()  # mvn needs it too; give the clearer message
        mvn = shutil.which("mvn")
        if not mvn:
            raise KafkaSetupError(
                f"Maven (mvn) not found on PATH; it is needed once to fetch Kafka {KAFKA_VERSION} "
                f"into {dest} (`apt-get install maven`), or set DRIFTLINE_KAFKA_JARS to a "
                "directory of Kafka jars (e.g. the libs/ dir of a Kafka distribution)."
            )
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        try:
            cmd = [
                mvn, "-q", "-B", "-Dstyle.color=never", "-f", str(POM),
                "dependency:copy-dependencies", f"-DoutputDirectory={tmp}",
            ]  # fmt: skip
            log.info("fetching Kafka %s jars: %s", KAFKA_VERSION, " ".join(cmd))
            t0 = time.monotonic()
            res = subprocess.run(
                cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
            )
            if res.returncode != 0:
                out = (res.stdout + res.stderr).strip().splitlines()
                raise KafkaSetupError(
                    f"mvn failed (exit {res.returncode}) fetching Kafka {KAFKA_VERSION} jars:\n"
                    + "\n".join(out[-40:])
                )
            if not (tmp / f"kafka_2.13-{KAFKA_VERSION}.jar").is_file():
                raise KafkaSetupError(
                    f"mvn succeeded but kafka_2.13-{KAFKA_VERSION}.jar is missing"
                )
            (tmp / _JARS_MARKER).write_text(_pom_digest() + "\n")
            if dest.exists():  # ours but stale (pom changed), or an empty dir
                shutil.rmtree(dest)
            os.replace(tmp, dest)
            log.info("Kafka jars ready in %s (%.1fs)", dest, time.monotonic() - t0)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


# ------------------------------------------------------------------------ helpers


def _random_cluster_id() -> str:
    # Same format as `kafka-storage.sh random-uuid`: 16 random bytes, base64url, no padding.
    while True:
        raw = uuid.uuid4().bytes
        cid = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        if not cid.startswith("-"):  # would look like an option on the command line
            return cid


def _free_ports(n: int) -> list[int]:
    """*n* distinct free TCP ports on 127.0.0.1 (held simultaneously so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _tail(path: Path, lines: int = 60) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def _api_versions_ok(host: str, port: int, timeout: float) -> bool:
    """Stdlib readiness probe: send ApiVersions v0, expect error_code 0.

    The broker binds its listeners early but only processes requests once it has
    caught up with the metadata log, so an answer means it is serving.
    """
    client_id = b"driftline-probe"
    body = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(struct.pack(">i", len(body)) + body)
            hdr = b""
            while len(hdr) < 10:  # size(4) correlation_id(4) error_code(2)
                chunk = s.recv(10 - len(hdr))
                if not chunk:
                    return False
                hdr += chunk
            _size, corr, err = struct.unpack(">iih", hdr)
            return corr == 7 and err == 0
    except OSError:
        return False


def _load_prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return None


_PRCTL = _load_prctl()  # resolved here: nothing to import/dlopen in the forked child
_PR_SET_PDEATHSIG = 1


def _set_pdeathsig() -> None:  # runs in the child between fork and exec
    """Linux: have the kernel SIGKILL the broker if the launching process dies.

    Covers the case where pytest/the CLI is killed with SIGKILL and no cleanup runs.
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


class _Cds:
    """Java AppCDS archive for one kind of JVM launch ("broker" or "storage-tool").

    Most of the broker's startup is class loading.  The first launch runs with
    ``-XX:ArchiveClassesAtExit`` (the JVM writes the archive when it exits, which
    makes that one stop ~5 s slower); later launches with matching java + jars use
    ``-XX:SharedArchiveFile`` and start ~30% faster.  A stale or unusable archive is
    only a warning to the JVM; we then delete it so that it is rebuilt.
    """

    def __init__(self, java: str, jars: Path, role: str) -> None:
        self.enabled = os.environ.get("DRIFTLINE_KAFKA_CDS", "1").strip() not in (
            "0",
            "false",
            "no",
        )
        self.path: Path | None = None
        self.tmp: Path | None = None
        if not self.enabled:
            return
        h = hashlib.sha256(f"{role}|{KAFKA_VERSION}".encode())
        for f in [Path(java).resolve(), *sorted(jars.resolve().glob("*.jar"))]:
            with contextlib.suppress(OSError):
                st = f.stat()
                h.update(f"|{f}|{st.st_size}|{st.st_mtime_ns}".encode())
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        self.path = cache / "driftline" / "kafka-cds" / f"{role}-{h.hexdigest()[:20]}.jsa"

    @property
    def using(self) -> bool:
        return self.path is not None and self.tmp is None and self.path.is_file()

    def jvm_opts(self) -> list[str]:
        if self.path is None:
            return []
        if self.path.is_file():
            return [f"-XX:SharedArchiveFile={self.path}"]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            return []
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
        return [f"-XX:ArchiveClassesAtExit={self.tmp}"]

    def finish(self, exited_cleanly: bool, output: str = "") -> None:
        """After the JVM exited: promote a fresh archive, or drop one the JVM rejected."""
        if self.path is None:
            return
        if self.tmp is not None:
            tmp, self.tmp = self.tmp, None
            if exited_cleanly and tmp.is_file() and tmp.stat().st_size > 0:
                os.replace(tmp, self.path)
            else:
                tmp.unlink(missing_ok=True)
        elif "Unable to use shared archive" in output or "[error][cds" in output:
            self.discard()

    def discard(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


_RUNNING: set[LocalKafka] = set()
_RUNNING_LOCK = threading.Lock()


@atexit.register
def _stop_all() -> None:
    with _RUNNING_LOCK:
        brokers = list(_RUNNING)
    for b in brokers:
        with contextlib.suppress(Exception):
            b.stop()


# ------------------------------------------------------------------------- broker


class LocalKafka:
    """A throwaway single-node KRaft Kafka broker on loopback.

    :param data_dir: where server.properties, the log dirs and ``broker.log`` go.
        Default: a fresh temporary directory.  Deleted by :meth:`stop` unless *keep_data*.
    :param jars_dir: Kafka jars (default: :func:`ensure_jars`'s cache).
    :param heap: ``-Xmx`` for the broker JVM.
    :param startup_timeout: seconds to wait for the broker to serve metadata.
    :param config: extra/overriding ``server.properties`` entries.
    :param jvm_opts: extra JVM options (also ``DRIFTLINE_KAFKA_JVM_OPTS``).
    """

    NODE_ID = 1

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        jars_dir: str | os.PathLike[str] | None = None,
        heap: str = DEFAULT_HEAP,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        config: Mapping[str, object] | None = None,
        jvm_opts: list[str] | tuple[str, ...] = (),
        keep_data: bool = False,
        port: int | None = None,
    ) -> None:
        self._requested_data_dir = Path(data_dir).expanduser().resolve() if data_dir else None
        self._jars_dir = jars_dir
        self.heap = heap
        self.startup_timeout = startup_timeout
        self.extra_config = dict(config or {})
        self.jvm_opts = list(jvm_opts) + os.environ.get("DRIFTLINE_KAFKA_JVM_OPTS", "").split()
        self.keep_data = keep_data
        self._requested_port = port   # None: a free port, picked at each start
        self.data_dir: Path | None = None
        self.port: int | None = None
        self.controller_port: int | None = None
        self.cluster_id: str | None = None
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._cds: _Cds | None = None
        self._admin = None
        self._lock = threading.RLock()

    # -- properties ---------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        if self.port is None:
            raise KafkaError("broker not started")
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_path(self) -> Path:
        assert self.data_dir is not None
        return self.data_dir / "broker.log"

    @property
    def stdout_path(self) -> Path:
        assert self.data_dir is not None
        return self.data_dir / "broker.out"

    def log_tail(self, lines: int = 60) -> str:
        """Last lines of the broker's log4j file and of its stdout/stderr."""
        if self.data_dir is None:
            return ""
        parts = []
        for p in (self.log_path, self.stdout_path):
            t = _tail(p, lines)
            if t:
                parts.append(f"--- {p} ---\n{t}")
        return "\n".join(parts) or "(broker wrote no log output)"

    def __repr__(self) -> str:
        state = f"running at {self.bootstrap}" if self.running else "stopped"
        return f"<LocalKafka {KAFKA_VERSION} {state}>"

    # -- lifecycle ----------------------------------------------------------------

    def __enter__(self) -> LocalKafka:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LocalKafka:
        with self._lock:
            if self.running:
                return self
            jars = ensure_jars(self._jars_dir)  # first run only: mvn, not counted below
            java = find_java()
            t0 = time.monotonic()  # startup_timeout and startup_seconds count from here
            if self._requested_data_dir is not None:
                self.data_dir = self._requested_data_dir
                self.data_dir.mkdir(parents=True, exist_ok=True)
            else:
                self.data_dir = Path(tempfile.mkdtemp(prefix="driftline-kafka-"))
            try:
                use_cds, suspect_cds = True, None
                for attempt in range(1, 4):
                    try:
                        self._start_once(java, jars, t0, use_cds=use_cds)
                        break
                    except _PortClash:
                        log.warning("port clash starting Kafka (attempt %d), retrying", attempt)
                        self._admin = None  # bound to the old port
                        self._kill(force=True)
                    except KafkaBrokerExited:
                        cds = self._cds
                        self._kill()
                        if not (cds and cds.using) or attempt == 3:
                            raise
                        # Rule out a bad class-data-sharing archive before giving up.
                        log.warning("Kafka died using CDS archive %s; retrying without", cds.path)
                        use_cds, suspect_cds = False, cds
                else:
                    raise KafkaStartError("could not bind free loopback ports after 3 attempts")
                if suspect_cds is not None:  # it did start without it: drop the archive
                    suspect_cds.discard()
            except BaseException:
                self.stop()  # the exception already carries the log tail
                raise
            self.startup_seconds = time.monotonic() - t0
            log.info(
                "Kafka %s ready at %s in %.1fs", KAFKA_VERSION, self.bootstrap, self.startup_seconds
            )
            return self

    def _server_properties(self) -> dict[str, object]:
        assert self.data_dir is not None
        p, c = self.port, self.controller_port
        props: dict[str, object] = {
            "process.roles": "broker,controller",
            "node.id": self.NODE_ID,
            # Static quorum: no `--standalone` needed at format time (4.x accepts both).
            "controller.quorum.voters": f"{self.NODE_ID}@127.0.0.1:{c}",
            "listeners": f"PLAINTEXT://127.0.0.1:{p},CONTROLLER://127.0.0.1:{c}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{p}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir / "logs"),
            "num.partitions": 1,
            "default.replication.factor": 1,
            "min.insync.replicas": 1,
            "auto.create.topics.enable": "true",
            "delete.topic.enable": "true",
            "offsets.topic.replication.factor": 1,
            # 1 instead of 50: the first consumer group otherwise waits for 50 partitions.
            "offsets.topic.num.partitions": 1,
            "transaction.state.log.replication.factor": 1,
            "transaction.state.log.min.isr": 1,
            "transaction.state.log.num.partitions": 1,
            "share.coordinator.state.topic.replication.factor": 1,
            "share.coordinator.state.topic.min.isr": 1,
            "group.initial.rebalance.delay.ms": 0,
            "num.network.threads": 2,
            "num.io.threads": 4,
            "num.recovery.threads.per.data.dir": 1,
            "log.retention.check.interval.ms": 300000,
        }
        props.update(self.extra_config)
        return props

    def _start_once(self, java: str, jars: Path, t0: float, use_cds: bool = True) -> None:
        assert self.data_dir is not None
        d = self.data_dir
        shutil.rmtree(d / "logs", ignore_errors=True)  # fresh metadata log every attempt
        self.log_path.unlink(missing_ok=True)  # log tails in errors: this attempt only
        self.port, self.controller_port = _free_ports(2)
        if self._requested_port is not None:
            self.port = self._requested_port
            if self.controller_port == self.port:
                self.controller_port = next(p for p in _free_ports(2) if p != self.port)
        self.cluster_id = _random_cluster_id()
        props_path = d / "server.properties"
        props_path.write_text(
            "# generated by kafka/broker.py\n"
            + "".join(f"{k}={v}\n" for k, v in self._server_properties().items())
        )
        cp = f"{jars}{os.sep}*"
        sysprops = [f"-Dkafka.logs.dir={d}", f"-Dlog4j2.configurationFile={LOG4J_CONFIG}"]

        tool_cds = _Cds(java, jars, "storage-tool")
        fmt = subprocess.run(
            [java, *_TOOL_JVM_OPTS, *tool_cds.jvm_opts(), *sysprops, "-cp", cp,
             "kafka.tools.StorageTool", "format", "-t", self.cluster_id, "-c", str(props_path)],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        tool_cds.finish(fmt.returncode == 0, fmt.stdout + fmt.stderr)
        if fmt.returncode != 0:
            raise KafkaStartError(
                f"kafka.tools.StorageTool format failed (exit {fmt.returncode}):\n"
                f"{fmt.stdout}{fmt.stderr}\n{self.log_tail()}"
            )

        self._cds = _Cds(java, jars, "broker") if use_cds else None
        cds_opts = self._cds.jvm_opts() if self._cds else []
        cmd = [
            java, f"-Xmx{self.heap}", *_BROKER_JVM_OPTS, *cds_opts, *self.jvm_opts, *sysprops,
            "-cp", cp, "kafka.Kafka", str(props_path),
        ]  # fmt: skip
        on_main_thread = threading.current_thread() is threading.main_thread()
        with open(self.stdout_path, "wb") as out:
            self._proc = subprocess.Popen(
                cmd,
                cwd=d,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: stop() signals the whole group
                # PDEATHSIG fires when the *thread* that forked exits: only safe from main.
                preexec_fn=_set_pdeathsig if _PRCTL is not None and on_main_thread else None,
            )
        with _RUNNING_LOCK:
            _RUNNING.add(self)
        self._wait_ready(deadline=t0 + self.startup_timeout)

    def _port_clash_logged(self) -> bool:
        tail = self.log_tail(200)
        return "Address already in use" in tail or "BindException" in tail

    def _wait_ready(self, deadline: float) -> None:
        assert self._proc is not None and self.port is not None
        while True:
            rc = self._proc.poll()
            if rc is not None:
                if self._port_clash_logged():
                    raise _PortClash()
                raise KafkaBrokerExited(
                    f"Kafka broker exited with code {rc} during startup:\n{self.log_tail()}"
                )
            # A failed bind is fatal, but the JVM takes ~10 s to shut down: catch it early.
            if self._port_clash_logged():
                raise _PortClash()
            left = deadline - time.monotonic()
            if left <= 0:
                raise KafkaStartError(
                    f"Kafka broker not ready at {self.bootstrap} after {self.startup_timeout:.0f}s; "
                    f"log tail:\n{self.log_tail()}"
                )
            if _api_versions_ok("127.0.0.1", self.port, timeout=min(1.0, max(left, 0.1))):
                break
            time.sleep(0.05)
        # Full metadata round trip with a real client when available: our broker (cluster id
        # checked: something else could hold the port) is registered and serving.
        admin = self._admin_or_none()
        if admin is None:
            return
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise KafkaStartError(
                    f"Kafka broker at {self.bootstrap} answers ApiVersions but not metadata "
                    f"after {self.startup_timeout:.0f}s; log tail:\n{self.log_tail()}"
                )
            try:
                md = admin.list_topics(timeout=min(5.0, left))
                if md.cluster_id != self.cluster_id:
                    raise _PortClash()  # another broker answered on "our" port
                if self.NODE_ID in md.brokers:
                    return
            except _PortClash:
                raise
            except Exception as e:  # KafkaException: transient while starting
                log.debug("metadata not ready yet: %s", e)
            if self._proc.poll() is not None:
                raise KafkaBrokerExited(f"Kafka broker exited during startup:\n{self.log_tail()}")
            time.sleep(0.1)

    def _kill(self, force: bool = False) -> None:
        """Terminate the broker process group: SIGTERM, then SIGKILL after the stop timeout.

        *force*: SIGKILL right away (a broker that failed to start has nothing to save).
        """
        proc, self._proc = self._proc, None
        cds, self._cds = self._cds, None
        with _RUNNING_LOCK:
            _RUNNING.discard(self)
        if proc is None:
            return
        clean = True
        if proc.poll() is None and force:
            clean = False
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        elif proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                # A JVM writing its CDS archive at exit needs a few extra seconds (once).
                proc.wait(timeout=DEFAULT_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log.warning("Kafka broker pid %d ignored SIGTERM for %.0fs; killing",
                            proc.pid, DEFAULT_STOP_TIMEOUT)  # fmt: skip
                clean = False
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        # No group-wide kill after the wait: java forks nothing, and once reaped its pid
        # (= the group id) may belong to someone else.
        if cds is not None:
            clean = clean and proc.returncode not in (-signal.SIGKILL, 128 + signal.SIGKILL)
            out = _tail(self.stdout_path, 200) if self.data_dir is not None else ""
            with contextlib.suppress(OSError):
                cds.finish(clean, out)

    def stop(self, keep_data: bool | None = None) -> None:
        """Stop the broker (idempotent) and delete its data dir unless *keep_data*."""
        with self._lock:
            self._admin = None
            self._kill()
            keep = self.keep_data if keep_data is None else keep_data
            if self.data_dir is not None and not keep:
                shutil.rmtree(self.data_dir, ignore_errors=True)
                self.data_dir = None

    # -- client helpers -----------------------------------------------------------

    def _admin_or_none(self):
        try:
            from confluent_kafka.admin import AdminClient
        except ImportError:
            return None
        if self._admin is None:
            self._admin = AdminClient(
                {
                    "bootstrap.servers": self.bootstrap,
                    "reconnect.backoff.ms": 50,
                    "reconnect.backoff.max.ms": 500,
                    "logger": log,  # keep librdkafka's connection chatter off stderr
                }
            )
        return self._admin

    def admin(self):
        """A (cached) ``confluent_kafka.admin.AdminClient`` for this broker."""
        admin = self._admin_or_none()
        if admin is None:
            raise KafkaError("confluent_kafka is not installed; pip install confluent-kafka")
        return admin

    def create_topic(
        self,
        name: str,
        partitions: int = 1,
        config: Mapping[str, object] | None = None,
        *,
        timeout: float = 30.0,
    ) -> str:
        """Create *name* and wait until every partition has a leader; returns *name*."""
        from confluent_kafka.admin import NewTopic

        admin = self.admin()
        topic = NewTopic(
            name,
            num_partitions=partitions,
            replication_factor=1,
            config={k: str(v) for k, v in (config or {}).items()},
        )
        futures = admin.create_topics([topic], operation_timeout=timeout, request_timeout=timeout)
        futures[name].result(timeout=timeout)
        deadline = time.monotonic() + timeout
        while True:
            md = admin.list_topics(topic=name, timeout=max(0.5, deadline - time.monotonic()))
            t = md.topics.get(name)
            if (
                t is not None
                and t.error is None
                and len(t.partitions) == partitions
                and all(p.leader >= 0 for p in t.partitions.values())
            ):
                return name
            if time.monotonic() > deadline:
                raise KafkaError(f"topic {name!r} created but partitions have no leader yet")
            time.sleep(0.05)

    def delete_topics(self, *names: str, timeout: float = 30.0) -> None:
        if not names:
            return
        futures = self.admin().delete_topics(list(names), operation_timeout=timeout)
        for f in futures.values():
            f.result(timeout=timeout)


# ---------------------------------------------------------------------------- CLI


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _cmd_start(args: argparse.Namespace) -> int:
    run_dir = Path(args.data_dir).expanduser().resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    pid_file, bootstrap_file = run_dir / "pid", run_dir / "bootstrap"
    if pid_file.exists():
        with contextlib.suppress(ValueError, OSError):
            old = int(pid_file.read_text().strip())
            if old != os.getpid() and _pid_alive(old):
                print(f"broker.py: a broker is already running for {run_dir} (pid {old})",
                      file=sys.stderr)  # fmt: skip
                return 1
    bootstrap_file.unlink(missing_ok=True)

    stop = threading.Event()
    starting = True

    def _on_signal(signum: int, _frame: object) -> None:
        stop.set()
        if starting:  # abort the startup wait; `finally` below stops the broker
            raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    # pid first: `make demo` may want to kill us while we are still starting.
    _write_atomic(pid_file, f"{os.getpid()}\n")
    broker = LocalKafka(
        run_dir / "kafka", startup_timeout=args.timeout, heap=args.heap, keep_data=args.keep, port=args.port
    )
    try:
        try:
            broker.start()
        except KafkaError as e:
            print(f"broker.py: {e}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130
        finally:
            starting = False
        _write_atomic(bootstrap_file, broker.bootstrap + "\n")
        _write_atomic(run_dir / "broker.pid", f"{broker.pid}\n")
        print(
            f"Kafka {KAFKA_VERSION} ready at {broker.bootstrap} "
            f"({broker.startup_seconds:.1f}s; pid {os.getpid()}, java pid {broker.pid})",
            flush=True,
        )
        while not stop.wait(0.5):
            if not broker.running:
                print(f"broker.py: Kafka broker died:\n{broker.log_tail()}", file=sys.stderr)
                return 1
        return 0
    finally:
        broker.stop()
        for f in (bootstrap_file, run_dir / "broker.pid", pid_file):
            f.unlink(missing_ok=True)


def _cmd_jars(args: argparse.Namespace) -> int:
    try:
        print(ensure_jars(args.dir))
    except KafkaError as e:
        print(f"broker.py: {e}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="broker.py", description=f"Local single-node Apache Kafka {KAFKA_VERSION} (KRaft)."
    )
    ap.add_argument("-v", "--verbose", action="store_true")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("start", help="run a broker in the foreground until SIGTERM/SIGINT")
    s.add_argument("--data-dir", required=True,
                   help="run dir: gets bootstrap, pid (this process), broker.pid, kafka/ data")  # fmt: skip
    s.add_argument("--timeout", type=float, default=DEFAULT_STARTUP_TIMEOUT)
    s.add_argument("--heap", default=DEFAULT_HEAP)
    s.add_argument("--keep", action="store_true", help="keep DIR/kafka (logs, data) on exit")
    s.add_argument("--port", type=int, default=None, help="listen on 127.0.0.1:PORT (default: a free port)")
    s.set_defaults(func=_cmd_start)
    j = sub.add_parser("jars", help="fetch the Kafka jars into the cache and print the dir")
    j.add_argument("--dir", default=None, help="default: $DRIFTLINE_KAFKA_JARS or ~/.cache/...")
    j.set_defaults(func=_cmd_jars)
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
