"""Why a path given on the command line cannot be used, in words an operator can act on.

>>> import tempfile
>>> d = Path(tempfile.mkdtemp()); (d / "events.jsonl").write_text("")
0
>>> file_in_the_way(d / "events.jsonl" / "out") == d / "events.jsonl"
True
>>> file_in_the_way(d / "out") is None
True
"""

from __future__ import annotations

import os
from pathlib import Path


def file_in_the_way(path: Path) -> Path | None:
    """The first existing path on the way to ``path`` (``path`` included) that is not a
    directory, when ``path`` must be a directory; None when there is none."""
    for p in [*reversed(path.parents), path]:
        if os.path.lexists(p) and not os.path.isdir(p):   # neither raises (a locked directory)
            return p
    return None


def cannot_make_directory(path: Path, exc: OSError) -> str:
    """Why ``path`` could not be made a directory: a file in the way, or the system's reason."""
    blocker = file_in_the_way(path)
    if blocker == path:
        return "it is a file, not a directory"
    if blocker is not None:
        return f"{blocker} is a file, not a directory"
    return exc.strerror or str(exc)


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file (through links too); a missing one is none."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
