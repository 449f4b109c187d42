"""The blueprints at work: each is loaded by Home Assistant's blueprint
integration, instantiated as an automation on Wattkeeper entities of the
HomeWizard twin, and its actions fire (or not) as simulated readings go by.
Notification and switch actions go to mocked services.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
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
from homeassistant.const import (
    EVENT_HOMEASSISTANT_STARTED,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
)
from homeassistant.core import CoreState, HomeAssistant, ServiceCall
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    async_fire_time_changed,
    async_mock_service,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.wattkeeper.recorder import BackendUnavailableError
from simulators.homewizard import Fault, HomeWizardSimulator

from .quality.test_blueprints import readme_examples
from .quality_support import P1DemandRegister, add_homewizard_entry, advance, entity_id
from .recorder_support import (
    add_sqlite_recorder,
    flush,
    recorder_entity,
    refresh_health,
    settle,
)

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
        ("Meter data problem", "P1 meter stopped reporting."),
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


class Switches:
    """switch.turn_on/off that switch the states as a device would, and record the calls."""

    def __init__(self, hass: HomeAssistant, states: dict[str, str]) -> None:
        self.hass = hass
        self.calls: list[tuple[str, list[str]]] = []
        for entity, state in states.items():
            hass.states.async_set(entity, state)
        for service in ("turn_on", "turn_off"):
            hass.services.async_register("switch", service, self._switch)

    async def _switch(self, call: ServiceCall) -> None:
        entities = list(call.data["entity_id"])
        self.calls.append((call.service, sorted(entities)))
        for entity in entities:
            self.hass.states.async_set(entity, "on" if call.service == "turn_on" else "off")


class PeakGuard:
    """The capacity peak guard on the P1 twin, its loads and its memory helper.

    Polls are driven by the test, a minute at a time: the twin's P1 computes
    its own quarter-hour average, the coordinator reads it, then timers due by
    the frozen clock (the guard's quarter-hour trigger among them) fire.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        freezer: FrozenDateTimeFactory,
        sim: HomeWizardSimulator,
        register: P1DemandRegister,
        coordinator: Any,
    ) -> None:
        self.hass, self.freezer, self.sim = hass, freezer, sim
        self.register, self.coordinator = register, coordinator
        self.switches = Switches(hass, {"switch.heater": "on", "switch.dryer": "off"})
        self.notified = async_mock_service(hass, "notify", "test")
        self.projected = entity_id(hass, f"{sim.device['serial']}_capacity_projected")

    @classmethod
    async def start(
        cls, hass: HomeAssistant, freezer: FrozenDateTimeFactory, sim: HomeWizardSimulator
    ) -> PeakGuard:
        await hass.config.async_set_time_zone(ZONE)
        freezer.move_to(datetime(2026, 6, 10, 18, 0, tzinfo=ZoneInfo(ZONE)))
        register = P1DemandRegister(sim, ZONE)
        sim.fixture["data"]["active_power_w"] = 900.0
        register.update()
        entry = await add_homewizard_entry(hass, sim, scan_interval=3600)
        assert await async_setup_component(
            hass, "input_text", {"input_text": {"peak_guard_memory": {}}}
        )
        guard = cls(hass, freezer, sim, register, entry.runtime_data.coordinator)
        await use_blueprint(
            hass,
            "capacity_peak_guard",
            {
                "projected_demand": guard.projected,
                "limit": 2500,
                "loads": ["switch.heater", "switch.dryer"],
                "memory": MEMORY,
                "notify_actions": NOTIFY,
            },
        )
        return guard

    def power(self, watts: float) -> None:
        self.sim.fixture["data"]["active_power_w"] = watts

    async def minutes(self, count: int, *, polled: bool = True) -> None:
        for _ in range(count):
            self.freezer.tick(timedelta(minutes=1))
            self.sim.step(60)
            self.register.update()
            if polled:
                await self.coordinator.async_refresh()
            async_fire_time_changed(self.hass)
            await self.hass.async_block_till_done()

    @property
    def memory(self) -> str:
        return self.hass.states.get(MEMORY).state

    def local_time(self) -> str:
        return dt_util.now().strftime("%H:%M")


MEMORY = "input_text.peak_guard_memory"
SHED = ("turn_off", ["switch.heater"])
RESTORED = ("turn_on", ["switch.heater"])


async def test_capacity_peak_guard_sheds_and_restores(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    homewizard_sim: HomeWizardSimulator,
    homeassistant_actions: None,
) -> None:
    guard = await PeakGuard.start(hass, freezer, homewizard_sim)
    # A quiet quarter hour: nothing happens.
    await guard.minutes(15)
    assert float(hass.states.get(guard.projected).state) < 2500
    assert (guard.switches.calls, guard.notified) == ([], [])
    # The oven goes on at 18:15: the quarter heads for more than 2.5 kW.
    guard.power(6000.0)
    await guard.minutes(5)
    assert float(hass.states.get(guard.projected).state) > 2500
    assert guard.switches.calls == [SHED]
    (notice,) = messages(guard.notified)
    assert notice[0] == "Capacity peak guard"
    assert "Off until the next quarter hour: heater." in notice[1]
    assert "dryer" not in notice[1]
    assert guard.memory.split("|") == [
        str(int(datetime(2026, 6, 10, 16, 30, tzinfo=UTC).timestamp())),
        "0",
    ]
    # The oven is done at 18:28; the heater comes back at 18:30 sharp, not before.
    await guard.minutes(8)
    guard.power(900.0)
    await guard.minutes(1)
    assert guard.switches.calls == [SHED]
    await guard.minutes(1)
    assert guard.local_time() == "18:30"
    assert guard.switches.calls == [SHED, RESTORED]
    assert guard.memory == ""
    # A quiet quarter with the heater on: nothing more.
    await guard.minutes(15)
    assert guard.switches.calls == [SHED, RESTORED]
    assert len(guard.notified) == 1


async def test_capacity_peak_guard_keeps_shedding_into_the_next_quarter(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    homewizard_sim: HomeWizardSimulator,
    homeassistant_actions: None,
) -> None:
    """The projection stays above the limit across 18:30 without ever crossing it:
    the heater stays off and the new quarter is told about too."""
    guard = await PeakGuard.start(hass, freezer, homewizard_sim)
    await guard.minutes(15)
    guard.power(6000.0)
    await guard.minutes(15)
    assert guard.local_time() == "18:30"
    assert float(hass.states.get(guard.projected).state) > 2500
    assert guard.switches.calls == [SHED]
    assert len(guard.notified) == 2
    assert "Off until the next quarter hour: heater." in messages(guard.notified)[1][1]
    assert guard.memory.startswith(f"{int(datetime(2026, 6, 10, 16, 45, tzinfo=UTC).timestamp())}|")
    # The oven is done: at 18:45 the heater comes back.
    guard.power(900.0)
    await guard.minutes(15)
    assert guard.local_time() == "18:45"
    assert guard.switches.calls == [SHED, RESTORED]
    assert len(guard.notified) == 2


async def test_capacity_peak_guard_restores_after_a_restart(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    homewizard_sim: HomeWizardSimulator,
    homeassistant_actions: None,
) -> None:
    """Home Assistant is down from 18:20 to 18:40: what the guard was doing ends
    with it; at the start it finds the heater in its memory and switches it on."""
    guard = await PeakGuard.start(hass, freezer, homewizard_sim)
    await guard.minutes(15)
    guard.power(6000.0)
    await guard.minutes(5)
    assert guard.switches.calls == [SHED]
    automation = "automation.capacity_peak_guard"
    await hass.services.async_call(
        "automation", "turn_off", {"entity_id": automation}, blocking=True
    )
    guard.power(900.0)
    await guard.minutes(20, polled=False)
    assert guard.switches.calls == [SHED]
    # Starting again: Wattkeeper reads the meter while it sets up; automations
    # attach their triggers once Home Assistant has started.
    await guard.coordinator.async_refresh()
    await hass.async_block_till_done()
    hass.set_state(CoreState.not_running)
    await hass.services.async_call(
        "automation", "turn_on", {"entity_id": automation}, blocking=True
    )
    hass.set_state(CoreState.running)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STARTED)
    await hass.async_block_till_done()
    assert guard.switches.calls == [SHED, RESTORED]
    assert guard.memory == ""


class DatabaseOutage:
    """The recorder's SQLite backend refusing every write and heartbeat while `down`,
    as an unreachable database server does."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, backend: Any) -> None:
        self.down = False
        write, heartbeat = backend.write, backend.heartbeat

        async def failing_write(batch: Any) -> Any:
            if self.down:
                raise BackendUnavailableError("database unreachable")
            return await write(batch)

        async def failing_heartbeat(site: str, version: str, backlog: int) -> None:
            if self.down:
                raise BackendUnavailableError("database unreachable")
            await heartbeat(site, version, backlog)

        monkeypatch.setattr(backend, "write", failing_write)
        monkeypatch.setattr(backend, "heartbeat", failing_heartbeat)


async def test_recorder_health_notify(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
    homewizard_sim: HomeWizardSimulator,
) -> None:
    recorder = await add_sqlite_recorder(hass)
    await add_homewizard_entry(hass, homewizard_sim, scan_interval=10)
    outage = DatabaseOutage(monkeypatch, recorder.runtime_data.backend)
    backlog = recorder_entity(hass, recorder, "backlog")
    connected = recorder_entity(hass, recorder, "database_connected")
    calls = async_mock_service(hass, "notify", "test")
    await use_blueprint(
        hass,
        "recorder_health_notify",
        {
            "backlog_sensor": backlog,
            "backlog_limit": 100,
            "backlog_minutes": 3,
            "database_sensor": connected,
            "offline_minutes": 5,
            "notify_recovery": True,
            "notify_actions": NOTIFY,
        },
    )

    async def seconds(count: int) -> None:
        for _ in range(count // 10):
            homewizard_sim.step(10)
            await advance(hass, freezer, timedelta(seconds=10))
            await settle(hass, recorder)

    async def until(entity: str, state: str, within: int) -> int:
        """Seconds of readings until `entity` shows `state`; the sender works in
        its own task and thread, so its verdict reaches the entities a little later."""
        for waited in range(0, within + 1, 10):
            if hass.states.get(entity).state == state:
                return waited
            await seconds(10)
        raise AssertionError(f"{entity} did not become {state} within {within} s")

    async def drained() -> None:
        await flush(hass)
        await refresh_health(hass, recorder)
        assert hass.states.get(backlog).state == "0"

    await seconds(60)
    assert hass.states.get(connected).state == STATE_ON
    await drained()

    # A one-minute outage: the backlog passes the limit and the database is
    # unreachable, neither for long enough to tell anyone.
    outage.down = True
    await seconds(60 - await until(connected, STATE_OFF, 30))
    assert int(hass.states.get(backlog).state) > 100
    outage.down = False
    # The sender retries with growing, jittered delays: under 32 s after a minute.
    await until(connected, STATE_ON, 60)
    await drained()
    await seconds(60)
    assert calls == []

    # Down for eight minutes: told of the backlog three minutes after it passed
    # the limit, and that the database is unreachable five minutes after it was.
    outage.down = True
    await until(connected, STATE_OFF, 30)
    off_since = hass.states.get(connected).last_changed
    for _ in range(12):
        if int(hass.states.get(backlog).state) > 100:
            break
        await seconds(10)
    above_since = hass.states.get(backlog).last_changed
    await seconds(170)
    assert calls == []
    await seconds(10)
    assert dt_util.utcnow() - above_since == timedelta(minutes=3)
    (backlog_notice,) = messages(calls)
    assert backlog_notice[0] == "Wattkeeper recorder problem"
    assert re.fullmatch(
        r"\d+ readings are waiting to be sent \(limit 100\); the database does not keep up\.",
        backlog_notice[1],
    )
    await seconds(int((off_since + timedelta(minutes=5) - dt_util.utcnow()).total_seconds()) - 10)
    assert len(calls) == 1
    await seconds(10)
    assert len(calls) == 2
    assert messages(calls)[1][0] == "Wattkeeper recorder problem"
    assert re.fullmatch(
        r"The database has been unreachable for 5 minutes; readings wait in the outbox"
        r" \(\d+ so far\)\.",
        messages(calls)[1][1],
    )
    await seconds(160)
    assert len(calls) == 2
    outage.down = False
    # After eight minutes of failures the next attempt may be up to 256 s away.
    await until(connected, STATE_ON, 300)
    assert messages(calls)[2][0] == "Wattkeeper database reachable again"
    assert re.fullmatch(
        r"The database is reachable again; \d+ readings still to send\.", messages(calls)[2][1]
    )
    await drained()
    await seconds(60)
    assert len(calls) == 3


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


async def test_the_readme_data_quality_example(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    homewizard_sim: HomeWizardSimulator,
) -> None:
    """The README's first example automation, on a real gap of the HomeWizard twin."""
    await hass.config.async_set_time_zone(ZONE)
    freezer.move_to(datetime(2026, 6, 10, 18, 0, tzinfo=ZoneInfo(ZONE)))
    await add_homewizard_entry(hass, homewizard_sim, scan_interval=5)
    example = next(e for e in readme_examples() if e["alias"] == "Meter data problem")
    calls = async_mock_service(hass, "notify", "mobile_app_my_phone")
    assert await async_setup_component(hass, "automation", {"automation": [example]})
    await hass.async_block_till_done()
    homewizard_sim.fault = Fault.API_DISABLED
    for _ in range(40):
        await advance(hass, freezer, timedelta(minutes=1))
    # The gap began with the last reading, at 18:00; 30 minutes on it is persistent.
    assert messages(calls) == [("P1 meter", "P1 meter stopped reporting (since 18:00)")]
