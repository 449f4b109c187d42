"""Helpers for the SUN2000 Home Assistant tests: a fast link, the twin, adding entries as a user."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.wattkeeper import flow_sun2000, sun2000_link
from custom_components.wattkeeper.const import DOMAIN
from custom_components.wattkeeper.meters.sun2000_connection import ConnectionOptions
from custom_components.wattkeeper.sun2000_entry import Sun2000EntryMeter
from simulators.sun2000 import InverterSpec, Sun2000Simulator

# The SDongle discipline, shortened. The pause after connecting stays longer
# than the twin's grace before it refuses a second connection, so a refused
# connection is noticed while opening, as on a real dongle.
FAST = ConnectionOptions(
    timeout=0.2, retries=1, backoff=0.01, cooldown=0.0, wait_after_connect=0.08
)
NOON = datetime(2025, 6, 21, 13, 0, tzinfo=UTC)
SECOND = InverterSpec(
    unit_id=2,
    serial="HV2250067890",
    model="SUN2000-5KTL-L1",
    phases=1,
    meter=False,
    battery=False,
    seed=2,
)


def use_fast_links(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sun2000_link, "CONNECTION_OPTIONS", FAST)
    monkeypatch.setattr(flow_sun2000, "PROBE_TIME_LIMIT", 0.3)


def free_port() -> int:
    """A port nothing listens on (connections to it are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def address_step(hass: HomeAssistant) -> str:
    """Open the flow's menu, choose SUN2000; the flow id of the address form."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": "user"})
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "sun2000"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "sun2000"
    return str(result["flow_id"])


async def submit_address(hass: HomeAssistant, flow_id: str, port: int) -> FlowResult:
    return await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: "127.0.0.1", CONF_PORT: port}
    )


async def add_sun2000(
    hass: HomeAssistant, sim: Sun2000Simulator, serials: Sequence[str] | None = None
) -> list[ConfigEntry]:
    """Add the twin's inverters (all, or those serials) through the flow; entries by unit id."""
    flow_id = await address_step(hass)
    result = await submit_address(hass, flow_id, sim.port)
    assert result["type"] is FlowResultType.FORM, result
    assert result["step_id"] == "sun2000_pick"
    chosen = list(serials) if serials is not None else [d.spec.serial for d in sim.devices.values()]
    result = await hass.config_entries.flow.async_configure(flow_id, {"inverters": chosen})
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done(wait_background_tasks=True)
    entries = [e for e in hass.config_entries.async_entries(DOMAIN) if e.unique_id in chosen]
    assert len(entries) == len(chosen)
    return sorted(entries, key=lambda e: int(e.data["unit_id"]))


def driver(entry: ConfigEntry) -> Sun2000EntryMeter:
    meter = entry.runtime_data.meter
    assert isinstance(meter, Sun2000EntryMeter)
    return meter


async def poll(hass: HomeAssistant, entry: ConfigEntry, times: int = 1) -> None:
    """Let the entry's coordinator poll `times` times, waiting for each round trip."""
    for _ in range(times):
        async_fire_time_changed(
            hass, dt_util.utcnow() + entry.runtime_data.coordinator.update_interval
        )
        await hass.async_block_till_done(wait_background_tasks=True)


async def poll_inverter(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Poll until one poll has read the inverter and battery (the meter is read every poll)."""
    await poll(hass, entry, driver(entry).reads_until_inverter)


def entity_id(hass: HomeAssistant, unique_id: str, platform: str = "sensor") -> str:
    found = er.async_get(hass).async_get_entity_id(platform, DOMAIN, unique_id)
    assert found is not None, f"no entity {unique_id}"
    return found


def one_link_at_a_time(sim: Sun2000Simulator) -> None:
    """Requests never come from an older connection once a newer one is in use, never overlap."""
    ids = [r.connection for r in sim.requests]
    assert ids == sorted(ids)
    assert sim.max_in_flight == 1
