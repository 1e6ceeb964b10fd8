"""``driftline run``: one worker, or ``--workers N`` worker processes in one consumer group."""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import subprocess
import sys
import time

from driftline.schemas.config import Config

from . import logs
from .cli import EXIT_USAGE
from .exceptions import InputError
from .logs import fields

log = logging.getLogger("driftline.run")

# Test hook: makes the worker commit offsets before its checkpoint (see streams/worker.py).
BROKEN_ENV = "DRIFTLINE_UNSAFE_COMMIT_BEFORE_CHECKPOINT"


def label_topic_warnings(config: Config) -> list[str]:
    """What `run` will not do with labels that the config suggests it should, one line each:
    a labels topic is read only by a monitor with a ``performance`` section, and performance
    is judged on Kafka only from a labels topic."""
    out = []
    unread = sorted(m.name for m in config.monitors if m.labels_topic and m.performance is None)
    if unread:
        out.append(f"monitors {unread} name a labels topic but have no `performance:` section, so run "
                   f"does not read their labels (add `performance: {{}}` to judge the model on them)")
    unjudged = sorted(m.name for m in config.monitors if m.performance is not None and not m.labels_topic)
    if unjudged:
        out.append(f"monitors {unjudged} have a `performance:` section but no `source.labels` topic, so run "
                   f"judges no performance (replay does, with --labels)")
    return out


def warn_unjoined_labels(config: Config) -> None:
    for warning in label_topic_warnings(config):
        log.warning(warning)


def _log_level() -> str:
    try:
        return logs.level_from_env(os.environ.get(logs.LEVEL_ENV))
    except ValueError as exc:
        raise InputError(str(exc)) from None


def run_worker(config: Config, index: int = 0, discard_mismatched_state: bool = False) -> int:
    from .replay import load_monitors
    from .worker import Worker

    logs.setup(_log_level())
    # `kill -USR1 <pid>` prints every thread's stack to stderr: what a stuck worker is doing
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    warn_unjoined_labels(config)
    worker = Worker(config, load_monitors(config, label_topics=True), index=index,
                    commit_before_checkpoint=os.environ.get(BROKEN_ENV) == "1",
                    discard_mismatched_state=discard_mismatched_state)
    worker.run()
    return 0


# A worker that fails at run time (exit 1, or killed: not a config error, exit 2) is started
# again after RESTART_DELAY seconds, doubled at each failure in a row up to RESTART_MAX; one
# that ran HEALTHY_RUN seconds starts the count over.
RESTART_DELAY = 2.0
RESTART_MAX = 60.0
HEALTHY_RUN = 120.0


def run_supervisor(config_path: str, workers: int, discard_mismatched_state: bool = False) -> int:
    """Start ``workers`` processes (each its own consumer in the group), start again one that
    fails at run time, and stop them together."""
    logs.setup(_log_level())
    extra = ["--discard-mismatched-state"] if discard_mismatched_state else []

    def start(i: int) -> subprocess.Popen:
        # -P: not the working directory first on the import path (a directory named driftline
        # there, a checkout say, would be imported instead of the installed package)
        return subprocess.Popen([sys.executable, "-P", "-m", "driftline", "run", "--config", config_path,
                                 "--worker-index", str(i), *extra])

    children = {i: start(i) for i in range(workers)}
    started = dict.fromkeys(children, time.monotonic())
    failures = dict.fromkeys(children, 0)
    due: dict[int, float] = {}       # worker index -> when it starts again
    log.info("workers started", extra=fields(pids=[c.pid for c in children.values()]))
    stopping = False

    def forward(signum: int, _frame) -> None:
        nonlocal stopping
        stopping = True
        for c in children.values():
            if c.poll() is None:
                c.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = 0
    while children or (due and not stopping):
        now = time.monotonic()
        for i, c in list(children.items()):
            rc = c.poll()
            if rc is None:
                continue
            del children[i]
            if rc == 0 or stopping or rc == EXIT_USAGE:   # a user error: starting again cannot help
                code = code or rc
                if rc != 0:
                    log.error("worker exited", extra=fields(pid=c.pid, code=rc))
                if rc == EXIT_USAGE and not stopping:     # (a port in use, say): not a group short of one
                    log.error("a worker stopped on a config or setup error: stopping the others")
                    forward(signal.SIGTERM, None)
                continue
            failures[i] = 1 if now - started[i] >= HEALTHY_RUN else failures[i] + 1
            delay = min(RESTART_DELAY * 2 ** (failures[i] - 1), RESTART_MAX)
            log.error("worker failed; starting it again", extra=fields(pid=c.pid, code=rc, in_seconds=delay))
            due[i] = now + delay
        if stopping:
            due.clear()
        for i, when in list(due.items()):
            if now >= when:
                del due[i]
                children[i], started[i] = start(i), now
                log.info("worker started again", extra=fields(pid=children[i].pid, worker=i))
        time.sleep(0.2)
    return code
