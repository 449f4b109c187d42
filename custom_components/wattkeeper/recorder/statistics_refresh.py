"""Which statistics rollups a write changes, and their new rows, for every backend.

A backend hands over the statistics rows of a write and a `RollupSource` over
what it stores; it gets back the day, week and month rows to upsert. For each
statistic with hourly rows in the write:

- every stored day from the first to the last written day is reduced again
  from its hourly rows;
- so is the first stored day after them, whose change starts from their sum;
- every week and month holding one of those days is combined again from its
  day rows.

Stored rows are overlaid with the written ones, so a backend may read before
or after it stores the write (Cassandra writes concurrently, the SQL backends
read inside their transaction). Whole buckets are recomputed from complete
data, so a replay, a late row or a correction gives the same rows as one write
of everything would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Protocol

from .buckets import LocalCalendar
from .records import StatisticPeriod, StatisticRow
from .statistics_rollups import COARSE_PERIODS, StatisticRollupRow, combine_days, reduce_day
from .timeconv import from_us, to_us

# (position µs, sum) of the latest stored data before some moment.
type Before = tuple[int, float | None]


class RollupSource(Protocol):
    """What the rollup refresh reads from a backend (times in UTC microseconds)."""

    async def hourly(
        self, site: str, statistic_id: str, start: int, end: int
    ) -> list[StatisticRow]:
        """Stored hourly rows starting in [start, end), oldest first."""

    async def days(
        self, site: str, statistic_id: str, start: int, end: int
    ) -> list[StatisticRollupRow]:
        """Stored day rollups starting in [start, end), oldest first."""

    async def last_before(self, site: str, statistic_id: str, start: int) -> Before | None:
        """Start and sum of the last stored hourly row (or day rollup) before `start`."""

    async def next_start(self, site: str, statistic_id: str, start: int) -> int | None:
        """Start of the first stored hourly row at or after `start` (or of its day)."""


async def refresh_rollups(
    calendar: LocalCalendar,
    source: RollupSource,
    rows: Iterable[StatisticRow],
    *,
    concurrent: bool = False,
) -> list[StatisticRollupRow]:
    """The rollup rows that writing `rows` changes. `concurrent` refreshes statistics
    side by side (for sources that may be read concurrently)."""
    written: dict[tuple[str, str], dict[int, StatisticRow]] = {}
    for row in rows:
        if row.period is StatisticPeriod.HOUR:
            written.setdefault((row.site, row.statistic_id), {})[to_us(row.start)] = row
    jobs = [
        _refresh_statistic(calendar, source, site, statistic_id, hours)
        for (site, statistic_id), hours in written.items()
    ]
    if concurrent:
        results = await asyncio.gather(*jobs)
    else:
        results = [await job for job in jobs]
    return [row for result in results for row in result]


async def _refresh_statistic(
    calendar: LocalCalendar,
    source: RollupSource,
    site: str,
    statistic_id: str,
    written: dict[int, StatisticRow],
) -> list[StatisticRollupRow]:
    first_day = calendar.day(min(written))[0]
    end = calendar.day(max(written))[1]
    hours = {
        to_us(row.start): row for row in await source.hourly(site, statistic_id, first_day, end)
    }
    following = await source.next_start(site, statistic_id, end)
    if following is not None:
        low, high = calendar.day(following)
        hours.update(
            (to_us(row.start), row) for row in await source.hourly(site, statistic_id, low, high)
        )
    hours.update(written)

    before = await source.last_before(site, statistic_id, first_day)
    sum_before = before[1] if before is not None else None
    days: dict[int, StatisticRollupRow] = {}
    for day_start, group in _by_day(calendar, hours):
        day = reduce_day(group, from_us(day_start), sum_before)
        days[day_start] = day
        sum_before = day.sum

    result = list(days.values())
    for period in COARSE_PERIODS:
        for low, high in sorted({calendar.span(period, start) for start in days}):
            parts = {
                to_us(day.start): day for day in await source.days(site, statistic_id, low, high)
            }
            parts.update((start, day) for start, day in days.items() if low <= start < high)
            base = await _last_before(source, site, statistic_id, low, days)
            result.append(
                combine_days([parts[start] for start in sorted(parts)], period, from_us(low), base)
            )
    return result


def _by_day(
    calendar: LocalCalendar, hours: dict[int, StatisticRow]
) -> Iterable[tuple[int, list[StatisticRow]]]:
    """The hourly rows grouped by local day, oldest first."""
    group: list[StatisticRow] = []
    group_day = 0
    for start in sorted(hours):
        day = calendar.day(start)[0]
        if group and day != group_day:
            yield group_day, group
            group = []
        group_day = day
        group.append(hours[start])
    if group:
        yield group_day, group


async def _last_before(
    source: RollupSource,
    site: str,
    statistic_id: str,
    start: int,
    fresh: dict[int, StatisticRollupRow],
) -> float | None:
    """The sum before `start`: of the latest recomputed day before it, unless the store
    knows later data (a day this write did not change)."""
    stored = await source.last_before(site, statistic_id, start)
    earlier = [day for day in fresh if day < start]
    if earlier and (stored is None or max(earlier) >= stored[0]):
        return fresh[max(earlier)].sum
    return stored[1] if stored is not None else None
