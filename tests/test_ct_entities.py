"""CT clamps in Home Assistant on the MCP3208 twin: entities, ground truth, export,
energy across restarts, the calibrate action and the SPI repair issue."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components.recorder import Recorder
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.entity import Entity
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.wattkeeper.const import DOMAIN
from custom_components.wattkeeper.ct_meter import (
    SAVE_INTERVAL_S,
    CtEntryMeter,
    clipping_issue_id,
    spi_issue_id,
)
from custom_components.wattkeeper.ct_settings import (
    CONF_CALIBRATION,
    CONF_CHANNELS,
    CONF_PHASE_OFFSET_DEG,
)
from custom_components.wattkeeper.meters.model import Quantity
from simulators.mcp3208 import Fault, Signal

from .ct_twin import (
    DEVICE_ID,
    ENTRY_ID,
    FakeRequirements,
    TwinBus,
    break_spi,
    current,
    entity_id,
    fake_requirements,
    installed_twin,
    mock_entry,
    options,
    state,
    value,
    wired_config,
)

STORE_KEY = f"{DOMAIN}.ct_energy.{ENTRY_ID}"
ENERGY = (
    (Quantity.ENERGY_IMPORT, 1),
    (Quantity.ENERGY_EXPORT, 1),
    (Quantity.ENERGY_IMPORT, 2),
    (Quantity.ENERGY_EXPORT, 2),
    (Quantity.ENERGY_IMPORT, 3),
)


@pytest.fixture(autouse=True)
def requirements(monkeypatch: pytest.MonkeyPatch) -> FakeRequirements:
    return fake_requirements(monkeypatch)


@pytest.fixture
def twin(tmp_path: Path) -> Iterator[TwinBus]:
    with installed_twin(tmp_path) as bus:
        yield bus


async def _setup(hass: HomeAssistant, **option_overrides: Any) -> ConfigEntry:
    mock = mock_entry(**option_overrides)
    mock.add_to_hass(hass)
    entry: ConfigEntry = mock
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def _poll(hass: HomeAssistant, times: int = 1) -> None:
    for _ in range(times):
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=1))
        # The frame is sampled in the driver's worker thread.
        await hass.async_block_till_done(wait_background_tasks=True)


def _meter(entry: ConfigEntry) -> CtEntryMeter:
    meter = entry.runtime_data.meter
    assert isinstance(meter, CtEntryMeter)
    return meter


def _energy(hass: HomeAssistant) -> list[float]:
    return [value(hass, quantity, channel) for quantity, channel in ENERGY]


async def test_entities(hass: HomeAssistant, twin: TwinBus, snapshot: SnapshotAssertion) -> None:
    entry = await _setup(hass)
    # The meter's own series and its link; other features' entities have their own tests.
    ours = {f"{DEVICE_ID}_{key.id}" for key in entry.runtime_data.coordinator.data.values}
    ours.add(f"{DEVICE_ID}_connected")
    entities = sorted(
        (
            e
            for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
            if e.unique_id in ours
        ),
        key=lambda e: e.entity_id,
    )
    assert len(entities) == len(ours)
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
    # Readings carry ADC noise: the snapshot holds what they are, the values are checked below.
    assert {
        e.entity_id: dict(state.attributes)
        for e in entities
        if (state := hass.states.get(e.entity_id)) is not None
    } == snapshot(name="state-attributes")
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, DEVICE_ID)})
    assert device is not None
    assert {
        "name": device.name,
        "manufacturer": device.manufacturer,
        "model": device.model,
        "serial_number": device.serial_number,
    } == snapshot(name="device")


async def test_values_match_ground_truth(
    hass: HomeAssistant, twin: TwinBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Apparent power and power factor are disabled by default; this test reads them.
    monkeypatch.setattr(Entity, "entity_registry_enabled_default", property(lambda _: True))
    sim = twin.sim
    await _setup(hass)
    await _poll(hass, 2)
    assert value(hass, Quantity.VOLTAGE, 0) == pytest.approx(sim.true_rms(0), rel=0.005)
    for channel in (1, 2, 3):
        assert value(hass, Quantity.CURRENT, channel) == pytest.approx(
            sim.true_rms(channel), rel=0.005
        )
    for channel in (1, 2):
        assert value(hass, Quantity.POWER, channel) == pytest.approx(
            sim.true_power(0, channel), rel=0.005
        )
        assert value(hass, Quantity.POWER_FACTOR, channel) == pytest.approx(
            sim.true_power_factor(0, channel), abs=0.01
        )
    # The inductive, harmonic-rich house circuit: real power well below apparent.
    assert value(hass, Quantity.APPARENT_POWER, 1) == pytest.approx(
        sim.true_rms(0) * sim.true_rms(1), rel=0.005
    )
    # Clamp-only: nominal voltage times current, unsigned.
    assert value(hass, Quantity.POWER, 3) == pytest.approx(230.0 * sim.true_rms(3), rel=0.005)
    # The mains frequency measured on the voltage input (disabled by default).
    frequency = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"{DEVICE_ID}_frequency")
    assert frequency is not None
    measured = hass.states.get(frequency)
    assert measured is not None
    assert float(measured.state) == pytest.approx(sim.mains_hz, abs=0.005)


async def test_export_sign_and_energy(hass: HomeAssistant, twin: TwinBus) -> None:
    entry = await _setup(hass)
    meter = _meter(entry)
    result = meter.driver.last_result
    assert result is not None
    first_mid = result.mid_time
    await _poll(hass, 4)
    result = meter.driver.last_result
    assert result is not None
    elapsed_h = (result.mid_time - first_mid) / 3600

    # Solar feeding back reads negative and counts as export only.
    assert value(hass, Quantity.POWER, 2) == pytest.approx(-230.0 * 6.0, rel=0.005)
    assert value(hass, Quantity.ENERGY_IMPORT, 2) == 0.0
    assert value(hass, Quantity.ENERGY_EXPORT, 2) == pytest.approx(
        -twin.sim.true_power(0, 2) * elapsed_h / 1000, rel=0.005
    )
    assert value(hass, Quantity.ENERGY_IMPORT, 1) == pytest.approx(
        twin.sim.true_power(0, 1) * elapsed_h / 1000, rel=0.005
    )
    assert value(hass, Quantity.ENERGY_EXPORT, 1) == 0.0
    # A clamp without a voltage input cannot tell direction: no export counter.
    registry = er.async_get(hass)
    assert registry.async_get_entity_id("sensor", DOMAIN, f"{DEVICE_ID}_energy_export_c3") is None
    state = hass.states.get(entity_id(hass, Quantity.ENERGY_IMPORT, 1))
    assert state is not None
    assert state.attributes["state_class"] == "total_increasing"
    assert state.attributes["device_class"] == "energy"


async def test_energy_restored_from_before_a_restart(
    hass: HomeAssistant, twin: TwinBus, hass_storage: dict[str, Any]
) -> None:
    """What the last session saved is where counting goes on, not zero."""
    hass_storage[STORE_KEY] = {
        "version": 1,
        "minor_version": 1,
        "key": STORE_KEY,
        "data": {
            "1": {"import_kwh": 1234.5, "export_kwh": 0.25},
            "2": {"import_kwh": 3.0, "export_kwh": 876.5},
            "3": {"import_kwh": 42.0, "export_kwh": 0.0},
            # A clamp that is not configured now keeps its totals for later.
            "6": {"import_kwh": 7.0, "export_kwh": 0.0},
        },
    }
    entry = await _setup(hass)
    assert _energy(hass) == [1234.5, 0.25, 3.0, 876.5, 42.0]
    await _poll(hass, 2)
    after = _energy(hass)
    assert after[0] > 1234.5
    assert after[3] > 876.5
    assert after[1] == 0.25
    assert after[2] == 3.0

    assert await hass.config_entries.async_unload(entry.entry_id)
    saved = hass_storage[STORE_KEY]["data"]
    assert saved["1"]["import_kwh"] == pytest.approx(after[0])
    assert saved["2"]["export_kwh"] == pytest.approx(after[3])
    assert saved["6"] == {"import_kwh": 7.0, "export_kwh": 0.0}


async def test_restart_after_a_crash_never_steps_back(
    recorder_mock: Recorder, hass: HomeAssistant, twin: TwinBus, hass_storage: dict[str, Any]
) -> None:
    """Home Assistant crashed: its last minutely save was behind what the sensors
    showed, and the recorder kept. Each total restarts from the larger of the two."""
    entry = mock_entry()
    entry.add_to_hass(hass)
    registry = er.async_get(hass)
    # What the sensors showed last (one shown in Wh by the user's choice) and the recorder kept.
    shown = {
        "energy_import_c1": ("1234.6", "kWh"),
        "energy_export_c2": ("876600", "Wh"),
        "energy_import_c3": ("41.9", "kWh"),
    }
    for key, (reading, unit) in shown.items():
        registered = registry.async_get_or_create(
            "sensor", DOMAIN, f"{DEVICE_ID}_{key}", config_entry=entry
        )
        hass.states.async_set(
            registered.entity_id,
            reading,
            {"unit_of_measurement": unit, "device_class": "energy"},
        )
        await async_wait_recording_done(hass)
        # The placeholder Home Assistant writes at start for entities not yet set up.
        hass.states.async_set(registered.entity_id, STATE_UNAVAILABLE, {"restored": True})
    await async_wait_recording_done(hass)
    hass_storage[STORE_KEY] = {
        "version": 1,
        "minor_version": 1,
        "key": STORE_KEY,
        "data": {
            "1": {"import_kwh": 1234.5, "export_kwh": 0.25},
            "2": {"import_kwh": 3.0, "export_kwh": 876.5},
            "3": {"import_kwh": 42.0, "export_kwh": 0.0},
        },
    }
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert _energy(hass) == pytest.approx([1234.6, 0.25, 3.0, 876.6, 42.0])
    await _poll(hass)
    after = _energy(hass)
    assert after[0] > 1234.6
    assert after[3] > 876.6
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert hass_storage[STORE_KEY]["data"]["1"]["import_kwh"] == pytest.approx(after[0])


async def test_energy_survives_reload_and_stays_monotonic(
    hass: HomeAssistant, twin: TwinBus, hass_storage: dict[str, Any]
) -> None:
    entry = await _setup(hass)
    seen = [_energy(hass)]
    for _ in range(3):
        await _poll(hass)
        seen.append(_energy(hass))
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert STORE_KEY in hass_storage

    # Home Assistant comes back: the entry is set up again with a new driver.
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    seen.append(_energy(hass))
    for _ in range(2):
        await _poll(hass)
        seen.append(_energy(hass))
    for before, after in itertools.pairwise(seen):
        assert all(b <= a for b, a in zip(before, after, strict=True)), (before, after)
    assert seen[-1][0] > seen[3][0] > 0  # house import went on growing
    assert seen[-1][3] > seen[3][3] > 0  # solar export too


async def test_energy_saved_while_running(
    hass: HomeAssistant, twin: TwinBus, hass_storage: dict[str, Any]
) -> None:
    """Totals reach the disk every minute while readings go on, not only at a clean
    shutdown: a crash loses at most that minute."""
    await _setup(hass)
    await _poll(hass, 3)
    assert STORE_KEY not in hass_storage
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=SAVE_INTERVAL_S + 1))
    await hass.async_block_till_done(wait_background_tasks=True)
    saved = hass_storage[STORE_KEY]["data"]
    assert saved["1"]["import_kwh"] > 0
    assert saved["2"]["export_kwh"] > 0


async def test_energy_written_when_home_assistant_stops(
    hass: HomeAssistant, twin: TwinBus, hass_storage: dict[str, Any]
) -> None:
    await _setup(hass)
    await _poll(hass, 2)
    imported = value(hass, Quantity.ENERGY_IMPORT, 1)
    await hass.async_stop()
    assert hass_storage[STORE_KEY]["data"]["1"]["import_kwh"] == pytest.approx(imported)
    assert twin.sim.opened is None  # the bus was released


async def test_calibrate_power_from_a_sensor(hass: HomeAssistant, twin: TwinBus) -> None:
    """The clamp reads 5 % high; one reference reading fixes it and the next reading agrees."""
    entry = await _setup(hass, house_calibration=1.05)
    truth = twin.sim.true_power(0, 1)
    assert value(hass, Quantity.POWER, 1) == pytest.approx(truth * 1.05, rel=0.005)
    await _poll(hass)
    imported = value(hass, Quantity.ENERGY_IMPORT, 1)

    await hass.services.async_call(
        DOMAIN,
        "calibrate",
        {
            "entity_id": entity_id(hass, Quantity.POWER, 1),
            "target": "power",
            "reference": truth,
        },
        blocking=True,
    )
    await hass.async_block_till_done()
    factor = entry.options[CONF_CHANNELS]["1"][CONF_CALIBRATION]
    assert factor == pytest.approx(1.0, rel=0.005)
    assert entry.state is ConfigEntryState.LOADED
    # The reload read a frame with the new factor; the energy counter carried over.
    assert value(hass, Quantity.POWER, 1) == pytest.approx(truth, rel=0.005)
    assert value(hass, Quantity.ENERGY_IMPORT, 1) >= imported > 0


async def test_calibrate_voltage_by_device_and_channel(hass: HomeAssistant, twin: TwinBus) -> None:
    entry = await _setup(hass, voltage_calibration=0.97)
    assert value(hass, Quantity.VOLTAGE, 0) == pytest.approx(230.0 * 0.97, rel=0.005)
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, DEVICE_ID)})
    assert device is not None
    await hass.services.async_call(
        DOMAIN,
        "calibrate",
        {"device_id": device.id, "channel": 0, "target": "voltage", "reference": 230.0},
        blocking=True,
    )
    await hass.async_block_till_done()
    assert entry.options[CONF_CHANNELS]["0"][CONF_CALIBRATION] == pytest.approx(1.0, rel=0.005)
    assert value(hass, Quantity.VOLTAGE, 0) == pytest.approx(230.0, rel=0.005)


async def test_calibrate_phase_on_a_resistive_load(
    hass: HomeAssistant, twin: TwinBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clamp on CH4 carries a kettle (PF 1) but its phase correction is 8° off:
    one phase reference sets it right, and the power factor then reads 1."""
    monkeypatch.setattr(Entity, "entity_registry_enabled_default", property(lambda _: True))
    channels = {**options()[CONF_CHANNELS], "4": current(0, phase_offset_deg=8.0)}
    entry = await _setup(hass, channels=channels)
    assert value(hass, Quantity.POWER_FACTOR, 4) == pytest.approx(
        math.cos(math.radians(8)), abs=0.002
    )

    await hass.services.async_call(
        DOMAIN,
        "calibrate",
        {
            "entity_id": entity_id(hass, Quantity.POWER, 4),
            "target": "phase",
            "reference": 1.0,
        },
        blocking=True,
    )
    await hass.async_block_till_done()
    assert entry.options[CONF_CHANNELS]["4"][CONF_PHASE_OFFSET_DEG] == pytest.approx(0.0, abs=0.1)
    # The other settings of the input stay as they were.
    assert entry.options[CONF_CHANNELS]["4"][CONF_CALIBRATION] == 1.0
    assert entry.state is ConfigEntryState.LOADED
    # Within 0.002: interpolating the voltage between samples costs about 0.1 %.
    assert value(hass, Quantity.POWER_FACTOR, 4) == pytest.approx(1.0, abs=0.002)
    assert value(hass, Quantity.POWER, 4) == pytest.approx(230.0 * 3.0, rel=0.005)


@pytest.mark.parametrize(
    ("call", "key"),
    [
        ({"channel": 1, "target": "voltage", "reference": 230.0}, "calibrate_wrong_channel"),
        ({"channel": 1, "target": "power", "reference": 2_000_000.0}, "calibrate_out_of_range"),
        ({"channel": 5, "target": "current", "reference": 1.0}, "calibrate_wrong_channel"),
        ({"target": "power", "reference": 100.0}, "calibrate_channel_required"),
        ({"channel": 3, "target": "phase", "reference": 1.0}, "calibrate_phase_needs_voltage"),
        ({"channel": 1, "target": "phase", "reference": 1.5}, "calibrate_bad_power_factor"),
        ({"channel": 2, "target": "phase", "reference": 1.0}, "calibrate_out_of_range"),
    ],
)
async def test_calibrate_errors_are_translated(
    hass: HomeAssistant, twin: TwinBus, call: dict[str, Any], key: str
) -> None:
    entry = await _setup(hass)
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, DEVICE_ID)})
    assert device is not None
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "calibrate", {"device_id": device.id, **call}, blocking=True
        )
    assert err.value.translation_key == key
    assert entry.options[CONF_CHANNELS]["1"][CONF_CALIBRATION] == 1.0


async def test_calibrate_needs_a_fresh_reading(hass: HomeAssistant, twin: TwinBus) -> None:
    await _setup(hass)
    twin.sim.fault = Fault.IO_ERROR
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN,
            "calibrate",
            {
                "entity_id": entity_id(hass, Quantity.CURRENT, 1),
                "target": "current",
                "reference": 10.0,
            },
            blocking=True,
        )
    assert err.value.translation_key == "calibrate_no_reading"


@pytest.mark.parametrize("reason", ["not_a_pi", "spi_disabled", "spi_permission"])
async def test_spi_missing_at_setup_raises_a_repair_issue(
    hass: HomeAssistant,
    twin: TwinBus,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    reason: str,
) -> None:
    """After an OS upgrade SPI is gone: retry later, and tell the user what to do."""
    break_spi(monkeypatch, tmp_path, reason)
    twin.broken = True
    entry = mock_entry()
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    issue = ir.async_get(hass).async_get_issue(DOMAIN, spi_issue_id(entry.entry_id))
    assert issue is not None
    assert issue.translation_key == f"ct_{reason}"
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["address"] == "spi0.0"

    twin.broken = False  # SPI enabled again
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, spi_issue_id(entry.entry_id)) is None


async def test_spidev_not_installable_at_setup(
    hass: HomeAssistant, twin: TwinBus, requirements: FakeRequirements
) -> None:
    """spidev is not in the manifest; when pip cannot install it, the entry retries
    later and the SPI repair issue says what is missing."""
    requirements.fail = True
    entry = mock_entry()
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert requirements.asked == [("wattkeeper.spidev", ["spidev>=3.6,<4"])]
    assert twin.opened == []  # the bus was not tried without spidev
    issue = ir.async_get(hass).async_get_issue(DOMAIN, spi_issue_id(entry.entry_id))
    assert issue is not None
    assert issue.translation_key == "ct_not_a_pi"
    assert issue.translation_placeholders is not None
    assert "spidev could not be installed" in issue.translation_placeholders["error"]

    requirements.fail = False
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert ir.async_get(hass).async_get_issue(DOMAIN, spi_issue_id(entry.entry_id)) is None


async def test_spi_lost_while_running(
    hass: HomeAssistant, twin: TwinBus, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    entry = await _setup(hass)
    break_spi(monkeypatch, tmp_path, "spi_disabled")
    twin.broken = True
    # The transfer fails, the driver drops the handle, and reopening finds no SPI.
    twin.sim.fault = Fault.IO_ERROR
    await _poll(hass)
    twin.sim.fault = Fault.NONE
    await _poll(hass)
    assert state(hass, Quantity.POWER, 1) == STATE_UNAVAILABLE
    issue = ir.async_get(hass).async_get_issue(DOMAIN, spi_issue_id(entry.entry_id))
    assert issue is not None
    assert issue.translation_key == "ct_spi_disabled"

    twin.broken = False
    await _poll(hass)
    assert state(hass, Quantity.POWER, 1) != STATE_UNAVAILABLE
    assert ir.async_get(hass).async_get_issue(DOMAIN, spi_issue_id(entry.entry_id)) is None


async def test_clipping_raises_a_repair_issue_while_it_lasts(
    hass: HomeAssistant, twin: TwinBus
) -> None:
    """A 120 A load on the 100 A clamp of CH1 clips the ADC: its readings go
    unavailable and a repair issue names the input until the load is gone."""
    entry = await _setup(hass)
    issue_id = clipping_issue_id(entry.entry_id)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    normal = twin.sim.signals[1]
    overload = Signal.sine(120.0, units_per_code=wired_config().units_per_code(1), noise_codes=0.5)

    twin.sim.set_signal(1, overload)
    await _poll(hass)
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "ct_clipping"
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue.translation_placeholders == {"name": "CT clamps spi0.0", "channels": "CH1"}
    assert state(hass, Quantity.CURRENT, 1) == STATE_UNAVAILABLE
    assert state(hass, Quantity.CURRENT, 2) != STATE_UNAVAILABLE
    await _poll(hass)  # still clipping: still one issue
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None

    twin.sim.set_signal(1, normal)
    await _poll(hass)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    assert value(hass, Quantity.CURRENT, 1) == pytest.approx(twin.sim.true_rms(1), rel=0.005)

    # Clipping when the entry unloads: nothing is measured any more, so no issue either.
    twin.sim.set_signal(1, overload)
    await _poll(hass)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_clamp_only_voltage_from_another_entity(hass: HomeAssistant, twin: TwinBus) -> None:
    hass.states.async_set(
        "sensor.grid_voltage", "0.241", {"unit_of_measurement": "kV", "device_class": "voltage"}
    )
    await _setup(hass, clamp_voltage="external", voltage_entity="sensor.grid_voltage")
    assert value(hass, Quantity.POWER, 3) == pytest.approx(241.0 * 7.0, rel=0.005)
    # The other sensor goes away: current still, power unknown until it returns.
    hass.states.async_set("sensor.grid_voltage", STATE_UNAVAILABLE)
    await _poll(hass)
    assert state(hass, Quantity.POWER, 3) == STATE_UNAVAILABLE
    assert value(hass, Quantity.CURRENT, 3) == pytest.approx(7.0, rel=0.005)
    hass.states.async_set("sensor.grid_voltage", "229", {"unit_of_measurement": "V"})
    await _poll(hass)
    assert value(hass, Quantity.POWER, 3) == pytest.approx(229.0 * 7.0, rel=0.005)
