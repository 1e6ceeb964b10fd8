"""Print alert events (JSON lines, from a file or stdin) as one readable line each.

    python -m driftline.show out/alerts.jsonl
"""

from __future__ import annotations

import sys
from typing import Any

import orjson


def format_alert(a: dict[str, Any]) -> str:
    mark = "FIRING  " if a.get("status") == "firing" else "resolved"
    value = a.get("value")
    p = a.get("p_value")
    numbers = ""
    if value is not None:
        # drift effects have a floor; a performance metric a limit (a floor, or a ceiling for errors)
        bound = "limit" if a.get("kind") == "performance" else "floor"
        threshold = a.get("threshold")
        shown = f"{threshold:.4g}" if isinstance(threshold, float) and bound == "limit" else threshold
        numbers = f"{a.get('statistic')}={value:.3f} ({bound} {shown})"
        if p is not None:
            numbers += f" p={p:.2g}"
    version = a.get("model_version") or "all versions"
    return (f"{mark} {a.get('severity', ''):8} {a.get('kind', ''):16} {a.get('monitor')}/{version} "
            f"{a.get('subject')}: {numbers}  window {a.get('window_start')} .. {a.get('window_end')}")


def main(argv: list[str] | None = None) -> int:
    """Exit 2 with one line for a file that cannot be read or a line that is not an alert."""
    args = sys.argv[1:] if argv is None else argv
    name = args[0] if args else "<stdin>"
    try:
        stream = open(args[0], "rb") if args else sys.stdin.buffer  # noqa: SIM115
    except OSError as exc:
        print(f"driftline.show: error: {name}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        with stream:
            for n, line in enumerate(stream, 1):
                if not line.strip():
                    continue
                try:
                    event = orjson.loads(line)
                except orjson.JSONDecodeError:
                    event = None
                if not isinstance(event, dict) or event.get("type") != "alert":
                    print(f"driftline.show: error: {name}, line {n}: not an alert event (show reads alerts.jsonl "
                          f"or the alerts topic)", file=sys.stderr)
                    return 2
                print(format_alert(event), flush=True)
    except BrokenPipeError:       # `| head`: the reader has what it wanted
        sys.stderr.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
