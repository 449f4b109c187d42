"""A Cassandra recorder through Home Assistant: the driver installed on demand, the
raw retention within Cassandra's longest TTL, over the CQL protocol double."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.requirements import RequirementsNotFound
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.wattkeeper.recorder_runtime import (
    CASSANDRA_MAX_RETENTION_DAYS,
    RecorderConfigEntry,
)
from simulators.cql import CqlServer
from simulators.homewizard import HomeWizardSimulator

from .helpers import add_homewizard
from .recorder_support import (  # noqa: F401 (fixtures)
    ReadingCounter,
    asyncio_reactor,
    config_dir_per_test,
    counted,
    driver_reactor_thread,
    flush,
    poll,
    start_recorder_flow,
    stored_per_series,
)

pytestmark = pytest.mark.usefixtures("asyncio_reactor")

REQUIREMENTS = "custom_components.wattkeeper.on_demand.async_process_requirements"
DAY = 86_400


def _not_installable(hass: HomeAssistant, name: str, requirements: list[str]) -> None:
    raise RequirementsNotFound(name, requirements)


@pytest.fixture
async def cql_server() -> AsyncIterator[CqlServer]:
    async with CqlServer() as server:
        yield server


def _fields(server: CqlServer) -> dict[str, Any]:
    return {"contact_points": "127.0.0.1", "port": server.port, "local_datacenter": "dc1"}


async def _add(hass: HomeAssistant, server: CqlServer, site: str) -> RecorderConfigEntry:
    result = await start_recorder_flow(hass, backend="cassandra", site=site)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], _fields(server))
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    entry: RecorderConfigEntry = result["result"]
    return entry


async def test_flow_says_when_the_driver_cannot_be_installed(
    hass: HomeAssistant, cql_server: CqlServer
) -> None:
    result = await start_recorder_flow(hass, backend="cassandra", site="no_driver")
    assert result["step_id"] == "recorder_cassandra"
    with patch(REQUIREMENTS, side_effect=_not_installable) as installer:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], _fields(cql_server)
        )
    assert installer.call_args.args[2] == ["cassandra-driver>=3.29.2,<4"]
    assert result["errors"] == {"base": "cassandra_driver_missing"}
    # Installable again: the same form goes on.
    result = await hass.config_entries.flow.async_configure(result["flow_id"], _fields(cql_server))
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(result["result"].entry_id)


async def test_setup_waits_for_the_driver_and_loses_no_reading(
    hass: HomeAssistant,
    cql_server: CqlServer,
    homewizard_sim: HomeWizardSimulator,
    counted: Callable[[str], ReadingCounter],  # noqa: F811
) -> None:
    readings = counted("driver_later")
    recorder = await _add(hass, cql_server, "driver_later")
    meter = await add_homewizard(hass, homewizard_sim)
    assert await hass.config_entries.async_unload(recorder.entry_id)
    with patch(REQUIREMENTS, side_effect=_not_installable):
        assert not await hass.config_entries.async_setup(recorder.entry_id)
        assert recorder.state is ConfigEntryState.SETUP_RETRY
        assert recorder.reason is not None
        assert "could not be installed" in recorder.reason
        await poll(hass, meter, 2)
    # The retry (after its delay) finds the driver installable.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=5))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert recorder.state is ConfigEntryState.LOADED
    assert (await flush(hass))[recorder.entry_id]["empty"] is True
    stored = await stored_per_series(recorder.runtime_data.backend, "driver_later")
    assert stored == readings.per_series
    assert await hass.config_entries.async_unload(recorder.entry_id)


async def test_raw_retention_stays_within_the_longest_ttl(
    hass: HomeAssistant, cql_server: CqlServer, homewizard_sim: HomeWizardSimulator
) -> None:
    too_long = CASSANDRA_MAX_RETENTION_DAYS + 1
    result = await start_recorder_flow(
        hass, backend="cassandra", site="long_memory", retention_days=too_long
    )
    assert result["step_id"] == "recorder"
    assert result["errors"] == {"retention_days": "retention_too_long"}
    # SQLite and PostgreSQL keep raw readings as long as asked.
    other = await start_recorder_flow(hass, backend="postgresql", retention_days=too_long)
    assert other["step_id"] == "recorder_postgresql"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"backend": "cassandra", "site": "long_memory", "retention_days": 3650},
    )
    assert result["step_id"] == "recorder_cassandra"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], _fields(cql_server))
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    recorder: RecorderConfigEntry = result["result"]
    await hass.async_block_till_done()
    samples = cql_server.store.table("wattkeeper", "samples")
    assert samples.options["default_time_to_live"] == 3650 * DAY

    options = {"meters": [], "quota_mb": 1024}
    result = await hass.config_entries.options.async_init(recorder.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**options, "retention_days": too_long}
    )
    assert result["errors"] == {"retention_days": "retention_too_long"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**options, "retention_days": CASSANDRA_MAX_RETENTION_DAYS}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()  # the reload
    assert recorder.state is ConfigEntryState.LOADED
    # The options' retention reaches the table when the backend connects to write.
    await add_homewizard(hass, homewizard_sim)
    assert (await flush(hass))[recorder.entry_id]["empty"] is True
    samples = cql_server.store.table("wattkeeper", "samples")
    assert samples.options["default_time_to_live"] == CASSANDRA_MAX_RETENTION_DAYS * DAY
    assert await hass.config_entries.async_unload(recorder.entry_id)
