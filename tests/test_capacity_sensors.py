"""Capacity-tariff sensors through Home Assistant, on the HomeWizard twin.

A frozen clock moves a minute per poll; a ledger computes by hand, from the
twin's own import counter, what each sensor must show: the quarter-hour
average (counter growth × 4), its projection, the month's peak and the
12-month average of monthly peaks (each month at least 2.5 kW). The P1 twin
also computes its own average and peak (P1DemandRegister): then the meter's
own sensors show them, Wattkeeper makes no second sensor for either, and ours
must agree with them (attributes of the meter's sensors).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.wattkeeper.capacity_glue import storage_key
from custom_components.wattkeeper.const import CONF_KIND, DOMAIN
from custom_components.wattkeeper.meters.model import MeterKind
from custom_components.wattkeeper.quality.capacity_state import CapacityState, MonthRecord
from simulators.homewizard import HomeWizardSimulator

from .quality_support import P1DemandRegister, add_homewizard_entry, entity_id, quarter_of

ZONE = "Europe/Brussels"
KEYS = ("capacity_average", "capacity_projected", "capacity_month_peak", "capacity_rolling_average")
# Where the meter computes them itself: its own sensors, and ours that would repeat them.
METER_KEYS = ("average_demand", "monthly_peak")
REPEATED = ("capacity_average", "capacity_month_peak")


@dataclass
class Ledger:
    """The capacity figures computed by hand from the counter at each poll."""

    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo(ZONE))
    quarter: datetime | None = None
    start_kwh: float = 0.0
    # Our own peak (and its quarter) per local month.
    peaks: dict[str, tuple[float, datetime]] = field(default_factory=dict)
    # The last peak the meter published for each month.
    published: dict[str, tuple[float, datetime]] = field(default_factory=dict)

    def month(self, moment: datetime) -> str:
        return moment.astimezone(self.zone).strftime("%Y-%m")

    def _peak(self, quarter: datetime, average: float) -> None:
        month = self.month(quarter)
        if month not in self.peaks or average > self.peaks[month][0]:
            self.peaks[month] = (average, quarter)

    def poll(self, data: dict[str, Any]) -> dict[str, Any]:
        """What the sensors must show after a poll of `data` now."""
        now = dt_util.utcnow()
        energy = data["total_power_import_kwh"]
        quarter = quarter_of(now)
        if quarter != self.quarter:
            if self.quarter is not None:
                self._peak(self.quarter, (energy - self.start_kwh) * 4000)
            self.quarter, self.start_kwh = quarter, energy
        own = (energy - self.start_kwh) * 4000
        self._peak(quarter, own)
        month = self.month(now)
        average = data.get("active_power_average_w", own)
        remaining_h = (quarter + timedelta(minutes=15) - now) / timedelta(hours=1)
        peak_w, peak_at = self.peaks[month]
        meter: dict[str, Any] = {}
        if "montly_power_peak_w" in data:
            stamp = datetime.strptime(str(data["montly_power_peak_timestamp"]), "%y%m%d%H%M%S")
            meter_at = stamp.replace(tzinfo=self.zone).astimezone(dt_util.UTC)
            self.published[self.month(meter_at)] = (data["montly_power_peak_w"], meter_at)
            if month in self.published:
                peak_w, peak_at = self.published[month]
            # The meter's peak may still be last month's: ours of that month is its match.
            meter = {
                "meter_peak": data["montly_power_peak_w"],
                "meter_peak_at": meter_at,
                "own_meter_month_peak": self.peaks[self.month(meter_at)][0],
            }
        effective = {m: p for m, (p, _) in self.peaks.items()} | {
            m: p for m, (p, _) in self.published.items()
        }
        first = (datetime.strptime(month, "%Y-%m") - timedelta(days=11 * 30)).strftime("%Y-%m")
        counted = [max(p, 2500.0) for m, p in effective.items() if first <= m <= month]
        return {
            "own_average": own,
            "average": average,
            "projected": average + max(data["active_power_w"], 0.0) * remaining_h * 4,
            "month_peak": peak_w,
            "own_month_peak": self.peaks[month][0],
            "peak_at": peak_at,
            "rolling": sum(counted) / len(counted),
            "months": len(counted),
            **meter,
        }


class Clock:
    """Moves the frozen clock a minute per poll; the twin and its register follow."""

    def __init__(
        self,
        hass: HomeAssistant,
        freezer: FrozenDateTimeFactory,
        sim: HomeWizardSimulator,
        register: P1DemandRegister | None,
    ) -> None:
        self.hass, self.freezer, self.sim, self.register = hass, freezer, sim, register

    def tick(self) -> None:
        self.freezer.tick(timedelta(minutes=1))
        self.sim.step(60)
        if self.register is not None:
            self.register.update()

    async def poll(self) -> None:
        self.tick()
        async_fire_time_changed(self.hass)
        await self.hass.async_block_till_done(wait_background_tasks=True)


def states(hass: HomeAssistant, serial: str, *, meter: bool = False) -> dict[str, Any]:
    """The capacity figures shown: ours, and the meter's own where it has them."""
    keys = [k for k in KEYS if k not in REPEATED] + list(METER_KEYS) if meter else KEYS
    result = {}
    for key in keys:
        state = hass.states.get(entity_id(hass, f"{serial}_{key}"))
        assert state is not None
        result[key] = state
    if meter:
        registry = er.async_get(hass)
        for key in REPEATED:
            assert registry.async_get_entity_id("sensor", DOMAIN, f"{serial}_{key}") is None
    return result


def check(hass: HomeAssistant, serial: str, expected: dict[str, Any], *, meter: bool) -> None:
    shown = states(hass, serial, meter=meter)
    if meter:
        average = shown["average_demand"]
        assert float(average.state) == pytest.approx(expected["average"], abs=0.05)
        assert average.attributes["wattkeeper_value"] == pytest.approx(
            expected["own_average"], abs=0.05
        )
        assert average.attributes["agrees"] is True
        peak = shown["monthly_peak"]
        assert float(peak.state) == pytest.approx(expected["meter_peak"], abs=0.05)
        assert peak.attributes["peak_at"] == expected["meter_peak_at"]
        assert peak.attributes["wattkeeper_value"] == pytest.approx(
            expected["own_meter_month_peak"], abs=0.05
        )
    else:
        average = shown["capacity_average"]
        assert float(average.state) == pytest.approx(expected["average"], abs=0.05)
        assert average.attributes["own_value"] == pytest.approx(expected["own_average"], abs=0.05)
        assert average.attributes["source"] == "wattkeeper"
        assert average.attributes["agrees"] is None
        peak = shown["capacity_month_peak"]
        assert float(peak.state) == pytest.approx(expected["month_peak"], abs=0.05)
        assert peak.attributes["own_value"] == pytest.approx(expected["own_month_peak"], abs=0.05)
        assert peak.attributes["peak_at"] == expected["peak_at"]
    projected = shown["capacity_projected"]
    assert float(projected.state) == pytest.approx(expected["projected"], abs=0.05)
    rolling = shown["capacity_rolling_average"]
    assert float(rolling.state) == pytest.approx(expected["rolling"], abs=0.05)
    assert rolling.attributes["months"] == expected["months"]


async def _start(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    sim: HomeWizardSimulator,
    local_start: str,
    *,
    own_register: bool = True,
) -> tuple[Clock, Ledger]:
    await hass.config.async_set_time_zone(ZONE)
    freezer.move_to(datetime.fromisoformat(local_start).replace(tzinfo=ZoneInfo(ZONE)))
    register = P1DemandRegister(sim, ZONE) if own_register else None
    if register is not None:
        register.update()
    return Clock(hass, freezer, sim, register), Ledger()


@pytest.mark.parametrize(
    ("local_start", "minutes"),
    [
        ("2026-05-31T23:00:00", 150),  # into a new month
        ("2026-03-29T01:00:00", 120),  # clocks go forward at 02:00
        ("2026-10-25T01:00:00", 150),  # clocks go back at 03:00
    ],
    ids=["month", "dst-spring", "dst-autumn"],
)
async def test_p1_figures_equal_the_hand_computed_ones_and_the_meters(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    homewizard_sim: HomeWizardSimulator,
    local_start: str,
    minutes: int,
) -> None:
    homewizard_sim.fixture["data"]["active_power_w"] = 2800.0
    clock, ledger = await _start(hass, freezer, homewizard_sim, local_start)
    await add_homewizard_entry(hass, homewizard_sim)
    serial = homewizard_sim.device["serial"]
    check(hass, serial, ledger.poll(homewizard_sim.data), meter=True)
    for _ in range(minutes):
        await clock.poll()
        check(hass, serial, ledger.poll(homewizard_sim.data), meter=True)
    peak = states(hass, serial, meter=True)["monthly_peak"]
    # Our own peak equals the meter's once we saw the whole month (not the first).
    assert peak.attributes["agrees"] is (True if local_start.startswith("2026-05") else None)


async def test_state_survives_a_restart(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, homewizard_sim: HomeWizardSimulator
) -> None:
    homewizard_sim.fixture["data"]["active_power_w"] = 3500.0
    clock, ledger = await _start(hass, freezer, homewizard_sim, "2026-06-10T17:00:00")
    entry = await add_homewizard_entry(hass, homewizard_sim)
    serial = homewizard_sim.device["serial"]
    ledger.poll(homewizard_sim.data)
    # Three busy quarters, the last closed at 17:45.
    for _ in range(45):
        await clock.poll()
        ledger.poll(homewizard_sim.data)
    before = {key: state.as_dict() for key, state in states(hass, serial, meter=True).items()}
    # Home Assistant restarts a minute later (the entry unloads and sets up
    # again), and the household uses little from then on: the peak is the old one.
    homewizard_sim.fixture["data"]["active_power_w"] = 400.0
    clock.tick()
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    expected = ledger.poll(homewizard_sim.data)
    check(hass, serial, expected, meter=True)
    for _ in range(20):
        await clock.poll()
        check(hass, serial, ledger.poll(homewizard_sim.data), meter=True)
    after = states(hass, serial, meter=True)["monthly_peak"]
    # Our own peak of the month survived: it still agrees with the meter's.
    assert (
        after.attributes["wattkeeper_value"]
        == before["monthly_peak"]["attributes"]["wattkeeper_value"]
    )
    assert after.attributes["agrees"] is before["monthly_peak"]["attributes"]["agrees"]


async def test_a_meter_without_its_own_figures_and_a_year_of_history(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """A kWh meter in Belgium: our figures are shown; eleven stored months count
    towards the average."""
    hass.config.country = "BE"
    sim = HomeWizardSimulator("kwh1")
    await sim.start()
    try:
        clock, ledger = await _start(hass, freezer, sim, "2026-06-01T00:00:00", own_register=False)
        history = {f"2025-{m:02d}": 1000.0 * (m - 5) for m in range(7, 13)} | {
            f"2026-{m:02d}": 4100.0 + m for m in range(1, 6)
        }
        # A month older than the 12-month window is kept out.
        history["2025-06"] = 9999.0
        for month, peak in history.items():
            ledger.peaks[month] = (peak, datetime.fromisoformat(f"{month}-15T18:00:00+00:00"))
        state = CapacityState(
            months={month: MonthRecord(peak_w=peak) for month, peak in history.items()}
        )
        entry_id = "restored-entry"
        hass_storage[storage_key(entry_id)] = {
            "version": 1,
            "minor_version": 1,
            "key": storage_key(entry_id),
            "data": {"meters": {sim.device["serial"]: state.to_dict()}},
        }
        await add_homewizard_entry(hass, sim, entry_id=entry_id)
        serial = sim.device["serial"]
        check(hass, serial, ledger.poll(sim.data), meter=False)
        for _ in range(20):
            await clock.poll()
            expected = ledger.poll(sim.data)
            check(hass, serial, expected, meter=False)
        rolling = states(hass, serial)["capacity_rolling_average"]
        assert rolling.attributes["months"] == 12
        assert "2025-06" not in rolling.attributes["monthly_peaks"]
        # Peaks are shown as measured; the 2.5 kW floor applies inside the average.
        assert rolling.attributes["monthly_peaks"]["2025-07"] == 2000.0
    finally:
        await sim.stop()


@pytest.mark.parametrize("homewizard_sim", ["water"], indirect=True)
async def test_no_capacity_sensors_without_import(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    await add_homewizard_entry(hass, homewizard_sim)
    assert [s for s in hass.states.async_entity_ids("sensor") if "capacity" in s] == []
    assert hass.states.async_entity_ids("binary_sensor")


@pytest.mark.parametrize("homewizard_sim", ["kwh1"], indirect=True)
async def test_disabled_outside_belgium_unless_the_meter_has_its_own(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    hass.config.country = "NL"
    await add_homewizard_entry(hass, homewizard_sim)
    registry = er.async_get(hass)
    for key in KEYS:
        entry = registry.async_get(entity_id(hass, f"{homewizard_sim.device['serial']}_{key}"))
        assert entry is not None
        assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION


async def test_state_is_saved_on_unload_and_forgotten_on_removal(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator, hass_storage: dict[str, Any]
) -> None:
    entry = await add_homewizard_entry(hass, homewizard_sim)
    key = storage_key(entry.entry_id)
    assert await hass.config_entries.async_unload(entry.entry_id)
    saved = hass_storage[key]["data"]["meters"][homewizard_sim.device["serial"]]
    assert CapacityState.from_dict(saved).last_at is not None
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage


async def test_no_second_sensor_for_the_meters_own_figures(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    """A Belgian P1's device shows its own average demand and monthly peak once;
    ours that an earlier version made next to them are removed."""
    serial = homewizard_sim.device["serial"]
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=homewizard_sim.device["product_name"],
        unique_id=serial,
        data={CONF_KIND: MeterKind.HOMEWIZARD.value, CONF_HOST: homewizard_sim.host},
    )
    entry.add_to_hass(hass)
    registry = er.async_get(hass)
    for key in REPEATED:
        registry.async_get_or_create("sensor", DOMAIN, f"{serial}_{key}", config_entry=entry)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    shown = states(hass, serial, meter=True)
    assert set(shown) == {
        "average_demand",
        "monthly_peak",
        "capacity_projected",
        "capacity_rolling_average",
    }
    names = sorted(state.name for state in shown.values())
    assert names == [
        "P1 meter Average demand (15 min)",
        "P1 meter Average monthly peak (12 months)",
        "P1 meter Monthly peak demand",
        "P1 meter Projected quarter-hour average",
    ]
