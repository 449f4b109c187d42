"""Forwarded statistics in the Cassandra backend: day/week/month rollups and meta reads.

`ha_statistics_rollups` is partitioned by (site, statistic_id, period), so a
day row before or after some moment is one single-partition query, where the
hourly rows (partitioned by month) would need a walk over months: the day rows
double as the index of which days hold data. The rollups are computed from the
rows in hand while the write's own rows are stored concurrently, then written
as unlogged batches, one partition each, like every other Cassandra write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Final

from cassandra.query import PreparedStatement

from .buckets import LocalCalendar
from .cassandra_batches import partition_batches
from .cassandra_session import CassandraSession
from .records import RollupPeriod, StatisticPeriod, StatisticRow
from .statistics_refresh import Before, Point, Span, refresh_rollups
from .statistics_rollups import StatisticRollupRow
from .statistics_rows import StatisticMeta
from .timeconv import from_us, to_us

type ReadHourly = Callable[
    [str, str, StatisticPeriod, datetime, datetime], Awaitable[list[StatisticRow]]
]

# Every statement names the whole partition key (site, statistic_id, period).
CQL: Final[dict[str, str]] = {
    "insert": (
        "INSERT INTO {ks}.ha_statistics_rollups (site, statistic_id, period, start, count, "
        "mean_count, mean, min, max, state, sum, change) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "?, ?)"
    ),
    "select": (
        "SELECT start, count, mean_count, mean, min, max, state, sum, change "
        "FROM {ks}.ha_statistics_rollups WHERE site = ? AND statistic_id = ? AND period = ? "
        "AND start >= ? AND start < ?"
    ),
    "select_before": (
        "SELECT start, sum FROM {ks}.ha_statistics_rollups WHERE site = ? AND statistic_id = ? "
        "AND period = ? AND start < ? ORDER BY start DESC LIMIT 1"
    ),
    "select_from": (
        "SELECT start FROM {ks}.ha_statistics_rollups WHERE site = ? AND statistic_id = ? "
        "AND period = ? AND start >= ? LIMIT 1"
    ),
    "select_meta": (
        "SELECT statistic_id, unit, source, has_mean, has_sum FROM {ks}.ha_statistics_meta "
        "WHERE site = ?"
    ),
}
_DAY: Final = RollupPeriod.DAY.value


@dataclass(frozen=True, slots=True)
class _Statements:
    insert: PreparedStatement
    select: PreparedStatement
    select_before: PreparedStatement
    select_from: PreparedStatement
    select_meta: PreparedStatement


def _rollup(
    site: str, statistic_id: str, period: RollupPeriod, row: Sequence[Any]
) -> StatisticRollupRow:
    return StatisticRollupRow(
        site=site, statistic_id=statistic_id, period=period, start=from_us(row[0]),
        count=row[1], mean_count=row[2], mean=row[3], min=row[4], max=row[5], state=row[6],
        sum=row[7], change=row[8],
    )  # fmt: skip


class CassandraStatistics:
    """Rollup refresh and reads on one session; `read_hourly` reads forwarded rows."""

    def __init__(
        self,
        db: CassandraSession,
        statements: _Statements,
        calendar: LocalCalendar,
        read_hourly: ReadHourly,
        batch_rows: int,
    ) -> None:
        self._db = db
        self._st = statements
        self._calendar = calendar
        self._read_hourly = read_hourly
        self._batch_rows = batch_rows

    @classmethod
    async def prepare(
        cls, db: CassandraSession, calendar: LocalCalendar, read_hourly: ReadHourly
    ) -> CassandraStatistics:
        keyspace = db.config.keyspace
        prepared = {
            f.name: await db.prepare(CQL[f.name].format(ks=keyspace)) for f in fields(_Statements)
        }
        return cls(db, _Statements(**prepared), calendar, read_hourly, db.config.batch_rows)

    async def refresh(self, rows: Sequence[StatisticRow]) -> None:
        """Recompute and write the rollups `rows` (valid) touch."""
        changed = await refresh_rollups(self._calendar, self, rows)
        values = [
            (
                (r.site, r.statistic_id, r.period.value),
                (r.site, r.statistic_id, r.period.value, to_us(r.start), r.count, r.mean_count,
                 r.mean, r.min, r.max, r.state, r.sum, r.change),
            )
            for r in changed
        ]  # fmt: skip
        await self._db.execute_all(partition_batches(self._st.insert, values, self._batch_rows))

    # -- RollupSource: the lookups of one call run concurrently ------------------------

    async def hourly(self, spans: Sequence[Span]) -> list[list[StatisticRow]]:
        return list(
            await asyncio.gather(
                *(
                    self._read_hourly(site, sid, StatisticPeriod.HOUR, from_us(low), from_us(high))
                    for site, sid, low, high in spans
                )
            )
        )

    async def days(self, spans: Sequence[Span]) -> list[list[StatisticRollupRow]]:
        found = await self._db.execute_all(
            (self._st.select, (site, sid, _DAY, low, high)) for site, sid, low, high in spans
        )
        return [
            [_rollup(site, sid, RollupPeriod.DAY, row) for row in rows]
            for (site, sid, _, _), rows in zip(spans, found, strict=True)
        ]

    async def last_before(self, points: Sequence[Point]) -> list[Before | None]:
        # The last day before a local midnight ends by it: its sum is the last row's.
        found = await self._db.execute_all(
            (self._st.select_before, (site, sid, _DAY, at)) for site, sid, at in points
        )
        return [(int(rows[0][0]), rows[0][1]) if rows else None for rows in found]

    async def next_start(self, points: Sequence[Point]) -> list[int | None]:
        found = await self._db.execute_all(
            (self._st.select_from, (site, sid, _DAY, at)) for site, sid, at in points
        )
        return [int(rows[0][0]) if rows else None for rows in found]

    # -- reads -----------------------------------------------------------------------

    async def read(
        self, site: str, statistic_id: str, period: RollupPeriod, start: int, end: int
    ) -> list[StatisticRollupRow]:
        if end <= start:
            return []
        rows = await self._db.execute(
            self._st.select, (site, statistic_id, period.value, start, end)
        )
        return [_rollup(site, statistic_id, period, row) for row in rows]

    async def read_rollups(
        self, site: str, statistic_id: str, period: RollupPeriod, start: datetime, end: datetime
    ) -> list[StatisticRollupRow]:
        return await self.read(site, statistic_id, period, to_us(start), to_us(end))

    async def read_meta(self, site: str) -> list[StatisticMeta]:
        rows = await self._db.execute(self._st.select_meta, (site,))
        return sorted(
            (
                StatisticMeta(site=site, statistic_id=row[0], unit=row[1], source=row[2],
                              has_mean=bool(row[3]), has_sum=bool(row[4]))
                for row in rows
            ),
            key=lambda meta: meta.statistic_id,
        )  # fmt: skip
