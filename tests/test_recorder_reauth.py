"""New credentials and a new server for a recorder entry: reauth and reconfigure.

When the database refuses the stored credentials at runtime, the readings keep
collecting in the outbox, Home Assistant asks for new credentials, and once
they work every reading arrives, exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from homeassistant.config_entries import SOURCE_REAUTH, SOURCE_RECONFIGURE, ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.wattkeeper.const import DOMAIN
from custom_components.wattkeeper.recorder_runtime import RecorderConfigEntry
from custom_components.wattkeeper.recorder_target import dsn_password, dsn_with_password
from simulators.cql import CqlServer
from simulators.homewizard import HomeWizardSimulator
from tests.recorder.conftest import embedded_pg, embedded_pg_server  # noqa: F401
from tests.recorder.pg_server import EmbeddedPostgres

from .helpers import add_homewizard
from .recorder_support import (  # noqa: F401 (fixtures)
    ReadingCounter,
    add_postgres_recorder,
    add_sqlite_recorder,
    asyncio_reactor,
    config_dir_per_test,
    counted,
    driver_reactor_thread,
    flush,
    poll,
    refresh_health,
    start_recorder_flow,
    state_of,
    stored_per_series,
    wait_until,
)


async def _admin(server: EmbeddedPostgres, *statements: str) -> None:
    conn = await asyncpg.connect(server.dsn("postgres"))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _reauth_flow(hass: HomeAssistant, entry: RecorderConfigEntry) -> dict[str, Any]:
    flows = [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"].get("source") == SOURCE_REAUTH
        and flow["context"].get("entry_id") == entry.entry_id
    ]
    assert len(flows) == 1, flows
    return dict(flows[0])


async def _until_refused(hass: HomeAssistant, recorder: RecorderConfigEntry) -> None:
    """Let the sender try (flush cuts its backoff short) until the database refuses it."""
    watch = recorder.runtime_data.health.watch
    await wait_until(lambda: watch.auth_error is not None, lambda: flush(hass, timeout=1))
    await refresh_health(hass, recorder)


async def test_postgresql_refuses_the_user_then_reauth(
    hass: HomeAssistant,
    homewizard_sim: HomeWizardSimulator,
    embedded_pg: EmbeddedPostgres,  # noqa: F811
    counted: Callable[[str], ReadingCounter],  # noqa: F811
) -> None:
    await _admin(
        embedded_pg,
        "CREATE ROLE wk_reauth LOGIN PASSWORD 'old'",
        "CREATE DATABASE wk_reauth OWNER wk_reauth",
    )
    readings = counted("reauth")
    recorder = await add_postgres_recorder(
        hass,
        embedded_pg,
        "reauth",
        **{
            CONF_HOST: "127.0.0.1",
            CONF_PORT: embedded_pg.port,
            "database": "wk_reauth",
            CONF_USERNAME: "wk_reauth",
            CONF_PASSWORD: "old",
            "ssl_mode": "disable",
        },
    )
    meter = await add_homewizard(hass, homewizard_sim)
    assert (await flush(hass))[recorder.entry_id]["empty"] is True

    # The administrator locks the account; open connections are cut.
    await _admin(
        embedded_pg,
        "ALTER ROLE wk_reauth NOLOGIN",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'wk_reauth'",
    )
    homewizard_sim.step(5)
    await poll(hass, meter, 2)
    await _until_refused(hass, recorder)
    assert state_of(hass, recorder, "backlog") == "unavailable"
    assert recorder.state is ConfigEntryState.LOADED  # the outbox keeps collecting
    await poll(hass, meter)
    flow = _reauth_flow(hass, recorder)
    assert flow["step_id"] == "recorder_reauth_confirm"

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_USERNAME: "wk_reauth", CONF_PASSWORD: "new"}
    )
    assert result["errors"] == {"base": "database_auth"}
    await _admin(embedded_pg, "ALTER ROLE wk_reauth LOGIN PASSWORD 'new'")
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_USERNAME: "wk_reauth", CONF_PASSWORD: "new"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "database_credentials_updated"
    await hass.async_block_till_done()
    assert recorder.state is ConfigEntryState.LOADED
    assert recorder.data[CONF_PASSWORD] == "new"

    assert (await flush(hass))[recorder.entry_id]["empty"] is True
    assert state_of(hass, recorder, "backlog") == "0"
    stored = await stored_per_series(recorder.runtime_data.backend, "reauth")
    assert stored == readings.per_series


@pytest.mark.usefixtures("asyncio_reactor")
async def test_cassandra_password_changed_then_reauth(
    hass: HomeAssistant,
    homewizard_sim: HomeWizardSimulator,
    counted: Callable[[str], ReadingCounter],  # noqa: F811
) -> None:
    readings = counted("cluster_reauth")
    async with CqlServer(users={"wattkeeper": "secret"}) as server:
        result = await start_recorder_flow(hass, backend="cassandra", site="cluster_reauth")
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {
                "contact_points": "127.0.0.1",
                "port": server.port,
                "local_datacenter": "dc1",
                "username": "wattkeeper",
                "password": "secret",
            },
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY, result
        recorder: RecorderConfigEntry = result["result"]
        await hass.async_block_till_done()
        meter = await add_homewizard(hass, homewizard_sim)
        assert (await flush(hass))[recorder.entry_id]["empty"] is True

        # The cluster's password changes; the next connection (here: a restart of the
        # recorder) is refused.
        server.users["wattkeeper"] = "changed"
        assert await hass.config_entries.async_reload(recorder.entry_id)
        await poll(hass, meter, 2)
        await _until_refused(hass, recorder)
        flow = _reauth_flow(hass, recorder)
        result = await hass.config_entries.flow.async_configure(
            flow["flow_id"], {CONF_USERNAME: "wattkeeper", CONF_PASSWORD: "secret"}
        )
        assert result["errors"] == {"base": "database_auth"}
        result = await hass.config_entries.flow.async_configure(
            flow["flow_id"], {CONF_USERNAME: "wattkeeper", CONF_PASSWORD: "changed"}
        )
        assert result["reason"] == "database_credentials_updated"
        await hass.async_block_till_done()
        assert (await flush(hass))[recorder.entry_id]["empty"] is True
        stored = await stored_per_series(recorder.runtime_data.backend, "cluster_reauth")
        assert stored == readings.per_series
        assert await hass.config_entries.async_unload(recorder.entry_id)


async def test_reauth_of_a_dsn_entry_changes_only_its_password(
    hass: HomeAssistant,
    embedded_pg: EmbeddedPostgres,  # noqa: F811
) -> None:
    dsn = dsn_with_password(embedded_pg.dsn("postgres"), "old")
    recorder = await add_postgres_recorder(hass, embedded_pg, "dsn_reauth", dsn=dsn)
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_REAUTH, "entry_id": recorder.entry_id},
        data=dict(recorder.data),
    )
    assert result["step_id"] == "recorder_reauth_confirm"
    assert set(result["data_schema"].schema) == {CONF_PASSWORD}  # the user is in the DSN
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: "n3w p@ss"}
    )
    assert result["reason"] == "database_credentials_updated"
    assert dsn_password(recorder.data["dsn"]) == "n3w p@ss"
    assert recorder.data["dsn"] == dsn_with_password(embedded_pg.dsn("postgres"), "n3w p@ss")
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(recorder.entry_id)


def _suggested(result: dict[str, Any]) -> dict[str, Any]:
    return {
        str(marker): marker.description["suggested_value"]
        for marker in result["data_schema"].schema
        if marker.description and "suggested_value" in marker.description
    }


async def test_reconfigure_moves_to_another_database_keeping_the_password(
    hass: HomeAssistant,
    homewizard_sim: HomeWizardSimulator,
    embedded_pg: EmbeddedPostgres,  # noqa: F811
) -> None:
    await _admin(embedded_pg, "CREATE DATABASE wk_moved")
    dsn = dsn_with_password(embedded_pg.dsn("postgres"), "hunter2")
    recorder = await add_postgres_recorder(hass, embedded_pg, "moving", dsn=dsn)
    meter = await add_homewizard(hass, homewizard_sim)
    await flush(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": recorder.entry_id}
    )
    assert result["step_id"] == "recorder_postgresql"
    shown = _suggested(dict(result))
    assert shown["dsn"] == embedded_pg.dsn("postgres")  # without its password
    assert "hunter2" not in str(shown)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"dsn": embedded_pg.dsn("wk_moved")}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "database_updated"
    await hass.async_block_till_done()
    assert recorder.data["dsn"] == dsn_with_password(embedded_pg.dsn("wk_moved"), "hunter2")
    assert recorder.unique_id == f"recorder_postgresql_127.0.0.1:{embedded_pg.port}/wk_moved_moving"
    assert recorder.data["site"] == "moving"
    await poll(hass, meter, 2)
    assert (await flush(hass))[recorder.entry_id]["empty"] is True
    stored = await stored_per_series(recorder.runtime_data.backend, "moving")
    power = [n for key, n in stored.items() if key.quantity == "power"]
    assert power == [2]  # the new database holds what came after the move


async def test_reconfigure_of_the_embedded_database_has_nothing_to_change(
    hass: HomeAssistant,
) -> None:
    recorder = await add_sqlite_recorder(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": recorder.entry_id}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_not_supported"
