"""The embedded SQLite backend: one file, no server, the same contract as the others."""

from __future__ import annotations

import asyncio
import functools
import math
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from .backend import CommitHook
from .buckets import LocalCalendar, floor_quarter
from .config import SqliteConfig
from .errors import BackendError, BackendUnavailableError
from .records import (
    RawRow,
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
from .rollup_plan import ROLLUP_TABLES, touched_quarters
from .sqlite_rollups import SqliteRollups, purge_quarter
from .sqlite_schema import migrate, version
from .statistics_rollups import StatisticRollupRow
from .statistics_rows import StatisticMeta, dedupe_statistics, statistics_meta, valid_statistics
from .statistics_sqlite import SqliteStatistics
from .timeconv import DAY_US, QUARTER_HOUR_US, from_us, to_us
from .worker import Job, SqliteWorker

# Recomputing works through the data a day at a time, so one call never holds the
# write lock for long.
_SLICE_US = DAY_US


class SqliteBackend:
    """Backend on a local SQLite file (WAL); all SQLite work runs on its own thread."""

    def __init__(self, config: SqliteConfig) -> None:
        self.config = config
        self.before_commit_hook: CommitHook | None = None
        self.concurrent_writes = 1
        self._calendar = LocalCalendar(config.time_zone)
        self._rollups = SqliteRollups(self._calendar)
        self._statistics = SqliteStatistics(self._calendar, self._call)
        self._worker: SqliteWorker | None = None
        # Writes span two worker jobs (stage, commit); nothing may run in between.
        self._lock = asyncio.Lock()
        self._series: dict[SeriesKey, tuple[int, SeriesInfo]] = {}

    # -- lifecycle -----------------------------------------------------------------

    async def open(self) -> None:
        if self._worker is not None:
            return
        worker = SqliteWorker(
            self.config.path,
            name=f"wattkeeper-sqlite-{self.config.path.name}",
            grouped=False,
            setup=self._setup,
            timeout=self.config.busy_timeout,
        )
        try:
            await worker.start()
        except sqlite3.Error as err:
            raise _translate(err) from err
        self._worker = worker

    def _setup(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        migrate(conn)
        self._series = {
            info.key: (series_id, info)
            for series_id, info in _load_series(conn, self.config.site).items()
        }

    async def close(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            await worker.stop()

    async def schema_version(self) -> int:
        return await self._call(version)

    # -- writes --------------------------------------------------------------------

    async def write(self, batch: RecordBatch) -> WriteResult:
        async with self._lock:
            ids = await self._call(lambda conn: self._register(conn, batch))
            result = await self._call(lambda conn: self._stage(conn, batch, ids))
            try:
                if batch.statistics:
                    await self._statistics.refresh(batch.statistics)
                if self.before_commit_hook is not None:
                    await self.before_commit_hook()
            except BaseException:
                # Queued before anything else can run on this connection, also when cancelled.
                self._submit(_rollback)
                raise
            await self._call(_commit)
            return result

    def _register(self, conn: sqlite3.Connection, batch: RecordBatch) -> dict[int, int]:
        """Backend ids of the batch's series; new or changed series are upserted first
        (committed on their own, so a rolled-back write never leaves a stale id cached)."""
        used = {series for series, _, _ in batch.samples}
        ids: dict[int, int] = {}
        for ref in used:
            info = batch.series[ref]
            cached = self._series.get(info.key)
            if cached is None or cached[1] != info:
                row = conn.execute(
                    """INSERT INTO series (site, device, quantity, unit, entity_id, meter_kind,
                           is_counter) VALUES (?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT (site, device, quantity) DO UPDATE SET unit = excluded.unit,
                           entity_id = excluded.entity_id, meter_kind = excluded.meter_kind,
                           is_counter = excluded.is_counter
                       RETURNING id""",
                    (info.site, info.device, info.quantity, info.unit, info.entity_id,
                     info.meter_kind, int(info.is_counter)),
                ).fetchone()  # fmt: skip
                cached = (row[0], info)
                self._series[info.key] = cached
            ids[ref] = cached[0]
        return ids

    def _stage(
        self, conn: sqlite3.Connection, batch: RecordBatch, ids: dict[int, int]
    ) -> WriteResult:
        rows: list[RawRow] = []
        rejected = 0
        for ref, ts, value in batch.samples:
            if math.isfinite(value):
                rows.append((ids[ref], ts, value))
            else:
                rejected += 1
        statistics, stats_rejected = valid_statistics(batch.statistics)
        _rollback(conn)  # never inherit a transaction a failed write left open
        conn.execute("BEGIN IMMEDIATE")
        try:
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO samples (series, ts, value) VALUES (?, ?, ?)", rows
            )
            written = conn.total_changes - before
            if written:
                counters = {bid for bid, info in self._series.values() if info.is_counter}
                self._rollups.refresh(conn, touched_quarters(rows), counters)
            _upsert_statistics(conn, statistics)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return WriteResult(
            samples_written=written,
            samples_duplicate=len(rows) - written,
            samples_rejected=rejected,
            statistics_written=len(statistics),
            statistics_rejected=stats_rejected,
        )

    async def heartbeat(self, site: str, version: str, backlog: int) -> None:
        def job(conn: sqlite3.Connection) -> None:
            conn.execute(
                """INSERT INTO sites (site, last_seen, version, backlog, time_zone)
                   VALUES (?, ?, ?, ?, ?) ON CONFLICT (site) DO UPDATE SET
                   last_seen = excluded.last_seen, version = excluded.version,
                   backlog = excluded.backlog, time_zone = excluded.time_zone""",
                (site, to_us(datetime.now(UTC)), version, backlog, self.config.time_zone),
            )

        async with self._lock:
            await self._call(job)

    # -- maintenance -----------------------------------------------------------------

    async def recompute_rollups(self, start: datetime, end: datetime) -> int:
        low, high = floor_quarter(to_us(start)), to_us(end)
        extent = await self._call(
            functools.partial(_raw_extent, low=low, high=high, site=self.config.site)
        )
        if extent is None:
            return 0
        first, last = extent
        total = 0
        for low in range(floor_quarter(first), last + 1, _SLICE_US):
            high = min(low + _SLICE_US, last + 1)
            async with self._lock:
                total += await self._call(functools.partial(self._recompute, low=low, high=high))
        return total

    def _recompute(self, conn: sqlite3.Connection, low: int, high: int) -> int:
        conn.execute("BEGIN IMMEDIATE")
        try:
            quarters: set[tuple[int, int]] = set()
            counters: set[int] = set()
            for series_id, info in _load_series(conn, self.config.site).items():
                if info.is_counter:
                    counters.add(series_id)
                quarters.update(
                    (series_id, bucket)
                    for (bucket,) in conn.execute(
                        "SELECT DISTINCT ts - ts % ? FROM samples WHERE series = ? AND ts >= ? "
                        "AND ts < ?",
                        (QUARTER_HOUR_US, series_id, low, high),
                    )
                )
            self._rollups.refresh(conn, quarters, counters)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return len(quarters)

    async def apply_retention(self, days: int, now: datetime | None = None) -> int:
        if days <= 0:
            return 0
        cutoff = floor_quarter(to_us((now or datetime.now(UTC)) - timedelta(days=days)))
        async with self._lock:
            result: int = await self._call(lambda conn: _retention(conn, cutoff, self.config.site))
            return result

    # -- reads -----------------------------------------------------------------------

    async def read_series(self) -> list[SeriesInfo]:
        site = self.config.site
        return list((await self._call(lambda conn: _load_series(conn, site))).values())

    async def read_samples(self, key: SeriesKey, start: datetime, end: datetime) -> list[Sample]:
        rows = await self._call(
            lambda conn: conn.execute(
                """SELECT s.ts, s.value FROM samples s JOIN series se ON se.id = s.series
                   WHERE se.site = ? AND se.device = ? AND se.quantity = ?
                   AND s.ts >= ? AND s.ts < ? ORDER BY s.ts""",
                (key.site, key.device, key.quantity, to_us(start), to_us(end)),
            ).fetchall()
        )
        return [Sample(key, from_us(ts), value) for ts, value in rows]

    async def read_rollups(
        self, key: SeriesKey, period: RollupPeriod, start: datetime, end: datetime
    ) -> list[RollupRow]:
        table = ROLLUP_TABLES[period]
        rows = await self._call(
            lambda conn: conn.execute(
                f"""SELECT r.bucket, r.count, r.min, r.max, r.mean, r.first, r.last, r.delta
                    FROM {table} r JOIN series se ON se.id = r.series
                    WHERE se.site = ? AND se.device = ? AND se.quantity = ?
                    AND r.bucket >= ? AND r.bucket < ? ORDER BY r.bucket""",  # noqa: S608
                (key.site, key.device, key.quantity, to_us(start), to_us(end)),
            ).fetchall()
        )
        return [
            RollupRow(series=key, period=period, start=from_us(row[0]), count=row[1],
                      min=row[2], max=row[3], mean=row[4], first=row[5], last=row[6],
                      delta=row[7])
            for row in rows
        ]  # fmt: skip

    async def read_statistics(
        self,
        site: str,
        statistic_id: str,
        period: StatisticPeriod,
        start: datetime,
        end: datetime,
    ) -> list[StatisticRow]:
        rows = await self._call(
            lambda conn: conn.execute(
                """SELECT start, mean, min, max, state, sum, unit, source FROM ha_statistics
                   WHERE site = ? AND statistic_id = ? AND period = ? AND start >= ?
                   AND start < ? ORDER BY start""",
                (site, statistic_id, period.value, to_us(start), to_us(end)),
            ).fetchall()
        )
        return [
            StatisticRow(site=site, statistic_id=statistic_id, period=period,
                         start=from_us(row[0]), mean=row[1], min=row[2], max=row[3],
                         state=row[4], sum=row[5], unit=row[6], source=row[7])
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
        return await self._statistics.read_rollups(site, statistic_id, period, start, end)

    async def read_statistics_meta(self, site: str) -> list[StatisticMeta]:
        return await self._statistics.read_meta(site)

    async def read_sites(self) -> list[SiteRow]:
        rows = await self._call(
            lambda conn: conn.execute(
                "SELECT site, last_seen, version, backlog, time_zone FROM sites ORDER BY site"
            ).fetchall()
        )
        return [
            SiteRow(site=row[0], last_seen=from_us(row[1]), version=row[2], backlog=row[3],
                    time_zone=row[4])
            for row in rows
        ]  # fmt: skip

    # -- plumbing ----------------------------------------------------------------------

    async def _call[T](self, job: Job[T]) -> T:
        if self._worker is None:
            await self.open()
        assert self._worker is not None
        try:
            return await self._worker.submit(job)
        except sqlite3.Error as err:
            raise _translate(err) from err

    def _submit(self, job: Job[None]) -> None:
        if self._worker is not None:
            self._worker.submit(job)


def _translate(err: sqlite3.Error) -> BackendError:
    # Locked, busy, unreadable or full: a retry later may well succeed.
    if isinstance(err, sqlite3.OperationalError):
        return BackendUnavailableError(f"SQLite: {err}")
    return BackendError(f"SQLite: {err}")


def _commit(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("COMMIT")
    except sqlite3.Error:
        # A failed COMMIT (busy, I/O) can leave the transaction open: end it, retry later.
        _rollback(conn)
        raise


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


# Every query of series goes through these, so one site never acts on another's data.
_SERIES_OF_SITE = "FROM series WHERE ?1 IS NULL OR site = ?1"


def _series_ids(conn: sqlite3.Connection, site: str | None) -> list[int]:
    return [row[0] for row in conn.execute(f"SELECT id {_SERIES_OF_SITE}", (site,))]


def _load_series(conn: sqlite3.Connection, site: str | None) -> dict[int, SeriesInfo]:
    """The series of `site` (of every site when None), by backend id."""
    return {
        row[0]: SeriesInfo(site=row[1], device=row[2], quantity=row[3], unit=row[4],
                           entity_id=row[5], meter_kind=row[6], is_counter=bool(row[7]))
        for row in conn.execute(
            "SELECT id, site, device, quantity, unit, entity_id, meter_kind, is_counter "
            f"{_SERIES_OF_SITE} ORDER BY id",
            (site,),
        )
    }  # fmt: skip


def _upsert_statistics(conn: sqlite3.Connection, rows: Sequence[StatisticRow]) -> None:
    rows = dedupe_statistics(rows)
    conn.executemany(
        """INSERT INTO ha_statistics (site, statistic_id, period, start, mean, min, max, state,
               sum, unit, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (site, statistic_id, period, start) DO UPDATE SET
               mean = excluded.mean, min = excluded.min, max = excluded.max,
               state = excluded.state, sum = excluded.sum, unit = excluded.unit,
               source = excluded.source""",
        [
            (row.site, row.statistic_id, row.period.value, to_us(row.start), row.mean, row.min,
             row.max, row.state, row.sum, row.unit, row.source)
            for row in rows
        ],
    )  # fmt: skip
    conn.executemany(
        """INSERT INTO ha_statistics_meta (site, statistic_id, unit, source, has_mean, has_sum)
           VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (site, statistic_id) DO UPDATE SET
               unit = excluded.unit, source = excluded.source,
               has_mean = max(has_mean, excluded.has_mean),
               has_sum = max(has_sum, excluded.has_sum)""",
        [
            (meta.site, meta.statistic_id, meta.unit, meta.source, int(meta.has_mean),
             int(meta.has_sum))
            for meta in statistics_meta(rows)
        ],
    )  # fmt: skip


def _raw_extent(
    conn: sqlite3.Connection, low: int, high: int, site: str | None
) -> tuple[int, int] | None:
    """First and last raw reading in [low, high), through each series' primary key."""
    firsts, lasts = [], []
    for series_id in _series_ids(conn, site):
        first, last = conn.execute(
            "SELECT (SELECT min(ts) FROM samples WHERE series = ?1 AND ts >= ?2 AND ts < ?3), "
            "(SELECT max(ts) FROM samples WHERE series = ?1 AND ts >= ?2 AND ts < ?3)",
            (series_id, low, high),
        ).fetchone()
        if first is not None:
            firsts.append(first)
            lasts.append(last)
    return (min(firsts), max(lasts)) if firsts else None


def _retention(conn: sqlite3.Connection, cutoff: int, site: str | None) -> int:
    """Purge raw readings before `cutoff`, bucket by bucket, where the 15-minute rollup
    counts them all (so they are rolled up): folded into the bucket's purged aggregate,
    then deleted."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        deleted = 0
        for series_id, info in _load_series(conn, site).items():
            for (bucket,) in conn.execute(
                "SELECT DISTINCT ts - ts % ? FROM samples WHERE series = ? AND ts < ?",
                (QUARTER_HOUR_US, series_id, cutoff),
            ).fetchall():
                rolled = conn.execute(
                    f"SELECT count FROM {ROLLUP_TABLES[RollupPeriod.QUARTER_HOUR]} "  # noqa: S608
                    "WHERE series = ? AND bucket = ?",
                    (series_id, bucket),
                ).fetchone()
                if rolled is not None:
                    deleted += purge_quarter(conn, series_id, bucket, info.is_counter, rolled[0])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return deleted
