"""TimescaleDB set-up, checked statement by statement on a recording connection.

The embedded PostgreSQL has no TimescaleDB (its plain-table path is tested on the
real server in test_postgres_backend.py), so these tests hand `ensure_timescale`
a connection that answers the catalogue queries as a server with (or without)
the extension would, and record every statement it is sent.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg
import pytest

from custom_components.wattkeeper.recorder import PostgresConfig, SslMode
from custom_components.wattkeeper.recorder.postgres_backend import PostgresBackend
from custom_components.wattkeeper.recorder.postgres_schema import ensure_timescale

from .data import POWER, T0_US, batch
from .pg_server import EmbeddedPostgres


@dataclass
class RecordingConnection:
    """Answers like a server whose catalogue says what the fields say."""

    extension_available: bool = True
    already_hypertable: bool = False
    refuse_extension: bool = False
    statements: list[str] = field(default_factory=list)
    transactions: int = 0

    async def fetchval(self, query: str, *args: object) -> int:
        self.statements.append(" ".join(query.split()))
        if "pg_available_extensions" in query:
            return int(self.extension_available)
        if "timescaledb_information.hypertables" in query:
            return int(self.already_hypertable)
        raise AssertionError(f"unexpected query {query!r}")

    async def execute(self, query: str, *args: object) -> str:
        text = " ".join(query.split())
        self.statements.append(text)
        if text.startswith("CREATE EXTENSION") and self.refuse_extension:
            raise asyncpg.FeatureNotSupportedError('extension "timescaledb" must be preloaded')
        return "OK"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        self.transactions += 1
        yield

    def sent(self, prefix: str) -> list[str]:
        return [s for s in self.statements if s.startswith(prefix)]


async def test_samples_become_a_compressed_hypertable_when_the_extension_exists() -> None:
    conn = RecordingConnection()
    assert await ensure_timescale(conn, None) is True  # type: ignore[arg-type]
    assert conn.sent("CREATE EXTENSION") == ["CREATE EXTENSION IF NOT EXISTS timescaledb"]
    [hypertable] = conn.sent("SELECT create_hypertable")
    assert "'samples', 'ts'" in hypertable
    assert "chunk_time_interval => INTERVAL '1 day'" in hypertable
    assert "migrate_data => true" in hypertable
    [compress] = conn.sent("ALTER TABLE samples SET")
    assert "timescaledb.compress," in compress
    assert "timescaledb.compress_segmentby = 'series'" in compress
    assert "timescaledb.compress_orderby = 'ts'" in compress
    [policy] = conn.sent("SELECT add_compression_policy")
    assert "'samples', INTERVAL '7 days'" in policy
    # In this order, and inside one transaction.
    order = [conn.statements.index(s) for s in (hypertable, compress, policy)]
    assert order == sorted(order)
    assert conn.transactions == 1


async def test_an_existing_hypertable_is_left_as_it_is() -> None:
    conn = RecordingConnection(already_hypertable=True)
    assert await ensure_timescale(conn, True) is True  # type: ignore[arg-type]
    assert conn.sent("CREATE EXTENSION") == ["CREATE EXTENSION IF NOT EXISTS timescaledb"]
    assert conn.sent("SELECT create_hypertable") == []
    assert conn.sent("ALTER TABLE") == []
    assert conn.sent("SELECT add_compression_policy") == []


@pytest.mark.parametrize("wanted", [None, True])
async def test_without_the_extension_plain_tables_stay(
    wanted: bool | None, caplog: pytest.LogCaptureFixture
) -> None:
    conn = RecordingConnection(extension_available=False)
    with caplog.at_level(logging.WARNING):
        assert await ensure_timescale(conn, wanted) is False  # type: ignore[arg-type]
    assert len(conn.statements) == 1  # only the catalogue was asked
    assert conn.sent("CREATE") == []
    # Only a user who asked for TimescaleDB is told it is missing.
    assert ("TimescaleDB was asked for" in caplog.text) is bool(wanted)


async def test_an_extension_that_cannot_be_created_falls_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    conn = RecordingConnection(refuse_extension=True)
    with caplog.at_level(logging.WARNING):
        assert await ensure_timescale(conn, None) is False  # type: ignore[arg-type]
    assert conn.sent("SELECT create_hypertable") == []
    assert "must be preloaded" in caplog.text
    assert "plain tables" in caplog.text


async def test_timescale_switched_off_asks_nothing() -> None:
    conn = RecordingConnection()
    assert await ensure_timescale(conn, False) is False  # type: ignore[arg-type]
    assert conn.statements == []


async def test_plain_tables_on_a_server_without_timescaledb(embedded_pg: EmbeddedPostgres) -> None:
    config = PostgresConfig(
        host=embedded_pg.host, port=embedded_pg.port, database="postgres", user="postgres",
        ssl_mode=SslMode.DISABLE, schema="wk_plain_tables",
    )  # fmt: skip
    backend = PostgresBackend(config)
    await backend.open()
    try:
        assert backend.timescale is False
        await backend.write(batch({POWER: [(T0_US, 1.0)]}))
    finally:
        await backend.close()
    conn = await asyncpg.connect(embedded_pg.dsn())
    try:
        kind = await conn.fetchval(
            "SELECT c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'wk_plain_tables' AND c.relname = 'samples'"
        )
        extensions = await conn.fetchval(
            "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'"
        )
        stored = await conn.fetchval("SELECT count(*) FROM wk_plain_tables.samples")
    finally:
        await conn.close()
    assert (kind, extensions, stored) == ("r", 0, 1)
