"""The Apache Cassandra backend: time-bucketed tables, concurrent idempotent writes.

A write reads the raw readings already stored in the 15-minute buckets it
touches (one range read per run of buckets in a partition), so it can tell
duplicates from new readings like the SQL backends do and recompute those
buckets' rollups from complete data. New readings are written as unlogged
batches, each inside one (series, day) partition, many in flight at once.
Cassandra has no transaction across partitions: a write that fails half way is
simply repeated by the outbox, and every statement is an upsert, so the repeat
stores nothing twice. (`before_commit_hook` runs when the write is computed and
nothing is sent yet, the nearest thing to "staged, not committed".)

Raw readings carry a TTL of the raw retention minus their age, so Cassandra
drops them on time (a reading older than the retention is rolled up but not
stored); `apply_retention` also deletes explicitly, bucket by bucket, where the
15-minute rollup counts exactly the raw readings.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cassandra.query import UNSET_VALUE, BatchStatement, BatchType
from cassandra.util import Date

from .backend import CommitHook
from .buckets import LocalCalendar, floor_quarter
from .cassandra_batches import partition_batches
from .cassandra_config import CassandraConfig
from .cassandra_rollups import CassandraRollups, Readings, purged_values, slices, years
from .cassandra_schema import migrate, version
from .cassandra_session import CassandraSession, Request, run_together
from .cassandra_statements import PROBE, Statements
from .errors import BackendUnavailableError
from .records import (
    RecordBatch,
    RollupPeriod,
    RollupRow,
    Sample,
    SeriesInfo,
    SeriesKey,
    SiteRow,
    StatisticPeriod,
    StatisticRow,
    WriteResult,
)
from .rollup_math import Aggregate, fold
from .statistics_cassandra import CassandraStatistics
from .statistics_rollups import StatisticRollupRow
from .statistics_rows import StatisticMeta, dedupe_statistics, statistics_meta, valid_statistics
from .timeconv import DAY_US, QUARTER_HOUR_US, SECOND_US, from_us, to_us

_LOGGER = logging.getLogger(__name__)

type SampleKey = tuple[str, int]  # (series id, UTC microseconds)

# Readings `recompute_rollups` holds in memory at most (a day of 1-second data each).
_RECOMPUTE_READINGS = 100_000


def series_id(key: SeriesKey) -> str:
    """The text that names a series in every Cassandra table."""
    return str(key)


def month_of(us: int) -> int:
    moment = from_us(us)
    return moment.year * 100 + moment.month


def months(start: int, end: int) -> list[int]:
    """The yyyymm partitions of ha_statistics holding starts in [start, end)."""
    first, last = from_us(start), from_us(end - 1)
    found = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        found.append(year * 100 + month)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


class CassandraBackend:
    """Backend on an Apache Cassandra (or ScyllaDB) cluster."""

    def __init__(self, config: CassandraConfig) -> None:
        self.config = config
        self.before_commit_hook: CommitHook | None = None
        self.concurrent_writes = 1
        self._calendar = LocalCalendar(config.time_zone)
        self._db: CassandraSession | None = None
        self._st: Statements | None = None
        self._rollups: CassandraRollups | None = None
        self._statistics: CassandraStatistics | None = None
        # One write at a time: a write's duplicate check must see the previous write.
        self._lock = asyncio.Lock()
        self._series: dict[str, SeriesInfo] = {}
        self._days: set[tuple[str, int]] = set()

    # -- lifecycle -----------------------------------------------------------------

    async def open(self) -> None:
        if self._st is not None:
            return
        db = CassandraSession(self.config)
        await db.connect()
        try:
            await migrate(db)
            statements = await Statements.prepare(db)
            statistics = await CassandraStatistics.prepare(db, self._calendar, self.read_statistics)
        except BaseException:
            await db.close()
            raise
        self._db, self._st = db, statements
        self._rollups = CassandraRollups(db, statements, self._calendar)
        self._statistics = statistics

    async def close(self) -> None:
        db, self._db, self._st, self._rollups = self._db, None, None, None
        self._statistics = None
        self._series.clear()
        self._days.clear()
        if db is not None:
            await db.close()

    async def schema_version(self) -> int:
        db, _ = await self._ready()
        return await version(db)

    async def check(self) -> None:
        """What the config flow runs: connect, create or migrate the schema, and prove
        that this user may write, read and delete in the keyspace."""
        db, _ = await self._ready()
        for cql in PROBE:
            await db.execute(cql.format(ks=self.config.keyspace))

    async def _ready(self) -> tuple[CassandraSession, Statements]:
        if self._st is None:
            await self.open()
        if self._db is None or self._st is None:
            raise BackendUnavailableError("the Cassandra backend is closed")
        return self._db, self._st

    # -- writes --------------------------------------------------------------------

    async def write(self, batch: RecordBatch) -> WriteResult:
        async with self._lock:
            db, st = await self._ready()
            assert self._rollups is not None
            assert self._statistics is not None
            fresh, rejected, duplicates = _valid_samples(batch)
            stored = await self._load_quarters(db, st, {(s, floor_quarter(t)) for s, t in fresh})
            new = {
                key: value for key, value in fresh.items() if key[1] not in stored[_quarter(key)]
            }
            duplicates += len(fresh) - len(new)
            earlier = {key: set(readings) for key, readings in stored.items()}
            for key, value in new.items():
                stored[_quarter(key)][key[1]] = value
            counters = {series_id(i.key) for i in batch.series.values() if i.is_counter}
            statistics, stats_rejected = valid_statistics(batch.statistics)
            # Cassandra has no transaction to commit: the nearest point to "staged, not yet
            # committed" is with everything computed and nothing sent.
            if self.before_commit_hook is not None:
                await self.before_commit_hook()
            # Rollups come from the readings in hand, once those are stored: a rollup never
            # counts a reading that `samples` lacks (which is how a bucket whose readings
            # expired is told apart). The write succeeds only when all of it did (else
            # the outbox repeats it). Rollups also when everything was a duplicate: a
            # replay after a failed write must still bring them up to date.
            await run_together(
                self._register(db, st, batch),
                self._write_samples(db, st, new),
                self._write_statistics(db, st, statistics),
                self._statistics.refresh(statistics),
            )
            await self._rollups.refresh(
                {key: sorted(readings.items()) for key, readings in stored.items()},
                counters,
                earlier,
            )
            return WriteResult(
                samples_written=len(new),
                samples_duplicate=duplicates,
                samples_rejected=rejected,
                statistics_written=len(statistics),
                statistics_rejected=stats_rejected,
            )

    async def _register(self, db: CassandraSession, st: Statements, batch: RecordBatch) -> None:
        """Upsert series that are new or changed since this backend last wrote them."""
        changed = {}
        for ref in {ref for ref, _, _ in batch.samples}:
            info = batch.series[ref]
            if self._series.get(series_id(info.key)) != info:
                changed[series_id(info.key)] = info
        await db.execute_all(
            (
                st.insert_series,
                (i.site, i.device, i.quantity, i.meter_kind, i.unit, i.is_counter, i.entity_id),
            )
            for i in changed.values()
        )
        self._series.update(changed)

    async def _load_quarters(
        self, db: CassandraSession, st: Statements, quarters: set[tuple[str, int]]
    ) -> dict[tuple[str, int], dict[int, float]]:
        """The stored raw readings of each (series, 15-minute bucket), one read per slice
        of nearby buckets in a (series, UTC day) partition (96 buckets make a day)."""
        by_partition: dict[tuple[str, int], list[tuple[int, int]]] = {}
        for series, start in quarters:
            by_partition.setdefault((series, start // DAY_US), []).append(
                (start, start + QUARTER_HOUR_US)
            )
        owners: list[str] = []
        requests: list[Request] = []
        for (series, day), ranges in by_partition.items():
            for low, high in slices(ranges):
                owners.append(series)
                requests.append((st.select_samples, (series, Date(day), low, high)))
        stored: dict[tuple[str, int], dict[int, float]] = {key: {} for key in quarters}
        for series, rows in zip(owners, await db.execute_all(requests), strict=True):
            for ts, value in rows:
                bucket = stored.get((series, floor_quarter(ts)))
                if bucket is not None:  # a slice also covers the untouched buckets between
                    bucket[ts] = value
        return stored

    async def _write_samples(
        self, db: CassandraSession, st: Statements, samples: dict[SampleKey, float]
    ) -> None:
        now = to_us(datetime.now(UTC))
        retention = self.config.raw_ttl_seconds
        rows: list[tuple[tuple[str, int], Sequence[Any]]] = []
        days: dict[tuple[str, int], int] = {}
        for (series, ts), value in samples.items():
            ttl = 0
            if retention:
                # Older than the retention: kept (TTL 0) until `apply_retention` folds it
                # into its bucket's purged aggregate, so a repeat is still seen as one.
                ttl = max(retention - (now - ts) // SECOND_US, 0)
            day = ts // DAY_US
            rows.append(((series, day), (series, Date(day), ts, value, ttl)))
            if (series, day) not in self._days or ttl == 0:
                # The index outlives the day's last possible reading by a day.
                end_age = (now - (day + 1) * DAY_US) // SECOND_US
                index_ttl = max(retention - end_age + 86_400, 1) if retention and ttl else 0
                known = days.get((series, day))
                days[(series, day)] = 0 if 0 in (index_ttl, known) else max(known or 0, index_ttl)
        requests: list[Request] = [
            (st.insert_day, (series, Date(day), ttl)) for (series, day), ttl in days.items()
        ]
        requests.extend(partition_batches(st.insert_sample, rows, self.config.batch_rows))
        await db.execute_all(requests)
        self._days.update(days)

    async def _write_statistics(
        self, db: CassandraSession, st: Statements, rows: Sequence[StatisticRow]
    ) -> None:
        rows = dedupe_statistics(rows)
        values = []
        for row in rows:
            start = to_us(row.start)
            partition = (row.site, row.statistic_id, row.period.value, month_of(start))
            values.append(
                (
                    partition,
                    (*partition, start, row.mean, row.min, row.max, row.state, row.sum,
                     row.unit, row.source),
                )
            )  # fmt: skip
        requests: list[Request] = list(
            partition_batches(st.insert_statistic, values, self.config.batch_rows)
        )
        for meta in statistics_meta(rows):
            # Unset leaves a True from an earlier batch in place: the flags only ever grow.
            requests.append(
                (
                    st.insert_statistic_meta,
                    (meta.site, meta.statistic_id, meta.unit, meta.source,
                     True if meta.has_mean else UNSET_VALUE,
                     True if meta.has_sum else UNSET_VALUE),
                )
            )  # fmt: skip
        await db.execute_all(requests)

    async def heartbeat(self, site: str, version: str, backlog: int) -> None:
        db, st = await self._ready()
        now = to_us(datetime.now(UTC))
        await db.execute(st.upsert_site, (site, now, version, backlog, self.config.time_zone))

    # -- maintenance ---------------------------------------------------------------

    async def recompute_rollups(self, start: datetime, end: datetime) -> int:
        first, last = floor_quarter(to_us(start)), to_us(end)
        if last <= first:
            return 0
        # Whole buckets only: the last one is read to its end.
        last_quarter_end = floor_quarter(last - 1) + QUARTER_HOUR_US
        total = 0
        for info in await self.read_series():
            series = series_id(info.key)
            counters = {series} if info.is_counter else set()
            # Days in order, several per refresh up to a bound on readings held: each
            # chunk's first bucket takes its counter start from the chunk before.
            quarters: dict[tuple[str, int], Readings] = {}
            held = 0
            for day in await self._stored_days(series, first, last):
                low = max(first, day * DAY_US)
                high = min(last_quarter_end, (day + 1) * DAY_US)
                found = await self._read_quarters(series, day, low, high)
                quarters.update(found)
                held += sum(len(readings) for readings in found.values())
                if held >= _RECOMPUTE_READINGS:
                    total += await self._refresh(quarters, counters)
                    quarters, held = {}, 0
            total += await self._refresh(quarters, counters)
        return total

    async def _refresh(self, quarters: dict[tuple[str, int], Readings], counters: set[str]) -> int:
        if not quarters:
            return 0
        async with self._lock:
            assert self._rollups is not None
            return await self._rollups.refresh(quarters, counters)

    async def _stored_days(self, series: str, first: int, last: int) -> list[int]:
        """UTC days of `series` that hold raw readings in [first, last)."""
        db, st = await self._ready()
        rows = await db.execute(
            st.select_days, (series, Date(first // DAY_US), Date((last - 1) // DAY_US))
        )
        return [row[0].days_from_epoch for row in rows]

    async def _read_quarters(
        self, series: str, day: int, low: int, high: int
    ) -> dict[tuple[str, int], Readings]:
        db, st = await self._ready()
        rows = await db.execute(st.select_samples, (series, Date(day), low, high))
        quarters: dict[tuple[str, int], Readings] = {}
        for ts, value in rows:
            quarters.setdefault((series, floor_quarter(ts)), []).append((ts, value))
        return quarters

    async def apply_retention(self, days: int, now: datetime | None = None) -> int:
        if days <= 0:
            return 0
        cutoff = floor_quarter(to_us((now or datetime.now(UTC)) - timedelta(days=days)))
        deleted = 0
        for info in await self.read_series():
            series = series_id(info.key)
            for day in await self._stored_days(series, 0, cutoff):
                async with self._lock:
                    deleted += await self._retain_day(series, day, cutoff, counter=info.is_counter)
        return deleted

    async def _retain_day(self, series: str, day: int, cutoff: int, *, counter: bool) -> int:
        """Purge the readings of one day before `cutoff` in buckets whose 15-minute rollup
        counts them all: each bucket's readings are folded into its purged aggregate and
        deleted by one logged batch (two partitions, both or neither)."""
        db, st = await self._ready()
        day_start, day_end = day * DAY_US, (day + 1) * DAY_US
        high = min(cutoff, day_end)
        raw = await self._read_quarters(series, day, day_start, day_end)
        rolled = await self._rollup_counts(series, day_start, high)
        purged = await self._purged(series, day_start, high)
        requests: list[Request] = []
        deleted = 0
        for (_, start), readings in raw.items():
            before = purged.get(start)
            counted = len(readings) + (before.count if before else 0)
            if start >= high or rolled.get(start) != counted:
                continue
            folded = fold(readings, before, counter=counter)
            assert folded is not None
            purge = BatchStatement(batch_type=BatchType.LOGGED)
            purge.is_idempotent = True  # an upsert and a delete: repeating them changes nothing
            purge.add(st.insert_purged, purged_values(series, start, folded))
            purge.add(st.delete_samples, (series, Date(day), start, start + QUARTER_HOUR_US))
            requests.append((purge, None))
            deleted += len(readings)
        await db.execute_all(requests)
        if requests and len(requests) == len(raw):  # nothing left on that day
            await db.execute(st.delete_day, (series, Date(day)))
            self._days.discard((series, day))
        return deleted

    async def _purged(self, series: str, start: int, end: int) -> dict[int, Aggregate]:
        db, st = await self._ready()
        results = await db.execute_all(
            (st.select_purged, (series, year, start, end)) for year in years(start, end)
        )
        return {int(row[0]): Aggregate(*row[1:]) for rows in results for row in rows}

    async def _rollup_counts(self, series: str, start: int, end: int) -> dict[int, int]:
        db, st = await self._ready()
        period = RollupPeriod.QUARTER_HOUR.value
        results = await db.execute_all(
            (st.select_rollups, (series, period, year, start, end)) for year in years(start, end)
        )
        return {row[0]: row[1] for rows in results for row in rows}

    # -- reads -----------------------------------------------------------------------

    async def read_series(self) -> list[SeriesInfo]:
        db, st = await self._ready()
        results = await db.execute_all((st.select_series, (site,)) for site in await self._sites())
        return [
            SeriesInfo(site=row[0], device=row[1], quantity=row[2], meter_kind=row[3],
                       unit=row[4], is_counter=bool(row[5]), entity_id=row[6])
            for rows in results
            for row in rows
        ]  # fmt: skip

    async def _sites(self) -> list[str]:
        """The sites whose series this backend acts on: its own, or without one every site
        that sent a heartbeat and every site this backend wrote series of."""
        if self.config.site is not None:
            return [self.config.site]
        db, st = await self._ready()
        known = {str(row[0]) for row in await db.execute(st.select_sites)}
        return sorted(known | {info.site for info in self._series.values()})

    async def read_samples(self, key: SeriesKey, start: datetime, end: datetime) -> list[Sample]:
        db, st = await self._ready()
        low, high = to_us(start), to_us(end)
        if high <= low:
            return []
        series = series_id(key)
        days = await self._stored_days(series, low, high)
        results = await db.execute_all(
            (
                st.select_samples,
                (series, Date(day), max(low, day * DAY_US), min(high, (day + 1) * DAY_US)),
            )
            for day in days
        )
        return [Sample(key, from_us(ts), value) for rows in results for ts, value in rows]

    async def read_rollups(
        self, key: SeriesKey, period: RollupPeriod, start: datetime, end: datetime
    ) -> list[RollupRow]:
        db, st = await self._ready()
        low, high = to_us(start), to_us(end)
        if high <= low:
            return []
        results = await db.execute_all(
            (st.select_rollups, (series_id(key), period.value, year, low, high))
            for year in years(low, high)
        )
        rows = []
        for row in (row for part in results for row in part):
            agg = Aggregate(*row[1:])
            rows.append(
                RollupRow(series=key, period=period, start=from_us(row[0]), count=agg.count,
                          min=agg.min, max=agg.max, mean=agg.mean, first=agg.first,
                          last=agg.last, delta=agg.delta)
            )  # fmt: skip
        return rows

    async def read_statistics(
        self,
        site: str,
        statistic_id: str,
        period: StatisticPeriod,
        start: datetime,
        end: datetime,
    ) -> list[StatisticRow]:
        db, st = await self._ready()
        low, high = to_us(start), to_us(end)
        if high <= low:
            return []
        results = await db.execute_all(
            (st.select_statistics, (site, statistic_id, period.value, month, low, high))
            for month in months(low, high)
        )
        return [
            StatisticRow(site=site, statistic_id=statistic_id, period=period,
                         start=from_us(row[0]), mean=row[1], min=row[2], max=row[3],
                         state=row[4], sum=row[5], unit=row[6], source=row[7])
            for rows in results
            for row in rows
        ]  # fmt: skip

    async def read_statistic_rollups(
        self,
        site: str,
        statistic_id: str,
        period: RollupPeriod,
        start: datetime,
        end: datetime,
    ) -> list[StatisticRollupRow]:
        await self._ready()
        assert self._statistics is not None
        return await self._statistics.read_rollups(site, statistic_id, period, start, end)

    async def read_statistics_meta(self, site: str) -> list[StatisticMeta]:
        await self._ready()
        assert self._statistics is not None
        return await self._statistics.read_meta(site)

    async def read_sites(self) -> list[SiteRow]:
        db, st = await self._ready()
        rows = await db.execute(st.select_sites)
        return sorted(
            (
                SiteRow(site=row[0], last_seen=from_us(row[1]), version=row[2], backlog=row[3],
                        time_zone=row[4])
                for row in rows
            ),
            key=lambda site: site.site,
        )  # fmt: skip


def _valid_samples(batch: RecordBatch) -> tuple[dict[SampleKey, float], int, int]:
    """The batch's finite readings by (series, time), the first of equal keys winning as
    in the SQL backends; and how many were rejected (NaN, inf) and repeated."""
    ids = {ref: series_id(info.key) for ref, info in batch.series.items()}
    fresh: dict[SampleKey, float] = {}
    rejected = repeated = 0
    for ref, ts, value in batch.samples:
        key = (ids[ref], ts)
        if not math.isfinite(value):
            rejected += 1
        elif key in fresh:
            repeated += 1
        else:
            fresh[key] = value
    return fresh, rejected, repeated


def _quarter(key: SampleKey) -> tuple[str, int]:
    return key[0], floor_quarter(key[1])
