"""The ``driftline`` command (DESIGN 3.3). User errors exit 2 with one line, never a traceback."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from driftline.schemas.config import Config, MonitorConfig, load_config
from driftline.schemas.exceptions import ConfigError

from driftline import __version__

from . import logs
from .exceptions import (
    BrokersUnreachable,
    DeliveryFailed,
    DriftlineError,
    InputError,
    TransactionFailed,
    UnknownMonitor,
)
from .paths import same_file

if TYPE_CHECKING:
    from driftline.detectors.reference import ReferenceProfile

EXIT_USAGE = 2
# Below this many training rows a reference's 200 fine quantile bins hold fewer than 5 rows each.
SMALL_REFERENCE = 1_000


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _cmd_validate(args: argparse.Namespace) -> int:
    from .replay import load_monitors

    config = load_config(args.config)
    # as `replay --labels` would build them: a baseline of another task or threshold fails here too
    load_monitors(config, labels=True)
    if config.kafka:
        from .kafka_config import check_settings

        # what `run` would refuse before reaching a broker
        check_settings(config.kafka, config.processing_guarantee == "exactly_once")
    names = ", ".join(m.name for m in config.monitors)
    print(f"{args.config}: ok ({len(config.monitors)} monitor(s): {names})")
    if config.kafka:
        from .run import label_topic_warnings

        for warning in label_topic_warnings(config):
            print(f"warning: {warning}")
    return 0


def _monitor(config: Config, name: str):
    for m in config.monitors:
        if m.name == name:
            return m
    raise UnknownMonitor(name, config)


def _cmd_reference_build(args: argparse.Namespace) -> int:
    from .reference_io import profile_rows, write_reference

    config = load_config(args.config)
    cfg = _monitor(config, args.monitor)
    _refuse_overwriting([Path(args.out)], {"--input": Path(args.input), "--config": Path(args.config)})
    profile, rows = profile_rows(cfg, Path(args.input))
    write_reference(profile, Path(args.out))
    print(f"{args.out}: reference for {cfg.name!r} from {rows} rows, "
          f"{len(profile.numeric)} numeric + {len(profile.categorical)} categorical features"
          + _baseline_note(cfg, profile))
    # a feature's bins and tests come from its values, not nulls: the thinnest feature decides
    counts = {n: r.count for n, r in (*profile.numeric.items(), *profile.categorical.items())}
    thinnest = min(counts, key=counts.__getitem__, default=None)
    if rows < SMALL_REFERENCE:
        print(f"warning: {rows} rows make a thin reference: its quantile bins are coarse and the tests, which "
              f"allow for its size, need larger shifts to alert; profile {SMALL_REFERENCE:,} rows or more")
    elif thinnest is not None and counts[thinnest] < SMALL_REFERENCE:
        print(f"warning: feature {thinnest!r} has {counts[thinnest]} values (not null) in {rows} rows: a thin "
              f"reference for it (coarse bins; its tests need larger shifts to alert); profile "
              f"{SMALL_REFERENCE:,} values or more")
    for name, r in profile.numeric.items():
        if r.out_of_range_rate > cfg.quality.out_of_range_rate:
            print(f"warning: feature {name!r}: {r.out_of_range_rate:.1%} of the training values are outside its "
                  f"[min, max]; out-of-range issues are judged against that rate (above it by "
                  f"quality.out_of_range_rate): check the bounds in the config, then build the reference again")
    return 0


def _baseline_note(cfg: MonitorConfig, profile: ReferenceProfile) -> str:
    """What the reference holds of the model's performance, for a monitor that judges it."""
    if cfg.performance is None:
        return ""
    if profile.performance is None:
        return (f"; no row has a label (looked for {'.'.join(cfg.fields.label)!r} and column 'label'), so no "
                f"performance baseline: performance alerts need performance.min / performance.max")
    return f"; performance baseline ({profile.performance.task}) from {profile.performance.count} labelled rows"


def _cmd_replay(args: argparse.Namespace) -> int:
    from .replay import replay
    from .sinks import JsonlSink

    config = load_config(args.config)
    labels = None if args.labels is None else Path(args.labels)
    if labels is not None and (labels.is_dir() or not labels.exists()):   # a pipe is fine, as for --input
        raise InputError(f"--labels {labels}: {'is a directory, not a file' if labels.is_dir() else 'no such file'}")
    if labels is not None and same_file(labels, Path(args.input)):
        raise InputError(f"--labels {labels} is the --input file: labels are events of their own, in a file of "
                         f"their own")
    _refuse_overwriting(JsonlSink.paths(Path(args.out)),
                        {"--input": Path(args.input), "--labels": labels, "--config": Path(args.config)})
    sink = JsonlSink(Path(args.out), atomic=True)
    try:
        stats = replay(config, Path(args.input), sink, args.monitor, labels)
    except BaseException:
        sink.abort()      # the previous outputs in --out stay as they were
        raise
    sink.close()
    joined = ""
    if labels is not None:
        joined = f", {stats.label_events} label events" + (f" ({_label_summary(stats)})" if stats.label_events else "")
    # each monitor has its own windows and grace, so an event may be late for one and not another
    late = (f"{stats.late} late" if len(stats.late_by) < 2
            else "late: " + ", ".join(f"{name} {n}" for name, n in sorted(stats.late_by.items())))
    print(f"{stats.events} events ({stats.invalid} invalid, {late}){joined}, {stats.windows} windows, "
          f"{stats.alerts} alert events -> {args.out}")
    for warning in stats.warnings:
        print(f"warning: {warning}")
    return 0


def _refuse_overwriting(outputs: list[Path], inputs: dict[str, Path | None]) -> None:
    """An output that is one of the inputs would destroy it: refused before anything is written."""
    for flag, given in inputs.items():
        for out in outputs:
            if given is not None and same_file(out, given):
                raise InputError(f"{flag} {given} is also an output ({out}): writing it would destroy the "
                                 f"input; write the outputs elsewhere")


def _label_summary(stats) -> str:
    """What became of the labels, per monitor that joined them."""
    return "; ".join(f"{name}: {c.pairs} joined, {c.invalid} invalid, {c.unmatched} without a prediction, "
                     f"{sum(c.dropped.values())} dropped" for name, c in stats.labels.items())


def _cmd_run(args: argparse.Namespace) -> int:
    from .run import run_supervisor, run_worker

    config = load_config(args.config)
    if args.workers < 1:
        raise InputError("--workers must be at least 1")
    if args.workers > 1:
        return run_supervisor(args.config, args.workers, args.discard_mismatched_state)
    return run_worker(config, args.worker_index, args.discard_mismatched_state)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="driftline", description="Drift and data-quality monitoring for ML models on Kafka.")
    p.add_argument("--version", action="version", version=f"driftline {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    v = sub.add_parser("validate", help="check a config and that its references load")
    v.add_argument("--config", required=True)
    v.set_defaults(func=_cmd_validate)

    ref = sub.add_parser("reference", help="reference profiles")
    ref_sub = ref.add_subparsers(dest="reference_command", required=True, parser_class=_Parser)
    b = ref_sub.add_parser("build", help="build a reference profile from training data")
    b.add_argument("--config", required=True)
    b.add_argument("--monitor", required=True)
    b.add_argument("--input", required=True, help="training data: .csv, .jsonl or .parquet")
    b.add_argument("--out", required=True, help="where to write the profile (JSON)")
    b.set_defaults(func=_cmd_reference_build)

    r = sub.add_parser("replay", help="run the whole pipeline over files")
    r.add_argument("--config", required=True)
    r.add_argument("--input", required=True, help="prediction events, one JSON object per line")
    r.add_argument("--labels", help="label events (JSONL), joined to the predictions by event id")
    r.add_argument("--out", required=True, help="directory for reports/alerts/retrain/dlq .jsonl")
    r.add_argument("--monitor", help="replay only this monitor (default: all)")
    r.set_defaults(func=_cmd_replay)

    k = sub.add_parser("run", help="run Kafka workers (tiers 1 and 2) with /metrics, /healthz, /readyz")
    k.add_argument("--config", required=True)
    k.add_argument("--workers", type=int, default=1, help="worker processes in the consumer group")
    k.add_argument("--discard-mismatched-state", action="store_true",
                   help="after a monitor's reference, features or window changed: start its open windows "
                        "afresh instead of stopping (the events already counted in them are left out)")
    k.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    k.set_defaults(func=_cmd_run)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.func
    try:
        return handler(args)
    except (TransactionFailed, DeliveryFailed, BrokersUnreachable) as exc:   # a runtime failure, exit 1
        logs.fatal(f"driftline: error: {exc}")
        return 1
    except (ConfigError, DriftlineError) as exc:
        logs.fatal(f"driftline: error: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except OSError as exc:   # the machine's doing (a full disk, say), not the user's: exit 1
        logs.fatal(f"driftline: error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
