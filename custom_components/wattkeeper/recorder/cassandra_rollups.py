"""Rollups of the Cassandra backend, computed client-side with the shared rollup code.

Cassandra has no GROUP BY over a time range of one partition that we could
trust for idempotency, so the backend does what the SQLite backend does in
Python: recompute each touched 15-minute bucket from its complete raw readings,
then every coarser bucket holding it from the finer rows. Recomputing a whole
bucket gives the same row for the same data, so replays and late data are safe.

Lookups that SQL would do with one ORDER BY over the whole history read the
15-minute rollups instead (they keep `last_ts` and `last`): per counter series
one slice over the buckets a write touched, plus the nearest stored bucket on
either side. Every write refreshes the rollups of the buckets it touches, so
the rows of buckets it does not touch are up to date.

A bucket whose raw readings retention purged keeps their aggregate in `purged`;
its row is that merged with the raw readings that came later. A bucket whose
rollup counts more readings than `samples` and `purged` hold (raw readings that
expired by their TTL, or a retention that stopped half way) has its stored row
taken as its purged aggregate first, so late data adds to it and never replaces it.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cassandra.util import Date

from .buckets import LocalCalendar
from .cassandra_batches import partition_batches
from .cassandra_session import CassandraSession, Request, run_together
from .cassandra_statements import Statements
from .records import RollupPeriod
from .rollup_math import Aggregate, aggregate_bucket, combine, increase
from .rollup_plan import COARSE_SOURCES, plan_coarse
from .timeconv import DAY_US, HOUR_US, QUARTER_HOUR_US, from_us

QUARTER = RollupPeriod.QUARTER_HOUR
type Readings = list[tuple[int, float]]
type QuarterKey = tuple[str, int]  # (series, 15-minute bucket start)


def year_of(us: int) -> int:
    return from_us(us).year


def years(start: int, end: int) -> range:
    """UTC years of bucket starts in [start, end): the rollup partitions to read."""
    return range(year_of(start), year_of(end - 1) + 1)


def slices(ranges: Iterable[tuple[int, int]], gap: int = HOUR_US) -> list[tuple[int, int]]:
    """[start, end) ranges merged where they overlap or lie at most `gap` apart: one
    read each, so many small neighbouring ranges cost one round trip, not many."""
    merged: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if merged and low - merged[-1][1] <= gap:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def day_of(us: int) -> Date:
    """The UTC day of a sample: with the series, its partition."""
    return Date(us // DAY_US)


@dataclass(frozen=True, slots=True)
class _Stored:
    """A stored 15-minute row, as far as a neighbour's counter delta cares; the row
    after a span is read for its start only."""

    start: int
    last: tuple[int, float] | None = None  # (last_ts, last)


def _stored_row(statement: object, st: Statements, row: tuple[Any, ...]) -> _Stored:
    """A _Stored from a row of select_rollups, select_rollup_before or _after."""
    if statement is st.select_rollup_after:
        return _Stored(int(row[0]))
    if statement is st.select_rollup_before:
        return _Stored(int(row[0]), (int(row[1]), float(row[2])))
    agg = Aggregate(*row[1:])
    return _Stored(int(row[0]), (agg.last_ts, agg.last))


def _closest_outside(rows: list[_Stored], span: tuple[int, int]) -> list[_Stored]:
    """Rows inside the span, plus only the nearest one on either side of it."""
    inside = [row for row in rows if span[0] <= row.start <= span[1]]
    before = [row for row in rows if row.start < span[0]]
    after = [row for row in rows if row.start > span[1]]
    return before[-1:] + inside + after[:1]


@dataclass(slots=True)
class _Refresh:
    """One recomputation: what is known about raw data, and the rows computed so far."""

    counters: set[str]
    quarters: dict[QuarterKey, Readings]
    # Timestamps of each bucket's readings stored before this write; absent: all of them.
    earlier: Mapping[QuarterKey, set[int]]
    purged: dict[QuarterKey, Aggregate] = field(default_factory=dict)
    rolled: dict[QuarterKey, Aggregate] = field(default_factory=dict)
    # Buckets whose stored row counts readings gone from `samples` and `purged`.
    expired: set[QuarterKey] = field(default_factory=set)
    # Raw readings inside a newly purged aggregate, to delete: (series, time).
    stale: list[tuple[str, int]] = field(default_factory=list)
    new_purged: dict[QuarterKey, Aggregate] = field(default_factory=dict)
    computed: dict[RollupPeriod, dict[QuarterKey, Aggregate]] = field(default_factory=dict)


class CassandraRollups:
    def __init__(
        self, db: CassandraSession, statements: Statements, calendar: LocalCalendar
    ) -> None:
        self._db = db
        self._st = statements
        self._calendar = calendar

    async def refresh(
        self,
        quarters: dict[QuarterKey, Readings],
        counters: set[str],
        earlier: Mapping[QuarterKey, set[int]] | None = None,
    ) -> int:
        """Recompute the given 15-minute buckets and every bucket above them.

        `quarters` holds the complete raw readings (sorted by time) of each bucket,
        as stored after the write; `earlier` the times of those that were stored
        before it (None: all). Returns how many of them held readings (the following
        buckets a counter's change reaches are recomputed, not counted).
        """
        job = _Refresh(counters, {k: v for k, v in quarters.items() if v}, earlier or {})
        requested = len(job.quarters)
        if not requested:
            return 0
        await self._stored_state(job)
        stored = await self._stored_neighbours(job)
        await self._add_following_quarters(job, stored)
        self._quarter_rows(job, stored)
        await self._coarse_rows(job)
        await self._write(job)
        return requested

    async def _stored_state(self, job: _Refresh) -> None:
        """The stored 15-minute rows and purged aggregates of the loaded buckets, one read
        of each per slice of nearby buckets; then which buckets lost raw readings."""
        ranges: dict[str, list[tuple[int, int]]] = {}
        for series, start in job.quarters:
            ranges.setdefault(series, []).append((start, start + QUARTER_HOUR_US))
        requests: list[Request] = []
        owners: list[tuple[str, bool]] = []  # (series, a read of `purged`?)
        for series, spans in ranges.items():
            for low, high in slices(spans):
                for year in years(low, high):
                    owners.append((series, False))
                    requests.append(
                        (self._st.select_rollups, (series, QUARTER.value, year, low, high))
                    )
                    owners.append((series, True))
                    requests.append((self._st.select_purged, (series, year, low, high)))
        for (series, of_purged), rows in zip(
            owners, await self._db.execute_all(requests), strict=True
        ):
            found = job.purged if of_purged else job.rolled
            for row in rows:
                key = (series, int(row[0]))
                if key in job.quarters:
                    found[key] = Aggregate(*row[1:])
        for key, readings in job.quarters.items():
            rolled = job.rolled.get(key)
            if rolled is None:
                continue
            earlier = job.earlier.get(key)
            before = [r for r in readings if earlier is None or r[0] in earlier]
            purged = job.purged.get(key)
            if rolled.count > len(before) + (purged.count if purged else 0):
                job.expired.add(key)
                job.stale.extend((key[0], ts) for ts, _ in before)
                # What remains are the readings this write brings (none when recomputing).
                kept = set() if earlier is None else {ts for ts, _ in readings} - earlier
                job.quarters[key] = [r for r in readings if r[0] in kept]

    async def _stored_neighbours(self, job: _Refresh) -> dict[str, list[_Stored]]:
        """Per counter series, the stored 15-minute rows from the one before its first
        loaded bucket to the one after its last, sorted: what a counter's delta needs
        from outside the loaded buckets. Rollups are kept up to date by every write,
        so their `last_ts`/`last` stand for the raw readings of buckets not loaded."""
        spans: dict[str, tuple[int, int]] = {}
        for series, start in job.quarters:
            if series in job.counters:
                low, high = spans.get(series, (start, start))
                spans[series] = (min(low, start), max(high, start))
        requests: list[Request] = []
        owners: list[str] = []
        for series, (low, high) in spans.items():
            for year in years(low, high + QUARTER_HOUR_US):
                owners.append(series)
                requests.append(
                    (self._st.select_rollups, (series, QUARTER.value, year, low, high + 1))
                )
            # Neighbours outside the span, this year or the adjacent one.
            for year in (year_of(low), year_of(low) - 1):
                owners.append(series)
                requests.append((self._st.select_rollup_before, (series, QUARTER.value, year, low)))
            for year in (year_of(high), year_of(high) + 1):
                owners.append(series)
                requests.append((self._st.select_rollup_after, (series, QUARTER.value, year, high)))
        found: dict[str, set[_Stored]] = {series: set() for series in spans}
        for series, (statement, _), rows in zip(
            owners, requests, await self._db.execute_all(requests), strict=True
        ):
            for row in rows:
                found[series].add(_stored_row(statement, self._st, row))
        return {
            series: _closest_outside(sorted(neighbours, key=lambda row: row.start), spans[series])
            for series, neighbours in found.items()
        }

    async def _add_following_quarters(
        self, job: _Refresh, stored: dict[str, list[_Stored]]
    ) -> None:
        """A counter's bucket delta starts from the reading before it: when a bucket
        changes, so may the next bucket holding readings of that series."""
        following: set[QuarterKey] = set()
        for series, neighbours in stored.items():
            loaded = sorted(start for s, start in job.quarters if s == series)
            starts = [row.start for row in neighbours]
            for index, start in enumerate(loaded):
                next_loaded = loaded[index + 1] if index + 1 < len(loaded) else None
                position = bisect.bisect_right(starts, start)
                if position < len(starts):
                    candidate = starts[position]
                    if next_loaded is None or candidate < next_loaded:
                        following.add((series, candidate))
        ordered = sorted(following)
        requests: list[Request] = []
        for series, start in ordered:
            requests.append(
                (self._st.select_samples, (series, day_of(start), start, start + QUARTER_HOUR_US))
            )
            requests.append((self._st.select_purged, (series, year_of(start), start, start + 1)))
        results = await self._db.execute_all(requests)
        for index, key in enumerate(ordered):
            readings, purged = results[2 * index], results[2 * index + 1]
            if purged:
                job.purged[key] = Aggregate(*purged[0][1:])
            if readings or purged:  # else raw data gone: that rollup row stays as it is
                job.quarters[key] = [(int(ts), float(v)) for ts, v in readings]

    @staticmethod
    def _quarter_rows(job: _Refresh, stored: dict[str, list[_Stored]]) -> None:
        """Aggregate every loaded bucket; a counter's starts from the latest reading before
        it, in a loaded bucket (complete and current) or a stored one (up to date)."""
        rows: dict[QuarterKey, Aggregate] = {}
        last_loaded: dict[str, tuple[int, float]] = {}
        for series, start in sorted(job.quarters):
            readings = job.quarters[(series, start)]
            counter = series in job.counters
            before: float | None = None
            if counter:
                candidates = []
                if series in last_loaded:
                    candidates.append(last_loaded[series])
                earlier = stored.get(series, [])
                position = bisect.bisect_left([row.start for row in earlier], start)
                last = earlier[position - 1].last if position else None
                if last is not None:
                    candidates.append(last)
                before = max(candidates)[1] if candidates else None
            purged = job.purged.get((series, start))
            if (series, start) in job.expired:
                # The stored row stands for every reading the bucket ever had; its delta
                # loses the step into the bucket, which the merge below adds again.
                rolled = job.rolled[(series, start)]
                delta = rolled.delta
                if delta is not None and before is not None:
                    delta -= increase(before, rolled.first)
                purged = dataclasses.replace(rolled, delta=delta)
                job.new_purged[(series, start)] = purged
            aggregate = aggregate_bucket(readings, before, counter=counter, purged=purged)
            assert aggregate is not None
            rows[(series, start)] = aggregate
            last_loaded[series] = (aggregate.last_ts, aggregate.last)
        job.computed[QUARTER] = rows

    async def _coarse_rows(self, job: _Refresh) -> None:
        # The shared planner numbers series; ours are text ids.
        names = sorted({series for series, _ in job.computed[QUARTER]})
        number = {name: index for index, name in enumerate(names)}
        plan = plan_coarse(self._calendar, ((number[s], q) for s, q in job.computed[QUARTER]))
        remaining = list(COARSE_SOURCES)
        while remaining:
            # Periods whose source rows are known run together (hour and day, then
            # week and month): fewer round trips one after the other.
            ready = [(period, source) for period, source in remaining if source in job.computed]
            results = await run_together(
                *(
                    self._coarse_period(
                        job.computed[source],
                        source,
                        [(names[n], start, end) for n, start, end in plan.for_period(period)],
                    )
                    for period, source in ready
                )
            )
            for (period, _), rows in zip(ready, results, strict=True):
                job.computed[period] = rows
            remaining = [pair for pair in remaining if pair not in ready]

    async def _coarse_period(
        self,
        fresh: dict[QuarterKey, Aggregate],
        source: RollupPeriod,
        buckets: list[tuple[str, int, int]],
    ) -> dict[QuarterKey, Aggregate]:
        """Combine the stored finer rows of each bucket, overlaid with the fresh ones."""
        ranges: dict[str, list[tuple[int, int]]] = {}
        for series, start, end in buckets:
            ranges.setdefault(series, []).append((start, end))
        requests: list[Request] = []
        owners: list[str] = []
        for series, spans in ranges.items():
            for low, high in slices(spans):
                for year in years(low, high):
                    owners.append(series)
                    requests.append(
                        (self._st.select_rollups, (series, source.value, year, low, high))
                    )
        parts: dict[str, dict[int, Aggregate]] = {series: {} for series in ranges}
        for series, rows in zip(owners, await self._db.execute_all(requests), strict=True):
            parts[series].update((int(row[0]), Aggregate(*row[1:])) for row in rows)
        for (series, start), fresh_row in fresh.items():
            if series in parts:
                parts[series][start] = fresh_row  # newer than what is stored
        ordered = {series: sorted(found.items()) for series, found in parts.items()}
        combined: dict[QuarterKey, Aggregate] = {}
        for series, start, end in buckets:
            rows = ordered[series]
            low = bisect.bisect_left(rows, (start,))
            high = bisect.bisect_left(rows, (end,))
            result = combine(agg for _, agg in rows[low:high])
            if result is not None:
                combined[(series, start)] = result
        return combined

    async def _write(self, job: _Refresh) -> None:
        requests = list(
            partition_batches(self._st.insert_rollup, _rollup_rows(job.computed), max_rows=50)
        )
        requests.extend(
            partition_batches(
                self._st.insert_purged,
                (
                    ((series, year_of(start)), purged_values(series, start, aggregate))
                    for (series, start), aggregate in job.new_purged.items()
                ),
                max_rows=50,
            )
        )
        requests.extend(
            partition_batches(
                self._st.delete_samples,
                (
                    ((series, ts // DAY_US), (series, day_of(ts), ts, ts + 1))
                    for series, ts in job.stale
                ),
                max_rows=50,
            )
        )
        await self._db.execute_all(requests)


def purged_values(series: str, start: int, agg: Aggregate) -> tuple[object, ...]:
    """The bind values of insert_purged."""
    return (series, year_of(start), start, agg.count, agg.min, agg.max, agg.mean, agg.first,
            agg.last, agg.first_ts, agg.last_ts, agg.delta)  # fmt: skip


def _rollup_rows(
    computed: dict[RollupPeriod, dict[QuarterKey, Aggregate]],
) -> Iterable[tuple[tuple[str, str, int], tuple[object, ...]]]:
    for period, rows in computed.items():
        for (series, start), agg in rows.items():
            year = year_of(start)
            yield (
                (series, period.value, year),
                (series, period.value, year, start, agg.count, agg.min, agg.max, agg.mean,
                 agg.first, agg.last, agg.first_ts, agg.last_ts, agg.delta),
            )  # fmt: skip
