"""Schema of the PostgreSQL backend: numbered migrations, recorded in `schema_version`.

Migrations run in one transaction under an advisory lock, so two Home Assistant
instances starting against the same database do not race. TimescaleDB is set
up after the migrations, only when the extension can be created: `samples`
becomes a hypertable with daily chunks and compression of chunks older than a
week; everything else stays a plain table.
"""

from __future__ import annotations

import logging

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from .errors import BackendError, SchemaVersionError
from .rollup_plan import PURGED_TABLE, ROLLUP_TABLES

_LOGGER = logging.getLogger(__name__)

# What the pool hands out, or a plain connection.
type PgConnection = asyncpg.Connection | PoolConnectionProxy

# pg_advisory_xact_lock key: "wattkeeper" folded into a bigint.
_LOCK_KEY = 0x5761_7474_6B65_6570
MIN_SERVER_VERSION = 14  # date_bin()


def _rollup_table(name: str) -> str:
    return f"""CREATE TABLE {name} (
        series integer NOT NULL,
        bucket timestamptz NOT NULL,
        count integer NOT NULL,
        min double precision NOT NULL,
        max double precision NOT NULL,
        mean double precision NOT NULL,
        first double precision NOT NULL,
        last double precision NOT NULL,
        first_ts timestamptz NOT NULL,
        last_ts timestamptz NOT NULL,
        delta double precision,
        PRIMARY KEY (series, bucket)
    )"""


_INITIAL = (
    """CREATE TABLE series (
        id serial PRIMARY KEY,
        site text NOT NULL,
        device text NOT NULL,
        quantity text NOT NULL,
        unit text,
        entity_id text,
        meter_kind text NOT NULL,
        is_counter boolean NOT NULL,
        UNIQUE (site, device, quantity)
    )""",
    # No foreign key to series: its per-row check would cost a third of the write rate.
    """CREATE TABLE samples (
        series integer NOT NULL,
        ts timestamptz NOT NULL,
        value double precision NOT NULL,
        PRIMARY KEY (series, ts)
    )""",
    # Retention and range recomputes select by time across series; BRIN is almost free.
    "CREATE INDEX samples_ts_brin ON samples USING brin (ts)",
    *(_rollup_table(name) for name in ROLLUP_TABLES.values()),
    """CREATE TABLE sites (
        site text PRIMARY KEY,
        last_seen timestamptz NOT NULL,
        version text NOT NULL,
        backlog bigint NOT NULL,
        time_zone text NOT NULL
    )""",
    """CREATE TABLE ha_statistics (
        site text NOT NULL,
        statistic_id text NOT NULL,
        period text NOT NULL CHECK (period IN ('5m', '1h')),
        start timestamptz NOT NULL,
        mean double precision,
        min double precision,
        max double precision,
        state double precision,
        sum double precision,
        unit text,
        source text NOT NULL,
        PRIMARY KEY (site, statistic_id, period, start)
    )""",
    """CREATE TABLE ha_statistics_meta (
        site text NOT NULL,
        statistic_id text NOT NULL,
        unit text,
        source text NOT NULL,
        has_mean boolean NOT NULL,
        has_sum boolean NOT NULL,
        PRIMARY KEY (site, statistic_id)
    )""",
    """CREATE VIEW readings AS
        SELECT se.site, se.device, se.quantity, se.unit, se.entity_id, s.ts, s.value
        FROM samples s JOIN series se ON se.id = s.series""",
)

# Day, week and month rollups of the forwarded hourly statistics (statistics_rollups.py).
_STATISTICS_ROLLUPS = (
    """CREATE TABLE ha_statistics_rollups (
        site text NOT NULL,
        statistic_id text NOT NULL,
        period text NOT NULL CHECK (period IN ('1d', '1w', '1mo')),
        start timestamptz NOT NULL,
        count integer NOT NULL,
        mean_count integer NOT NULL,
        mean double precision,
        min double precision,
        max double precision,
        state double precision,
        sum double precision,
        change double precision,
        PRIMARY KEY (site, statistic_id, period, start)
    )""",
)

# What retention removed from each 15-minute bucket, so late readings add to its rollup.
_PURGED = (_rollup_table(PURGED_TABLE),)

# Append-only: never edit a released migration, add the next one.
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (1, _INITIAL),
    (2, _STATISTICS_ROLLUPS),
    (3, _PURGED),
)
LATEST = MIGRATIONS[-1][0]


async def migrate(conn: PgConnection, schema: str) -> int:
    """Bring the schema to LATEST; returns the version found before.

    `schema` (a validated identifier) is the connection's search_path."""
    server = conn.get_server_version()
    if server.major < MIN_SERVER_VERSION:
        raise BackendError(
            f"PostgreSQL {server.major} is too old; Wattkeeper needs {MIN_SERVER_VERSION} or newer"
        )
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        if schema != "public":
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version "
            "(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        current: int = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
        if current > LATEST:
            raise SchemaVersionError(
                f"the database has schema {current}; this Wattkeeper understands up to {LATEST}"
            )
        for version, statements in MIGRATIONS:
            if version <= current:
                continue
            for statement in statements:
                await conn.execute(statement)
            await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", version)
            _LOGGER.info("Recorder database migrated to schema %d", version)
    return current


async def schema_version(conn: PgConnection) -> int:
    version: int = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
    return version


async def ensure_timescale(conn: PgConnection, wanted: bool | None) -> bool:
    """Turn `samples` into a compressed hypertable when TimescaleDB is available."""
    if wanted is False:
        return False
    available = await conn.fetchval(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'"
    )
    if not available:
        if wanted:
            _LOGGER.warning("TimescaleDB was asked for but is not installed; using plain tables")
        return False
    try:
        async with conn.transaction():
            await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            hypertable = await conn.fetchval(
                "SELECT count(*) FROM timescaledb_information.hypertables "
                "WHERE hypertable_name = 'samples' AND hypertable_schema = current_schema()"
            )
            if not hypertable:
                await conn.execute(
                    "SELECT create_hypertable('samples', 'ts', "
                    "chunk_time_interval => INTERVAL '1 day', migrate_data => true, "
                    "if_not_exists => true)"
                )
                await conn.execute(
                    "ALTER TABLE samples SET (timescaledb.compress, "
                    "timescaledb.compress_segmentby = 'series', "
                    "timescaledb.compress_orderby = 'ts')"
                )
                await conn.execute(
                    "SELECT add_compression_policy('samples', INTERVAL '7 days', "
                    "if_not_exists => true)"
                )
    except asyncpg.PostgresError as err:
        # Typically: not in shared_preload_libraries, or no right to create extensions.
        _LOGGER.warning("TimescaleDB is installed but cannot be used (%s); plain tables", err)
        return False
    return True
