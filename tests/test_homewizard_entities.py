"""HomeWizard entities per device type: registry, states, ground truth, Energy dashboard."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.energy import data as energy_data
from homeassistant.components.energy import validate as energy_validate
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import ATTR_ENTITY_ID, SERVICE_TURN_OFF, SERVICE_TURN_ON
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.wattkeeper.const import DOMAIN
from simulators.homewizard import DEVICE_TYPES, HomeWizardSimulator

from .helpers import add_homewizard


def _entity_id(hass: HomeAssistant, serial: str, key: str, platform: str = "sensor") -> str:
    entity_id = er.async_get(hass).async_get_entity_id(platform, DOMAIN, f"{serial}_{key}")
    assert entity_id is not None, f"no entity for {serial}_{key}"
    return entity_id


async def _poll(hass: HomeAssistant, entry: ConfigEntry) -> None:
    async_fire_time_changed(hass, dt_util.utcnow() + entry.runtime_data.coordinator.update_interval)
    # Coordinators refresh in background tasks; wait for the HTTP round trip.
    await hass.async_block_till_done(wait_background_tasks=True)


@pytest.mark.parametrize("homewizard_sim", DEVICE_TYPES, indirect=True)
async def test_entities_per_device_type(
    hass: HomeAssistant,
    homewizard_sim: HomeWizardSimulator,
    snapshot: SnapshotAssertion,
    freezer: FrozenDateTimeFactory,
) -> None:
    # Capacity-tariff states (the running quarter hour) depend on the time.
    freezer.move_to("2026-06-10T16:07:30+00:00")
    entry = await add_homewizard(hass, homewizard_sim)
    entities = sorted(
        er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id),
        key=lambda e: e.entity_id,
    )
    assert [
        {
            "entity_id": e.entity_id,
            "unique_id": e.unique_id,
            "translation_key": e.translation_key,
            "original_name": e.original_name,
            "device_class": e.original_device_class,
            "unit": e.unit_of_measurement,
            "entity_category": e.entity_category,
            "disabled_by": e.disabled_by,
        }
        for e in entities
    ] == snapshot(name="entity-registry")
    assert {
        e.entity_id: {"state": state.state, **state.attributes}
        for e in entities
        if (state := hass.states.get(e.entity_id)) is not None
    } == snapshot(name="states")
    devices = sorted(
        dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id),
        key=lambda d: d.name or "",
    )
    assert [
        {
            "name": d.name,
            "manufacturer": d.manufacturer,
            "model": d.model,
            "serial_number": d.serial_number,
            "sw_version": d.sw_version,
            "identifiers": d.identifiers,
            "via_device": d.via_device_id is not None,
        }
        for d in devices
    ] == snapshot(name="devices")


@pytest.mark.parametrize("homewizard_sim", ["p1"], indirect=True)
async def test_states_follow_the_meter(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    entry = await add_homewizard(hass, homewizard_sim)
    serial = homewizard_sim.device["serial"]
    for _ in range(3):
        homewizard_sim.step(5)
        await _poll(hass, entry)
        truth = homewizard_sim.data
        assert (
            float(hass.states.get(_entity_id(hass, serial, "power")).state)
            == (truth["active_power_w"])
        )
        imported = hass.states.get(_entity_id(hass, serial, "energy_import"))
        assert float(imported.state) == truth["total_power_import_kwh"]
        tariff2 = hass.states.get(_entity_id(hass, serial, "energy_import_t2"))
        assert float(tariff2.state) == truth["total_power_import_t2_kwh"]
        assert hass.states.get(_entity_id(hass, serial, "tariff")).state == "2"
    p1_device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, serial)})
    assert p1_device is not None
    # Gas and water in m³, heat in GJ: the units the fixture's M-Bus meters report.
    for external, key, unit in zip(
        truth["external"], ("gas", "water", "heat"), ("m³", "m³", "GJ"), strict=True
    ):
        external_serial = bytes.fromhex(external["unique_id"]).decode()  # the equipment id
        state = hass.states.get(_entity_id(hass, external_serial, key))
        assert float(state.state) == external["value"]
        assert state.attributes["unit_of_measurement"] == unit
        device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, external_serial)})
        assert device is not None
        assert device.via_device_id == p1_device.id


@pytest.mark.parametrize("homewizard_sim", ["p1"], indirect=True)
async def test_m_bus_units_are_converted(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    """A heat meter counting kWh and a water meter counting litres land in GJ and m³."""
    gas, water, heat = homewizard_sim.fixture["data"]["external"]
    water.update(value=411027.0, unit="l")
    heat.update(value=4678.3, unit="kWh")
    await add_homewizard(hass, homewizard_sim)
    water_state = hass.states.get(_entity_id(hass, "W0039001652050218", "water"))
    assert float(water_state.state) == pytest.approx(411.027)
    assert water_state.attributes["unit_of_measurement"] == "m³"
    heat_state = hass.states.get(_entity_id(hass, "H0039001652050219", "heat"))
    assert float(heat_state.state) == pytest.approx(4678.3 * 0.0036)
    assert heat_state.attributes["unit_of_measurement"] == "GJ"
    assert (
        float(hass.states.get(_entity_id(hass, "G0039001652050216", "gas")).state) == (gas["value"])
    )


@pytest.mark.parametrize("homewizard_sim", ["kwh1", "kwh3", "socket"], indirect=True)
async def test_single_tariff_devices_have_no_tariff_1_copy(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    """kWh meters and sockets repeat their total as tariff 1; only the total is a sensor."""
    truth = homewizard_sim.data
    assert truth["total_power_import_t1_kwh"] == truth["total_power_import_kwh"]
    entry = await add_homewizard(hass, homewizard_sim)
    unique_ids = {
        e.unique_id for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    }
    serial = homewizard_sim.device["serial"]
    assert {f"{serial}_energy_import", f"{serial}_energy_export"} <= unique_ids
    assert not {f"{serial}_energy_import_t1", f"{serial}_energy_export_t1"} & unique_ids


@pytest.mark.parametrize("homewizard_sim", ["socket"], indirect=True)
async def test_socket_relay_switches(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    await add_homewizard(hass, homewizard_sim)
    relay = _entity_id(hass, homewizard_sim.device["serial"], "relay", "switch")
    assert hass.states.get(relay).state == "on"
    await hass.services.async_call("switch", SERVICE_TURN_OFF, {ATTR_ENTITY_ID: relay}, True)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert homewizard_sim.fixture["state"]["power_on"] is False
    assert hass.states.get(relay).state == "off"
    assert (
        float(hass.states.get(_entity_id(hass, homewizard_sim.device["serial"], "power")).state)
        == 0
    )
    await hass.services.async_call("switch", SERVICE_TURN_ON, {ATTR_ENTITY_ID: relay}, True)
    # The refresh after a command is debounced; the next poll shows the new state.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=11))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert homewizard_sim.fixture["state"]["power_on"] is True
    assert hass.states.get(relay).state == "on"


_NO_PRICE = {"entity_energy_price": None, "number_energy_price": None}


def _energy_preferences(hass: HomeAssistant, sim: HomeWizardSimulator) -> dict[str, Any]:
    """Each device where a household puts it in the Energy dashboard."""
    serial = sim.device["serial"]

    def source(kind: str, meter: str, key: str) -> dict[str, Any]:
        return {"type": kind, "stat_energy_from": _entity_id(hass, meter, key), "stat_cost": None}

    def grid(*imports: str) -> dict[str, Any]:
        return {
            "type": "grid",
            "flow_from": [
                {"stat_energy_from": _entity_id(hass, serial, key), "stat_cost": None, **_NO_PRICE}
                for key in imports
            ],
            "flow_to": [
                {
                    "stat_energy_to": _entity_id(hass, serial, "energy_export"),
                    "stat_compensation": None,
                    **_NO_PRICE,
                }
            ],
            "cost_adjustment_day": 0,
        }

    match sim.device_type:
        case "p1":  # the grid per tariff; gas, water and heat (as gas: GJ) on its M-Bus
            sources = [
                grid("energy_import_t1", "energy_import_t2"),
                {**source("gas", "G0039001652050216", "gas"), **_NO_PRICE},
                {**source("water", "W0039001652050218", "water"), **_NO_PRICE},
                {**source("gas", "H0039001652050219", "heat"), **_NO_PRICE},
            ]
            return {"energy_sources": sources}
        case "kwh1" | "kwh3":  # a kWh meter as the main meter where there is no P1 port
            return {"energy_sources": [grid("energy_import")]}
        case "water":
            return {"energy_sources": [{**source("water", serial, "water"), **_NO_PRICE}]}
        case "socket":
            return {
                "device_consumption": [
                    {"stat_consumption": _entity_id(hass, serial, "energy_import")}
                ]
            }
    raise AssertionError(sim.device_type)


@pytest.mark.parametrize("homewizard_sim", DEVICE_TYPES, indirect=True)
async def test_energy_dashboard_accepts_the_sensors(
    recorder_mock: None, hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    """Home Assistant's own energy validation finds nothing wrong with our sources."""
    assert await async_setup_component(hass, "energy", {})
    entry = await add_homewizard(hass, homewizard_sim)
    preferences = _energy_preferences(hass, homewizard_sim)
    manager = await energy_data.async_get_manager(hass)
    await manager.async_update(preferences)  # type: ignore[arg-type]
    homewizard_sim.step(60)
    await _poll(hass, entry)
    # Compile the statistics of the current 5-minute period, as the recorder would.
    await async_wait_recording_done(hass)
    now = dt_util.utcnow()
    do_adhoc_statistics(
        hass, start=now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
    )
    await async_wait_recording_done(hass)
    result = (await energy_validate.async_validate(hass)).as_dict()
    # Every configured source and device was validated, and none has an issue.
    assert result == {
        "energy_sources": [[] for _ in preferences.get("energy_sources", [])],
        "device_consumption": [[] for _ in preferences.get("device_consumption", [])],
    }
    assert result["energy_sources"] or result["device_consumption"]


async def test_new_series_get_entities_later(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    """A value the meter starts reporting after setup (a phase, a tariff) gets an entity."""
    entry = await add_homewizard(hass, homewizard_sim)
    serial = homewizard_sim.device["serial"]
    registry = er.async_get(hass)
    assert registry.async_get_entity_id("sensor", DOMAIN, f"{serial}_energy_import_t3") is None
    homewizard_sim.fixture["data"]["total_power_import_t3_kwh"] = 12.5
    await _poll(hass, entry)
    assert float(hass.states.get(_entity_id(hass, serial, "energy_import_t3")).state) == 12.5


async def test_interval_is_respected(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    entry = await add_homewizard(hass, homewizard_sim)
    before = homewizard_sim.requests
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=1))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert homewizard_sim.requests == before  # default interval is 5 s
    await _poll(hass, entry)
    assert homewizard_sim.requests > before
