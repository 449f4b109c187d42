"""The Cassandra schema: tables shaped by their partitions, and versioned migrations.

Every read Wattkeeper makes names one partition, so no query needs ALLOW
FILTERING:

- `samples`: raw readings, partition (series, UTC day), clustered by time.
  At one reading a second a partition holds 86 400 rows (about 2 MB), under
  Cassandra's 100 000-row / 100 MB guidance. TimeWindowCompactionStrategy
  with daily windows matches the partitioning, and the raw retention is the
  table's default TTL so whole SSTables expire at once.
- `rollups`: partition (series, period, UTC year of the bucket start),
  clustered by bucket start: a year of 15-minute buckets is 35 136 rows.
- `ha_statistics`: Home Assistant's long-term statistics, partition
  (site, statistic_id, period, month): 5-minute rows would pass 100 000 in a
  year, so the bucket is a month (at most 8 928 rows).
- `series` (partition site), `sites` (one row per site) and
  `ha_statistics_meta` (partition site) are small.
- `ha_statistics_rollups`: days, weeks and months of the forwarded hourly
  statistics, partition (site, statistic_id, period): 366 day rows a year.
- `purged`: what retention removed from each 15-minute bucket of a series, as one
  aggregate (rollup_math.fold), partition (series, UTC year) like `rollups`.
- `series_days`: which days of a series hold raw readings (partition series).
  Retention and recomputation walk it instead of scanning the samples table.

Times are UTC microseconds since the epoch in `bigint` columns, the outbox's
own representation: exact, and two readings in the same millisecond stay two.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from .cassandra_session import CassandraSession
from .errors import SchemaVersionError
from .timeconv import to_us

SCHEMA_VERSION: Final = 3

# (version, statements); {ks} is the keyspace and {ttl} the raw retention in seconds.
MIGRATIONS: Final[tuple[tuple[int, tuple[str, ...]], ...]] = (
    (
        1,
        (
            """
            CREATE TABLE IF NOT EXISTS {ks}.samples (
                series text,
                day date,
                ts bigint,
                value double,
                PRIMARY KEY ((series, day), ts)
            ) WITH CLUSTERING ORDER BY (ts ASC)
              AND compaction = {{'class': 'TimeWindowCompactionStrategy',
                                'compaction_window_unit': 'DAYS',
                                'compaction_window_size': 1}}
              AND default_time_to_live = {ttl}
              AND gc_grace_seconds = 86400
            """,
            """
            CREATE TABLE IF NOT EXISTS {ks}.rollups (
                series text,
                period text,
                year int,
                start bigint,
                count bigint,
                min double,
                max double,
                mean double,
                first double,
                last double,
                first_ts bigint,
                last_ts bigint,
                delta double,
                PRIMARY KEY ((series, period, year), start)
            ) WITH CLUSTERING ORDER BY (start ASC)
              AND compaction = {{'class': 'LeveledCompactionStrategy'}}
            """,
            """
            CREATE TABLE IF NOT EXISTS {ks}.ha_statistics (
                site text,
                statistic_id text,
                period text,
                month int,
                start bigint,
                mean double,
                min double,
                max double,
                state double,
                sum double,
                unit text,
                source text,
                PRIMARY KEY ((site, statistic_id, period, month), start)
            ) WITH CLUSTERING ORDER BY (start ASC)
            """,
            """
            CREATE TABLE IF NOT EXISTS {ks}.series_days (
                series text,
                day date,
                PRIMARY KEY ((series), day)
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS {ks}.ha_statistics_meta (
                site text,
                statistic_id text,
                unit text,
                source text,
                has_mean boolean,
                has_sum boolean,
                PRIMARY KEY ((site), statistic_id)
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS {ks}.series (
                site text,
                device text,
                quantity text,
                meter_kind text,
                unit text,
                is_counter boolean,
                entity_id text,
                PRIMARY KEY ((site), device, quantity)
            )
            """,
            """
            CREATE TABLE IF NOT EXISTS {ks}.sites (
                site text PRIMARY KEY,
                last_seen bigint,
                version text,
                backlog bigint,
                time_zone text
            )
            """,
        ),
    ),
    (
        2,
        (
            """
            CREATE TABLE IF NOT EXISTS {ks}.ha_statistics_rollups (
                site text,
                statistic_id text,
                period text,
                start bigint,
                count int,
                mean_count int,
                mean double,
                min double,
                max double,
                state double,
                sum double,
                change double,
                PRIMARY KEY ((site, statistic_id, period), start)
            ) WITH CLUSTERING ORDER BY (start ASC)
            """,
        ),
    ),
    (
        3,
        (
            """
            CREATE TABLE IF NOT EXISTS {ks}.purged (
                series text,
                year int,
                start bigint,
                count bigint,
                min double,
                max double,
                mean double,
                first double,
                last double,
                first_ts bigint,
                last_ts bigint,
                delta double,
                PRIMARY KEY ((series, year), start)
            ) WITH CLUSTERING ORDER BY (start ASC)
            """,
        ),
    ),
)

SCHEMA_TABLE: Final = """
    CREATE TABLE IF NOT EXISTS {ks}.schema_migrations (
        component text,
        version int,
        applied_at bigint,
        PRIMARY KEY ((component), version)
    )
"""
COMPONENT: Final = "wattkeeper"
CREATE_KEYSPACE: Final = "CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = {replication}"
RECORD_MIGRATION: Final = (
    "INSERT INTO {ks}.schema_migrations (component, version, applied_at) VALUES (%s, %s, %s)"
)
CURRENT_VERSION: Final = (
    "SELECT version FROM {ks}.schema_migrations WHERE component = %s ORDER BY version DESC LIMIT 1"
)
RETENTION: Final = "ALTER TABLE {ks}.samples WITH default_time_to_live = {ttl}"


def render(cql: str, keyspace: str, ttl: int) -> str:
    """A statement of this module for one keyspace; collapses the indentation."""
    return " ".join(cql.format(ks=keyspace, ttl=ttl).split())


async def migrate(db: CassandraSession) -> int:
    """Create the keyspace if missing and apply pending migrations; returns the old version."""
    config = db.config
    keyspace, ttl = config.keyspace, config.raw_ttl_seconds
    # Only create what is missing: Cassandra checks the CREATE permission even for
    # IF NOT EXISTS, and an operator may give Wattkeeper a user without it.
    if keyspace not in db.cluster.metadata.keyspaces:
        await db.execute(CREATE_KEYSPACE.format(ks=keyspace, replication=config.replication_cql))
    if "schema_migrations" not in db.cluster.metadata.keyspaces[keyspace].tables:
        await db.execute(render(SCHEMA_TABLE, keyspace, ttl))
    current = await version(db)
    if current > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"keyspace {keyspace} has schema {current}; this Wattkeeper understands up to "
            f"{SCHEMA_VERSION}"
        )
    for number, statements in MIGRATIONS:
        if number <= current:
            continue
        for statement in statements:
            await db.execute(render(statement, keyspace, ttl))
        await db.execute(
            RECORD_MIGRATION.format(ks=keyspace), (COMPONENT, number, to_us(datetime.now(UTC)))
        )
    # The raw retention may have changed since the table was created.
    table = db.cluster.metadata.keyspaces[keyspace].tables.get("samples")
    if table is not None and table.options.get("default_time_to_live") != ttl:
        await db.execute(render(RETENTION, keyspace, ttl))
    return current


async def version(db: CassandraSession) -> int:
    rows = await db.execute(CURRENT_VERSION.format(ks=db.config.keyspace), (COMPONENT,))
    return int(rows[0][0]) if rows else 0
