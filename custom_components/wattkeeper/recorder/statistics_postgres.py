"""Forwarded statistics in the PostgreSQL backend: day/week/month rollups and meta reads.

The rollups of a write are refreshed on the write's connection, inside its
transaction and after its statistics are upserted, so they commit with them.
Every lookup is a probe or range scan of a primary key.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from .buckets import LocalCalendar
from .postgres_schema import PgConnection
from .records import RollupPeriod, StatisticPeriod, StatisticRow
from .statistics_refresh import Before, refresh_rollups
from .statistics_rollups import StatisticRollupRow
from .statistics_rows import StatisticMeta
from .timeconv import from_us, to_us

_HOURLY = """
SELECT start, mean, min, max, state, sum, unit, source FROM ha_statistics
WHERE site = $1 AND statistic_id = $2 AND period = '1h' AND start >= $3 AND start < $4
ORDER BY start"""
_LAST_BEFORE = """
SELECT start, sum FROM ha_statistics
WHERE site = $1 AND statistic_id = $2 AND period = '1h' AND start < $3
ORDER BY start DESC LIMIT 1"""
_NEXT_START = """
SELECT min(start) FROM ha_statistics
WHERE site = $1 AND statistic_id = $2 AND period = '1h' AND start >= $3"""
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
    site: str, statistic_id: str, period: RollupPeriod, row: asyncpg.Record
) -> StatisticRollupRow:
    return StatisticRollupRow(
        site=site, statistic_id=statistic_id, period=period, start=row[0], count=row[1],
        mean_count=row[2], mean=row[3], min=row[4], max=row[5], state=row[6], sum=row[7],
        change=row[8],
    )  # fmt: skip


class _Source:
    """The RollupSource of one connection."""

    def __init__(self, conn: PgConnection) -> None:
        self._conn = conn

    async def hourly(
        self, site: str, statistic_id: str, start: int, end: int
    ) -> list[StatisticRow]:
        found = await self._conn.fetch(_HOURLY, site, statistic_id, from_us(start), from_us(end))
        return [
            StatisticRow(site=site, statistic_id=statistic_id, period=StatisticPeriod.HOUR,
                         start=row[0], mean=row[1], min=row[2], max=row[3], state=row[4],
                         sum=row[5], unit=row[6], source=row[7])
            for row in found
        ]  # fmt: skip

    async def days(
        self, site: str, statistic_id: str, start: int, end: int
    ) -> list[StatisticRollupRow]:
        return await read_rollups(
            self._conn, site, statistic_id, RollupPeriod.DAY, from_us(start), from_us(end)
        )

    async def last_before(self, site: str, statistic_id: str, start: int) -> Before | None:
        row = await self._conn.fetchrow(_LAST_BEFORE, site, statistic_id, from_us(start))
        return None if row is None else (to_us(row[0]), row[1])

    async def next_start(self, site: str, statistic_id: str, start: int) -> int | None:
        found: datetime | None = await self._conn.fetchval(
            _NEXT_START, site, statistic_id, from_us(start)
        )
        return None if found is None else to_us(found)


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
    return [_rollup(site, statistic_id, period, row) for row in found]


async def read_meta(conn: PgConnection, site: str) -> list[StatisticMeta]:
    return [
        StatisticMeta(site=site, statistic_id=row[0], unit=row[1], source=row[2],
                      has_mean=row[3], has_sum=row[4])
        for row in await conn.fetch(_META, site)
    ]  # fmt: skip
