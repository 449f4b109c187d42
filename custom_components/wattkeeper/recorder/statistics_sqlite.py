"""Forwarded statistics in the SQLite backend: day/week/month rollups and meta reads.

The rollups of a write are refreshed inside the write's transaction, after its
statistics are upserted, through jobs on the backend's own connection, so they
commit (or roll back) with the rows they come from.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from .buckets import LocalCalendar
from .records import RollupPeriod, StatisticPeriod, StatisticRow
from .statistics_refresh import Before, Point, Span, refresh_rollups
from .statistics_rollups import StatisticRollupRow
from .statistics_rows import StatisticMeta, valid_statistics
from .timeconv import from_us, to_us

type Call = Callable[[Callable[[sqlite3.Connection], Any]], Awaitable[Any]]

_HOURLY = """SELECT start, mean, min, max, state, sum, unit, source FROM ha_statistics
    WHERE site = ? AND statistic_id = ? AND period = '1h' AND start >= ? AND start < ?
    ORDER BY start"""
_LAST_BEFORE = """SELECT start, sum FROM ha_statistics
    WHERE site = ? AND statistic_id = ? AND period = '1h' AND start < ?
    ORDER BY start DESC LIMIT 1"""
_NEXT_START = """SELECT min(start) FROM ha_statistics
    WHERE site = ? AND statistic_id = ? AND period = '1h' AND start >= ?"""
_ROLLUPS = """SELECT start, count, mean_count, mean, min, max, state, sum, change
    FROM ha_statistics_rollups
    WHERE site = ? AND statistic_id = ? AND period = ? AND start >= ? AND start < ?
    ORDER BY start"""
_UPSERT = """INSERT INTO ha_statistics_rollups (site, statistic_id, period, start, count,
        mean_count, mean, min, max, state, sum, change)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (site, statistic_id, period, start) DO UPDATE SET count = excluded.count,
        mean_count = excluded.mean_count, mean = excluded.mean, min = excluded.min,
        max = excluded.max, state = excluded.state, sum = excluded.sum,
        change = excluded.change"""
_META = """SELECT statistic_id, unit, source, has_mean, has_sum FROM ha_statistics_meta
    WHERE site = ? ORDER BY statistic_id"""


def _rollup(site: str, statistic_id: str, period: RollupPeriod, row: Any) -> StatisticRollupRow:
    return StatisticRollupRow(
        site=site, statistic_id=statistic_id, period=period, start=from_us(row[0]),
        count=row[1], mean_count=row[2], mean=row[3], min=row[4], max=row[5], state=row[6],
        sum=row[7], change=row[8],
    )  # fmt: skip


class SqliteStatistics:
    """Rollup refresh and reads over one backend connection (`call` runs a job on it)."""

    def __init__(self, calendar: LocalCalendar, call: Call) -> None:
        self._calendar = calendar
        self._call = call

    async def refresh(self, rows: Sequence[StatisticRow]) -> None:
        """Recompute the rollups `rows` touch; inside the open write transaction."""
        valid, _ = valid_statistics(rows)
        changed = await refresh_rollups(self._calendar, self, valid)
        if changed:
            values = [
                (r.site, r.statistic_id, r.period.value, to_us(r.start), r.count, r.mean_count,
                 r.mean, r.min, r.max, r.state, r.sum, r.change)
                for r in changed
            ]  # fmt: skip
            await self._call(lambda conn: conn.executemany(_UPSERT, values))

    # -- RollupSource: each call is one job on the connection -------------------------

    async def hourly(self, spans: Sequence[Span]) -> list[list[StatisticRow]]:
        found = await self._call(lambda conn: [conn.execute(_HOURLY, s).fetchall() for s in spans])
        return [
            [StatisticRow(site=site, statistic_id=statistic_id, period=StatisticPeriod.HOUR,
                          start=from_us(row[0]), mean=row[1], min=row[2], max=row[3],
                          state=row[4], sum=row[5], unit=row[6], source=row[7])
             for row in rows]
            for (site, statistic_id, _, _), rows in zip(spans, found, strict=True)
        ]  # fmt: skip

    async def days(self, spans: Sequence[Span]) -> list[list[StatisticRollupRow]]:
        day = RollupPeriod.DAY
        found = await self._call(
            lambda conn: [
                conn.execute(_ROLLUPS, (site, sid, day.value, low, high)).fetchall()
                for site, sid, low, high in spans
            ]
        )
        return [
            [_rollup(site, statistic_id, day, row) for row in rows]
            for (site, statistic_id, _, _), rows in zip(spans, found, strict=True)
        ]

    async def last_before(self, points: Sequence[Point]) -> list[Before | None]:
        found = await self._call(
            lambda conn: [conn.execute(_LAST_BEFORE, p).fetchone() for p in points]
        )
        return [None if row is None else (row[0], row[1]) for row in found]

    async def next_start(self, points: Sequence[Point]) -> list[int | None]:
        found = await self._call(
            lambda conn: [conn.execute(_NEXT_START, p).fetchone()[0] for p in points]
        )
        return list(found)

    # -- reads -----------------------------------------------------------------------

    async def read(
        self, site: str, statistic_id: str, period: RollupPeriod, start: int, end: int
    ) -> list[StatisticRollupRow]:
        found = await self._call(
            lambda conn: conn.execute(
                _ROLLUPS, (site, statistic_id, period.value, start, end)
            ).fetchall()
        )
        return [_rollup(site, statistic_id, period, row) for row in found]

    async def read_rollups(
        self, site: str, statistic_id: str, period: RollupPeriod, start: datetime, end: datetime
    ) -> list[StatisticRollupRow]:
        return await self.read(site, statistic_id, period, to_us(start), to_us(end))

    async def read_meta(self, site: str) -> list[StatisticMeta]:
        found = await self._call(lambda conn: conn.execute(_META, (site,)).fetchall())
        return [
            StatisticMeta(site=site, statistic_id=row[0], unit=row[1], source=row[2],
                          has_mean=bool(row[3]), has_sum=bool(row[4]))
            for row in found
        ]  # fmt: skip
