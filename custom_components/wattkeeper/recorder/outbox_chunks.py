"""Readings in the outbox travel as chunks: three packed columns in one row.

One row per append (split every CHUNK_READINGS readings) instead of one row per
reading makes appends, leases and deletes several times cheaper. The outbox
file never leaves this machine, so native byte order is fine.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import overload

from .records import RawRow, Sample, SeriesKey
from .timeconv import EPOCH, MICROSECOND

# Also the granularity at which a full outbox drops its oldest readings.
CHUNK_READINGS = 2048

# (reading count, earliest timestamp, series column, time column, value column)
ChunkRow = tuple[int, int, bytes, bytes, bytes]


def _series_column() -> array[int]:
    return array("i")


def _time_column() -> array[int]:
    return array("q")


def _value_column() -> array[float]:
    return array("d")


@dataclass(slots=True)
class Columns:
    """Valid readings as columns: outbox series id, UTC microseconds, value."""

    series: array[int] = field(default_factory=_series_column)
    ts: array[int] = field(default_factory=_time_column)
    value: array[float] = field(default_factory=_value_column)

    def __len__(self) -> int:
        return len(self.ts)

    def chunks(self) -> Iterator[ChunkRow]:
        for start in range(0, len(self.ts), CHUNK_READINGS):
            end = start + CHUNK_READINGS
            ts = self.ts[start:end]
            yield (
                len(ts),
                min(ts),
                self.series[start:end].tobytes(),
                ts.tobytes(),
                self.value[start:end].tobytes(),
            )


def pack(
    samples: Iterable[Sample], ids: Mapping[SeriesKey, int]
) -> tuple[Columns, list[tuple[Sample, str]]]:
    """The valid readings as columns, and each rejected one with the reason."""
    columns = Columns()
    add_series, add_ts, add_value = columns.series.append, columns.ts.append, columns.value.append
    rejected: list[tuple[Sample, str]] = []
    # The readings of one snapshot share its timestamp object: converted once.
    last_ts: object = None
    last_us: int | None = None
    # The hot path: one pass and no calls for a well-formed UTC reading.
    for sample in samples:
        series = ids.get(sample.series)
        value = sample.value
        ts = sample.ts
        if ts is not last_ts:
            zone = ts.tzinfo
            aware = zone is not None and (zone is UTC or ts.utcoffset() is not None)
            last_ts, last_us = ts, (ts - EPOCH) // MICROSECOND if aware else None
        if (
            series is None
            or last_us is None
            or (value.__class__ is not float and not _is_number(value))
            or not math.isfinite(value)
        ):
            rejected.append((sample, _problem(sample, series)))
            continue
        add_series(series)
        add_ts(last_us)
        add_value(value)
    return columns, rejected


class ColumnRows(Sequence[RawRow]):
    """Readings as (series, microseconds, value) tuples, kept as the three columns they
    travel in: a backend that can use the columns (PostgreSQL's binary COPY) never
    makes a tuple per reading; the others see a plain sequence of tuples."""

    __slots__ = ("columns",)

    def __init__(self, columns: Columns) -> None:
        self.columns = columns

    def __len__(self) -> int:
        return len(self.columns.ts)

    @overload
    def __getitem__(self, index: int) -> RawRow: ...
    @overload
    def __getitem__(self, index: slice) -> list[RawRow]: ...
    def __getitem__(self, index: int | slice) -> RawRow | list[RawRow]:
        c = self.columns
        if isinstance(index, slice):
            return list(zip(c.series[index], c.ts[index], c.value[index], strict=True))
        return c.series[index], c.ts[index], c.value[index]

    def __iter__(self) -> Iterator[RawRow]:
        c = self.columns
        return zip(c.series, c.ts, c.value, strict=True)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # mutable columns, like a list

    def __repr__(self) -> str:
        return f"ColumnRows({list(self)!r})"


def unpack(chunks: Iterable[tuple[bytes, bytes, bytes]]) -> ColumnRows:
    """Readings of chunks, in order."""
    columns = Columns()
    for series_bytes, ts_bytes, value_bytes in chunks:
        columns.series.frombytes(series_bytes)
        columns.ts.frombytes(ts_bytes)
        columns.value.frombytes(value_bytes)
    return ColumnRows(columns)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _problem(sample: Sample, series: int | None) -> str:
    """Why a reading was rejected (the slow path, for the log)."""
    if series is None:
        return "the series is not registered"
    if not _is_number(sample.value):
        return "the value is not a number"
    if not math.isfinite(sample.value):
        return "the value is NaN or infinite"
    return "the timestamp has no time zone"
