"""The blueprints at work: each is loaded by Home Assistant's blueprint
integration, instantiated as an automation on Wattkeeper entities of the
HomeWizard twin, and its actions fire (or not) as simulated readings go by.
Notification and switch actions go to mocked services.

Blueprint 4 (recorder backlog / database unreachable) is not run here: the
external recorder's entities it watches are being built separately.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import async_import_statistics
from homeassistant.const import STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    async_fire_time_changed,
    async_mock_service,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from simulators.homewizard import Fault, HomeWizardSimulator

from .quality_support import P1DemandRegister, add_homewizard_entry, advance, entity_id

BLUEPRINTS = Path(__file__).parents[1] / "blueprints" / "automation" / "wattkeeper"
ZONE = "Europe/Brussels"
NOTIFY = [{"action": "notify.test", "data": {"title": "{{ title }}", "message": "{{ message }}"}}]


@pytest.fixture(autouse=True)
def blueprint_folder(hass: HomeAssistant, tmp_path: Path) -> None:
    """Home Assistant finds blueprints under <config>/blueprints/automation/."""
    shutil.copytree(BLUEPRINTS, tmp_path / "blueprints" / "automation" / "wattkeeper")
    hass.config.config_dir = str(tmp_path)


@pytest.fixture(autouse=True)
async def stop_automations(hass: HomeAssistant) -> AsyncIterator[None]:
    """Automations keep their triggers (and `for:` timers) armed; disarm them."""
    yield
    if hass.services.has_service("automation", "turn_off"):
        await hass.services.async_call(
            "automation", "turn_off", {"entity_id": "all"}, blocking=True
        )


@pytest.fixture
async def homeassistant_actions(hass: HomeAssistant) -> None:
    """homeassistant.turn_on/off, which the blueprints use to switch any load."""
    assert await async_setup_component(hass, "homeassistant", {})


async def use_blueprint(hass: HomeAssistant, name: str, inputs: dict[str, Any]) -> str:
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": [
                {
                    "id": name,
                    "alias": name,
                    "use_blueprint": {"path": f"wattkeeper/{name}.yaml", "input": inputs},
                }
            ]
        },
    )
    await hass.async_block_till_done()
    automation = f"automation.{name}"
    state = hass.states.get(automation)
    assert state is not None
    assert state.state == STATE_ON, state
    return automation


def messages(calls: list[ServiceCall]) -> list[tuple[str, str]]:
    return [(c.data["title"].strip(), " ".join(c.data["message"].split())) for c in calls]


async def test_meter_problem_notify(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, homewizard_sim: HomeWizardSimulator
) -> None:
    entry = await add_homewizard_entry(hass, homewizard_sim, scan_interval=5)
    serial = homewizard_sim.device["serial"]
    power = entity_id(hass, f"{serial}_power")
    calls = async_mock_service(hass, "notify", "test")
    await use_blueprint(
        hass,
        "meter_problem_notify",
        {
            "quality_sensors": [entity_id(hass, f"{serial}_data_quality", "binary_sensor")],
            "meter_sensors": [power],
            "offline_minutes": 5,
            "problem_minutes": 1,
            "notify_actions": NOTIFY,
        },
    )

    # A 20-second hiccup: too short for anything.
    homewizard_sim.fault = Fault.API_DISABLED
    for _ in range(4):
        await advance(hass, freezer, timedelta(seconds=5))
    assert hass.states.get(power).state == STATE_UNAVAILABLE
    homewizard_sim.fault = Fault.NONE
    for _ in range(2):
        homewizard_sim.step(5)
        await advance(hass, freezer, timedelta(seconds=5))
    assert hass.states.get(power).state != STATE_UNAVAILABLE
    for _ in range(12):
        homewizard_sim.step(10)
        await advance(hass, freezer, timedelta(seconds=10))
    assert calls == []

    # Down for six minutes: a gap after 50 s (told a minute later), offline after 5 min.
    homewizard_sim.fault = Fault.API_DISABLED
    for _ in range(36):
        await advance(hass, freezer, timedelta(seconds=10))
    assert messages(calls) == [
        ("Meter data problem", "P1 meter Data quality: gap."),
        ("Meter offline", "P1 meter Power has not reported for 5 minutes."),
    ]
    homewizard_sim.fault = Fault.NONE
    homewizard_sim.step(5)
    await advance(hass, freezer, timedelta(seconds=5))
    assert sorted(messages(calls)[2:]) == [
        ("Meter back to normal", "P1 meter Data quality: the data-quality problem is over."),
        ("Meter back to normal", "P1 meter Power reports again."),
    ]
    assert entry.runtime_data.coordinator.last_update_success


async def test_solar_surplus_switches_a_load_with_hysteresis(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    homewizard_sim: HomeWizardSimulator,
    homeassistant_actions: None,
) -> None:
    await add_homewizard_entry(hass, homewizard_sim, scan_interval=60)
    grid = entity_id(hass, f"{homewizard_sim.device['serial']}_power")
    hass.states.async_set("switch.boiler", "off")
    turned_on = async_mock_service(hass, "switch", "turn_on")
    turned_off = async_mock_service(hass, "switch", "turn_off")
    await use_blueprint(
        hass,
        "solar_surplus_load",
        {
            "grid_power": grid,
            "load": "switch.boiler",
            "surplus_on": 1500,
            "import_off": 300,
            "on_minutes": 5,
            "off_minutes": 3,
            "min_run_minutes": 15,
        },
    )

    async def grid_for(watts: float, minutes: int) -> None:
        homewizard_sim.fixture["data"]["active_power_w"] = watts
        for _ in range(minutes):
            await advance(hass, freezer, timedelta(minutes=1))

    # A passing cloud: 3 minutes of surplus is not enough; a small surplus never is.
    await grid_for(-2000, 3)
    await grid_for(200, 2)
    await grid_for(-1000, 10)
    assert turned_on == []
    # Five minutes of surplus: on.
    await grid_for(-2000, 6)
    assert [c.data["entity_id"] for c in turned_on] == [["switch.boiler"]]
    hass.states.async_set("switch.boiler", "on")
    # Importing right away: the load keeps its minimum run time of 15 minutes...
    await grid_for(800, 10)
    assert turned_off == []
    # ...then goes off, as the import lasts.
    await grid_for(800, 6)
    assert [c.data["entity_id"] for c in turned_off] == [["switch.boiler"]]
    assert len(turned_on) == 1


async def test_capacity_peak_guard_sheds_and_restores(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    homewizard_sim: HomeWizardSimulator,
    homeassistant_actions: None,
) -> None:
    """Polls are driven by the test: while the guard waits for the next quarter
    hour its run is a task only the clock can finish, so waiting for all tasks
    (async_block_till_done) would wait for the clock that the test moves."""
    await hass.config.async_set_time_zone(ZONE)
    freezer.move_to(datetime(2026, 6, 10, 18, 0, tzinfo=ZoneInfo(ZONE)))
    register = P1DemandRegister(homewizard_sim, ZONE)
    data = homewizard_sim.fixture["data"]
    data["active_power_w"] = 900.0
    register.update()
    entry = await add_homewizard_entry(hass, homewizard_sim, scan_interval=3600)
    coordinator = entry.runtime_data.coordinator
    projected = entity_id(hass, f"{homewizard_sim.device['serial']}_capacity_projected")
    hass.states.async_set("switch.heater", "on")
    hass.states.async_set("switch.dryer", "off")
    turned_off = async_mock_service(hass, "switch", "turn_off")
    turned_on = async_mock_service(hass, "switch", "turn_on")
    notified = async_mock_service(hass, "notify", "test")
    await use_blueprint(
        hass,
        "capacity_peak_guard",
        {
            "projected_demand": projected,
            "limit": 2500,
            "loads": ["switch.heater", "switch.dryer"],
            "notify_actions": NOTIFY,
        },
    )

    async def minutes(count: int) -> None:
        for _ in range(count):
            freezer.tick(timedelta(minutes=1))
            homewizard_sim.step(60)
            register.update()
            await coordinator.async_refresh()
            async_fire_time_changed(hass)
            # Let triggered runs go as far as they can (no I/O, no clock involved).
            for _ in range(50):
                await asyncio.sleep(0)

    # A quiet quarter hour: nothing happens.
    await minutes(15)
    assert float(hass.states.get(projected).state) < 2500
    assert (turned_off, turned_on, notified) == ([], [], [])
    # The oven goes on at 18:15: the quarter heads for more than 2.5 kW.
    data["active_power_w"] = 6000.0
    await minutes(5)
    assert float(hass.states.get(projected).state) > 2500
    assert [c.data["entity_id"] for c in turned_off] == [["switch.heater"]]
    assert len(notified) == 1
    assert "switch.heater" in notified[0].data["message"]
    assert "switch.dryer" not in notified[0].data["message"]
    assert turned_on == []
    # Back on a few seconds into the next quarter hour (18:30), not before.
    await minutes(10)
    assert turned_on == []
    freezer.tick(timedelta(seconds=10))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert [c.data["entity_id"] for c in turned_on] == [["switch.heater"]]
    assert len(turned_off) == 1


def _import_day(hass: HomeAssistant, statistic_id: str, per_hour: float, day: datetime) -> None:
    metadata = StatisticMetaData(
        mean_type=StatisticMeanType.NONE,
        has_sum=True,
        name=None,
        source="recorder",
        statistic_id=statistic_id,
        unit_of_measurement="kWh",
    )
    rows = [
        StatisticData(
            start=day + timedelta(hours=hour),
            state=500.0 + per_hour * (hour + 1),
            sum=500.0 + per_hour * (hour + 1),
        )
        for hour in range(-1, 31)
    ]
    async_import_statistics(hass, metadata, rows)


async def test_daily_energy_summary(
    recorder_mock: None,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    homewizard_sim: HomeWizardSimulator,
) -> None:
    await hass.config.async_set_time_zone(ZONE)
    zone = ZoneInfo(ZONE)
    freezer.move_to(datetime(2026, 6, 11, 7, 0, tzinfo=zone))
    await add_homewizard_entry(hass, homewizard_sim, scan_interval=3600)
    serial = homewizard_sim.device["serial"]
    tariff_1 = entity_id(hass, f"{serial}_energy_import_t1")
    tariff_2 = entity_id(hass, f"{serial}_energy_import_t2")
    export = entity_id(hass, f"{serial}_energy_export")
    yesterday = datetime(2026, 6, 10, tzinfo=zone)
    for statistic_id, per_hour in (
        (tariff_1, 0.25),
        (tariff_2, 0.5),
        (export, 0.3),
        ("sensor.solar_yield", 0.6),
    ):
        _import_day(hass, statistic_id, per_hour, yesterday)
    await async_wait_recording_done(hass)
    notified = async_mock_service(hass, "notify", "test")
    await use_blueprint(
        hass,
        "daily_energy_summary",
        {
            "import_sensors": [tariff_1, tariff_2],
            "export_sensors": [export],
            "production_sensors": ["sensor.solar_yield"],
            "send_at": "07:30:00",
            "notify_actions": NOTIFY,
        },
    )
    await advance(hass, freezer, timedelta(minutes=29))
    assert notified == []
    await advance(hass, freezer, timedelta(minutes=1))
    assert messages(notified) == [
        (
            "Energy on Wednesday 10 June",
            "Imported 18.0 kWh, exported 7.2 kWh, produced 14.4 kWh (7.2 kWh used yourself)."
            " Used in total: 25.2 kWh.",
        )
    ]
