"""Rollups of the SQLite backend, computed in Python inside the write transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from .buckets import LocalCalendar
from .records import RollupPeriod
from .rollup_math import Aggregate, aggregate_bucket, combine, fold
from .rollup_plan import COARSE_SOURCES, PURGED_TABLE, ROLLUP_TABLES, plan_coarse
from .timeconv import QUARTER_HOUR_US

_QUARTER = ROLLUP_TABLES[RollupPeriod.QUARTER_HOUR]
_COLUMNS = "count, min, max, mean, first, last, first_ts, last_ts, delta"


class SqliteRollups:
    """Recomputes touched buckets: 15-minute ones from raw readings, coarser ones from rollups."""

    def __init__(self, calendar: LocalCalendar) -> None:
        self._calendar = calendar

    def refresh(
        self, conn: sqlite3.Connection, quarters: Iterable[tuple[int, int]], counters: set[int]
    ) -> int:
        """Recompute the given (series, 15-minute start) buckets and everything above them."""
        touched = set(quarters)
        # A reading that lands last in its bucket changes the counter delta of the next
        # bucket holding readings (raw, or purged by retention).
        for series, start in list(touched):
            if series in counters:
                following = [
                    row[0]
                    for row in (
                        conn.execute(
                            "SELECT ts - ts % ?3 FROM samples WHERE series = ?1 AND ts >= ?2 "
                            "ORDER BY ts LIMIT 1",
                            (series, start + QUARTER_HOUR_US, QUARTER_HOUR_US),
                        ).fetchone(),
                        conn.execute(
                            f"SELECT bucket FROM {PURGED_TABLE} WHERE series = ? AND bucket > ? "  # noqa: S608
                            "ORDER BY bucket LIMIT 1",
                            (series, start),
                        ).fetchone(),
                    )
                    if row is not None
                ]
                if following:
                    touched.add((series, min(following)))
        recomputed = 0
        for series, start in sorted(touched):
            if self._quarter(conn, series, start, series in counters):
                recomputed += 1
        plan = plan_coarse(self._calendar, touched)
        for period, source in COARSE_SOURCES:
            for series, start, end in plan.for_period(period):
                self._coarse(conn, period, source, series, start, end)
        return recomputed

    def _quarter(self, conn: sqlite3.Connection, series: int, start: int, counter: bool) -> bool:
        """Recompute one bucket from its raw readings and what retention purged of it;
        True when it holds raw readings."""
        readings = bucket_readings(conn, series, start)
        purged = purged_aggregate(conn, series, start)
        if not readings and purged is None:
            return False  # raw data gone before purging was recorded: the row stays
        previous = _previous_value(conn, series, start) if counter else None
        aggregate = aggregate_bucket(readings, previous, counter=counter, purged=purged)
        assert aggregate is not None
        _upsert(conn, _QUARTER, series, start, aggregate)
        return bool(readings)

    @staticmethod
    def _coarse(
        conn: sqlite3.Connection,
        period: RollupPeriod,
        source: RollupPeriod,
        series: int,
        start: int,
        end: int,
    ) -> None:
        parts = [
            Aggregate(*row)
            for row in conn.execute(
                f"SELECT {_COLUMNS} FROM {ROLLUP_TABLES[source]} "  # noqa: S608  fixed names
                "WHERE series = ? AND bucket >= ? AND bucket < ?",
                (series, start, end),
            )
        ]
        aggregate = combine(parts)
        if aggregate is not None:
            _upsert(conn, ROLLUP_TABLES[period], series, start, aggregate)


def bucket_readings(conn: sqlite3.Connection, series: int, start: int) -> list[tuple[int, float]]:
    """The raw readings of one 15-minute bucket, in time order."""
    return conn.execute(
        "SELECT ts, value FROM samples WHERE series = ? AND ts >= ? AND ts < ? ORDER BY ts",
        (series, start, start + QUARTER_HOUR_US),
    ).fetchall()


def purged_aggregate(conn: sqlite3.Connection, series: int, start: int) -> Aggregate | None:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM {PURGED_TABLE} WHERE series = ? AND bucket = ?",  # noqa: S608
        (series, start),
    ).fetchone()
    return None if row is None else Aggregate(*row)


def purge_quarter(
    conn: sqlite3.Connection, series: int, start: int, counter: bool, rolled_count: int
) -> int:
    """Fold a bucket's raw readings into its purged aggregate and delete them, if its
    rollup counts them all (else nothing happens); returns how many were deleted."""
    readings = bucket_readings(conn, series, start)
    purged = purged_aggregate(conn, series, start)
    if not readings or rolled_count != len(readings) + (purged.count if purged else 0):
        return 0
    folded = fold(readings, purged, counter=counter)
    assert folded is not None
    _upsert(conn, PURGED_TABLE, series, start, folded)
    conn.execute(
        "DELETE FROM samples WHERE series = ? AND ts >= ? AND ts < ?",
        (series, start, start + QUARTER_HOUR_US),
    )
    return len(readings)


def _previous_value(conn: sqlite3.Connection, series: int, start: int) -> float | None:
    """The last reading before `start`: raw if kept, else the last of an older rollup."""
    raw = conn.execute(
        "SELECT ts, value FROM samples WHERE series = ? AND ts < ? ORDER BY ts DESC LIMIT 1",
        (series, start),
    ).fetchone()
    rolled = conn.execute(
        f"SELECT last_ts, last FROM {_QUARTER} "  # noqa: S608  fixed name
        "WHERE series = ? AND bucket < ? ORDER BY bucket DESC LIMIT 1",
        (series, start),
    ).fetchone()
    candidates = [row for row in (raw, rolled) if row is not None]
    if not candidates:
        return None
    value: float = max(candidates)[1]
    return value


def _upsert(
    conn: sqlite3.Connection, table: str, series: int, start: int, aggregate: Aggregate
) -> None:
    conn.execute(
        f"INSERT OR REPLACE INTO {table} (series, bucket, {_COLUMNS}) "  # noqa: S608
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            series,
            start,
            aggregate.count,
            aggregate.min,
            aggregate.max,
            aggregate.mean,
            aggregate.first,
            aggregate.last,
            aggregate.first_ts,
            aggregate.last_ts,
            aggregate.delta,
        ),
    )
