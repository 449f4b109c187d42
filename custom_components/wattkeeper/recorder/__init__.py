"""Store-and-forward of every reading to the user's own database. No homeassistant import.

Readings go first into a durable local `Outbox` (SQLite, WAL, its own writer
thread), then a `Sender` moves them in batches into a `Backend` (SQLite,
PostgreSQL; Cassandra registers itself through `register_backend`), deleting
from the outbox only what the backend committed. Every write is idempotent by
(series, timestamp), so a crash, kill or outage loses and duplicates nothing.

Typical use by the glue::

    outbox = Outbox(hass.config.path("wattkeeper_outbox.db"), quota_bytes=1 << 30)
    await outbox.open()
    info = SeriesInfo.for_meter(site, identity, quantity_key, entity_id)
    await outbox.register_series(info)        # again after a rename: updates in place
    await outbox.append_samples([Sample(info.key, snapshot.measured_at, value)])
    await outbox.append_statistics(rows)      # forwarded long-term statistics

    backend = create_backend(PostgresConfig(host=..., password=..., time_zone=tz))
    await backend.open()                      # connect + migrate (config flow test)
    sender = Sender(outbox, backend, site=site, version=VERSION)
    await sender.start()
    await sender.flush(timeout=30)            # service wattkeeper.flush
    sender.health()                           # diagnostic entities (no I/O)
    await backend.recompute_rollups(start, end)   # service wattkeeper.recompute_rollups
    await backend.apply_retention(days=30)    # once a day; 0 keeps raw data forever
    await sender.stop(); await backend.close(); await outbox.close()

Errors: `BackendAuthError` (ask for new credentials), `BackendUnavailableError`
(not reachable now; the sender retries by itself), other `BackendError`s
(configuration, schema newer than this code: `SchemaVersionError`).

`outbox.status().level` turns WARNING at 80 % of the quota (raise a repair
issue) and FULL when it drops the oldest readings (counted in `dropped`).
Invalid readings (NaN/inf, no time zone, unregistered series) are counted in
`rejected`, never raised. Rollups (15 min and hour in UTC; day, ISO week and
month in the configured time zone) are defined in rollup_math.py.
"""

from .backend import Backend
from .backoff import BackoffPolicy

# Importing the Cassandra settings registers its backend with the factory.
from .cassandra_config import CassandraConfig
from .config import BackendConfig, PostgresConfig, SqliteConfig, SslMode
from .errors import (
    BackendAuthError,
    BackendError,
    BackendUnavailableError,
    OutboxClosedError,
    RecorderError,
    SchemaVersionError,
)
from .factory import create_backend, register_backend
from .health import RecorderHealth
from .outbox import DEFAULT_QUOTA_BYTES, Outbox
from .outbox_types import AppendResult, OutboxBatch, OutboxStatus, QuotaLevel
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
from .sender import Sender

__all__ = [
    "DEFAULT_QUOTA_BYTES",
    "AppendResult",
    "Backend",
    "BackendAuthError",
    "BackendConfig",
    "BackendError",
    "BackendUnavailableError",
    "BackoffPolicy",
    "CassandraConfig",
    "Outbox",
    "OutboxBatch",
    "OutboxClosedError",
    "OutboxStatus",
    "PostgresConfig",
    "QuotaLevel",
    "RecordBatch",
    "RecorderError",
    "RecorderHealth",
    "RollupPeriod",
    "RollupRow",
    "Sample",
    "SchemaVersionError",
    "Sender",
    "SeriesInfo",
    "SeriesKey",
    "SiteRow",
    "SqliteConfig",
    "SslMode",
    "StatisticPeriod",
    "StatisticRow",
    "WriteResult",
    "create_backend",
    "register_backend",
]
