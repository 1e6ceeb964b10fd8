"""Profiles of training data (read by ``training_rows``), and reference profiles in files.

A column is found by the feature's configured path in an event-shaped record
(``features.amount``), or else by its plain name (``amount``) in a flat table; the prediction
by its configured path or the column ``prediction``; the label by ``fields.label`` or the
column ``label``. For a monitor with a ``performance`` section, when rows have both a prediction
and a label, the profile also records the model's performance on them (the baseline of the
performance test); without that section a ``label`` column is not read at all.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from driftline.detectors.reference import CategoricalReference, NumericReference, ReferenceProfile
from driftline.detectors.reference_codec import from_dict, to_dict
from driftline.schemas.config import MonitorConfig

from .decode import whole_number_text
from .exceptions import InputError, ReferenceProfileError
from .paths import file_in_the_way
from .performance import training_baseline
from .training_rows import read_rows

_ABSENT = object()


class _NotAnObject(Exception):
    """Something on a value's path is neither an object nor null (``"features": 5``)."""


def _lookup(row: dict[str, Any], path: tuple[str, ...], flat: str, absent: Any = None) -> Any:
    """The value at ``path`` (nested rows), else in column ``flat`` or ``"a.b"`` (flat
    tables); ``absent`` when the row has none of them. ``_NotAnObject`` (its dotted path and
    value) when the path meets a value that is no object: the live decoder refuses such an
    event (``wrong_type``), so its values are no nulls here."""
    obj: Any = row
    for depth, key in enumerate(path):
        if not isinstance(obj, dict) or key not in obj:
            for column in (flat, ".".join(path)):   # a flat table's column
                if column in row:
                    return row[column]
            if obj is not None and not isinstance(obj, dict):
                raise _NotAnObject(".".join(path[:depth]), obj)
            return absent
        obj = obj[key]
    return obj


def _column(rows: list[dict[str, Any]], path: tuple[str, ...], flat: str, where: str) -> list[Any]:
    """Every row's value at ``path`` (see :func:`_lookup`)."""
    values = []
    for i, r in enumerate(rows):
        try:
            values.append(_lookup(r, path, flat))
        except _NotAnObject as exc:
            name, value = exc.args
            raise InputError(f"{where}, row {i + 1}: {name} must be an object (or null), got "
                             f"{type(value).__name__} {value!r:.40}") from None
    return values


def _check_present(rows: list[dict[str, Any]], path: tuple[str, ...], flat: str, where: str) -> None:
    """A value no row holds is a misspelt column or path, not a column of nulls: say so."""
    if all(_lookup(r, path, flat, _ABSENT) is _ABSENT for r in rows):
        raise InputError(f"{where}: no row has it (looked for {'.'.join(path)!r} and column {flat!r}); "
                         f"check the column names against the config")


def _numeric(values: list[Any], where: str, csv_text: bool) -> np.ndarray:
    """Numbers, and nulls as NaN. ``csv_text``: the values are CSV cells (text; empty is
    null); otherwise a string is refused, as a live event's decoder refuses it."""
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        if v is None or (csv_text and v == ""):
            out[i] = math.nan
            continue
        if isinstance(v, str) and not csv_text:
            raise InputError(f"{where}, row {i + 1}: {v!r} is a string, not a number; live events with a "
                             f"string here go to the dead letters, so the training data must hold numbers too")
        try:
            x = float(v) if not isinstance(v, bool) else math.nan
        except (TypeError, ValueError):
            raise InputError(f"{where}, row {i + 1}: {v!r} is not a number") from None
        if isinstance(v, bool) or not math.isfinite(x):
            raise InputError(f"{where}, row {i + 1}: {v!r} is not a finite number")
        out[i] = x
    return out


# Binary labels as a CSV (or a pandas export: True/False) spells them, lowercased.
_BINARY_TEXT = {"1": 1.0, "1.0": 1.0, "true": 1.0, "0": 0.0, "0.0": 0.0, "false": 0.0}


def _binary(values: list[Any], where: str, csv_text: bool) -> np.ndarray:
    """0 / 1 labels of a table: numbers and booleans, or (``csv_text``) their text as CSV has it;
    elsewhere a string is refused, as a live label's decoder refuses it."""
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        if v is None or (csv_text and v == ""):
            continue
        if isinstance(v, str) and not csv_text:
            raise InputError(f"{where}, row {i + 1}: {v!r} is a string, not 0, 1, true or false; live labels with "
                             f"a string here go to the dead letters, so the training data must hold numbers too")
        if isinstance(v, bool | int | float) and v in (0, 1):
            out[i] = float(v)
        elif isinstance(v, str) and v.strip().lower() in _BINARY_TEXT:
            out[i] = _BINARY_TEXT[v.strip().lower()]
        else:
            raise InputError(f"{where}, row {i + 1}: {v!r} is not 0, 1, true or false")
    return out


def _class_labels(values: list[Any], where: str, csv_text: bool = False) -> np.ndarray:
    """Categories and class labels read as the live decoders read them (streams/decode.py,
    label_decode.py): text as it is, integers as their decimal text, booleans as ``true`` /
    ``false``. A whole float (1.0) is its integer's text: tables keep integer columns with
    nulls as floats (pandas, Parquet), and a reference of "1.0" would meet live events of "1".

    ``csv_text``: the values are CSV cells, where such a float column is written as text
    ("1.0"): a column whose every value is a whole number, some written with a decimal point
    and zeros only, is read as those integers' text (a column of "1.0" and "1.5" stays text);
    one whose every value is a boolean's text (pandas writes True) as ``true`` / ``false``."""
    if csv_text and _whole_decimals(values):
        values = [v.split(".")[0] if isinstance(v, str) else v for v in values]
        values = [v if v in (None, "") else int(v) for v in values]
    elif csv_text and _boolean_texts(values):
        values = [v.lower() if isinstance(v, str) else v for v in values]
    out = np.full(len(values), None, dtype=object)
    for i, v in enumerate(values):
        if v is None or (csv_text and v == ""):   # an empty CSV cell is null, "" in JSON a category
            continue
        if isinstance(v, str):
            out[i] = v
        elif isinstance(v, bool):
            out[i] = "true" if v else "false"
        elif isinstance(v, int):
            out[i] = str(v)
        elif isinstance(v, float) and (text := whole_number_text(v)) is not None:
            out[i] = text
        else:
            raise InputError(f"{where}, row {i + 1}: {v!r} is not a category (a string, a boolean, an integer "
                             f"or a whole number up to 2**53)")
    return out


# a CSV cell holding a whole number, with or without a decimal point and trailing zeros
_WHOLE_DECIMAL = re.compile(r"[+-]?\d+(\.0*)?")


def _boolean_texts(values: list[Any]) -> bool:
    """Every non-empty value is a boolean's text (any case), as pandas writes a bool column."""
    cells = [v for v in values if v not in (None, "")]
    return bool(cells) and all(isinstance(v, str) and v.lower() in ("true", "false") for v in cells)


def _whole_decimals(values: list[Any]) -> bool:
    """Every non-empty value is a whole number's text, and some have a decimal point (2.0)."""
    cells = [v for v in values if v not in (None, "")]
    return (bool(cells) and all(isinstance(v, str) and _WHOLE_DECIMAL.fullmatch(v) for v in cells)
            and any("." in v for v in cells))


def _training_labels(task: str, values: list[Any], where: str, csv_text: bool) -> np.ndarray:
    if task == "binary":
        return _binary(values, where, csv_text)
    return _numeric(values, where, csv_text) if task == "regression" else _class_labels(values, where, csv_text)


def build_profile(cfg: MonitorConfig, path: Path) -> ReferenceProfile:
    """Profile the training data at ``path`` for monitor ``cfg``."""
    return profile_rows(cfg, path)[0]


def profile_rows(cfg: MonitorConfig, path: Path) -> tuple[ReferenceProfile, int]:
    """:func:`build_profile`, and how many rows the file has."""
    rows = read_rows(path)
    if not rows:
        raise InputError(f"{path}: has no rows")
    csv_text = path.suffix.lower() == ".csv"
    numeric: dict[str, NumericReference] = {}
    categorical: dict[str, CategoricalReference] = {}
    for f in cfg.features:
        where = f"{path}: feature {f.name!r}"
        values = _column(rows, f.path, f.name, where)
        _check_present(rows, f.path, f.name, where)
        try:
            if f.type == "numeric":
                numeric[f.name] = NumericReference.build(_numeric(values, where, csv_text), lower=f.min, upper=f.max)
            else:
                categorical[f.name] = CategoricalReference.build(_class_labels(values, where, csv_text))
        except ValueError as exc:
            raise InputError(f"{where}: {exc}") from None
    prediction = None
    performance = None
    if cfg.prediction is not None:
        where = f"{path}: prediction"
        values = _column(rows, cfg.prediction.path, "prediction", where)
        _check_present(rows, cfg.prediction.path, "prediction", where)
        predicted = (_numeric(values, where, csv_text) if cfg.prediction.type == "numeric"
                     else _class_labels(values, where, csv_text))
        try:
            prediction = (NumericReference.build(predicted) if cfg.prediction.type == "numeric"
                          else CategoricalReference.build(predicted))
        except ValueError as exc:
            raise InputError(f"{where}: {exc}") from None
        if cfg.performance is not None:
            performance = _baseline(cfg, path, rows, prediction, predicted, csv_text)
    return ReferenceProfile(numeric, categorical, prediction, performance=performance), len(rows)


def _baseline(cfg: MonitorConfig, path: Path, rows: list[dict[str, Any]],
              prediction: NumericReference | CategoricalReference, predicted: np.ndarray, csv_text: bool):
    """The model's performance on the rows with a label (None when no row has one)."""
    assert cfg.performance is not None
    labels = _column(rows, cfg.fields.label, "label", f"{path}: label")
    if not any(v is not None and v != "" for v in labels):
        return None
    truth = _training_labels(cfg.performance.task, labels, f"{path}: label", csv_text)
    return training_baseline(cfg, prediction, predicted, truth)


def write_reference(profile: ReferenceProfile, path: Path) -> None:
    if os.path.isdir(path):     # (never raises: a locked directory on the way is reported below)
        raise InputError(f"{path}: is a directory; give the reference file's path (e.g. {path / 'reference.json'})")
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(orjson.dumps(to_dict(profile), option=orjson.OPT_INDENT_2))
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        blocker = file_in_the_way(path.parent)
        why = exc.strerror or str(exc) if blocker is None else f"{blocker} is a file, not a directory"
        raise InputError(f"{path}: cannot write the reference there ({why})") from None


def read_reference(path: Path) -> ReferenceProfile:
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise ReferenceProfileError(f"{path}: reference not found; build it with `driftline reference build`") from None
    except OSError as exc:
        raise ReferenceProfileError(f"{path}: cannot read the reference ({exc.strerror or exc})") from None
    except orjson.JSONDecodeError as exc:
        raise ReferenceProfileError(f"{path}: reference is not JSON ({exc})") from None
    try:
        return from_dict(data)
    except ValueError as exc:
        raise ReferenceProfileError(f"{path}: {exc}") from None
