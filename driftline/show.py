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
    args = sys.argv[1:] if argv is None else argv
    stream = open(args[0], "rb") if args else sys.stdin.buffer  # noqa: SIM115
    with stream:
        for line in stream:
            if line.strip():
                print(format_alert(orjson.loads(line)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
