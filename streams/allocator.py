"""Process-wide allocator setting for batch-at-a-time numpy work.

glibc's ``malloc`` serves each block above its mmap threshold (128 KiB at start) with a fresh
``mmap`` and gives it back with ``munmap`` when freed, and trims the top of the heap once more
than twice that is free. A batch's numpy temporaries (a few thousand rows by 20-60 columns:
100 KiB - 1 MiB each) then come back from the kernel as new pages every time, and each first
touch of a page is a page fault: on the development VMs a shift-and-mask over 20,000 int64
values took 197 us instead of ~6 us, and a whole replay ~30% longer (alternating runs,
BENCHMARKS.md). Raising both thresholds keeps freed blocks in the heap for the next batch;
the heap then holds about the peak of one batch's temporaries, so memory stays flat.

Only the CLI (the owner of the process) calls this; library users keep their own settings.
"""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt(3) parameter numbers (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Blocks up to 32 MiB come from the heap (glibc's own ceiling for its dynamic threshold) and up
# to 64 MiB of free heap top is kept: far above the temporaries of a usual batch (5,000 rows of
# 60 columns: 2.4 MB each), well below the memory budget of 200 MB. Larger blocks (a 5,000-row
# batch of 1,000 features: 40 MB) are mmapped as before.
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 64 << 20


def keep_freed_blocks() -> bool:
    """Raise glibc's mmap and trim thresholds; False where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):     # not glibc (musl, macOS): nothing to tune
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    took_mmap = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    took_trim = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    return bool(took_mmap) and bool(took_trim)
