"""Every statement the Cassandra backend runs, prepared once per session.

Each names its whole partition key, so the driver routes it to a replica and
no statement needs ALLOW FILTERING. `series` is read one site (partition) at a
time; only `sites`, one row per household, is read whole.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Final

from cassandra.query import PreparedStatement

from .cassandra_session import CassandraSession

CQL: Final[dict[str, str]] = {
    "insert_sample": (
        "INSERT INTO {ks}.samples (series, day, ts, value) VALUES (?, ?, ?, ?) USING TTL ?"
    ),
    "select_samples": (
        "SELECT ts, value FROM {ks}.samples WHERE series = ? AND day = ? AND ts >= ? AND ts < ?"
    ),
    "select_sample_before": (
        "SELECT ts, value FROM {ks}.samples WHERE series = ? AND day = ? AND ts < ? "
        "ORDER BY ts DESC LIMIT 1"
    ),
    "delete_samples": (
        "DELETE FROM {ks}.samples WHERE series = ? AND day = ? AND ts >= ? AND ts < ?"
    ),
    "insert_day": "INSERT INTO {ks}.series_days (series, day) VALUES (?, ?) USING TTL ?",
    "select_days": ("SELECT day FROM {ks}.series_days WHERE series = ? AND day >= ? AND day <= ?"),
    "delete_day": "DELETE FROM {ks}.series_days WHERE series = ? AND day = ?",
    "insert_rollup": (
        "INSERT INTO {ks}.rollups (series, period, year, start, count, min, max, mean, first, "
        "last, first_ts, last_ts, delta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ),
    "select_rollups": (
        "SELECT start, count, min, max, mean, first, last, first_ts, last_ts, delta "
        "FROM {ks}.rollups WHERE series = ? AND period = ? AND year = ? AND start >= ? "
        "AND start < ?"
    ),
    "select_rollup_before": (
        "SELECT start, last_ts, last FROM {ks}.rollups WHERE series = ? AND period = ? "
        "AND year = ? AND start < ? ORDER BY start DESC LIMIT 1"
    ),
    "select_rollup_after": (
        "SELECT start FROM {ks}.rollups WHERE series = ? AND period = ? AND year = ? "
        "AND start > ? LIMIT 1"
    ),
    "insert_purged": (
        "INSERT INTO {ks}.purged (series, year, start, count, min, max, mean, first, last, "
        "first_ts, last_ts, delta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ),
    "select_purged": (
        "SELECT start, count, min, max, mean, first, last, first_ts, last_ts, delta "
        "FROM {ks}.purged WHERE series = ? AND year = ? AND start >= ? AND start < ?"
    ),
    "insert_series": (
        "INSERT INTO {ks}.series (site, device, quantity, meter_kind, unit, is_counter, "
        "entity_id) VALUES (?, ?, ?, ?, ?, ?, ?)"
    ),
    "select_series": (
        "SELECT site, device, quantity, meter_kind, unit, is_counter, entity_id FROM {ks}.series "
        "WHERE site = ?"
    ),
    "insert_statistic": (
        "INSERT INTO {ks}.ha_statistics (site, statistic_id, period, month, start, mean, min, "
        "max, state, sum, unit, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ),
    "insert_statistic_meta": (
        "INSERT INTO {ks}.ha_statistics_meta (site, statistic_id, unit, source, has_mean, "
        "has_sum) VALUES (?, ?, ?, ?, ?, ?)"
    ),
    "select_statistics": (
        "SELECT start, mean, min, max, state, sum, unit, source FROM {ks}.ha_statistics "
        "WHERE site = ? AND statistic_id = ? AND period = ? AND month = ? "
        "AND start >= ? AND start < ?"
    ),
    "upsert_site": (
        "INSERT INTO {ks}.sites (site, last_seen, version, backlog, time_zone) "
        "VALUES (?, ?, ?, ?, ?)"
    ),
    "select_sites": "SELECT site, last_seen, version, backlog, time_zone FROM {ks}.sites",
}

# The config flow's permission probe: write, read and delete one row.
PROBE: Final = (
    "INSERT INTO {ks}.schema_migrations (component, version, applied_at) VALUES ('probe', 0, 0)",
    "SELECT version FROM {ks}.schema_migrations WHERE component = 'probe'",
    "DELETE FROM {ks}.schema_migrations WHERE component = 'probe'",
)


@dataclass(frozen=True, slots=True)
class Statements:
    """The prepared form of every entry of CQL, by the same name."""

    insert_sample: PreparedStatement
    select_samples: PreparedStatement
    select_sample_before: PreparedStatement
    delete_samples: PreparedStatement
    insert_day: PreparedStatement
    select_days: PreparedStatement
    delete_day: PreparedStatement
    insert_rollup: PreparedStatement
    select_rollups: PreparedStatement
    select_rollup_before: PreparedStatement
    select_rollup_after: PreparedStatement
    insert_purged: PreparedStatement
    select_purged: PreparedStatement
    insert_series: PreparedStatement
    select_series: PreparedStatement
    insert_statistic: PreparedStatement
    insert_statistic_meta: PreparedStatement
    select_statistics: PreparedStatement
    upsert_site: PreparedStatement
    select_sites: PreparedStatement

    @classmethod
    async def prepare(cls, db: CassandraSession) -> Statements:
        keyspace = db.config.keyspace
        prepared = {f.name: await db.prepare(CQL[f.name].format(ks=keyspace)) for f in fields(cls)}
        return cls(**prepared)
