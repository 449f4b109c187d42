"""How to reach each backend. Secrets are kept out of repr(), so configs are safe to log."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class SslMode(StrEnum):
    """libpq's sslmode values, as the config flow offers them."""

    DISABLE = "disable"
    ALLOW = "allow"
    PREFER = "prefer"
    REQUIRE = "require"
    VERIFY_CA = "verify-ca"
    VERIFY_FULL = "verify-full"


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def _check_zone(time_zone: str) -> None:
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(f"unknown time zone {time_zone!r}") from err


@dataclass(frozen=True, slots=True, kw_only=True)
class SqliteConfig:
    """The embedded default: one SQLite file (in Home Assistant's config folder)."""

    path: Path
    # Day, week and month rollups follow this IANA zone (the site's).
    time_zone: str = "UTC"
    # The household whose series retention, recomputation and read_series act on;
    # None: every site in the database.
    site: str | None = None
    # How long a write waits for another process's lock before the sender backs off.
    busy_timeout: float = 5.0

    def __post_init__(self) -> None:
        _check_zone(self.time_zone)


@dataclass(frozen=True, slots=True, kw_only=True)
class PostgresConfig:
    """A PostgreSQL server (14 or newer), by DSN or by its parts; TimescaleDB is optional."""

    dsn: str | None = field(default=None, repr=False)
    host: str = "127.0.0.1"
    port: int = 5432
    database: str = "wattkeeper"
    user: str = "wattkeeper"
    password: str | None = field(default=None, repr=False)
    ssl_mode: SslMode = SslMode.PREFER
    # The PostgreSQL schema (namespace) that holds Wattkeeper's tables; created if missing.
    schema: str = "public"
    time_zone: str = "UTC"
    # The household whose series retention, recomputation and read_series act on, so
    # sites sharing one database never touch each other's data; None: every site.
    site: str | None = None
    connect_timeout: float = 10.0
    command_timeout: float = 300.0
    # None: use TimescaleDB when the extension can be created; False: never.
    use_timescale: bool | None = None

    def __post_init__(self) -> None:
        _check_zone(self.time_zone)
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} is out of range")
        if not _IDENTIFIER.fullmatch(self.schema):
            raise ValueError(f"schema {self.schema!r} is not a plain SQL identifier")


type BackendConfig = SqliteConfig | PostgresConfig
