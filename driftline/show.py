"""Print alert events (JSON lines, from a file or stdin) as one readable line each.

    python -m driftline.show out/alerts.jsonl
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import orjson

USAGE = "usage: python -m driftline.show [ALERTS.jsonl ...] (stdin without a file, or -)"


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def format_alert(a: dict[str, Any]) -> str:
    """One line for an alert event; ``ValueError`` when its numbers are not numbers."""
    mark = "FIRING  " if a.get("status") == "firing" else "resolved"
    value = a.get("value")
    p = a.get("p_value")
    if not (value is None or _number(value)) or not (p is None or _number(p)):
        raise ValueError("its value and p_value must be numbers or null")
    numbers = ""
    if value is not None:
        numbers = f"{a.get('statistic')}={value:.3f}"
        threshold = a.get("threshold")
        if threshold is not None:   # (a resolved alert's numbers are those of a good window: none)
            # drift effects have a floor; rates and performance metrics a limit (a ceiling, or a
            # floor for a metric where higher is better)
            bound = "floor" if a.get("kind") in ("data_drift", "prediction_drift") else "limit"
            shown = f"{threshold:.4g}" if isinstance(threshold, float) and bound == "limit" else threshold
            numbers += f" ({bound} {shown})"
        if p is not None:
            numbers += f" p={p:.2g}"
    evidence = a.get("evidence")
    expired = evidence.get("expired_after_windows") if isinstance(evidence, dict) else None
    if expired is not None:
        numbers = f"expired after {expired} windows without a verdict"
    version = a.get("model_version")
    version = "all versions" if version is None else '""' if version == "" else version   # "": a version
    return (f"{mark} {a.get('severity') or ''!s:8} {a.get('kind') or ''!s:16} {a.get('monitor')}/{version} "
            f"{a.get('subject')}: {numbers}  window {a.get('window_start')} .. {a.get('window_end')}")


def main(argv: list[str] | None = None) -> int:
    """Exit 2 with one line for a file that cannot be read or a line that is not an alert."""
    args = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in args):
        print(USAGE)
        return 0
    if any(a.startswith("-") and a != "-" for a in args):
        print(f"driftline.show: error: unknown option in {' '.join(args)}; {USAGE}", file=sys.stderr)
        return 2
    try:
        for name in args or ["-"]:
            if not _show(name):
                return 2
    except BrokenPipeError:       # `| head`: the reader has what it wanted
        sys.stderr.close()
    return 0


def _show(name: str) -> bool:
    """Print the alerts of one file ("-": stdin); False after an error line."""
    try:   # stdin stays open: "-" may be given twice
        stream = contextlib.nullcontext(sys.stdin.buffer) if name == "-" else open(name, "rb")  # noqa: SIM115
    except OSError as exc:
        print(f"driftline.show: error: {name}: {exc.strerror}", file=sys.stderr)
        return False
    with stream as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                event = None
            why = "" if isinstance(event, dict) and event.get("type") == "alert" else "not an alert event"
            try:
                text = "" if why else format_alert(event)
            except ValueError as exc:
                why = f"not a valid alert event ({exc})"
            if why:
                where = "<stdin>" if name == "-" else name
                print(f"driftline.show: error: {where}, line {n}: {why} (show reads alerts.jsonl "
                      f"or the alerts topic)", file=sys.stderr)
                return False
            print(text, flush=True)
    return True


if __name__ == "__main__":
    raise SystemExit(main())
