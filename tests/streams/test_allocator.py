"""The CLI's allocator setting: taken on glibc (the Linux this project ships for). Checked in
a child interpreter, so the test process keeps its own allocator settings."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_takes_the_thresholds() -> None:
    code = "from driftline.streams.allocator import keep_freed_blocks; print(keep_freed_blocks())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
