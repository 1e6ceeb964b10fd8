"""Rows of training files (streams/training_rows.py): odd CSV files read, or one line naming them."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from driftline.streams.exceptions import InputError
from driftline.streams.training_rows import read_rows


def test_a_csv_cell_beyond_csvs_default_limit_is_read(tmp_path: Path) -> None:
    # a free-text column beside the features: csv refuses cells over 128 KiB by default
    rows = "\n".join(f"{i},{'ab'[i % 2]},{'n' * 200_000 if i == 1 else 'short'}" for i in range(10))
    (tmp_path / "t.csv").write_text("x,c,notes\n" + rows + "\n")
    got = read_rows(tmp_path / "t.csv")
    assert len(got) == 10 and len(got[1]["notes"]) == 200_000 and got[2] == {"x": "2", "c": "a", "notes": "short"}
    assert csv.field_size_limit() == 131072           # put back for the rest of the process


def test_a_csv_header_naming_a_column_twice_is_refused(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("x,x,c\n1,100,a\n2,200,b\n")
    with pytest.raises(InputError, match=r"t\.csv: the header names column 'x' more than once"):
        read_rows(tmp_path / "t.csv")
