"""PostgreSQL specifics: connection settings, errors, schema and TimescaleDB detection."""

from __future__ import annotations

import logging
import socket

import asyncpg
import pytest

from custom_components.wattkeeper.recorder import (
    BackendAuthError,
    BackendError,
    BackendUnavailableError,
    PostgresConfig,
    SchemaVersionError,
    SslMode,
    StatisticPeriod,
    StatisticRow,
    create_backend,
)
from custom_components.wattkeeper.recorder.postgres_backend import PostgresBackend, _translate

from .data import POWER, SITE, T0, T0_US, batch
from .pg_server import EmbeddedPostgres


async def new_database(server: EmbeddedPostgres, name: str) -> str:
    admin = await asyncpg.connect(server.dsn())
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return server.dsn(name)


def test_config_never_shows_secrets() -> None:
    config = PostgresConfig(dsn="postgresql://wk:s3cret@db.lan/wk", password="s3cret")
    assert "s3cret" not in repr(config)
    assert "pw" not in repr(PostgresConfig(host="db.lan", password="pw", ssl_mode=SslMode.REQUIRE))
    with pytest.raises(ValueError, match="schema"):
        PostgresConfig(schema='x"; DROP TABLE samples; --')
    with pytest.raises(ValueError, match="port"):
        PostgresConfig(port=0)
    with pytest.raises(ValueError, match="time zone"):
        PostgresConfig(time_zone="Mars/Olympus")


async def test_connects_by_dsn_and_creates_the_schema(embedded_pg: EmbeddedPostgres) -> None:
    dsn = await new_database(embedded_pg, "wk_dsn")
    backend = create_backend(PostgresConfig(dsn=dsn))
    assert isinstance(backend, PostgresBackend)
    await backend.open()
    assert backend.timescale is False  # the embedded server has no TimescaleDB
    await backend.write(batch({POWER: [(T0_US, 42.0)]}))
    conn = await asyncpg.connect(dsn)
    try:
        tables = {
            row[0]
            for row in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        }
        view = await conn.fetch("SELECT device, quantity, ts, value FROM readings")
    finally:
        await conn.close()
    assert tables == {
        "schema_version", "series", "samples", "sites", "ha_statistics", "ha_statistics_meta",
        "ha_statistics_rollups", "rollups_15m", "rollups_1h", "rollups_1d", "rollups_1w",
        "rollups_1mo", "purged_15m",
    }  # fmt: skip
    assert [tuple(row) for row in view] == [(POWER.device, POWER.quantity, T0, 42.0)]
    await backend.close()


async def test_timescale_asked_for_but_missing_falls_back(
    embedded_pg: EmbeddedPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    dsn = await new_database(embedded_pg, "wk_timescale")
    backend = create_backend(PostgresConfig(dsn=dsn, use_timescale=True))
    with caplog.at_level(logging.WARNING):
        await backend.open()
    assert backend.timescale is False  # type: ignore[attr-defined]
    assert "TimescaleDB" in caplog.text
    await backend.close()


async def test_newer_schema_is_refused(embedded_pg: EmbeddedPostgres) -> None:
    dsn = await new_database(embedded_pg, "wk_newer")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "CREATE TABLE schema_version (version integer PRIMARY KEY, applied_at timestamptz)"
        )
        await conn.execute("INSERT INTO schema_version VALUES (99, now())")
    finally:
        await conn.close()
    with pytest.raises(SchemaVersionError):
        await create_backend(PostgresConfig(dsn=dsn)).open()


async def test_unreachable_server_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    backend = create_backend(
        PostgresConfig(host="127.0.0.1", port=port, ssl_mode=SslMode.DISABLE, connect_timeout=2)
    )
    with pytest.raises(BackendUnavailableError):
        await backend.open()
    with pytest.raises(BackendUnavailableError):
        await backend.write(batch({POWER: [(T0_US, 1.0)]}))


async def test_missing_database_is_a_configuration_error(embedded_pg: EmbeddedPostgres) -> None:
    backend = create_backend(PostgresConfig(dsn=embedded_pg.dsn("does_not_exist")))
    with pytest.raises(BackendError) as caught:
        await backend.open()
    assert not isinstance(caught.value, BackendUnavailableError)


def test_driver_errors_map_to_recorder_errors() -> None:
    assert isinstance(_translate(asyncpg.InvalidPasswordError("no")), BackendAuthError)
    assert isinstance(
        _translate(asyncpg.CannotConnectNowError("starting")), BackendUnavailableError
    )
    assert isinstance(_translate(asyncpg.AdminShutdownError("bye")), BackendUnavailableError)
    assert isinstance(_translate(ConnectionResetError()), BackendUnavailableError)
    unique = _translate(asyncpg.UniqueViolationError("dup"))
    assert type(unique) is BackendError


async def test_statistics_meta_follows_the_rows(embedded_pg: EmbeddedPostgres) -> None:
    dsn = await new_database(embedded_pg, "wk_meta")
    backend = create_backend(PostgresConfig(dsn=dsn))
    await backend.open()
    measurement = StatisticRow(
        site=SITE, statistic_id="sensor.t", period=StatisticPeriod.HOUR, start=T0, mean=20.0,
        min=19.0, max=21.0, unit="°C",
    )  # fmt: skip
    meter = StatisticRow(
        site=SITE, statistic_id="sensor.e", period=StatisticPeriod.HOUR, start=T0, state=5.0,
        sum=1.0, unit="kWh", source="recorder",
    )  # fmt: skip
    await backend.write(batch({}, [measurement, meter]))
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT statistic_id, unit, has_mean, has_sum FROM ha_statistics_meta ORDER BY 1"
        )
    finally:
        await conn.close()
    assert [tuple(row) for row in rows] == [
        ("sensor.e", "kWh", False, True),
        ("sensor.t", "°C", True, False),
    ]
    await backend.close()
