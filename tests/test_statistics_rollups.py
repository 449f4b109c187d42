"""Day, week and month rollups of forwarded statistics equal what Home Assistant shows.

Sixteen days of hourly statistics, imported into Home Assistant's recorder, from
Monday 24 March 2025 (Europe/Brussels) across the spring-forward of 30 March
(a 23-hour day), two week changes and the March/April month change: a meter
whose state resets while its sum keeps counting, a measurement, and an
external statistic. They reach the external database through the backfill
action; its day, week and month rows must equal Home Assistant's
statistics_during_period with period day/week/month (what the Energy dashboard
plots), including the change, for the whole span and for a window starting
mid-way.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import (
    async_add_external_statistics,
    async_import_statistics,
)
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.wattkeeper.const import DOMAIN
from custom_components.wattkeeper.recorder import RollupPeriod

from .statistics_helpers import ENERGY, POWER, ZONE, add_recorder, assert_rollups_equal

START = datetime(2025, 3, 24, tzinfo=ZoneInfo(ZONE)).astimezone(UTC)
END = datetime(2025, 4, 9, tzinfo=ZoneInfo(ZONE)).astimezone(UTC)
GAS = "wattkeeper_test:gas"


@pytest.fixture(autouse=True)
async def brussels(hass: HomeAssistant, tmp_path: Path) -> None:
    hass.config.config_dir = str(tmp_path)
    await hass.config.async_set_time_zone(ZONE)


def _meta(statistic_id: str, unit: str, *, mean: bool, source: str) -> StatisticMetaData:
    return StatisticMetaData(
        has_mean=mean, mean_type=StatisticMeanType.ARITHMETIC if mean else StatisticMeanType.NONE,
        has_sum=not mean, name=None, source=source, statistic_id=statistic_id,
        unit_of_measurement=unit,
    )  # fmt: skip


def _history(hass: HomeAssistant) -> None:
    rng = random.Random(7)
    hours = int((END - START).total_seconds() // 3600)
    meter, power, gas = [], [], []
    state = total = gas_total = 0.0
    for hour in range(hours):
        start = START + timedelta(hours=hour)
        step = round(rng.uniform(0.0, 2.0), 3)
        state = 0.1 if hour == 150 else state + step  # the meter was replaced
        total += step
        meter.append(StatisticData(start=start, state=state, sum=total))
        low = rng.uniform(0.0, 800.0)
        high = low + rng.uniform(0.0, 3000.0)
        power.append(StatisticData(start=start, mean=rng.uniform(low, high), min=low, max=high))
        if hour % 3:  # an external statistic with gaps, as utility imports have
            gas_total += rng.uniform(0.0, 0.4)
            gas.append(StatisticData(start=start, state=gas_total, sum=gas_total))
    async_import_statistics(hass, _meta(ENERGY, "kWh", mean=False, source="recorder"), meter)
    async_import_statistics(hass, _meta(POWER, "W", mean=True, source="recorder"), power)
    async_add_external_statistics(hass, _meta(GAS, "m³", mean=False, source="wattkeeper_test"), gas)


async def test_rollups_equal_home_assistants_days_weeks_and_months(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(END + timedelta(minutes=10))
    _history(hass)
    await async_wait_recording_done(hass)
    entry = await add_recorder(hass)
    await hass.services.async_call(
        DOMAIN, "backfill_statistics",
        {"statistic_ids": [ENERGY, POWER, GAS], "start": START.isoformat(),
         "end": END.isoformat(), "wait": True},
        blocking=True, return_response=True,
    )  # fmt: skip
    for statistic_id in (ENERGY, POWER, GAS):
        await assert_rollups_equal(hass, entry, statistic_id, START)
        # A window that starts mid-way: its first change counts from the sum before it.
        await assert_rollups_equal(hass, entry, statistic_id, START + timedelta(days=9, hours=5))

    backend = entry.runtime_data.backend
    days = await backend.read_statistic_rollups("home", ENERGY, RollupPeriod.DAY, START, END)
    assert len(days) == 16
    assert [day.count for day in days][5:8] == [24, 23, 24]  # Sunday 30 March has 23 hours
    months = await backend.read_statistic_rollups("home", ENERGY, RollupPeriod.MONTH, START, END)
    assert [month.start for month in months] == [
        datetime(2025, 3, 31, 22, tzinfo=UTC)  # April; March starts before START
    ]
    [march] = await backend.read_statistic_rollups(
        "home", ENERGY, RollupPeriod.MONTH, START - timedelta(days=30), START
    )
    assert march.count == 8 * 24 - 1
