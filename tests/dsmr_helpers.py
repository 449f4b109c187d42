"""Drive DSMR P1 entries through Home Assistant as a user would, against the telegram twin.

The twin sends a telegram every 50 ms. Every version's expected interval is
cut to a quarter second (so the stall watchdog, three intervals, trips after
0.75 s without a valid telegram), the coordinator reconnects after 50 ms
doubling up to 200 ms, and the config flow listens for two seconds at most:
the tests run in seconds, with the real watchdog, backoff and flow code.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_DEVICE, CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er

from custom_components.wattkeeper import dsmr_entry, stream_coordinator
from custom_components.wattkeeper.const import DOMAIN
from custom_components.wattkeeper.meters.dsmr import DsmrMeter
from custom_components.wattkeeper.meters.dsmr_versions import VERSIONS, DsmrVersion
from custom_components.wattkeeper.stream_coordinator import StreamCoordinator
from simulators.dsmr import DsmrSimulator

SEND_INTERVAL = 0.05
WATCHDOG_INTERVAL = 0.25
PROBE_TIMEOUT = 2.0
RECONNECT_FIRST = 0.05
RECONNECT_LONGEST = 0.2
SMARTY_KEY = "000102030405060708090A0B0C0D0E0F"
# Form values of the version selector, by dsmr-parser's version name.
CHOICE = {
    "auto": "auto",
    "2.2": "v2_2",
    "4": "v4",
    "5": "v5",
    "5B": "v5b",
    "5L": "v5l",
    "5S": "v5s",
    "Q3D": "q3d",
}
# Guards a wait so a broken link fails the test instead of hanging it; never asserted on.
GUARD = 20.0


@pytest.fixture(autouse=True)
def fast_meters(monkeypatch: pytest.MonkeyPatch) -> None:
    for version in DsmrVersion:
        fast = dataclasses.replace(VERSIONS[version], interval=WATCHDOG_INTERVAL)
        monkeypatch.setitem(VERSIONS, version, fast)  # type: ignore[arg-type]
    monkeypatch.setattr(dsmr_entry, "PROBE_TIMEOUT", PROBE_TIMEOUT)
    monkeypatch.setattr(stream_coordinator, "RECONNECT_FIRST", RECONNECT_FIRST)
    monkeypatch.setattr(stream_coordinator, "RECONNECT_LONGEST", RECONNECT_LONGEST)


@pytest.fixture(name="sims")
async def sims_fixture() -> AsyncIterator[Callable[..., DsmrSimulator]]:
    """A factory of twins; each is stopped after the test."""
    started: list[DsmrSimulator] = []

    def make(version: str = "5", **kwargs: Any) -> DsmrSimulator:
        sim = DsmrSimulator(version, interval=SEND_INTERVAL, **kwargs)
        started.append(sim)
        return sim

    yield make
    for sim in started:
        await sim.stop()


async def start_flow(hass: HomeAssistant, transport: str) -> str:
    """Open the menu, pick DSMR and the transport; returns the flow id at its form."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": "user"})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "dsmr"}
    )
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["dsmr_serial", "dsmr_tcp"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": f"dsmr_{transport}"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == f"dsmr_{transport}"
    return str(result["flow_id"])


def tcp_input(sim: DsmrSimulator, version: str = "auto") -> dict[str, Any]:
    return {CONF_HOST: "127.0.0.1", CONF_PORT: sim.port, "version": CHOICE[version]}


def serial_input(path: str, version: str = "auto") -> dict[str, Any]:
    return {CONF_DEVICE: path, "version": CHOICE[version]}


async def add_dsmr(
    hass: HomeAssistant, sim: DsmrSimulator, version: str = "auto", **options: int
) -> ConfigEntry:
    """Add a TCP entry for a running twin through the flow and wait for its setup.

    `options` replace the entry's write intervals (the flow stores the defaults).
    """
    flow_id = await start_flow(hass, "tcp")
    result = await hass.config_entries.flow.async_configure(flow_id, tcp_input(sim, version))
    return await _finish(hass, flow_id, result, options)


async def add_dsmr_serial(hass: HomeAssistant, path: str, **options: int) -> ConfigEntry:
    """The same through the serial step, for a twin's pty."""
    flow_id = await start_flow(hass, "serial")
    result = await hass.config_entries.flow.async_configure(flow_id, serial_input(path))
    return await _finish(hass, flow_id, result, options)


async def _finish(
    hass: HomeAssistant, flow_id: str, result: Any, options: dict[str, int]
) -> ConfigEntry:
    if result.get("step_id") == "dsmr_smarty":
        result = await hass.config_entries.flow.async_configure(
            flow_id, {"decryption_key": SMARTY_KEY}
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    entry = hass.config_entries.async_get_entry(result["result"].entry_id)
    assert entry is not None
    if options:
        hass.config_entries.async_update_entry(entry, options={**entry.options, **options})
        # The update listener reloads the entry with the new options.
        await hass.async_block_till_done()
    return entry


def parts(entry: ConfigEntry) -> tuple[DsmrMeter, StreamCoordinator]:
    meter, coordinator = entry.runtime_data.meter, entry.runtime_data.coordinator
    assert isinstance(meter, DsmrMeter)
    assert isinstance(coordinator, StreamCoordinator)
    return meter, coordinator


async def until(condition: Callable[[], bool], *, step: float = 0.02) -> None:
    """Let the loop run until `condition` holds (real sockets need real turns)."""
    async with asyncio.timeout(GUARD):
        while not condition():  # noqa: ASYNC110  (polls state that sockets change)
            await asyncio.sleep(step)


async def telegrams(entry: ConfigEntry, count: int) -> None:
    """Wait until the coordinator has published `count` more snapshots."""
    _, coordinator = parts(entry)
    seen = 0

    def on_update() -> None:
        nonlocal seen
        if coordinator.last_update_success:
            seen += 1

    remove = coordinator.async_add_listener(on_update)
    try:
        await until(lambda: seen >= count)
    finally:
        remove()


def entity_id(hass: HomeAssistant, serial: str, key: str, platform: str = "sensor") -> str:
    found = er.async_get(hass).async_get_entity_id(platform, DOMAIN, f"{serial}_{key}")
    assert found is not None, f"no {platform} entity for {serial}_{key}"
    return found


def state_of(hass: HomeAssistant, serial: str, key: str, platform: str = "sensor") -> str:
    state = hass.states.get(entity_id(hass, serial, key, platform))
    assert state is not None
    return state.state
