"""SUN2000 in Home Assistant: faults and recovery, one shared connection, the proxy, diagnostics."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.translation import async_get_translations
from pymodbus.client import AsyncModbusTcpClient
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.wattkeeper.const import CONF_SCAN_INTERVAL, DOMAIN
from custom_components.wattkeeper.meters import sun2000_compat as compat
from custom_components.wattkeeper.meters.sun2000_connection import Sun2000Connection
from custom_components.wattkeeper.meters.sun2000_registers import REGISTERS_BY_NAME, Part
from custom_components.wattkeeper.sun2000_entry import CONF_PROXY, CONF_PROXY_PORT
from custom_components.wattkeeper.sun2000_link import link_users
from simulators.sun2000 import (
    Fault,
    InverterSpec,
    SimClock,
    Sun2000Simulator,
    register_words,
    running,
)

from .sun2000_support import (
    FAST,
    NOON,
    SECOND,
    add_sun2000,
    driver,
    entity_id,
    free_port,
    one_link_at_a_time,
    poll,
    poll_inverter,
    use_fast_links,
)

SERIAL = "HV2250012345"


@pytest.fixture(autouse=True)
def fast_links(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_links(monkeypatch)


@pytest.fixture
async def sim() -> AsyncIterator[Sun2000Simulator]:
    async with running((InverterSpec(), SECOND), clock=SimClock(NOON)) as twin:
        twin.refuse_second_connection = True  # a SDongle: one client only
        twin.slow_seconds = 0.3  # longer than the link's timeout
        yield twin


@pytest.fixture
async def entry(hass: HomeAssistant, sim: Sun2000Simulator) -> ConfigEntry:
    (added,) = await add_sun2000(hass, sim, [SERIAL])
    return added


def _state(hass: HomeAssistant, unique_id: str, platform: str = "sensor") -> str:
    state = hass.states.get(entity_id(hass, unique_id, platform))
    assert state is not None
    return state.state


def _assert_truth(hass: HomeAssistant, sim: Sun2000Simulator) -> None:
    truth = sim.truth(1)
    assert float(_state(hass, f"{SERIAL}_pv_power")) == truth["inverter.pv_power"]
    assert float(_state(hass, f"{SERIAL}-meter_power")) == truth["meter.power"]
    assert float(_state(hass, f"{SERIAL}-battery_battery_soc")) == truth["battery.battery_soc"]


async def _assert_one_connection(sim: Sun2000Simulator, refused: int = 0) -> None:
    # Once the twin has judged every new connection and seen every closed one go.
    await sim.wait_for(lambda: sim.settled and len(sim.open_connections) <= 1)
    assert sim.connections_refused == refused
    assert len(sim.open_connections) == 1
    one_link_at_a_time(sim)


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Fault.SLOW, "sun2000_timeout"),
        (Fault.NO_ANSWER, "sun2000_timeout"),
        (Fault.ILLEGAL_ADDRESS, "sun2000_rejected"),
        (Fault.BUSY, "sun2000_busy"),
        (Fault.NO_INVERTER, "sun2000_no_inverter"),
        (Fault.DROP, "sun2000_cannot_connect"),
        (Fault.SHORT_ANSWER, "sun2000_mismatch"),
    ],
)
async def test_fault_makes_entities_unavailable_then_recovers(
    hass: HomeAssistant,
    sim: Sun2000Simulator,
    entry: ConfigEntry,
    fault: Fault,
    message: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _assert_truth(hass, sim)
    sim.set_fault(fault)
    caplog.clear()
    await poll(hass, entry, times=2)
    # Each failure kind has a translated message saying what to do.
    failure = entry.runtime_data.coordinator.last_exception
    assert failure is not None
    assert failure.translation_key == f"update_{message}"
    texts = await async_get_translations(hass, "en", "exceptions", {DOMAIN})
    assert "{error}" in texts[f"component.{DOMAIN}.exceptions.update_{message}.message"]
    assert _state(hass, f"{SERIAL}_pv_power") == STATE_UNAVAILABLE
    assert _state(hass, f"{SERIAL}-meter_power") == STATE_UNAVAILABLE
    assert _state(hass, f"{SERIAL}-battery_battery_soc") == STATE_UNAVAILABLE
    assert _state(hass, f"{SERIAL}_connected", "binary_sensor") == STATE_OFF
    errors = [r for r in caplog.records if r.levelname == "ERROR" and "wattkeeper" in r.name]
    assert len(errors) == 1, [r.getMessage() for r in errors]  # once, not per poll

    sim.clear_fault()
    sim.clear_log()
    await poll(hass, entry)
    _assert_truth(hass, sim)
    assert _state(hass, f"{SERIAL}_connected", "binary_sensor") == STATE_ON
    await _assert_one_connection(sim)


async def test_dongle_reboot_and_another_client_in_between(
    hass: HomeAssistant, sim: Sun2000Simulator, entry: ConfigEntry
) -> None:
    """The dongle drops us and another program grabs the only connection: we wait our turn."""
    sim.drop_connections()
    other = Sun2000Connection("127.0.0.1", sim.port, FAST)
    await other.read_holding(1, 32080, 2)
    try:
        await poll(hass, entry)
        assert _state(hass, f"{SERIAL}_pv_power") == STATE_UNAVAILABLE
        assert sim.connections_refused >= 1  # our attempts, never the other program's link
        assert len(sim.open_connections) == 1
        failure = entry.runtime_data.coordinator.last_exception
        assert failure is not None
        assert "allows one Modbus connection" in str(failure)
        assert failure.translation_key == "update_sun2000_one_connection"
    finally:
        await other.close()
    await sim.wait_for(lambda: sim.settled and not sim.open_connections)
    refused = sim.connections_refused
    sim.clear_log()
    await poll(hass, entry)
    _assert_truth(hass, sim)
    await _assert_one_connection(sim, refused)


async def test_two_inverters_on_one_dongle_share_one_connection(
    hass: HomeAssistant, sim: Sun2000Simulator
) -> None:
    first, second = await add_sun2000(hass, sim)
    assert driver(first).connection is driver(second).connection
    assert link_users(hass, "127.0.0.1", sim.port) == 2
    opened = sim.connections_opened
    sim.clear_log()
    await poll(hass, first)
    await poll(hass, second)
    assert {r.unit for r in sim.requests} == {1, 2}
    await _assert_one_connection(sim)

    # One inverter goes; the other keeps the connection it shares.
    assert await hass.config_entries.async_unload(first.entry_id)
    assert link_users(hass, "127.0.0.1", sim.port) == 1
    await poll(hass, second)
    assert sim.connections_opened == opened
    assert second.runtime_data.coordinator.last_update_success

    # The last one closes it.
    assert await hass.config_entries.async_unload(second.entry_id)
    await sim.wait_for(lambda: not sim.open_connections)
    assert link_users(hass, "127.0.0.1", sim.port) == 0
    assert sim.open_connections == ()


async def test_setup_retries_while_the_dongle_is_away(
    hass: HomeAssistant, sim: Sun2000Simulator, entry: ConfigEntry
) -> None:
    assert await hass.config_entries.async_unload(entry.entry_id)
    sim.set_fault(Fault.DROP)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert link_users(hass, "127.0.0.1", sim.port) == 0  # a failed setup gives its link back
    sim.clear_fault()
    assert await hass.config_entries.async_reload(entry.entry_id)
    assert entry.state is ConfigEntryState.LOADED
    _assert_truth(hass, sim)


async def _enable_proxy(hass: HomeAssistant, entry: ConfigEntry, port: int) -> None:
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_PROXY: True, CONF_PROXY_PORT: port}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED


async def test_proxy_serves_a_second_client_while_home_assistant_polls(
    hass: HomeAssistant, sim: Sun2000Simulator, entry: ConfigEntry
) -> None:
    await _enable_proxy(hass, entry, free_port())
    proxy = driver(entry).proxy
    assert proxy is not None
    opened = sim.connections_opened
    sim.clear_log()
    client = AsyncModbusTcpClient("127.0.0.1", port=proxy.port, timeout=2, retries=0)
    assert await client.connect()
    power = REGISTERS_BY_NAME["active_power"]
    energy = REGISTERS_BY_NAME["meter_imported_energy"]

    async def other_program() -> int:
        reads = 0
        for _ in range(6):
            for register in (power, energy):
                response = await client.read_holding_registers(
                    register.address, count=register.count, **compat.unit(1)
                )
                assert not response.isError()
                assert response.registers == register_words(
                    sim, 1, register.address, register.count
                )
                reads += 1
        return reads

    async def home_assistant() -> int:
        # Refreshes as the coordinator's timer runs them; firing timers by hand would
        # also fire the other program's own timeouts.
        coordinator = entry.runtime_data.coordinator
        for _ in range(3):
            await coordinator.async_refresh()
            assert coordinator.last_update_success
            _assert_truth(hass, sim)
        return 3

    try:
        reads, polls = await asyncio.gather(other_program(), home_assistant())
    finally:
        client.close()
    assert (reads, polls) == (12, 3)
    assert proxy.served == 12
    # Both went through Home Assistant's one connection, one request at a time.
    assert sim.connections_opened == opened
    # Three polls: the meter alone twice, then everything.
    meter = driver(entry)
    assert len(sim.requests) == 12 + 2 * len(meter.plan_of(Part.METER)) + len(meter.plan)
    await _assert_one_connection(sim)

    # Unloading stops the proxy with the entry.
    assert await hass.config_entries.async_unload(entry.entry_id)
    other = AsyncModbusTcpClient("127.0.0.1", port=proxy.port, timeout=1, retries=0)
    assert not await other.connect()
    other.close()


async def test_proxy_port_taken_raises_a_repair_and_readings_go_on(
    hass: HomeAssistant, sim: Sun2000Simulator, entry: ConfigEntry
) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))  # noqa: S104  (the proxy listens on every interface)
        taken.listen()
        port = taken.getsockname()[1]
        await _enable_proxy(hass, entry, port)
        assert driver(entry).proxy is None
        issue = ir.async_get(hass).async_get_issue(DOMAIN, f"sun2000_proxy_{entry.entry_id}")
        assert issue is not None
        assert issue.translation_key == "sun2000_proxy_failed"
        assert issue.translation_placeholders is not None
        assert issue.translation_placeholders["port"] == str(port)
        await poll(hass, entry)
        _assert_truth(hass, sim)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert driver(entry).proxy is not None
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"sun2000_proxy_{entry.entry_id}") is None


async def test_diagnostics_show_status_texts_and_hide_the_serial_and_address(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    sim: Sun2000Simulator,
    entry: ConfigEntry,
) -> None:
    sim.set_alarms(1, (0, 1 << 3, 0))
    await poll_inverter(hass, entry)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = str(diagnostics)
    assert SERIAL not in text
    assert "127.0.0.1" not in text
    snapshot = diagnostics["snapshot"]
    # The status and alarm texts behind the status sensors and the alarm sensor.
    assert snapshot["texts"] == {"device_status": "on_grid", "alarms": "Overtemperature (2063)"}
    assert [sub["texts"] for sub in snapshot["sub_meters"]] == [
        {"meter_status": "normal"},
        {"battery_status": "running"},
    ]
    assert diagnostics["entry"]["options"] == {CONF_SCAN_INTERVAL: 10, "inverter_interval": 30}
    assert snapshot["values"]["pv_power"] == sim.truth(1)["inverter.pv_power"]
