"""Constants shared by the Home Assistant glue."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Final

DOMAIN: Final = "wattkeeper"
LOGGER = logging.getLogger(__package__)

# Config entry data.
CONF_KIND: Final = "kind"
CONF_TOKEN: Final = "token"
CONF_API_VERSION: Final = "api_version"

# Options.
CONF_SCAN_INTERVAL: Final = "scan_interval"

DEFAULT_SCAN_INTERVAL: Final = timedelta(seconds=5)
MIN_SCAN_INTERVAL_SECONDS: Final = 1

# Sent with every snapshot a meter delivers: (entry_id, Snapshot). The external
# recorder listens to it so readings reach the outbox at full resolution.
SIGNAL_SNAPSHOT: Final = f"{DOMAIN}_snapshot"

# The external recorder is a config entry of its own kind.
KIND_RECORDER: Final = "recorder"
CONF_BACKEND: Final = "backend"
CONF_SITE: Final = "site"
CONF_METERS: Final = "meters"
CONF_RETENTION_DAYS: Final = "retention_days"
CONF_QUOTA_MB: Final = "quota_mb"
CONF_DSN: Final = "dsn"
CONF_SSL_MODE: Final = "ssl_mode"
BACKEND_SQLITE: Final = "sqlite"
BACKEND_POSTGRESQL: Final = "postgresql"
BACKEND_CASSANDRA: Final = "cassandra"
CONF_CONTACT_POINTS: Final = "contact_points"
CONF_KEYSPACE: Final = "keyspace"
CONF_LOCAL_DATACENTER: Final = "local_datacenter"
CONF_CONSISTENCY: Final = "consistency"
CONF_REPLICATION: Final = "replication"
CONF_TLS_CA_FILE: Final = "tls_ca_file"
DEFAULT_RETENTION_DAYS: Final = 30
DEFAULT_QUOTA_MB: Final = 1024
