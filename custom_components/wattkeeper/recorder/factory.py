"""Build a backend from its config; other backends (Cassandra) register themselves here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .backend import Backend
from .config import PostgresConfig, SqliteConfig

type BackendFactory = Callable[[Any], Backend]

_FACTORIES: dict[type, BackendFactory] = {}


def register_backend(config_type: type, factory: BackendFactory) -> None:
    """Make `create_backend` build `factory(config)` for configs of `config_type`."""
    _FACTORIES[config_type] = factory


def create_backend(config: object) -> Backend:
    """A new, not yet opened backend for `config`."""
    factory = _FACTORIES.get(type(config))
    if factory is not None:
        return factory(config)
    # Imported here so that SQLite-only installs never load asyncpg.
    if isinstance(config, SqliteConfig):
        from .sqlite_backend import SqliteBackend  # noqa: PLC0415

        return SqliteBackend(config)
    if isinstance(config, PostgresConfig):
        from .postgres_backend import PostgresBackend  # noqa: PLC0415

        return PostgresBackend(config)
    raise TypeError(f"no backend for {type(config).__name__}")
