"""Each fault of the HomeWizard twin: entities go unavailable, one log line, then recovery."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.wattkeeper.const import DOMAIN
from custom_components.wattkeeper.meters.errors import MeterTimeoutError
from custom_components.wattkeeper.meters.homewizard import HomeWizardMeter
from simulators.homewizard import Fault, HomeWizardSimulator

from .helpers import add_homewizard


async def _poll(hass: HomeAssistant, entry: ConfigEntry, times: int = 1) -> None:
    for _ in range(times):
        async_fire_time_changed(
            hass, dt_util.utcnow() + entry.runtime_data.coordinator.update_interval
        )
        await hass.async_block_till_done(wait_background_tasks=True)


def _power_state(hass: HomeAssistant, sim: HomeWizardSimulator) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"{sim.device['serial']}_power"
    )
    assert entity_id is not None
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state


@pytest.mark.parametrize("fault", [f for f in Fault if f is not Fault.NONE])
async def test_fault_makes_entities_unavailable_then_recovers(
    hass: HomeAssistant,
    homewizard_sim: HomeWizardSimulator,
    homewizard_timeout: float,
    fault: Fault,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Slower than the driver waits: a slow answer is a failed poll.
    homewizard_sim.slow_seconds = 4 * homewizard_timeout
    entry = await add_homewizard(hass, homewizard_sim)
    assert _power_state(hass, homewizard_sim) != STATE_UNAVAILABLE

    homewizard_sim.fault = fault
    caplog.clear()
    await _poll(hass, entry, times=3)
    assert _power_state(hass, homewizard_sim) == STATE_UNAVAILABLE
    errors = [r for r in caplog.records if r.levelname == "ERROR" and "wattkeeper" in r.name]
    assert len(errors) == 1, [r.getMessage() for r in errors]  # logged once, not per poll

    homewizard_sim.fault = Fault.NONE
    homewizard_sim.step(5)
    await _poll(hass, entry)
    assert float(_power_state(hass, homewizard_sim)) == homewizard_sim.data["active_power_w"]
    assert any("recovered" in r.getMessage() for r in caplog.records)


async def test_timeout_is_a_connection_error(homewizard_sim: HomeWizardSimulator) -> None:
    """A device that accepts and never answers fails fast instead of hanging a poll."""
    import aiohttp

    homewizard_sim.fault = Fault.TIMEOUT
    async with aiohttp.ClientSession() as session:
        meter = HomeWizardMeter(homewizard_sim.host, session, timeout=0.2)
        with pytest.raises(MeterTimeoutError):
            await asyncio.wait_for(meter.read(), timeout=30)


async def test_setup_retries_when_device_is_down(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    entry = await add_homewizard(hass, homewizard_sim)
    await hass.config_entries.async_unload(entry.entry_id)
    homewizard_sim.fault = Fault.HTTP_500
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    homewizard_sim.fault = Fault.NONE
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=2))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED


async def test_unload_and_reload_leave_nothing_behind(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    """No poller, task or connection of ours survives an unload.

    The driver talks through Home Assistant's shared HTTP session, whose pool keeps
    idle keep-alive connections for whoever asks next; once that pool lets go, the
    twin must see no connection at all, or Wattkeeper holds a socket of its own.
    """
    entry = await add_homewizard(hass, homewizard_sim)
    tasks_before = len(asyncio.all_tasks())
    for _ in range(3):
        assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
    assert len(asyncio.all_tasks()) <= tasks_before
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert _power_state(hass, homewizard_sim) == STATE_UNAVAILABLE
    requests = homewizard_sim.requests
    await _poll_after_unload(hass)
    assert homewizard_sim.requests == requests  # no poller left running
    assert homewizard_sim.open_connections > 0  # the shared pool's idle keep-alives
    # Drop the pool as Home Assistant does when it stops: close the shared connector.
    connector = async_get_clientsession(hass).connector
    assert connector is not None
    await connector.close()
    await asyncio.wait_for(homewizard_sim.wait_for_no_connections(), timeout=30)
    assert homewizard_sim.open_connections == 0


async def _poll_after_unload(hass: HomeAssistant) -> None:
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=1))
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_diagnostics_are_redacted(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    homewizard_sim: HomeWizardSimulator,
    snapshot: SnapshotAssertion,
) -> None:
    entry = await add_homewizard(hass, homewizard_sim)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = str(diagnostics)
    assert homewizard_sim.device["serial"] not in text
    assert "127.0.0.1" not in text
    for external in homewizard_sim.data["external"]:  # M-Bus equipment ids, hex and decoded
        assert external["unique_id"] not in text
        assert bytes.fromhex(external["unique_id"]).decode() not in text
    for meter in (diagnostics["snapshot"], *diagnostics["snapshot"]["sub_meters"]):
        meter["measured_at"] = "<measured_at>"
    assert diagnostics == snapshot
