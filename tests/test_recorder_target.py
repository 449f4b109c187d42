"""A recorder entry's unique id names its database, never its credentials."""

from __future__ import annotations

import logging

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.wattkeeper.const import DOMAIN
from custom_components.wattkeeper.recorder_target import (
    dsn_password,
    dsn_with_password,
    dsn_without_password,
    postgres_target,
    recorder_unique_id,
)
from tests.recorder.conftest import embedded_pg, embedded_pg_server  # noqa: F401
from tests.recorder.pg_server import EmbeddedPostgres

from .recorder_support import config_dir_per_test, start_recorder_flow  # noqa: F401

SECRET = "s3cr@t pass'word"


@pytest.mark.parametrize(
    ("dsn", "target", "bare"),
    [
        (
            "postgresql://wk:s3cr%40t%20pass%27word@DB.lan:5433/energy?sslmode=require",
            "db.lan:5433/energy",
            "postgresql://wk@DB.lan:5433/energy?sslmode=require",
        ),
        (
            "postgres://wk@db/energy?password=s3cr%40t%20pass%27word&sslmode=require",
            "db:5432/energy",
            "postgres://wk@db/energy?sslmode=require",
        ),
        (
            r"host=db port=6543 dbname=energy user=wk password='s3cr@t pass\'word'",
            "db:6543/energy",
            "host=db port=6543 dbname=energy user=wk",
        ),
        (
            "postgresql://wk:s3cr%40t%20pass%27word@h1:6000,h2/energy",
            "h1:6000,h2:5432/energy",
            "postgresql://wk@h1:6000,h2/energy",
        ),
        (
            "postgresql:///energy?host=/run/postgresql&password=s3cr%40t%20pass%27word",
            "/run/postgresql:5432/energy",
            "postgresql:///energy?host=/run/postgresql",
        ),
    ],
)
def test_dsn_target_and_password(dsn: str, target: str, bare: str) -> None:
    assert postgres_target({"dsn": dsn}) == target
    assert dsn_password(dsn) == SECRET
    assert dsn_without_password(dsn) == bare
    renewed = dsn_with_password(bare, "n3w")
    assert dsn_password(renewed) == "n3w"
    assert postgres_target({"dsn": renewed}) == target
    assert dsn_with_password(dsn, "") == bare


def test_unique_id_has_no_user_or_password() -> None:
    unique_id = recorder_unique_id(
        {"backend": "postgresql", "site": "home", "dsn": "postgresql://wk:hunter2@db/energy"}
    )
    assert unique_id == "recorder_postgresql_db:5432/energy_home"
    by_fields = recorder_unique_id(
        {
            "backend": "postgresql",
            "site": "home",
            CONF_HOST: "DB",
            CONF_PORT: 5432,
            "database": "energy",
            CONF_USERNAME: "wk",
            CONF_PASSWORD: "hunter2",
        }
    )
    assert by_fields == unique_id


async def test_flow_with_a_password_in_the_dsn(
    hass: HomeAssistant,
    embedded_pg: EmbeddedPostgres,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    # The test server trusts every login, so any password gets in.
    dsn = dsn_with_password(embedded_pg.dsn("postgres"), SECRET)
    assert dsn_password(dsn) == SECRET
    result = await start_recorder_flow(hass, backend="postgresql", site="target_home")
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"dsn": dsn})
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    entry = result["result"]
    await hass.async_block_till_done()
    assert (
        entry.unique_id == f"recorder_postgresql_127.0.0.1:{embedded_pg.port}/postgres_target_home"
    )
    assert "s3cr" not in entry.title
    assert entry.data["dsn"] == dsn  # the password lives in the entry only

    # The same database by host and port is the same entry.
    result = await start_recorder_flow(hass, backend="postgresql", site="target_home")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_HOST: "127.0.0.1",
            CONF_PORT: embedded_pg.port,
            "database": "postgres",
            CONF_USERNAME: "postgres",
            CONF_PASSWORD: "other",
        },
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert "s3cr" not in caplog.text


async def test_an_old_unique_id_with_the_dsn_is_replaced(
    hass: HomeAssistant,
    embedded_pg: EmbeddedPostgres,  # noqa: F811
) -> None:
    dsn = f"postgresql://postgres:hunter2@127.0.0.1:{embedded_pg.port}/postgres"
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Recorder old_home (postgresql)",
        unique_id=f"recorder_postgresql_{dsn}_old_home",  # what earlier versions stored
        data={
            "kind": "recorder",
            "backend": "postgresql",
            "site": "old_home",
            "meters": [],
            "retention_days": 30,
            "dsn": dsn,
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.unique_id == f"recorder_postgresql_127.0.0.1:{embedded_pg.port}/postgres_old_home"
    assert await hass.config_entries.async_unload(entry.entry_id)
