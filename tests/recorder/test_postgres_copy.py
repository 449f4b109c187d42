"""The binary COPY payload and touched buckets built with numpy (postgres_copy.py)."""

from __future__ import annotations

import math
import struct

from custom_components.wattkeeper.recorder.outbox_chunks import ColumnRows, Columns
from custom_components.wattkeeper.recorder.postgres_copy import Readings
from custom_components.wattkeeper.recorder.rollup_plan import touched_quarters

from .data import SECOND, T0_US

ROWS = [
    (3, T0_US, 1.5),
    (3, T0_US + 899 * SECOND, 2.5),
    (7, T0_US + 900 * SECOND, math.nan),
    (7, -1_234_567_890_123, -4.0),  # before 1970
    (3, T0_US + 5 * SECOND, math.inf),
]


def column_rows(rows: list[tuple[int, int, float]]) -> ColumnRows:
    columns = Columns()
    for series, ts, value in rows:
        columns.series.append(series)
        columns.ts.append(ts)
        columns.value.append(value)
    return ColumnRows(columns)


def test_column_rows_read_as_tuples() -> None:
    rows = column_rows(ROWS)
    assert len(rows) == 5
    assert rows[1] == ROWS[1]
    assert rows[3:] == ROWS[3:]
    assert list(rows)[:2] == ROWS[:2]


def test_touched_quarters_as_in_python() -> None:
    for source in (ROWS, column_rows(ROWS)):
        assert Readings.of(source).quarters() == touched_quarters(ROWS)
    assert Readings.of([]).quarters() == set()


def test_copy_payload_holds_the_finite_readings_with_backend_ids() -> None:
    payload, rows, rejected = Readings.of(column_rows(ROWS)).copy_payload({3: 30, 7: 70})
    assert (rows, rejected) == (3, 2)
    assert payload.startswith(b"PGCOPY\n\xff\r\n\x00" + bytes(8))
    assert payload.endswith(b"\xff\xff")
    body = payload[19:-2]
    row = struct.Struct(">hiiiqid")
    decoded = [row.unpack_from(body, offset) for offset in range(0, len(body), row.size)]
    pg_epoch = 946_684_800 * 1_000_000
    assert decoded == [
        (3, 4, series, 8, ts - pg_epoch, 8, value)
        for series, ts, value in (
            (30, ROWS[0][1], 1.5),
            (30, ROWS[1][1], 2.5),
            (70, ROWS[3][1], -4.0),
        )
    ]
