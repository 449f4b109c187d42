"""Fluksometer entities: discovery, ground truth, Energy dashboard, every fault, repair, unload."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.energy import data as energy_data
from homeassistant.components.energy import validate as energy_validate
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.wattkeeper.const import DOMAIN
from custom_components.wattkeeper.flukso_entry import counter_sensors
from custom_components.wattkeeper.flukso_history import counter_key
from simulators.flukso import Fault, FluksoSimulator, SimSensor

from .flukso_helpers import (
    add_flukso,
    entity_id,
    parts,
    pumping,
    quick_meters,  # noqa: F401  (autouse)
    state_of,
    steady_amqtt,  # noqa: F401  (autouse)
    tick,
    tune_meters,
    until,
)


def totals(hass: HomeAssistant, sim: FluksoSimulator) -> dict[str, float]:
    """The derived (channel-less) entities' states, keyed like the series ids."""
    result: dict[str, float] = {}
    for key in (
        "power",
        "power_l1",
        "power_l2",
        "power_l3",
        "power_consumption",
        "power_production",
        "energy_import",
        "energy_export",
        "energy_consumption",
        "energy_production",
    ):
        found = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"{sim.device_id}_{key}")
        state = hass.states.get(found) if found is not None else None
        if state is not None and state.state != STATE_UNAVAILABLE:
            result[key] = float(state.state)
    return result


def truth_totals(sim: FluksoSimulator) -> dict[str, float]:
    """What the derived entities must show, from the twin's physics."""
    truth = sim.truth
    energy = truth.energy
    if sim.model == "FLM02":
        return {
            "power": truth.net_w,
            "power_consumption": truth.consumption_w,
            "power_production": truth.production_w,
            "energy_consumption": pytest.approx(energy.consumption_kwh),
            "energy_production": pytest.approx(energy.production_kwh),
        }
    return {
        "power": pytest.approx(truth.net_w),
        "power_l1": pytest.approx(truth.phase_net_w[0]),
        "power_l2": pytest.approx(truth.phase_net_w[1]),
        "power_l3": pytest.approx(truth.phase_net_w[2]),
        "power_consumption": pytest.approx(truth.consumption_w),
        "power_production": pytest.approx(truth.production_w),
        "energy_import": pytest.approx(energy.import_kwh),
        "energy_export": pytest.approx(energy.export_kwh),
        "energy_production": pytest.approx(energy.production_kwh),
    }


async def test_discovery_creates_devices_and_entities(
    hass: HomeAssistant, any_model: FluksoSimulator, snapshot: SnapshotAssertion
) -> None:
    entry = await add_flukso(hass, any_model)
    await tick(hass, any_model, entry)
    # The meter's own series and its link; features shared by every meter have their own tests.
    serial = any_model.device_id
    ours = {f"{serial}_{key.id}" for key in parts(entry)[1].data.values} | {
        f"{serial}_{key}" for key in ("connected", "unreadable_messages", "wrong_unit_readings")
    }
    entities = sorted(
        (
            e
            for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
            if e.unique_id in ours
        ),
        key=lambda e: e.entity_id,
    )
    assert [
        {
            "entity_id": e.entity_id,
            "unique_id": e.unique_id,
            "translation_key": e.translation_key,
            "device_class": e.original_device_class,
            "unit": e.unit_of_measurement,
            "entity_category": e.entity_category,
            "disabled_by": e.disabled_by,
            "state_class": (e.capabilities or {}).get("state_class"),
        }
        for e in entities
    ] == snapshot(name="entity-registry")
    # Names and units as the user sees them; values are checked against the truth below.
    assert {
        e.entity_id: {k: v for k, v in state.attributes.items() if k != "icon"}
        for e in entities
        if (state := hass.states.get(e.entity_id)) is not None
    } == snapshot(name="state-attributes")
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert [
        {
            "name": d.name,
            "manufacturer": d.manufacturer,
            "model": d.model,
            "serial_number": d.serial_number,
            "identifiers": d.identifiers,
        }
        for d in devices
    ] == snapshot(name="devices")


async def test_signs_and_totals_equal_the_ground_truth(
    hass: HomeAssistant, any_model: FluksoSimulator
) -> None:
    entry = await add_flukso(hass, any_model)
    sim = any_model
    for _ in range(4):  # counters come every second tick
        await tick(hass, sim, entry)
        assert totals(hass, sim) == truth_totals(sim)
    # Per-sensor entities show the meter's own readings, never sign-corrected.
    water = sim.sensor(port=4 if sim.model == "FLM02" else 5).id
    assert float(state_of(hass, sim.device_id, f"water_flow_c{water}")) == sim.truth.water_flow_lpm
    assert float(state_of(hass, sim.device_id, f"water_c{water}")) == pytest.approx(
        sim.truth.energy.water_m3
    )
    assert state_of(hass, sim.device_id, "connected", "binary_sensor") == STATE_ON


async def test_every_counter_sensor_has_a_counter_entity(
    hass: HomeAssistant, any_model: FluksoSimulator
) -> None:
    """Each enabled active-power, gas and water sensor's own counter, L1-L3 clamps included."""
    entry = await add_flukso(hass, any_model)
    await tick(hass, any_model, entry)  # counters come every second tick
    meter, _ = parts(entry)
    assert meter.device is not None
    sensors = counter_sensors(meter.device)
    assert {s.id for s in sensors} == {
        s.id for s in any_model.sensors if s.enabled and s.has_counter and not _reactive(s)
    }
    for sensor in sensors:
        key = counter_key(sensor)
        assert key is not None, sensor
        assert float(state_of(hass, any_model.device_id, key.id)) >= 0, sensor


def _reactive(sensor: SimSensor) -> bool:
    # q1-q4 count reactive energy, which has no series of its own.
    return sensor.subtype is not None and sensor.subtype.startswith("q")


async def test_without_roles_there_are_no_totals(
    hass: HomeAssistant, flm03: FluksoSimulator
) -> None:
    entry = await add_flukso(hass, flm03, roles={})
    await tick(hass, flm03, entry)
    assert totals(hass, flm03) == {}
    solar = flm03.sensor(port=4, subtype="pplus").id
    # The reversed PV clamp reads its production as pminus, so pplus shows zero.
    assert float(state_of(hass, flm03.device_id, f"power_c{solar}")) == 0


@pytest.mark.parametrize("model", ["FLM02", "FLM03"])
async def test_energy_dashboard_accepts_the_sensors(
    recorder_mock: None, hass: HomeAssistant, model: str
) -> None:
    """Home Assistant's own energy validation finds nothing wrong with the derived totals."""
    assert await async_setup_component(hass, "energy", {})
    sim = FluksoSimulator(model, counter_every=1)
    await sim.start(autorun=False)
    try:
        entry = await add_flukso(hass, sim)
        await tick(hass, sim, entry)
        serial = sim.device_id
        no_price = {"entity_energy_price": None, "number_energy_price": None}
        solar = {
            "type": "solar",
            "stat_energy_from": entity_id(hass, serial, "energy_production"),
            "config_entry_solar_forecast": None,
        }
        if model == "FLM03":
            grid = {
                "type": "grid",
                "flow_from": [
                    {
                        "stat_energy_from": entity_id(hass, serial, "energy_import"),
                        "stat_cost": None,
                        **no_price,
                    }
                ],
                "flow_to": [
                    {
                        "stat_energy_to": entity_id(hass, serial, "energy_export"),
                        "stat_compensation": None,
                        **no_price,
                    }
                ],
                "cost_adjustment_day": 0,
            }
            sources: list[dict[str, object]] = [grid, solar]
            devices: list[dict[str, object]] = []
        else:
            # Without a grid clamp the FLM02 wiring gives production and consumption.
            sources = [solar]
            devices = [{"stat_consumption": entity_id(hass, serial, "energy_consumption")}]
        manager = await energy_data.async_get_manager(hass)
        await manager.async_update({"energy_sources": sources, "device_consumption": devices})
        await tick(hass, sim, entry)
        await async_wait_recording_done(hass)
        now = dt_util.utcnow()
        do_adhoc_statistics(
            hass, start=now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
        )
        await async_wait_recording_done(hass)
        result = (await energy_validate.async_validate(hass)).as_dict()
        assert len(result["energy_sources"]) == len(sources)  # every source was validated
        assert result == {
            "energy_sources": [[] for _ in sources],
            "device_consumption": [[] for _ in devices],
        }
        await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await sim.stop()


async def test_garbage_payloads_change_nothing(
    hass: HomeAssistant, any_model: FluksoSimulator
) -> None:
    entry = await add_flukso(hass, any_model)
    any_model.fault = Fault.GARBAGE
    for _ in range(3):
        await tick(hass, any_model, entry)
        assert totals(hass, any_model) == truth_totals(any_model)
    assert state_of(hass, any_model.device_id, "connected", "binary_sensor") == STATE_ON
    meter, _ = parts(entry)
    assert meter.stats.bad_payloads == 3 * 6
    assert meter.stats.bad_configs == 3
    # Shown to the user, not only in the diagnostics.
    assert state_of(hass, any_model.device_id, "unreadable_messages") == str(3 * 6 + 3)
    assert state_of(hass, any_model.device_id, "wrong_unit_readings") == "0"


async def test_wrong_units_make_the_sensor_unavailable_until_they_are_right(
    hass: HomeAssistant, flm02: FluksoSimulator
) -> None:
    entry = await add_flukso(hass, flm02)
    serial = flm02.device_id
    clamp, water = (s.id for s in flm02.wrong_unit_sensors())
    flm02.fault = Fault.WRONG_UNITS
    for _ in range(2):
        await tick(hass, flm02, entry)
    for key in (f"power_c{clamp}", f"water_flow_c{water}", "power_consumption", "power"):
        assert state_of(hass, serial, key) == STATE_UNAVAILABLE, key
    # What does not depend on the bad sensor carries on, and so does the link.
    assert float(state_of(hass, serial, "power_production")) == flm02.truth.production_w
    assert state_of(hass, serial, "connected", "binary_sensor") == STATE_ON
    # A counter and a repair issue say which sensors are wrong, in which unit.
    meter, _ = parts(entry)
    counted = hass.states.get(entity_id(hass, serial, "wrong_unit_readings"))
    assert counted is not None
    assert counted.state == str(meter.stats.bad_units)
    assert meter.stats.bad_units >= 4  # two gauges a second, the clamp's counter
    wrong = {'Consumption (gauge): "Wh"', 'Consumption (counter): "W"', 'Water (gauge): "m3/h"'}
    assert set(counted.attributes["sensors"].split("; ")) == wrong
    issue_id = f"flukso_wrong_units_{entry.entry_id}"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "flukso_wrong_units"
    assert issue.translation_placeholders is not None
    assert set(issue.translation_placeholders["sensors"].split("; ")) == wrong

    flm02.fault = Fault.NONE
    for _ in range(2):  # the next good counter comes a second later
        await tick(hass, flm02, entry)
    assert totals(hass, flm02) == truth_totals(flm02)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    recovered = hass.states.get(entity_id(hass, serial, "wrong_unit_readings"))
    assert recovered is not None
    assert "sensors" not in recovered.attributes


def _power(hass: HomeAssistant, sim: FluksoSimulator) -> str:
    return state_of(hass, sim.device_id, "power")


def _connected(hass: HomeAssistant, sim: FluksoSimulator) -> str:
    return state_of(hass, sim.device_id, "connected", "binary_sensor")


async def _skip_reconnect_delay(hass: HomeAssistant) -> None:
    # The coordinator sleeps before it reconnects (at most a minute); wake it now.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=61))
    await hass.async_block_till_done()


async def test_silence_makes_entities_unavailable_then_it_reconnects(
    hass: HomeAssistant, flm02: FluksoSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    tune_meters(monkeypatch, settle=0.05, stall_intervals=1)  # silent for a second: stalled
    entry = await add_flukso(hass, flm02)
    _, coordinator = parts(entry)
    flm02.fault = Fault.SILENCE
    # The driver's stall watchdog ends the stream.
    await until(lambda: not coordinator.last_update_success)
    await hass.async_block_till_done()
    assert _power(hass, flm02) == STATE_UNAVAILABLE
    assert _connected(hass, flm02) == STATE_OFF

    flm02.fault = Fault.NONE
    async with pumping(flm02):
        await _skip_reconnect_delay(hass)
        await until(lambda: coordinator.last_update_success)
    await tick(hass, flm02, entry)
    assert coordinator.reconnects >= 1
    assert float(_power(hass, flm02)) == flm02.truth.net_w
    assert _connected(hass, flm02) == STATE_ON


async def test_broker_restart_recovers(hass: HomeAssistant, flm03: FluksoSimulator) -> None:
    entry = await add_flukso(hass, flm03)
    _, coordinator = parts(entry)
    await flm03.restart_broker()
    await until(lambda: not coordinator.last_update_success)
    await hass.async_block_till_done()
    assert _power(hass, flm03) == STATE_UNAVAILABLE
    async with pumping(flm03):
        await _skip_reconnect_delay(hass)
        await until(lambda: coordinator.last_update_success)
    await tick(hass, flm03, entry)
    assert totals(hass, flm03) == truth_totals(flm03)


@pytest.mark.freeze_time("2024-06-01 12:00:00", tick=True)
async def test_repair_issue_after_ten_minutes_down_and_gone_on_recovery(
    hass: HomeAssistant, flm02: FluksoSimulator, freezer: FrozenDateTimeFactory
) -> None:
    entry = await add_flukso(hass, flm02)
    _, coordinator = parts(entry)
    issue_id = f"meter_offline_{entry.entry_id}"
    issues = ir.async_get(hass)
    await flm02.stop()  # the Fluksometer's broker is gone
    await until(lambda: not coordinator.last_update_success)

    freezer.tick(timedelta(minutes=9))
    attempts = coordinator.reconnects
    await _skip_reconnect_delay(hass)
    await until(lambda: coordinator.reconnects > attempts)
    assert issues.async_get_issue(DOMAIN, issue_id) is None

    freezer.tick(timedelta(minutes=2))
    attempts = coordinator.reconnects
    await _skip_reconnect_delay(hass)
    await until(lambda: coordinator.reconnects > attempts)
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "meter_offline"
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["name"] == "Fluksometer FLM02"
    assert _connected(hass, flm02) == STATE_OFF

    await flm02.start(autorun=False)  # back on the same port
    async with pumping(flm02):
        await _skip_reconnect_delay(hass)
        await until(lambda: coordinator.last_update_success)
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    assert _connected(hass, flm02) == STATE_ON


async def test_refused_credentials_start_reauth(hass: HomeAssistant) -> None:
    sim = FluksoSimulator("FLM02", counter_every=2, username="flukso", password="s3cret")
    await sim.start(autorun=False)
    try:
        entry = await add_flukso(hass, sim, username="flukso", password="s3cret")
        _, coordinator = parts(entry)
        sim.password = "changed"
        await sim.restart_broker()
        await until(lambda: not coordinator.last_update_success)
        await _skip_reconnect_delay(hass)
        await until(lambda: any(entry.async_get_active_flows(hass, {SOURCE_REAUTH})))
        flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        assert [flow["step_id"] for flow in flows] == ["flukso_reauth_confirm"]
        await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await sim.stop()


async def test_unload_leaves_no_task_and_no_connection(
    hass: HomeAssistant, flm02: FluksoSimulator
) -> None:
    entry = await add_flukso(hass, flm02)
    for _ in range(2):
        async with pumping(flm02):
            assert await hass.config_entries.async_reload(entry.entry_id)
            await hass.async_block_till_done()
    meter, _ = parts(entry)
    stream_name = f"wattkeeper stream {flm02.device_id}"
    assert [t.get_name() for t in asyncio.all_tasks() if "wattkeeper" in t.get_name()] == [
        stream_name
    ]
    # Reloads replaced the connection: one client is left, the entry's.
    await until(lambda: len(flm02.connected_clients()) == 1)
    assert meter.connected
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert not [t for t in asyncio.all_tasks() if "wattkeeper" in t.get_name()]
    assert _power(hass, flm02) == STATE_UNAVAILABLE
    # The driver let go of its connection, and the broker sees no client left.
    assert not meter.connected
    await until(lambda: not flm02.connected_clients())
