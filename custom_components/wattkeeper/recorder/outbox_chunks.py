"""Readings in the outbox travel as chunks: three packed columns in one row.

One row per append (split every CHUNK_READINGS readings) instead of one row per
reading makes appends, leases and deletes several times cheaper. The outbox
file never leaves this machine, so native byte order is fine.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC

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
    # The hot path: one pass and no calls for a well-formed UTC reading.
    for sample in samples:
        series = ids.get(sample.series)
        value = sample.value
        ts = sample.ts
        zone = ts.tzinfo
        if (
            series is None
            or (value.__class__ is not float and not _is_number(value))
            or not math.isfinite(value)
            or zone is None
            or (zone is not UTC and ts.utcoffset() is None)
        ):
            rejected.append((sample, _problem(sample, series)))
            continue
        add_series(series)
        add_ts((ts - EPOCH) // MICROSECOND)
        add_value(value)
    return columns, rejected


def unpack(chunks: Iterable[tuple[bytes, bytes, bytes]]) -> list[RawRow]:
    """Readings of chunks, in order, as (series, microseconds, value) tuples."""
    series, ts, value = _series_column(), _time_column(), _value_column()
    for series_bytes, ts_bytes, value_bytes in chunks:
        series.frombytes(series_bytes)
        ts.frombytes(ts_bytes)
        value.frombytes(value_bytes)
    return list(zip(series, ts, value, strict=True))


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
