"""Each data-quality check through Home Assistant: the "data quality" binary
sensor, the `wattkeeper_data_quality` events and the repair issue, from the
first failing reading until the problem clears."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import async_capture_events

from custom_components.wattkeeper.const import DOMAIN
from custom_components.wattkeeper.meters.model import Quantity, QuantityKey
from custom_components.wattkeeper.quality_glue import EVENT_DATA_QUALITY
from simulators.homewizard import Fault, HomeWizardSimulator

from .quality_support import (
    CRAFTED,
    CraftedMeter,
    Feeder,
    Values,
    add_crafted_entry,
    add_homewizard_entry,
    advance,
    entity_id,
)

CONSUMPTION = QuantityKey(Quantity.POWER_CONSUMPTION)
PV = QuantityKey(Quantity.PV_POWER)
VOLTAGE = QuantityKey(Quantity.VOLTAGE, phase=1)
IMPORT = QuantityKey(Quantity.ENERGY_IMPORT)


def quality_entity(hass: HomeAssistant, serial: str = CRAFTED.serial) -> str:
    return entity_id(hass, f"{serial}_data_quality", "binary_sensor")


def wiggle(sim: HomeWizardSimulator, step: int) -> None:
    """Move the per-phase values, which the twin keeps constant."""
    data = sim.fixture["data"]
    for phase in (1, 2, 3):
        data[f"active_voltage_l{phase}_v"] = 229.0 + step + phase / 10
        data[f"active_power_l{phase}_w"] = 100.0 + step + phase


def transitions(events: list[Event], check: str) -> list[str]:
    return [e.data["transition"] for e in events if e.data["check"] == check]


@dataclass
class Scenario:
    """Readings that fail one check, then readings that clear it.

    `readings()` gives fresh (bad, good) functions of the step number, which
    counts on across the phases of a test.
    """

    check: str
    series: str
    readings: Callable[[], tuple[Values, Values]]
    issue_key: str
    # How the binary sensor and the events word it (the issue's title).
    message: str
    sun: float | None = None
    placeholders: dict[str, str] = field(default_factory=dict)


def _pair(bad: Values, good: Values) -> Callable[[], tuple[Values, Values]]:
    return lambda: (bad, good)


def _jumping_counter() -> tuple[Values, Values]:
    """A counter growing a little each step; while bad, 70 kWh more every 10
    minutes (more than a 60 kWh/h connection can deliver)."""
    total = [1000.0]
    bad_steps = [0]

    def bad(step: int) -> dict[QuantityKey, float]:
        total[0] += 0.01 + (70.0 if bad_steps[0] % 20 == 0 else 0.0)
        bad_steps[0] += 1
        return {IMPORT: round(total[0], 3)}

    def good(step: int) -> dict[QuantityKey, float]:
        total[0] += 0.01
        return {IMPORT: round(total[0], 3)}

    return bad, good


SCENARIOS = [
    Scenario(
        check="impossible_sign",
        series="power_consumption",
        # Moving a little: a value that stays put is another problem (stuck).
        readings=_pair(
            lambda i: {CONSUMPTION: -250.0 - i % 5}, lambda i: {CONSUMPTION: 250.0 + i % 5}
        ),
        issue_key="data_quality_impossible_sign",
        message="Crafted meter: Consumption power has the wrong sign",
        placeholders={"unit": "W"},
    ),
    Scenario(
        check="pv_at_night",
        series="pv_power",
        readings=_pair(lambda i: {PV: 800.0}, lambda i: {PV: 0.0}),
        issue_key="data_quality_pv_at_night",
        message="Crafted meter: solar production at night",
        sun=-12.5,
        placeholders={"value": "800", "elevation": "-12.5"},
    ),
    Scenario(
        check="stuck_value",
        series="voltage_l1",
        readings=_pair(lambda i: {VOLTAGE: 230.0}, lambda i: {VOLTAGE: 229.0 + (i % 7) / 10}),
        issue_key="data_quality_stuck_value",
        message="Crafted meter: Voltage phase 1 does not change",
        placeholders={"value": "230", "minutes": "30"},
    ),
    Scenario(
        check="counter_jump",
        series="energy_import",
        readings=_jumping_counter,
        issue_key="data_quality_counter_jump",
        message="Crafted meter: Energy import jumped",
        placeholders={"max_rate_per_hour": "60"},
    ),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.check)
async def test_check_fails_persists_and_clears(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
    scenario: Scenario,
) -> None:
    if scenario.sun is not None:
        hass.states.async_set("sun.sun", "below_horizon", {"elevation": scenario.sun})
    bad, good = scenario.readings()
    meter = CraftedMeter(CRAFTED, good(0))
    entry = await add_crafted_entry(hass, monkeypatch, meter)
    feed = Feeder(hass, freezer, meter)
    events = async_capture_events(hass, EVENT_DATA_QUALITY)
    sensor = quality_entity(hass)
    await feed.run(good, timedelta(minutes=2))
    assert hass.states.get(sensor).state == STATE_OFF

    # Failing: the sensor turns on at once, the repair issue after an hour.
    await feed.run(bad, timedelta(minutes=35))
    state = hass.states.get(sensor)
    assert state.state == STATE_ON
    assert [(f["check"], f["series"], f["message"]) for f in state.attributes["failing"]] == [
        (scenario.check, scenario.series, scenario.message)
    ]
    assert state.attributes["persistent"] == []
    key = f"{scenario.check}:{scenario.series}"
    issue_id = f"data_quality_{entry.entry_id}_{CRAFTED.serial}_{key}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    await feed.run(bad, timedelta(minutes=30))
    assert hass.states.get(sensor).attributes["persistent"] == [key]
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == scenario.issue_key
    assert not issue.is_fixable
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["name"] == CRAFTED.name
    assert scenario.placeholders.items() <= issue.translation_placeholders.items()
    assert transitions(events, scenario.check) == ["started", "persistent"]

    # Cleared: sensor off, an event, the issue gone.
    await feed.run(good, timedelta(minutes=20))
    assert hass.states.get(sensor).state == STATE_OFF
    assert hass.states.get(sensor).attributes["failing"] == []
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    assert transitions(events, scenario.check) == ["started", "persistent", "cleared"]
    assert {e.data["message"] for e in events} == {scenario.message}
    # Nothing else fired on the way: one problem, one story.
    assert {e.data["check"] for e in events} == {scenario.check}
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, CRAFTED.serial)})
    assert device is not None
    assert {e.data["device_id"] for e in events} == {device.id}
    assert {e.data["entry_id"] for e in events} == {entry.entry_id}


async def test_no_pv_alarm_by_day_or_without_a_sun(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    meter = CraftedMeter(CRAFTED, {PV: 800.0})
    await add_crafted_entry(hass, monkeypatch, meter)
    feed = Feeder(hass, freezer, meter)
    events = async_capture_events(hass, EVENT_DATA_QUALITY)
    # No sun.sun entity: the check cannot tell night from day and stays silent.
    await feed.run(lambda i: {PV: 800.0}, timedelta(minutes=10))
    hass.states.async_set("sun.sun", "above_horizon", {"elevation": 35.0})
    await feed.run(lambda i: {PV: 800.0}, timedelta(minutes=10))
    # Night, and the panels read zero.
    hass.states.async_set("sun.sun", "below_horizon", {"elevation": -20.0})
    await feed.run(lambda i: {PV: 0.0}, timedelta(minutes=10))
    assert hass.states.get(quality_entity(hass)).state == STATE_OFF
    assert events == []


async def test_counter_reset_at_a_meter_swap_is_a_notice(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    meter = CraftedMeter(CRAFTED, {IMPORT: 5000.0})
    await add_crafted_entry(hass, monkeypatch, meter)
    feed = Feeder(hass, freezer, meter)
    events = async_capture_events(hass, EVENT_DATA_QUALITY)
    await feed.run(lambda i: {IMPORT: 5000.5}, timedelta(minutes=1))
    await feed.run(lambda i: {IMPORT: 0.2 + 0.01 * i}, timedelta(minutes=2))
    assert hass.states.get(quality_entity(hass)).state == STATE_OFF
    assert [(e.data["check"], e.data["transition"]) for e in events] == [
        ("counter_reset", "notice")
    ]
    assert events[0].data["placeholders"]["previous"] == "5000.5"
    assert events[0].data["message"] == (
        "Crafted meter: Energy import started again at 0.22 kWh (it read 5000.5 kWh);"
        " the meter was probably replaced"
    )


async def test_gap_on_the_homewizard_twin(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    homewizard_sim: HomeWizardSimulator,
) -> None:
    """The twin refuses to answer: a gap, a repair issue after 30 minutes, then recovery.

    (It refuses in a way the driver does not retry: retries sleep, and the
    frozen clock only moves when the test moves it.)
    """
    entry = await add_homewizard_entry(hass, homewizard_sim, scan_interval=5)
    serial = homewizard_sim.device["serial"]
    sensor = quality_entity(hass, serial)
    events = async_capture_events(hass, EVENT_DATA_QUALITY)
    homewizard_sim.fault = Fault.API_DISABLED
    for _ in range(6):
        await advance(hass, freezer, timedelta(seconds=10))
    assert hass.states.get(sensor).state == STATE_ON
    assert hass.states.get(sensor).attributes["failing"][0]["check"] == "gap"
    issue_id = f"data_quality_{entry.entry_id}_{serial}_gap"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    await advance(hass, freezer, timedelta(minutes=30))
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "data_quality_gap"
    assert issue.severity is ir.IssueSeverity.ERROR
    homewizard_sim.fault = Fault.NONE
    homewizard_sim.step(5)
    # The twin's voltages never move; a real meter's do (or they would be stuck).
    wiggle(homewizard_sim, 5)
    await advance(hass, freezer, timedelta(seconds=5))
    assert hass.states.get(sensor).state == STATE_OFF
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    assert transitions(events, "gap") == ["started", "persistent", "cleared"]


async def test_stuck_twin_values_and_a_sub_meter_of_its_own(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    homewizard_sim: HomeWizardSimulator,
) -> None:
    """A P1 whose readings freeze is stuck; its gas meter has a sensor of its own."""
    await add_homewizard_entry(hass, homewizard_sim, scan_interval=60)
    serial = homewizard_sim.device["serial"]
    sensor = quality_entity(hass, serial)
    gas = quality_entity(hass, "G0039001652050216")
    for _ in range(31):
        await advance(hass, freezer, timedelta(minutes=1))
    failing: list[dict[str, Any]] = hass.states.get(sensor).attributes["failing"]
    assert {f["check"] for f in failing} == {"stuck_value"}
    assert {"power", "voltage_l1"} <= {f["series"] for f in failing}
    assert hass.states.get(gas).state == STATE_OFF
    for minute in range(2):
        homewizard_sim.step(60)
        wiggle(homewizard_sim, minute)
        await advance(hass, freezer, timedelta(minutes=1))
    assert hass.states.get(sensor).state == STATE_OFF


async def test_a_jump_on_a_twin_polled_every_second(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    homewizard_sim: HomeWizardSimulator,
) -> None:
    """5 kWh within 10 s on a 1 s P1: reported, though far below an hour's worth."""
    await add_homewizard_entry(hass, homewizard_sim, scan_interval=1)
    serial = homewizard_sim.device["serial"]
    sensor = quality_entity(hass, serial)
    events = async_capture_events(hass, EVENT_DATA_QUALITY)
    for second in range(30):
        homewizard_sim.step(1)
        wiggle(homewizard_sim, second)
        await advance(hass, freezer, timedelta(seconds=1))
    assert hass.states.get(sensor).state == STATE_OFF
    data = homewizard_sim.fixture["data"]
    for key in ("total_power_import_kwh", "total_power_import_t1_kwh"):
        data[key] += 5.0
    for second in range(10):
        homewizard_sim.step(1)
        wiggle(homewizard_sim, second)
        await advance(hass, freezer, timedelta(seconds=1))
    failing = hass.states.get(sensor).attributes["failing"]
    assert {(f["check"], f["series"]) for f in failing} == {
        ("counter_jump", "energy_import"),
        ("counter_jump", "energy_import_t1"),
    }
    assert set(transitions(events, "counter_jump")) == {"started"}


async def test_findings_are_worded_in_home_assistants_language(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    homewizard_sim: HomeWizardSimulator,
) -> None:
    hass.config.language = "nl"
    await add_homewizard_entry(hass, homewizard_sim, scan_interval=5)
    sensor = quality_entity(hass, homewizard_sim.device["serial"])
    events = async_capture_events(hass, EVENT_DATA_QUALITY)
    homewizard_sim.fault = Fault.API_DISABLED
    for _ in range(6):
        await advance(hass, freezer, timedelta(seconds=10))
    (failing,) = hass.states.get(sensor).attributes["failing"]
    assert failing["message"] == "P1 meter meldt zich niet meer"
    assert [e.data["message"] for e in events] == ["P1 meter meldt zich niet meer"]
