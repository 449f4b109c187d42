"""The PostgreSQL backend (asyncpg), with TimescaleDB when the server has it.

A write is one transaction: a binary COPY of the batch into `samples` (or, when
the batch repeats stored readings, COPY into a temporary staging table and
INSERT … ON CONFLICT DO NOTHING: idempotent by (series, ts)), the touched rollup
buckets recomputed server-side, statistics upserted. A crash before the commit
leaves nothing behind; the outbox still holds the batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Literal

import asyncpg

from . import postgres_sql as sql
from .backend import CommitHook
from .buckets import LocalCalendar, floor_quarter
from .config import PostgresConfig, SslMode
from .errors import BackendAuthError, BackendError, BackendUnavailableError
from .postgres_copy import Readings
from .postgres_schema import PgConnection, ensure_timescale, migrate, schema_version
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
from .rollup_math import Aggregate, aggregate_bucket, fold
from .rollup_plan import COARSE_SOURCES, PURGED_TABLE, plan_coarse
from .statistics_postgres import read_meta, read_rollups, refresh_statistic_rollups
from .statistics_rollups import StatisticRollupRow
from .statistics_rows import StatisticMeta, dedupe_statistics, statistics_meta, valid_statistics
from .timeconv import DAY_US, from_us, to_us

_LOGGER = logging.getLogger(__name__)

# Classes of server errors a retry can fix: connection (08), resources (53),
# operator intervention such as shutdown or "starting up" (57).
_TRANSIENT_SQLSTATE_CLASSES = ("08", "53", "57")

_SSL_MODES: dict[
    SslMode, Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
] = {
    SslMode.DISABLE: "disable",
    SslMode.ALLOW: "allow",
    SslMode.PREFER: "prefer",
    SslMode.REQUIRE: "require",
    SslMode.VERIFY_CA: "verify-ca",
    SslMode.VERIFY_FULL: "verify-full",
}


class PostgresBackend:
    """Backend on a PostgreSQL server; one small connection pool."""

    def __init__(self, config: PostgresConfig) -> None:
        self.config = config
        self.before_commit_hook: CommitHook | None = None
        self.timescale = False
        self._calendar = LocalCalendar(config.time_zone)
        self._pool: asyncpg.Pool | None = None
        self._open_lock = asyncio.Lock()
        # Two writes at once: one copies its readings while the other one rolls up and
        # commits. Rolling up and committing take turns: whichever goes second sees the
        # other's readings, so buckets both touch come out complete.
        self.concurrent_writes = 2
        self._finish_lock = asyncio.Lock()
        self._series: dict[SeriesKey, tuple[int, SeriesInfo]] = {}

    # -- lifecycle -----------------------------------------------------------------

    async def open(self) -> None:
        async with self._open_lock:
            if self._pool is not None:
                return
            try:
                pool = await _create_pool(self.config)
            except Exception as err:
                raise _translate(err) from err
            try:
                async with pool.acquire() as conn:
                    await migrate(conn, self.config.schema)
                    self.timescale = await ensure_timescale(conn, self.config.use_timescale)
                    self._series = {}
                    for row in await conn.fetch(sql.READ_SERIES_WITH_IDS, self.config.site):
                        info = _series_info(row)
                        self._series[info.key] = (row["id"], info)
            except BaseException as err:
                await pool.close()
                if isinstance(err, Exception) and not isinstance(err, BackendError):
                    raise _translate(err) from err
                raise
            self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[PgConnection]:
        """A pooled connection; driver errors come out as recorder errors."""
        if self._pool is None:
            await self.open()
        assert self._pool is not None
        try:
            async with self._pool.acquire() as conn:
                yield conn
        except BackendError:
            raise
        except Exception as err:
            raise _translate(err) from err

    async def schema_version(self) -> int:
        async with self._connection() as conn:
            return await schema_version(conn)

    # -- writes --------------------------------------------------------------------

    async def write(self, batch: RecordBatch) -> WriteResult:
        statistics, stats_rejected = valid_statistics(batch.statistics)
        # Worked out here rather than by the server: the server is the bottleneck.
        readings = Readings.of(batch.samples)
        quarters = readings.quarters()
        finishing = False
        async with self._connection() as conn:
            refs = await self._register(conn, batch, {ref for ref, _ in quarters})
            try:
                async with conn.transaction():
                    written = duplicate = rejected = 0
                    if batch.samples:
                        written, rejected = await _store_samples(conn, batch, readings, refs)
                        duplicate = len(batch.samples) - rejected - written
                    # Held until the transaction has ended (committed or rolled back).
                    await self._finish_lock.acquire()
                    finishing = True
                    if written:
                        touched = [(refs[ref][0], start, refs[ref][1]) for ref, start in quarters]
                        await self._refresh(conn, touched)
                    if statistics:
                        await _upsert_statistics(conn, statistics)
                        await refresh_statistic_rollups(conn, self._calendar, statistics)
                    if self.before_commit_hook is not None:
                        await self.before_commit_hook()
            finally:
                if finishing:
                    self._finish_lock.release()
        return WriteResult(
            samples_written=written,
            samples_duplicate=duplicate,
            samples_rejected=rejected,
            statistics_written=len(statistics),
            statistics_rejected=stats_rejected,
        )

    async def _register(
        self, conn: PgConnection, batch: RecordBatch, used: set[int]
    ) -> dict[int, tuple[int, bool]]:
        """Backend id and counter flag per outbox ref; new or changed series are upserted
        first, outside the data transaction, so a rollback never leaves a stale cache."""
        refs: dict[int, tuple[int, bool]] = {}
        for ref in used:
            info = batch.series[ref]
            cached = self._series.get(info.key)
            if cached is None or cached[1] != info:
                series_id = await conn.fetchval(
                    sql.UPSERT_SERIES,
                    info.site,
                    info.device,
                    info.quantity,
                    info.unit,
                    info.entity_id,
                    info.meter_kind,
                    info.is_counter,
                )
                cached = (series_id, info)
                self._series[info.key] = cached
            refs[ref] = (cached[0], info.is_counter)
        return refs

    async def _refresh(self, conn: PgConnection, touched: Sequence[tuple[int, int, bool]]) -> int:
        """Recompute touched 15-minute buckets, then the coarser buckets above them."""
        buckets = {(series, bucket): counter for series, bucket, counter in touched}
        counters = [(s, b) for (s, b), counter in buckets.items() if counter]
        if counters:
            for series, bucket in await conn.fetch(
                sql.NEXT_BUCKETS, [s for s, _ in counters], [b for _, b in counters]
            ):
                buckets.setdefault((series, bucket), True)
        keys = sorted(buckets)
        purged = {
            (row[0], row[1]): Aggregate(*row[2:])
            for row in await conn.fetch(sql.PURGED_OF, [s for s, _ in keys], [b for _, b in keys])
        }
        # Buckets retention purged first (rarely any): the SQL below then takes their
        # new last reading as the start of the next bucket's delta.
        for key in sorted(purged):
            await _merge_purged(conn, key, purged[key], counter=buckets[key])
        plain = [key for key in keys if key not in purged]
        await conn.execute(
            sql.REFRESH_QUARTERS,
            [s for s, _ in plain],
            [b for _, b in plain],
            [buckets[key] for key in plain],
        )
        plan = plan_coarse(self._calendar, keys)
        for period, source in COARSE_SOURCES:
            spans = plan.for_period(period)
            await conn.execute(
                sql.refresh_coarse(period, source),
                [s for s, _, _ in spans],
                [start for _, start, _ in spans],
                [end for _, _, end in spans],
            )
        return len(keys)

    async def heartbeat(self, site: str, version: str, backlog: int) -> None:
        async with self._connection() as conn:
            await conn.execute(sql.HEARTBEAT, site, version, backlog, self.config.time_zone)

    # -- maintenance -----------------------------------------------------------------

    async def recompute_rollups(self, start: datetime, end: datetime) -> int:
        async with self._connection() as conn:
            extent = await conn.fetchrow(
                sql.RAW_EXTENT, floor_quarter(to_us(start)), to_us(end), self.config.site
            )
        if extent is None or extent[0] is None:
            return 0
        first, last = extent
        total = 0
        # A day at a time keeps each transaction small.
        for low in range(floor_quarter(first), last + 1, DAY_US):
            high = min(low + DAY_US, last + 1)
            async with self._connection() as conn, conn.transaction():
                touched = await conn.fetch(sql.TOUCHED_IN_RANGE, low, high, self.config.site)
                if touched:
                    await self._refresh(conn, [(r[0], r[1], r[2]) for r in touched])
                    total += len(touched)
        return total

    async def apply_retention(self, days: int, now: datetime | None = None) -> int:
        if days <= 0:
            return 0
        cutoff = from_us(floor_quarter(to_us((now or datetime.now(UTC)) - timedelta(days=days))))
        site = self.config.site
        deleted = 0
        async with self._connection() as conn:
            oldest: datetime | None = await conn.fetchval(sql.OLDEST_RAW, site)
            if oldest is None:
                return 0
            low = from_us(floor_quarter(to_us(oldest)))
            while low < cutoff:
                high = min(low + timedelta(days=1), cutoff)
                async with conn.transaction():
                    for series, bucket, counter in await conn.fetch(
                        sql.RETENTION_LATE, low, high, site
                    ):
                        deleted += await _purge_late(conn, series, bucket, counter=counter)
                    status = await conn.execute(sql.RETENTION, low, high, site)
                deleted += int(status.rsplit(" ", 1)[1])
                low = high
        return deleted

    # -- reads -----------------------------------------------------------------------

    async def read_series(self) -> list[SeriesInfo]:
        async with self._connection() as conn:
            return [
                _series_info(row) for row in await conn.fetch(sql.READ_SERIES, self.config.site)
            ]

    async def read_samples(self, key: SeriesKey, start: datetime, end: datetime) -> list[Sample]:
        async with self._connection() as conn:
            series_id = await conn.fetchval(sql.SERIES_ID, key.site, key.device, key.quantity)
            if series_id is None:
                return []
            rows = await conn.fetch(sql.READ_SAMPLES, series_id, start, end)
        return [Sample(key, row[0], row[1]) for row in rows]

    async def read_rollups(
        self, key: SeriesKey, period: RollupPeriod, start: datetime, end: datetime
    ) -> list[RollupRow]:
        async with self._connection() as conn:
            series_id = await conn.fetchval(sql.SERIES_ID, key.site, key.device, key.quantity)
            if series_id is None:
                return []
            rows = await conn.fetch(sql.read_rollups(period), series_id, start, end)
        return [
            RollupRow(series=key, period=period, start=row[0], count=row[1], min=row[2],
                      max=row[3], mean=row[4], first=row[5], last=row[6], delta=row[7])
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
        async with self._connection() as conn:
            rows = await conn.fetch(
                sql.READ_STATISTICS, site, statistic_id, period.value, start, end
            )
        return [
            StatisticRow(site=site, statistic_id=statistic_id, period=period, start=row[0],
                         mean=row[1], min=row[2], max=row[3], state=row[4], sum=row[5],
                         unit=row[6], source=row[7])
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
        async with self._connection() as conn:
            return await read_rollups(conn, site, statistic_id, period, start, end)

    async def read_statistics_meta(self, site: str) -> list[StatisticMeta]:
        async with self._connection() as conn:
            return await read_meta(conn, site)

    async def read_sites(self) -> list[SiteRow]:
        async with self._connection() as conn:
            rows = await conn.fetch(sql.READ_SITES)
        return [
            SiteRow(site=row[0], last_seen=row[1], version=row[2], backlog=row[3],
                    time_zone=row[4])
            for row in rows
        ]  # fmt: skip


async def _create_pool(config: PostgresConfig) -> asyncpg.Pool:
    # Unqualified table names resolve in the configured schema (then public, for extensions).
    settings = {"search_path": f'"{config.schema}", public'}
    if config.dsn:
        # An sslmode inside the DSN applies; without one asyncpg prefers TLS.
        return await asyncpg.create_pool(
            config.dsn,
            min_size=1,
            max_size=3,
            timeout=config.connect_timeout,
            command_timeout=config.command_timeout,
            init=_init_connection,
            server_settings=settings,
        )
    return await asyncpg.create_pool(
        host=config.host,
        port=config.port,
        database=config.database,
        user=config.user,
        password=config.password,
        ssl=_SSL_MODES[config.ssl_mode],
        min_size=1,
        max_size=3,
        timeout=config.connect_timeout,
        command_timeout=config.command_timeout,
        init=_init_connection,
        server_settings=settings,
    )


async def _store_samples(
    conn: PgConnection,
    batch: RecordBatch,
    readings: Readings,
    refs: Mapping[int, tuple[int, bool]],
) -> tuple[int, int]:
    """Store the batch's finite readings; returns (new, rejected as NaN/inf).

    First a binary COPY straight into `samples`, as fast as PostgreSQL takes rows. It
    fails as a whole (rolled back to a savepoint) if a reading is stored already (a
    replay after a crash) or repeats in the batch: then the readings are staged and
    inserted skipping those, the first of equal keys winning."""
    payload, rows, rejected = readings.copy_payload({ref: ids[0] for ref, ids in refs.items()})
    try:
        async with conn.transaction():
            await conn.copy_to_table(
                "samples",
                # A buffer is sent as it is (bytes would be taken for a file name).
                source=memoryview(payload),  # type: ignore[arg-type]
                columns=("series", "ts", "value"),
                format="binary",
            )
    except asyncpg.UniqueViolationError:
        await conn.execute(
            sql.FILL_MAP,
            list(refs),
            [series_id for series_id, _ in refs.values()],
            [counter for _, counter in refs.values()],
        )
        await conn.copy_records_to_table(
            "wk_stage", records=batch.samples, columns=("series", "ts", "value")
        )
        status = await conn.execute(sql.INSERT_SAMPLES)
        return int(status.rsplit(" ", 1)[1]), rejected
    return rows, rejected


async def _bucket_readings(conn: PgConnection, series: int, bucket: int) -> list[tuple[int, float]]:
    return [(row[0], row[1]) for row in await conn.fetch(sql.BUCKET_READINGS, series, bucket)]


async def _store_aggregate(
    conn: PgConnection, table: str, series: int, bucket: int, aggregate: Aggregate
) -> None:
    await conn.execute(
        sql.upsert_aggregate(table), series, bucket, aggregate.count, aggregate.min,
        aggregate.max, aggregate.mean, aggregate.first, aggregate.last, aggregate.first_ts,
        aggregate.last_ts, aggregate.delta,
    )  # fmt: skip


async def _merge_purged(
    conn: PgConnection, key: tuple[int, int], purged: Aggregate, *, counter: bool
) -> None:
    """The rollup of a bucket retention purged: its purged aggregate merged with the raw
    readings that arrived since (rollup_math.aggregate_bucket)."""
    series, bucket = key
    readings = await _bucket_readings(conn, series, bucket)
    previous = await conn.fetchval(sql.PREVIOUS_VALUE, series, bucket) if counter else None
    aggregate = aggregate_bucket(readings, previous, counter=counter, purged=purged)
    assert aggregate is not None
    await _store_aggregate(conn, sql.QUARTER, series, bucket, aggregate)


async def _purge_late(conn: PgConnection, series: int, bucket: int, *, counter: bool) -> int:
    """Fold the late readings of a purged bucket into its purged aggregate, delete them."""
    [row] = await conn.fetch(sql.PURGED_OF, [series], [bucket])
    readings = await _bucket_readings(conn, series, bucket)
    folded = fold(readings, Aggregate(*row[2:]), counter=counter)
    assert folded is not None
    await _store_aggregate(conn, PURGED_TABLE, series, bucket, folded)
    await conn.execute(sql.DELETE_BUCKET, series, bucket)
    return len(readings)


async def _init_connection(conn: PgConnection) -> None:
    for statement in sql.CREATE_STAGING:
        await conn.execute(statement)


async def _upsert_statistics(conn: PgConnection, rows: Sequence[StatisticRow]) -> None:
    rows = dedupe_statistics(rows)
    columns = list(zip(*(
        (r.site, r.statistic_id, r.period.value, r.start, r.mean, r.min, r.max, r.state, r.sum,
         r.unit, r.source)
        for r in rows
    ), strict=True))  # fmt: skip
    await conn.execute(sql.UPSERT_STATISTICS, *(list(column) for column in columns))
    metas = statistics_meta(rows)
    await conn.execute(
        sql.UPSERT_STATISTICS_META,
        [m.site for m in metas],
        [m.statistic_id for m in metas],
        [m.unit for m in metas],
        [m.source for m in metas],
        [m.has_mean for m in metas],
        [m.has_sum for m in metas],
    )


def _series_info(row: asyncpg.Record) -> SeriesInfo:
    return SeriesInfo(
        site=row["site"],
        device=row["device"],
        quantity=row["quantity"],
        unit=row["unit"],
        entity_id=row["entity_id"],
        meter_kind=row["meter_kind"],
        is_counter=row["is_counter"],
    )


def _translate(err: BaseException) -> BackendError:
    """One recorder error per driver error; messages never include the DSN or password."""
    if isinstance(err, asyncpg.InvalidAuthorizationSpecificationError):
        return BackendAuthError(f"PostgreSQL refused the credentials: {err}")
    if isinstance(err, asyncpg.PostgresError):
        state = err.sqlstate or ""
        if state[:2] in _TRANSIENT_SQLSTATE_CLASSES:
            return BackendUnavailableError(f"PostgreSQL is not available: {err}")
        return BackendError(f"PostgreSQL error {state}: {err}")
    if isinstance(err, asyncpg.exceptions.ClientConfigurationError):
        return BackendError(f"PostgreSQL client configuration: {err}")
    if isinstance(err, OSError | TimeoutError | asyncpg.InterfaceError):
        return BackendUnavailableError(f"PostgreSQL is not reachable: {err}")
    return BackendError(f"PostgreSQL: {type(err).__name__}: {err}")
