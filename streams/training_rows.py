"""Rows of a training file (CSV with a header, JSON lines, Parquet) for ``reference build``;
every file that cannot be read as such is an ``InputError`` naming it (and the line)."""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from .exceptions import InputError


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a training file, by its suffix: CSV with a header, JSON lines, Parquet."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".jsonl", ".ndjson", ".json"):
            return _jsonl_rows(path)
        if suffix == ".csv":
            return _csv_rows(path)
        if suffix in (".parquet", ".pq"):
            try:
                import pyarrow.parquet as pq
            except ImportError:
                raise InputError(f"{path}: reading Parquet needs pyarrow (pip install 'driftline[parquet]')") from None
            import pyarrow as pa
            try:
                return pq.read_table(path).to_pylist()
            except pa.ArrowException as exc:     # ArrowInvalid is also an OSError: test it first
                raise InputError(f"{path}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    raise InputError(f"{path}: unknown file type {suffix!r}; use .csv, .jsonl or .parquet")


def _csv_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a CSV file with a header; a row with more or fewer fields than the header
    (a truncated or corrupt file) is refused, naming its line."""
    rows = []
    # utf-8-sig: a byte order mark (spreadsheet exports) is not part of the first name
    with path.open(newline="", encoding="utf-8-sig") as fh, _csv_field_limit(_CSV_FIELD_LIMIT):
        reader = csv.DictReader(fh)
        try:
            names = reader.fieldnames or []
            if twice := sorted({n for n in names if names.count(n) > 1}):
                raise InputError(f"{path}: the header names column {twice[0]!r} more than once; "
                                 f"give each column its own name")
            for row in reader:
                if None in row:           # DictReader's key for the values beyond the header
                    raise InputError(f"{path}:{reader.line_num}: more fields than the header's {len(names)}")
                if None in row.values():  # ... and its value for the fields missing
                    raise InputError(f"{path}:{reader.line_num}: fewer fields than the header's {len(names)}")
                rows.append(row)
        except csv.Error as exc:
            raise InputError(f"{path}:{reader.line_num}: not readable as CSV ({exc})") from None
    return rows


# A cell may be a whole document (a free-text column beside the features): csv's default
# limit of 128 KiB would refuse the file; 256 MiB still stops a file that is not CSV at all.
_CSV_FIELD_LIMIT = 256 * 1024 * 1024


@contextlib.contextmanager
def _csv_field_limit(limit: int) -> Iterator[None]:
    """csv's field size limit (process-wide) raised while a file is read."""
    before = csv.field_size_limit(max(limit, csv.field_size_limit()))
    try:
        yield
    finally:
        csv.field_size_limit(before)


def _jsonl_rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if lineno == 1 and line.startswith(b"\xef\xbb\xbf"):   # a byte order mark: the file's, not the row's
                line = line[3:]
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise InputError(f"{path}:{lineno}: not JSON ({exc})") from None
            if not isinstance(obj, dict):
                raise InputError(f"{path}:{lineno}: expected a JSON object per line")
            rows.append(obj)
    return rows
