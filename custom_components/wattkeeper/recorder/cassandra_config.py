"""Settings of the Cassandra backend, checked before anything connects."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .factory import register_backend

if TYPE_CHECKING:
    from .backend import Backend

CONSISTENCY_LEVELS: Final = (
    "ONE",
    "TWO",
    "THREE",
    "QUORUM",
    "ALL",
    "LOCAL_QUORUM",
    "EACH_QUORUM",
    "LOCAL_ONE",
)
REACTORS: Final = ("auto", "libev", "asyncio")
_NAME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")
_DATACENTER: Final = re.compile(r"^[A-Za-z0-9_.-]+$")
# Cassandra refuses a TTL above 20 years (630 720 000 s), and the raw retention is a TTL.
MAX_TTL_SECONDS: Final = 630_720_000
MAX_RETENTION_DAYS: Final = MAX_TTL_SECONDS // 86_400


@dataclass(frozen=True, slots=True, kw_only=True)
class CassandraConfig:
    """Where the cluster is and how to write to it.

    `replication` names the replication factor per datacenter for
    NetworkTopologyStrategy; leave it empty to use SimpleStrategy with
    `replication_factor` (right for a single node or a lab cluster).
    """

    contact_points: tuple[str, ...]
    port: int = 9042
    keyspace: str = "wattkeeper"
    local_datacenter: str = "datacenter1"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls_ca_file: str | None = None
    consistency: str = "LOCAL_QUORUM"
    replication_factor: int = 1
    replication: dict[str, int] = field(default_factory=dict)
    # Raw samples expire this long after their timestamp; 0 keeps them forever.
    raw_retention_days: int = 30
    # Requests in flight at once per backend; bounds memory and coordinator load.
    max_in_flight: int = 64
    # Rows per unlogged batch; all rows of a batch share one partition.
    batch_rows: int = 100
    connect_timeout: float = 10.0
    request_timeout: float = 10.0
    # Seconds between reconnection attempts to a node that went down: doubling from the
    # first to the most.
    reconnect_delay: float = 1.0
    reconnect_max_delay: float = 60.0
    # The driver's event loop: libev (C, and the only one that carries TLS) when
    # installed, else asyncio; "auto" picks.
    reactor: str = "auto"
    # Day, week and month rollups follow this IANA zone (the site's).
    time_zone: str = "UTC"
    # The household whose series retention, recomputation and read_series act on: one
    # partition of `series`, so households sharing a cluster never touch each other's
    # data. None: every site that sent a heartbeat (and those this backend wrote).
    site: str | None = None

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {self.time_zone!r}") from err
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} is out of range")
        if not self.contact_points or not all(p.strip() for p in self.contact_points):
            raise ValueError("at least one Cassandra contact point is needed")
        if not _NAME.match(self.keyspace):
            raise ValueError(
                f"keyspace name {self.keyspace!r} must start with a letter and use at most "
                "48 letters, digits or underscores"
            )
        if self.consistency not in CONSISTENCY_LEVELS:
            raise ValueError(
                f"consistency {self.consistency!r} is not one of {', '.join(CONSISTENCY_LEVELS)}"
            )
        if self.reactor not in REACTORS:
            raise ValueError(f"reactor {self.reactor!r} is not one of {', '.join(REACTORS)}")
        if self.tls_ca_file and self.reactor == "asyncio":
            raise ValueError("TLS needs the libev reactor of cassandra-driver, not asyncio")
        if (self.username is None) != (self.password is None):
            raise ValueError("give both a username and a password, or neither")
        if self.replication_factor < 1 or any(rf < 0 for rf in self.replication.values()):
            raise ValueError("replication factors must be positive")
        if not all(_DATACENTER.match(dc) for dc in (*self.replication, self.local_datacenter)):
            raise ValueError("datacenter names use letters, digits, '_', '.' and '-' only")
        if self.replication and not any(self.replication.values()):
            raise ValueError("at least one datacenter needs replicas")
        if self.raw_retention_days < 0:
            raise ValueError("raw retention cannot be negative")
        if self.raw_retention_days > MAX_RETENTION_DAYS:
            raise ValueError(
                f"raw retention of {self.raw_retention_days} days is beyond Cassandra's longest "
                f"TTL of {MAX_RETENTION_DAYS} days (20 years); use 0 to keep raw readings forever"
            )
        if not 0 < self.reconnect_delay <= self.reconnect_max_delay:
            raise ValueError("reconnect delays must be positive, the first not above the most")
        if self.max_in_flight < 1 or self.batch_rows < 1:
            raise ValueError("max_in_flight and batch_rows must be at least 1")

    @property
    def replication_cql(self) -> str:
        """The replication map of CREATE KEYSPACE."""
        if not self.replication:
            return f"{{'class': 'SimpleStrategy', 'replication_factor': {self.replication_factor}}}"
        per_dc = ", ".join(f"'{dc}': {rf}" for dc, rf in sorted(self.replication.items()))
        return f"{{'class': 'NetworkTopologyStrategy', {per_dc}}}"

    @property
    def raw_ttl_seconds(self) -> int:
        return self.raw_retention_days * 86_400


def _create_backend(config: CassandraConfig) -> Backend:
    # Imported on first use: cassandra-driver loads only for users of this backend.
    from .cassandra_backend import CassandraBackend  # noqa: PLC0415

    return CassandraBackend(config)


# Registered where the config type lives, so that whoever has a CassandraConfig (also a
# child process that unpickled one) can `create_backend` it.
register_backend(CassandraConfig, _create_backend)
