"""SUN2000 entities per device, exact values, status and alarms, requests per poll, Energy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from homeassistant.components.energy import data as energy_data
from homeassistant.components.energy import validate as energy_validate
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity import FLOAT_PRECISION
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.wattkeeper.meters.sun2000_registers import Part
from custom_components.wattkeeper.quality.findings import CheckId
from custom_components.wattkeeper.quality_glue import get_quality
from custom_components.wattkeeper.sun2000_entry import CONF_INVERTER_INTERVAL
from custom_components.wattkeeper.sun2000_fields import TEXT_ENTITIES
from simulators.sun2000 import InverterSpec, SimClock, Sun2000Simulator, running

from .sun2000_support import (
    NOON,
    SECOND,
    add_sun2000,
    driver,
    entity_id,
    poll,
    poll_inverter,
    use_fast_links,
)

SERIAL = "HV2250012345"
# Sub-devices carry the inverter's serial with the part as suffix.
PART_OF_SERIAL = {
    SERIAL: Part.INVERTER,
    f"{SERIAL}-meter": Part.METER,
    f"{SERIAL}-battery": Part.BATTERY,
}


@pytest.fixture(autouse=True)
def fast_links(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_links(monkeypatch)


@pytest.fixture
def clock(request: pytest.FixtureRequest) -> SimClock:
    """The twin's clock, from midnight's counters up to NOON or the time given by param."""
    return SimClock(getattr(request, "param", NOON))


@pytest.fixture
async def sim(clock: SimClock) -> AsyncIterator[Sun2000Simulator]:
    async with running((InverterSpec(), SECOND), clock=clock) as twin:
        twin.refuse_second_connection = True
        yield twin


@pytest.fixture
async def entry(hass: HomeAssistant, sim: Sun2000Simulator) -> ConfigEntry:
    (added,) = await add_sun2000(hass, sim, [SERIAL])
    return added


def _field(unique_id: str, parts: dict[str, Part]) -> str | None:
    """The driver's field id (`meter.power_l1`) of a sensor's unique id."""
    for serial, part in parts.items():
        if unique_id.startswith(f"{serial}_"):
            return f"{part.value}.{unique_id.removeprefix(f'{serial}_')}"
    return None


def _field_sensors(
    hass: HomeAssistant, entry: ConfigEntry, parts: dict[str, Part] = PART_OF_SERIAL
) -> dict[str, er.RegistryEntry]:
    """The sensors that show a driver's numeric field, by field (other features add sensors too)."""
    device = driver(entry).device
    assert device is not None
    found: dict[str, er.RegistryEntry] = {}
    for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id):
        field = _field(e.unique_id, parts)
        if e.domain == "sensor" and field in device.fields and field not in TEXT_ENTITIES:
            found[field] = e
    return found


def _as_state(value: float | str) -> str:
    """How Home Assistant writes a float into a state."""
    assert not isinstance(value, str)
    return f"{float(value):.{FLOAT_PRECISION}}"


async def test_entities_per_device(
    hass: HomeAssistant, entry: ConfigEntry, snapshot: SnapshotAssertion
) -> None:
    """The sensors of the driver's fields and the link's connectivity, per device."""
    registry = er.async_get(hass)
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert sorted(d.name or "" for d in devices) == ["Battery", "Power meter", "SUN2000-6KTL-M1"]
    ours = {e.entity_id for e in _field_sensors(hass, entry).values()}
    ours.add(entity_id(hass, f"{SERIAL}_connected", "binary_sensor"))
    ours.add(entity_id(hass, f"{SERIAL}_alarms", "binary_sensor"))
    ours.add(entity_id(hass, f"{SERIAL}_device_status"))
    ours.add(entity_id(hass, f"{SERIAL}-battery_battery_status"))
    for device in devices:
        entities = sorted(
            (
                e
                for e in er.async_entries_for_device(
                    registry, device.id, include_disabled_entities=True
                )
                if e.entity_id in ours
            ),
            key=lambda e: e.entity_id,
        )
        assert {
            "device": {
                "name": device.name,
                "manufacturer": device.manufacturer,
                "model": device.model,
                "serial_number": device.serial_number,
                "sw_version": device.sw_version,
                "identifiers": device.identifiers,
                "via_device": device.via_device_id is not None,
            },
            "entities": [
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
            ],
            "states": {
                e.entity_id: {"state": state.state, **state.attributes}
                for e in entities
                if (state := hass.states.get(e.entity_id)) is not None
            },
        } == snapshot(name=device.name)


@pytest.mark.parametrize(
    "clock",
    [NOON.replace(hour=hour) for hour in (11, 21, 2)],
    ids=["11h", "21h", "2h"],
    indirect=True,
)
async def test_states_equal_the_ground_truth(
    hass: HomeAssistant, sim: Sun2000Simulator, clock: SimClock, entry: ConfigEntry
) -> None:
    """Morning surplus charges and exports, evening and night discharge and import."""
    clock.advance(90)
    await poll_inverter(hass, entry)
    truth = sim.truth(1)
    shown = 0
    for field, registry_entry in _field_sensors(hass, entry).items():
        state = hass.states.get(registry_entry.entity_id)
        if state is None:  # disabled by default
            continue
        assert state.state == _as_state(truth[field]), field
        shown += 1
    assert shown == 38  # every enabled sensor of the inverter, its meter and its battery
    meter_power = float(hass.states.get(entity_id(hass, f"{SERIAL}-meter_power")).state)
    battery_power = float(hass.states.get(entity_id(hass, f"{SERIAL}-battery_battery_power")).state)
    if clock.now().hour == 11:
        assert (meter_power < 0, battery_power > 0) == (True, True)  # exporting, charging
    else:
        assert (meter_power > 0, battery_power < 0) == (True, True)  # importing, discharging
    # Status texts are entities too, in their translated states' keys.
    assert _text_state(hass, f"{SERIAL}_device_status") == truth["inverter.device_status"]
    battery = _text_state(hass, f"{SERIAL}-battery_battery_status")
    assert battery == truth["battery.battery_status"]
    assert _text_state(hass, f"{SERIAL}_alarms", "binary_sensor") == "off"


def _text_state(hass: HomeAssistant, unique_id: str, platform: str = "sensor") -> str:
    state = hass.states.get(entity_id(hass, unique_id, platform))
    assert state is not None
    return state.state


async def test_status_and_alarms_follow_the_inverter(
    hass: HomeAssistant, sim: Sun2000Simulator, clock: SimClock, entry: ConfigEntry
) -> None:
    status, alarms = (
        entity_id(hass, f"{SERIAL}_device_status"),
        entity_id(hass, f"{SERIAL}_alarms", "binary_sensor"),
    )
    state = hass.states.get(status)
    assert state is not None
    assert state.state == "on_grid"
    assert "standby_no_irradiation" in state.attributes["options"]
    sim.set_alarms(1, (1 << 7, 1 << 3, 0))
    await poll_inverter(hass, entry)
    state = hass.states.get(alarms)
    assert state is not None
    assert state.state == "on"
    assert state.attributes["alarms"] == ["Grid loss (2032)", "Overtemperature (2063)"]
    sim.set_alarms(1, (0, 0, 0))
    clock.set(NOON.replace(hour=23))  # night: no irradiation
    await poll_inverter(hass, entry)
    assert _text_state(hass, f"{SERIAL}_device_status") == "standby_no_irradiation"
    assert _text_state(hass, f"{SERIAL}_alarms", "binary_sensor") == "off"
    # A status code the map does not know is unknown, not an error.
    sim.poke(1, {32089: 0x0B00})
    await poll_inverter(hass, entry)
    assert _text_state(hass, f"{SERIAL}_device_status") == "unknown"


METER_BLOCK = (37100, 38)
# Strings and alarms, the inverter block, the meter block, battery power, battery energy.
FULL_POLL = [(32008, 12), (32064, 52), METER_BLOCK, (37760, 7), (37780, 8)]


async def test_the_meter_is_polled_every_10_s_the_inverter_every_30_s(
    hass: HomeAssistant, sim: Sun2000Simulator, entry: ConfigEntry
) -> None:
    assert dict(entry.options) == {"scan_interval": 10, "inverter_interval": 30}
    assert entry.runtime_data.coordinator.update_interval == timedelta(seconds=10)
    sim.clear_log()
    await poll(hass, entry, times=6)
    assert [(r.address, r.count) for r in sim.requests] == (
        [METER_BLOCK, METER_BLOCK, *FULL_POLL] * 2
    )
    # Between inverter readings its entities keep the last one.
    state = hass.states.get(entity_id(hass, f"{SERIAL}_pv_power"))
    assert state is not None
    assert state.state == _as_state(sim.truth(1)["inverter.pv_power"])


async def test_requests_per_poll_follow_the_enabled_entities(
    hass: HomeAssistant, sim: Sun2000Simulator, entry: ConfigEntry
) -> None:
    meter = driver(entry)
    # Entities disabled by default (reactive power, power factor, frequency) are not read.
    planned = {r.name for request in meter.plan for r in request.registers}
    assert {
        "reactive_power",
        "power_factor",
        "grid_frequency",
        "meter_frequency",
    } & planned == set()
    assert [(r.address, r.count) for r in meter.plan] == FULL_POLL
    assert [(r.address, r.count) for r in meter.plan_of(Part.METER)] == [METER_BLOCK]

    registry = er.async_get(hass)
    energies = [
        f"{SERIAL}-battery_{key}"
        for key in (
            "battery_charge_energy",
            "battery_discharge_energy",
            "battery_charge_energy_daily",
            "battery_discharge_energy_daily",
        )
    ]
    for unique_id in energies:
        registry.async_update_entity(
            entity_id(hass, unique_id), disabled_by=er.RegistryEntryDisabler.USER
        )
    await hass.async_block_till_done()
    sim.clear_log()
    await poll_inverter(hass, entry)
    assert [(r.address, r.count) for r in sim.requests][-4:] == FULL_POLL[:4]

    # Enabled again: read at once, and the entity returns with Home Assistant's reload.
    registry.async_update_entity(entity_id(hass, energies[0]), disabled_by=None)
    await hass.async_block_till_done()
    sim.clear_log()
    await poll_inverter(hass, entry)
    assert (37780, 2) in [(r.address, r.count) for r in sim.requests]  # just that counter
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=31))
    await hass.async_block_till_done(wait_background_tasks=True)
    state = hass.states.get(entity_id(hass, energies[0]))
    assert state is not None
    assert state.state == _as_state(sim.truth(1)["battery.battery_charge_energy"])


async def test_enabling_an_entity_during_a_poll_waits_for_the_poll(
    hass: HomeAssistant, sim: Sun2000Simulator, entry: ConfigEntry
) -> None:
    registry = er.async_get(hass)
    charged = entity_id(hass, f"{SERIAL}-battery_battery_charge_energy")
    registry.async_update_entity(charged, disabled_by=er.RegistryEntryDisabler.USER)
    await hass.async_block_till_done()
    coordinator, meter = entry.runtime_data.coordinator, driver(entry)
    while meter.reads_until_inverter > 1:  # the next poll reads the battery
        await coordinator.async_refresh()
    sim.latency = 0.05  # each answer takes a moment, like a dongle's RS-485 hop
    sim.clear_log()
    refresh = hass.async_create_task(coordinator.async_refresh())
    await sim.wait_for(lambda: any(r.outcome == "pending" for r in sim.requests))
    registry.async_update_entity(charged, disabled_by=None)
    await refresh
    # The poll finished with the plan it started with; the next full one reads the counter too.
    assert coordinator.last_update_success
    assert (37780, 8) not in [(r.address, r.count) for r in sim.requests]
    sim.clear_log()
    while True:
        full = meter.reads_until_inverter == 1
        await coordinator.async_refresh()
        if full:
            break
    assert coordinator.last_update_success
    assert (37780, 8) in [(r.address, r.count) for r in sim.requests]


async def test_an_inverter_alone_has_no_meter_or_battery(
    hass: HomeAssistant, sim: Sun2000Simulator
) -> None:
    (alone,) = await add_sun2000(hass, sim, ["HV2250067890"])
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), alone.entry_id)
    assert [d.name for d in devices] == ["SUN2000-5KTL-L1"]
    sim.clear_log()
    await poll(hass, alone)
    assert [(r.unit, r.address, r.count) for r in sim.requests] == [
        (2, 32008, 12),
        (2, 32064, 52),
    ]
    truth = sim.truth(2)
    sensors = _field_sensors(hass, alone, {"HV2250067890": Part.INVERTER})
    for field, registry_entry in sensors.items():
        state = hass.states.get(registry_entry.entity_id)
        if state is not None:
            assert state.state == _as_state(truth[field]), field


async def test_energy_dashboard_accepts_the_sensors(
    recorder_mock: None, hass: HomeAssistant, sim: Sun2000Simulator
) -> None:
    """Solar production, grid import/export and battery in/out pass Home Assistant's checks."""
    assert await async_setup_component(hass, "energy", {})
    (entry,) = await add_sun2000(hass, sim, [SERIAL])
    no_price = {"entity_energy_price": None, "number_energy_price": None}
    manager = await energy_data.async_get_manager(hass)
    await manager.async_update(
        {
            "energy_sources": [
                {
                    "type": "solar",
                    "stat_energy_from": entity_id(hass, f"{SERIAL}_pv_energy"),
                    "config_entry_solar_forecast": None,
                },
                {
                    "type": "grid",
                    "flow_from": [
                        {
                            "stat_energy_from": entity_id(hass, f"{SERIAL}-meter_energy_import"),
                            "stat_cost": None,
                            **no_price,
                        }
                    ],
                    "flow_to": [
                        {
                            "stat_energy_to": entity_id(hass, f"{SERIAL}-meter_energy_export"),
                            "stat_compensation": None,
                            **no_price,
                        }
                    ],
                    "cost_adjustment_day": 0,
                },
                {
                    "type": "battery",
                    "stat_energy_from": entity_id(
                        hass, f"{SERIAL}-battery_battery_discharge_energy"
                    ),
                    "stat_energy_to": entity_id(hass, f"{SERIAL}-battery_battery_charge_energy"),
                },
            ],
        }
    )
    sim.clock.advance(60)
    await poll(hass, entry)
    await async_wait_recording_done(hass)
    now = dt_util.utcnow()
    do_adhoc_statistics(
        hass, start=now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
    )
    await async_wait_recording_done(hass)
    result = (await energy_validate.async_validate(hass)).as_dict()
    assert len(result["energy_sources"]) == 3  # every source was validated
    assert result == {"energy_sources": [[], [], []], "device_consumption": []}


def _gap_after(hass: HomeAssistant, entry: ConfigEntry, quiet: timedelta) -> bool:
    """Whether the inverter's checks see a gap `quiet` after its last reading."""
    quality = get_quality(hass, entry.entry_id)
    assert quality is not None
    watched = quality.meters[SERIAL]
    assert watched.last is not None
    report = watched.quality.evaluate(watched.last.measured_at + quiet)
    return CheckId.GAP in [finding.check_id for finding in report.failing]


async def test_the_gap_check_follows_the_inverter_interval(
    hass: HomeAssistant, sim: Sun2000Simulator, entry: ConfigEntry
) -> None:
    """The meter is polled every 10 s but the inverter's own readings come every
    `inverter_interval`: its gap check expects that pace, five of them make a gap."""
    await poll(hass, entry)
    assert not _gap_after(hass, entry, timedelta(seconds=150))
    assert _gap_after(hass, entry, timedelta(seconds=151))
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_INVERTER_INTERVAL: 120}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert driver(entry).root_every == 12
    await poll(hass, entry)
    assert not _gap_after(hass, entry, timedelta(seconds=600))
    assert _gap_after(hass, entry, timedelta(seconds=601))
