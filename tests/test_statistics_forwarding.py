"""Home Assistant's long-term statistics reach the external recorder, exactly.

Home Assistant's recorder runs on its SQLite; its periodic compile runs on
simulated time (freezer), fires its events, and the forwarder reads the new rows
through the recorder's API. Rows are compared column by column.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.recorder import get_instance
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.wattkeeper.const import DOMAIN
from custom_components.wattkeeper.recorder import StatisticPeriod
from custom_components.wattkeeper.recorder_runtime import RecorderConfigEntry

POWER = "sensor.house_power"
ENERGY = "sensor.grid_import"
T0 = datetime.fromisoformat("2025-03-29T22:00:00+00:00")  # DST starts 01:00 UTC next morning
HA_PERIOD = {StatisticPeriod.HOUR: "hour", StatisticPeriod.FIVE_MINUTES: "5minute"}
COLUMNS = ("mean", "min", "max", "state", "sum")


@pytest.fixture
def enable_statistics() -> bool:
    """Let the recorder compile statistics on its schedule (and fire its events)."""
    return True


@pytest.fixture(autouse=True)
def config_dir_per_test(hass: HomeAssistant, tmp_path: Path) -> None:
    hass.config.config_dir = str(tmp_path)


class Feed:
    """A measurement and a total_increasing meter (with one reset) over simulated time."""

    def __init__(self, hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
        self.hass = hass
        self.freezer = freezer
        self.minute = 0
        self.energy = 1000.0

    def _set(self) -> None:
        power = 300 + (self.minute * 37) % 900
        self.energy += power / 60_000
        if self.minute == 95:
            self.energy = 0.5  # the meter was replaced
        self.hass.states.async_set(
            POWER, f"{power}", {"state_class": "measurement", "unit_of_measurement": "W",
                                "device_class": "power"},
        )  # fmt: skip
        self.hass.states.async_set(
            ENERGY, f"{self.energy:.4f}", {"state_class": "total_increasing",
                                           "unit_of_measurement": "kWh", "device_class": "energy"},
        )  # fmt: skip

    async def run(self, minutes: int) -> None:
        for _ in range(minutes):
            self._set()
            self.minute += 1
            self.freezer.tick(timedelta(minutes=1))
            async_fire_time_changed(self.hass, dt_util.utcnow())
            await async_wait_recording_done(self.hass)
            if dt_util.utcnow().minute % 5 == 0:
                # What the recorder's own 5-minute timer calls: compile, then fire the events.
                get_instance(self.hass).async_periodic_statistics()
                await async_wait_recording_done(self.hass)
            await self.hass.async_block_till_done(wait_background_tasks=True)


async def add_recorder(hass: HomeAssistant, **options: Any) -> RecorderConfigEntry:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": "user"})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "recorder"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"backend": "sqlite", "site": "home", "retention_days": 30}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    entry: RecorderConfigEntry = result["result"]
    await hass.async_block_till_done()
    flow = await hass.config_entries.options.async_init(entry.entry_id)
    assert flow["step_id"] == "recorder_options"
    result = await hass.config_entries.options.async_configure(
        flow["flow_id"], {"retention_days": 30, "quota_mb": 64, **options}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done(wait_background_tasks=True)
    return entry


async def recorder_rows(
    hass: HomeAssistant, statistic_id: str, period: StatisticPeriod, days: int = 1
) -> list[tuple[Any, ...]]:
    found = await get_instance(hass).async_add_executor_job(
        statistics_during_period, hass, T0 - timedelta(days=days), None, {statistic_id},
        HA_PERIOD[period], None, {"mean", "min", "max", "state", "sum"},
    )  # fmt: skip
    return [
        (datetime.fromtimestamp(row["start"], dt_util.UTC), *(row.get(c) for c in COLUMNS))
        for row in found.get(statistic_id, [])
    ]


async def forwarded_rows(
    hass: HomeAssistant, entry: RecorderConfigEntry, statistic_id: str, period: StatisticPeriod
) -> list[tuple[Any, ...]]:
    response = await hass.services.async_call(
        DOMAIN, "flush", {"timeout": 30}, blocking=True, return_response=True
    )
    assert response is not None
    assert response[entry.entry_id]["empty"] is True  # type: ignore[index]
    rows = await entry.runtime_data.backend.read_statistics(
        "home", statistic_id, period, T0 - timedelta(days=1), T0 + timedelta(days=30)
    )
    return [(row.start, *(getattr(row, c) for c in COLUMNS)) for row in rows]


async def assert_forwarded_equal(hass: HomeAssistant, entry: RecorderConfigEntry) -> None:
    for statistic_id in (POWER, ENERGY):
        for period in StatisticPeriod:
            expected = await recorder_rows(hass, statistic_id, period)
            assert expected, (statistic_id, period)
            assert await forwarded_rows(hass, entry, statistic_id, period) == expected


async def test_forwarded_rows_equal_the_recorders(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(T0)
    assert await async_setup_component(hass, "sensor", {})
    entry = await add_recorder(hass, statistics=[POWER, ENERGY])
    feed = Feed(hass, freezer)
    await feed.run(150)  # past a meter reset and the DST change
    await assert_forwarded_equal(hass, entry)
    rows = await recorder_rows(hass, ENERGY, StatisticPeriod.HOUR)
    assert min(row[4] for row in rows) < 1  # the state after the reset was forwarded
    meta = entry.runtime_data.statistics
    assert meta is not None
    assert meta.forwarder.forwarded > 0


async def test_restart_and_missed_compiles_lose_nothing(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(T0)
    assert await async_setup_component(hass, "sensor", {})
    entry = await add_recorder(hass, statistics=[POWER, ENERGY])
    feed = Feed(hass, freezer)
    await feed.run(70)
    # Home Assistant keeps compiling while the recorder entry is down (a restart,
    # or a crash): those compile events reach nobody.
    assert await hass.config_entries.async_unload(entry.entry_id)
    await feed.run(80)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await feed.run(20)
    await assert_forwarded_equal(hass, entry)


async def test_backfill_of_90_days_equals_direct_export(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    from homeassistant.components.recorder.models import StatisticData, StatisticMetaData
    from homeassistant.components.recorder.statistics import async_add_external_statistics

    freezer.move_to(T0)
    external = "wattkeeper_test:gas"
    meta = StatisticMetaData(
        has_mean=False, has_sum=True, name="Gas", source="wattkeeper_test",
        statistic_id=external, unit_of_measurement="m³",
    )  # fmt: skip
    start = T0 - timedelta(days=90)
    rows = [
        StatisticData(start=start + timedelta(hours=h), state=h * 0.1 % 7, sum=h * 0.1)
        for h in range(90 * 24)
    ]
    async_add_external_statistics(hass, meta, rows)
    await async_wait_recording_done(hass)
    entry = await add_recorder(hass)
    await hass.services.async_call(
        DOMAIN, "backfill_statistics",
        {"statistic_ids": [external], "start": start.isoformat(), "end": T0.isoformat(),
         "wait": True},
        blocking=True, return_response=True,
    )  # fmt: skip
    await hass.services.async_call(DOMAIN, "flush", {"timeout": 30}, blocking=True)
    expected = await recorder_rows(hass, external, StatisticPeriod.HOUR, days=90)
    assert len(expected) == 90 * 24
    forwarded = await entry.runtime_data.backend.read_statistics(
        "home", external, StatisticPeriod.HOUR, start, T0
    )
    assert [(r.start, *(getattr(r, c) for c in COLUMNS)) for r in forwarded] == expected
    assert {(r.unit, r.source) for r in forwarded} == {("m³", "wattkeeper_test")}
    statistics = entry.runtime_data.statistics
    assert statistics is not None
    assert statistics.backfill.jobs == []
    # Idempotent: the same backfill again stores the same rows once.
    await hass.services.async_call(
        DOMAIN, "backfill_statistics",
        {"statistic_ids": [external], "start": start.isoformat(), "wait": True},
        blocking=True, return_response=True,
    )  # fmt: skip
    await hass.services.async_call(DOMAIN, "flush", {"timeout": 30}, blocking=True)
    again = await entry.runtime_data.backend.read_statistics(
        "home", external, StatisticPeriod.HOUR, start, T0
    )
    assert again == forwarded
