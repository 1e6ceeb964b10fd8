"""The CLI's allocator setting: taken on glibc (the Linux this project ships for)."""

from __future__ import annotations

import platform

import pytest
from driftline.streams.allocator import keep_freed_blocks


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_takes_the_thresholds() -> None:
    assert keep_freed_blocks() is True
