"""Console entry point; the commands live in :mod:`driftline.streams.cli`."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    from driftline.streams.cli import main as _main

    return _main(argv)
