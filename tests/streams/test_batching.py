from __future__ import annotations

from driftline.streams.batching import byte_slices
from hypothesis import given
from hypothesis import strategies as st


@given(sizes=st.lists(st.integers(0, 50), max_size=60), limit=st.integers(1, 120))
def test_slices_cover_everything_in_order_within_the_limit(sizes, limit):
    values = [b"x" * s for s in sizes]
    parts = list(byte_slices(values, limit))
    assert [v for p in parts for v in values[p]] == values
    for p in parts:
        chunk = values[p]
        assert chunk, "every slice holds at least one value"
        assert len(chunk) == 1 or sum(map(len, chunk)) <= limit
