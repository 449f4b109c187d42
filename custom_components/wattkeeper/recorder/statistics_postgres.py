"""Forwarded statistics in the PostgreSQL backend: day/week/month rollups and meta reads.

The rollups of a write are refreshed on the write's connection, inside its
transaction and after its statistics are upserted, so they commit with them.
Every lookup is a probe or range scan of a primary key.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from .buckets import LocalCalendar
from .postgres_schema import PgConnection
from .records import RollupPeriod, StatisticPeriod, StatisticRow
from .statistics_refresh import Before, Point, Span, refresh_rollups
from .statistics_rollups import StatisticRollupRow
from .statistics_rows import StatisticMeta
from .timeconv import from_us, to_us

# Each lookup for many statistics at once: one probe or range scan of a primary key per
# element of the arrays (LATERAL), tagged with the element's position.
_SPANS = "unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[]) WITH ORDINALITY"
_POINTS = "unnest($1::text[], $2::text[], $3::timestamptz[]) WITH ORDINALITY"
_HOURLY = f"""
SELECT r.i, h.start, h.mean, h.min, h.max, h.state, h.sum, h.unit, h.source
FROM {_SPANS} AS r(site, statistic_id, low, high, i)
CROSS JOIN LATERAL (
    SELECT * FROM ha_statistics
    WHERE site = r.site AND statistic_id = r.statistic_id AND period = '1h'
        AND start >= r.low AND start < r.high
) h
ORDER BY r.i, h.start"""  # noqa: S608
_DAYS = f"""
SELECT r.i, d.start, d.count, d.mean_count, d.mean, d.min, d.max, d.state, d.sum, d.change
FROM {_SPANS} AS r(site, statistic_id, low, high, i)
CROSS JOIN LATERAL (
    SELECT * FROM ha_statistics_rollups
    WHERE site = r.site AND statistic_id = r.statistic_id AND period = '1d'
        AND start >= r.low AND start < r.high
) d
ORDER BY r.i, d.start"""  # noqa: S608
_LAST_BEFORE = f"""
SELECT r.i, b.start, b.sum
FROM {_POINTS} AS r(site, statistic_id, at, i)
CROSS JOIN LATERAL (
    SELECT start, sum FROM ha_statistics
    WHERE site = r.site AND statistic_id = r.statistic_id AND period = '1h' AND start < r.at
    ORDER BY start DESC LIMIT 1
) b"""  # noqa: S608
_NEXT_START = f"""
SELECT r.i, n.start
FROM {_POINTS} AS r(site, statistic_id, at, i)
CROSS JOIN LATERAL (
    SELECT start FROM ha_statistics
    WHERE site = r.site AND statistic_id = r.statistic_id AND period = '1h' AND start >= r.at
    ORDER BY start LIMIT 1
) n"""  # noqa: S608
_ROLLUPS = """
SELECT start, count, mean_count, mean, min, max, state, sum, change FROM ha_statistics_rollups
WHERE site = $1 AND statistic_id = $2 AND period = $3 AND start >= $4 AND start < $5
ORDER BY start"""
_UPSERT = """
INSERT INTO ha_statistics_rollups (site, statistic_id, period, start, count, mean_count, mean,
    min, max, state, sum, change)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::int4[],
    $6::int4[], $7::float8[], $8::float8[], $9::float8[], $10::float8[], $11::float8[],
    $12::float8[])
ON CONFLICT (site, statistic_id, period, start) DO UPDATE SET count = excluded.count,
    mean_count = excluded.mean_count, mean = excluded.mean, min = excluded.min,
    max = excluded.max, state = excluded.state, sum = excluded.sum, change = excluded.change"""
_META = """
SELECT statistic_id, unit, source, has_mean, has_sum FROM ha_statistics_meta
WHERE site = $1 ORDER BY statistic_id"""


def _rollup(
    site: str, statistic_id: str, period: RollupPeriod, row: Sequence[Any]
) -> StatisticRollupRow:
    return StatisticRollupRow(
        site=site, statistic_id=statistic_id, period=period, start=row[0], count=row[1],
        mean_count=row[2], mean=row[3], min=row[4], max=row[5], state=row[6], sum=row[7],
        change=row[8],
    )  # fmt: skip


class _Source:
    """The RollupSource of one connection: one query per kind of lookup."""

    def __init__(self, conn: PgConnection) -> None:
        self._conn = conn

    async def _spans(self, sql: str, spans: Sequence[Span]) -> list[list[asyncpg.Record]]:
        found: list[list[asyncpg.Record]] = [[] for _ in spans]
        if spans:
            sites, ids, lows, highs = zip(*spans, strict=True)
            for row in await self._conn.fetch(
                sql, sites, ids, [from_us(t) for t in lows], [from_us(t) for t in highs]
            ):
                found[row[0] - 1].append(row)
        return found

    async def _points(self, sql: str, points: Sequence[Point]) -> list[asyncpg.Record | None]:
        found: list[asyncpg.Record | None] = [None] * len(points)
        if points:
            sites, ids, moments = zip(*points, strict=True)
            for row in await self._conn.fetch(sql, sites, ids, [from_us(t) for t in moments]):
                found[row[0] - 1] = row
        return found

    async def hourly(self, spans: Sequence[Span]) -> list[list[StatisticRow]]:
        return [
            [StatisticRow(site=site, statistic_id=statistic_id, period=StatisticPeriod.HOUR,
                          start=row[1], mean=row[2], min=row[3], max=row[4], state=row[5],
                          sum=row[6], unit=row[7], source=row[8])
             for row in rows]
            for (site, statistic_id, _, _), rows in zip(
                spans, await self._spans(_HOURLY, spans), strict=True
            )
        ]  # fmt: skip

    async def days(self, spans: Sequence[Span]) -> list[list[StatisticRollupRow]]:
        return [
            [_rollup(site, statistic_id, RollupPeriod.DAY, tuple(row)[1:]) for row in rows]
            for (site, statistic_id, _, _), rows in zip(
                spans, await self._spans(_DAYS, spans), strict=True
            )
        ]

    async def last_before(self, points: Sequence[Point]) -> list[Before | None]:
        return [
            None if row is None else (to_us(row[1]), row[2])
            for row in await self._points(_LAST_BEFORE, points)
        ]

    async def next_start(self, points: Sequence[Point]) -> list[int | None]:
        return [
            None if row is None else to_us(row[1])
            for row in await self._points(_NEXT_START, points)
        ]


async def refresh_statistic_rollups(
    conn: PgConnection, calendar: LocalCalendar, rows: Sequence[StatisticRow]
) -> None:
    """Recompute the rollups `rows` (already upserted, valid) touch, on `conn`."""
    changed = await refresh_rollups(calendar, _Source(conn), rows)
    if not changed:
        return
    columns = list(zip(*(
        (r.site, r.statistic_id, r.period.value, r.start, r.count, r.mean_count, r.mean, r.min,
         r.max, r.state, r.sum, r.change)
        for r in changed
    ), strict=True))  # fmt: skip
    await conn.execute(_UPSERT, *(list(column) for column in columns))


async def read_rollups(
    conn: PgConnection,
    site: str,
    statistic_id: str,
    period: RollupPeriod,
    start: datetime,
    end: datetime,
) -> list[StatisticRollupRow]:
    found = await conn.fetch(_ROLLUPS, site, statistic_id, period.value, start, end)
    return [_rollup(site, statistic_id, period, tuple(row)) for row in found]


async def read_meta(conn: PgConnection, site: str) -> list[StatisticMeta]:
    return [
        StatisticMeta(site=site, statistic_id=row[0], unit=row[1], source=row[2],
                      has_mean=row[3], has_sum=row[4])
        for row in await conn.fetch(_META, site)
    ]  # fmt: skip
