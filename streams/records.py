"""What flows between the stream stages: raw records in, decoded batches and dead letters out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from driftline.detectors.window_sketch import ColumnBatch


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One message as read from a topic or a line of a file."""

    value: bytes
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event that cannot be used: the original bytes, a reason code and a human detail."""

    record: RawRecord
    reason: str      # bounded code: too_large, invalid_json, not_an_object, missing_field, ...
    detail: str
    stage: str = "decode"


@dataclass(frozen=True, eq=False)
class DecodedBatch:
    """The usable events of a batch as columns, plus the dead letters."""

    columns: ColumnBatch
    timestamps: np.ndarray        # float64 epoch seconds
    versions: np.ndarray          # object: model version str or None
    dead: tuple[DeadLetter, ...]
    rows: np.ndarray | None = None        # input index of each valid row (None: 0..n-1)
    dead_rows: np.ndarray | None = None   # input index of each dead letter
    event_ids: list | np.ndarray | None = None   # event id (str or int) of each valid row

    def __len__(self) -> int:
        return int(self.timestamps.size)
