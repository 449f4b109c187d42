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
of everything would. The source answers each kind of lookup for all statistics
of a write at once: a write costs six round trips however many statistics it
carries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .buckets import LocalCalendar
from .records import StatisticPeriod, StatisticRow
from .statistics_rollups import COARSE_PERIODS, StatisticRollupRow, combine_days, reduce_day
from .timeconv import HOUR_US, from_us, to_us

# (site, statistic id, start µs, end µs): rows starting in [start, end).
type Span = tuple[str, str, int, int]
# (site, statistic id, µs): a lookup before or from a moment.
type Point = tuple[str, str, int]
# (position µs, sum) of the latest stored data before some moment.
type Before = tuple[int, float | None]


class RollupSource(Protocol):
    """What the rollup refresh reads from a backend, many lookups per call, answers in
    the order asked (times in UTC microseconds)."""

    async def hourly(self, spans: Sequence[Span]) -> list[list[StatisticRow]]:
        """Stored hourly rows of each span, oldest first."""

    async def days(self, spans: Sequence[Span]) -> list[list[StatisticRollupRow]]:
        """Stored day rollups of each span, oldest first."""

    async def last_before(self, points: Sequence[Point]) -> list[Before | None]:
        """Start and sum of the last stored hourly row (or day rollup) before each point."""

    async def next_start(self, points: Sequence[Point]) -> list[int | None]:
        """Start of the first stored hourly row at or after each point (or of its day)."""


@dataclass
class _Statistic:
    """One statistic of a write while its rollups are worked out."""

    site: str
    statistic_id: str
    written: dict[int, StatisticRow]
    hours: dict[int, StatisticRow] = field(default_factory=dict)
    days: dict[int, StatisticRollupRow] = field(default_factory=dict)

    def span(self, start: int, end: int) -> Span:
        return (self.site, self.statistic_id, start, end)

    def point(self, at: int) -> Point:
        return (self.site, self.statistic_id, at)


async def refresh_rollups(
    calendar: LocalCalendar, source: RollupSource, rows: Iterable[StatisticRow]
) -> list[StatisticRollupRow]:
    """The rollup rows that writing `rows` changes."""
    by_key: dict[tuple[str, str], _Statistic] = {}
    for row in rows:
        if row.period is StatisticPeriod.HOUR:
            key = (row.site, row.statistic_id)
            statistic = by_key.setdefault(key, _Statistic(row.site, row.statistic_id, {}))
            statistic.written[to_us(row.start)] = row
    statistics = list(by_key.values())
    if not statistics:
        return []
    firsts = [calendar.day(min(s.written))[0] for s in statistics]
    ends = [calendar.day(max(s.written))[1] for s in statistics]

    # Days the write holds whole need no stored hours (a backfill writes whole days).
    wanted = [
        (statistic, low, high)
        for statistic, first, end in zip(statistics, firsts, ends, strict=True)
        for low, high in _incomplete(calendar, statistic.written, first, end)
    ]
    stored = await source.hourly([s.span(low, high) for s, low, high in wanted])
    following = await source.next_start(
        [s.point(end) for s, end in zip(statistics, ends, strict=True)]
    )
    later = [(s, at) for s, at in zip(statistics, following, strict=True) if at is not None]
    later_rows = await source.hourly([s.span(*calendar.day(at)) for s, at in later])
    for (statistic, _, _), found in zip(wanted, stored, strict=True):
        statistic.hours.update((to_us(row.start), row) for row in found)
    for (statistic, _), found in zip(later, later_rows, strict=True):
        statistic.hours.update((to_us(row.start), row) for row in found)

    befores = await source.last_before(
        [s.point(first) for s, first in zip(statistics, firsts, strict=True)]
    )
    for statistic, before in zip(statistics, befores, strict=True):
        statistic.hours.update(statistic.written)
        sum_before = before[1] if before is not None else None
        for day_start, group in _by_day(calendar, statistic.hours):
            day = reduce_day(group, from_us(day_start), sum_before)
            statistic.days[day_start] = day
            sum_before = day.sum

    # Weeks and months: the day rows in each, and the sum before each.
    coarse = [
        (statistic, period, low, high)
        for statistic in statistics
        for period in COARSE_PERIODS
        for low, high in sorted({calendar.span(period, start) for start in statistic.days})
    ]
    parts = await source.days([s.span(low, high) for s, _, low, high in coarse])
    stored_before = await source.last_before([s.point(low) for s, _, low, _ in coarse])
    result = [day for statistic in statistics for day in statistic.days.values()]
    for (statistic, period, low, high), day_rows, before in zip(
        coarse, parts, stored_before, strict=True
    ):
        days = {to_us(day.start): day for day in day_rows}
        days.update((start, day) for start, day in statistic.days.items() if low <= start < high)
        base = _sum_before(before, statistic.days, low)
        result.append(
            combine_days([days[start] for start in sorted(days)], period, from_us(low), base)
        )
    return result


def _incomplete(
    calendar: LocalCalendar, written: dict[int, StatisticRow], first: int, end: int
) -> list[tuple[int, int]]:
    """The spans of local days in [first, end) the write does not hold every hour of,
    neighbours merged."""
    counts: dict[int, int] = {}
    for start in written:
        day = calendar.day(start)[0]
        counts[day] = counts.get(day, 0) + 1
    spans: list[tuple[int, int]] = []
    low = first
    while low < end:
        high = calendar.day(low)[1]
        if counts.get(low, 0) < (high - low) // HOUR_US:
            if spans and spans[-1][1] == low:
                spans[-1] = (spans[-1][0], high)
            else:
                spans.append((low, high))
        low = high
    return spans


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


def _sum_before(
    stored: Before | None, fresh: dict[int, StatisticRollupRow], start: int
) -> float | None:
    """The sum before `start`: of the latest recomputed day before it, unless the store
    knows later data (a day this write did not change)."""
    earlier = [day for day in fresh if day < start]
    if earlier and (stored is None or max(earlier) >= stored[0]):
        return fresh[max(earlier)].sum
    return stored[1] if stored is not None else None
