"""Schema of the SQLite backend, as numbered migrations recorded in `schema_version`.

Times are integer microseconds since the epoch (UTC); the `readings` view shows
them as text for people browsing the file.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from .errors import SchemaVersionError
from .rollup_plan import PURGED_TABLE, ROLLUP_TABLES


def _rollup_table(name: str) -> str:
    return f"""CREATE TABLE {name} (
        series INTEGER NOT NULL,
        bucket INTEGER NOT NULL,
        count INTEGER NOT NULL,
        min REAL NOT NULL,
        max REAL NOT NULL,
        mean REAL NOT NULL,
        first REAL NOT NULL,
        last REAL NOT NULL,
        first_ts INTEGER NOT NULL,
        last_ts INTEGER NOT NULL,
        delta REAL,
        PRIMARY KEY (series, bucket)
    ) WITHOUT ROWID"""


_INITIAL = (
    """CREATE TABLE series (
        id INTEGER PRIMARY KEY,
        site TEXT NOT NULL,
        device TEXT NOT NULL,
        quantity TEXT NOT NULL,
        unit TEXT,
        entity_id TEXT,
        meter_kind TEXT NOT NULL,
        is_counter INTEGER NOT NULL,
        UNIQUE (site, device, quantity)
    )""",
    """CREATE TABLE samples (
        series INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (series, ts)
    ) WITHOUT ROWID""",
    *(_rollup_table(name) for name in ROLLUP_TABLES.values()),
    """CREATE TABLE sites (
        site TEXT PRIMARY KEY,
        last_seen INTEGER NOT NULL,
        version TEXT NOT NULL,
        backlog INTEGER NOT NULL,
        time_zone TEXT NOT NULL
    )""",
    """CREATE TABLE ha_statistics (
        site TEXT NOT NULL,
        statistic_id TEXT NOT NULL,
        period TEXT NOT NULL CHECK (period IN ('5m', '1h')),
        start INTEGER NOT NULL,
        mean REAL, min REAL, max REAL, state REAL, sum REAL,
        unit TEXT,
        source TEXT NOT NULL,
        PRIMARY KEY (site, statistic_id, period, start)
    ) WITHOUT ROWID""",
    """CREATE TABLE ha_statistics_meta (
        site TEXT NOT NULL,
        statistic_id TEXT NOT NULL,
        unit TEXT,
        source TEXT NOT NULL,
        has_mean INTEGER NOT NULL,
        has_sum INTEGER NOT NULL,
        PRIMARY KEY (site, statistic_id)
    )""",
    """CREATE VIEW readings AS
        SELECT se.site, se.device, se.quantity, se.unit, se.entity_id,
               strftime('%Y-%m-%dT%H:%M:%fZ', s.ts / 1e6, 'unixepoch') AS time, s.value
        FROM samples s JOIN series se ON se.id = s.series""",
)

# Day, week and month rollups of the forwarded hourly statistics (statistics_rollups.py).
_STATISTICS_ROLLUPS = (
    """CREATE TABLE ha_statistics_rollups (
        site TEXT NOT NULL,
        statistic_id TEXT NOT NULL,
        period TEXT NOT NULL CHECK (period IN ('1d', '1w', '1mo')),
        start INTEGER NOT NULL,
        count INTEGER NOT NULL,
        mean_count INTEGER NOT NULL,
        mean REAL, min REAL, max REAL, state REAL, sum REAL, change REAL,
        PRIMARY KEY (site, statistic_id, period, start)
    ) WITHOUT ROWID""",
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


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to LATEST in one transaction; returns the version found before."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version "
            "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        current = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]
        if current > LATEST:
            raise SchemaVersionError(
                f"the database has schema {current}; this Wattkeeper understands up to {LATEST}"
            )
        for version, statements in MIGRATIONS:
            if version <= current:
                continue
            for statement in statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                (version, datetime.now(UTC).isoformat()),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    found: int = current
    return found


def version(conn: sqlite3.Connection) -> int:
    result: int = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]
    return result
