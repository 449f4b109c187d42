"""Readings as a binary COPY payload for PostgreSQL, built column-wise with numpy.

The outbox hands readings over as three packed columns (outbox_chunks.ColumnRows);
turning them into COPY's binary row format with numpy costs no Python object per
reading, which at hundreds of thousands of readings a second is most of the
client's work. The same arrays give the touched 15-minute buckets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .outbox_chunks import ColumnRows
from .records import RawRow
from .timeconv import QUARTER_HOUR_US

# PostgreSQL counts timestamptz in microseconds since 2000-01-01 UTC.
_PG_EPOCH_US = 946_684_800 * 1_000_000
_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
_TRAILER = b"\xff\xff"
# One row of `samples`: the field count, then each field's length and value (big-endian).
_ROW = np.dtype(
    [("fields", ">i2"), ("series_len", ">i4"), ("series", ">i4"), ("ts_len", ">i4"),
     ("ts", ">i8"), ("value_len", ">i4"), ("value", ">f8")]
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Readings:
    """A batch's readings as arrays: outbox series ref, UTC microseconds, value."""

    refs: npt.NDArray[np.int32]
    ts: npt.NDArray[np.int64]
    value: npt.NDArray[np.float64]

    @classmethod
    def of(cls, rows: Sequence[RawRow]) -> Readings:
        if isinstance(rows, ColumnRows):
            c = rows.columns
            return cls(
                np.frombuffer(c.series, dtype=np.int32),
                np.frombuffer(c.ts, dtype=np.int64),
                np.frombuffer(c.value, dtype=np.float64),
            )
        refs, ts, value = zip(*rows, strict=True) if rows else ((), (), ())
        return cls(
            np.array(refs, dtype=np.int32),
            np.array(ts, dtype=np.int64),
            np.array(value, dtype=np.float64),
        )

    def quarters(self) -> set[tuple[int, int]]:
        """The (series ref, 15-minute bucket start) pairs the readings fall into."""
        if not len(self.ts):
            return set()
        # One int64 per pair (ref in the high half), so the unique is a 1-D one.
        quarter = self.ts // QUARTER_HOUR_US
        first = int(quarter.min())
        keys = np.unique((self.refs.astype(np.int64) << 32) | (quarter - first))
        refs = (keys >> 32).tolist()
        starts = (((keys & 0xFFFF_FFFF) + first) * QUARTER_HOUR_US).tolist()
        return set(zip(refs, starts, strict=True))

    def copy_payload(self, series_ids: Mapping[int, int]) -> tuple[bytes, int, int]:
        """The binary COPY of the finite readings into `samples` (series ids from the
        outbox refs); with how many rows it holds and how many were left out."""
        finite = np.isfinite(self.value)
        lookup = np.zeros(max(series_ids, default=0) + 1, dtype=np.int32)
        lookup[list(series_ids)] = list(series_ids.values())
        rows = np.empty(int(finite.sum()), dtype=_ROW)
        rows["fields"] = 3
        rows["series_len"] = 4
        rows["series"] = lookup[self.refs[finite]]
        rows["ts_len"] = 8
        rows["ts"] = self.ts[finite] - _PG_EPOCH_US
        rows["value_len"] = 8
        rows["value"] = self.value[finite]
        return _HEADER + rows.tobytes() + _TRAILER, len(rows), len(self.value) - len(rows)
