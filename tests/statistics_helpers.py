"""What the statistics forwarding tests share: simulated sensors, the recorder entry, and
rows read back from Home Assistant's recorder and from the external database."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.wattkeeper.const import DOMAIN
from custom_components.wattkeeper.recorder import RollupPeriod, StatisticPeriod
from custom_components.wattkeeper.recorder_runtime import RecorderConfigEntry
from custom_components.wattkeeper.statistics_setup import StatisticsRuntime

ZONE = "Europe/Brussels"
POWER = "sensor.house_power"
ENERGY = "sensor.grid_import"
# 23:00 local, before the night of the spring-forward (01:00 UTC) and of a new local day.
T0 = datetime.fromisoformat("2025-03-29T22:00:00+00:00")
HA_PERIOD = {StatisticPeriod.HOUR: "hour", StatisticPeriod.FIVE_MINUTES: "5minute"}
HA_ROLLUP = {RollupPeriod.DAY: "day", RollupPeriod.WEEK: "week", RollupPeriod.MONTH: "month"}
COLUMNS = ("mean", "min", "max", "state", "sum")
SITE = "home"


class Feed:
    """A measurement and a total_increasing meter (with one reset) over simulated time."""

    def __init__(self, hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
        self.hass = hass
        self.freezer = freezer
        self.minute = 0
        self.energy = 1000.0
        self.sensors = {POWER, ENERGY}

    def _set(self) -> None:
        power = 300 + (self.minute * 37) % 900
        self.energy += power / 60_000
        if self.minute == 95:
            self.energy = 0.5  # the meter was replaced
        if POWER in self.sensors:
            self.hass.states.async_set(
                POWER, f"{power}", {"state_class": "measurement", "unit_of_measurement": "W",
                                    "device_class": "power"},
            )  # fmt: skip
        if ENERGY in self.sensors:
            self.hass.states.async_set(
                ENERGY, f"{self.energy:.4f}",
                {"state_class": "total_increasing", "unit_of_measurement": "kWh",
                 "device_class": "energy"},
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


async def start_recorder_flow(hass: HomeAssistant, **fields: Any) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": "user"})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "recorder"}
    )
    return dict(
        await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {"backend": "sqlite", "site": SITE, "retention_days": 30, **fields},
        )
    )


async def configure_statistics(
    hass: HomeAssistant, entry: RecorderConfigEntry, **options: Any
) -> None:
    """Choose what to forward in the recorder entry's options (the entry reloads)."""
    flow = await hass.config_entries.options.async_init(entry.entry_id)
    assert flow["step_id"] == "recorder_options"
    result = await hass.config_entries.options.async_configure(
        flow["flow_id"], {"retention_days": 30, "quota_mb": 64, **options}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done(wait_background_tasks=True)


async def add_recorder(hass: HomeAssistant, **options: Any) -> RecorderConfigEntry:
    """An embedded SQLite recorder entry, through the config and options flows."""
    result = await start_recorder_flow(hass)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    entry: RecorderConfigEntry = result["result"]
    await hass.async_block_till_done()
    await configure_statistics(hass, entry, **options)
    return entry


def statistics_of(entry: RecorderConfigEntry) -> StatisticsRuntime:
    statistics = entry.runtime_data.statistics
    assert statistics is not None
    return statistics


def backfill_sensor(hass: HomeAssistant, entry: RecorderConfigEntry) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"recorder_{entry.entry_id}_statistics_backfill"
    )
    assert entity_id is not None
    return entity_id


async def flush(hass: HomeAssistant, entry: RecorderConfigEntry) -> None:
    response = await hass.services.async_call(
        DOMAIN, "flush", {"timeout": 30}, blocking=True, return_response=True
    )
    assert response is not None
    assert response[entry.entry_id]["empty"] is True  # type: ignore[index]


async def recorder_rows(
    hass: HomeAssistant,
    statistic_id: str,
    period: StatisticPeriod,
    start: datetime = T0 - timedelta(days=1),
) -> list[tuple[Any, ...]]:
    """Every row Home Assistant's recorder has, as (start, mean, min, max, state, sum)."""
    found = await get_instance(hass).async_add_executor_job(
        statistics_during_period, hass, start, None, {statistic_id}, HA_PERIOD[period], None,
        set(COLUMNS),
    )  # fmt: skip
    return [
        (datetime.fromtimestamp(row["start"], dt_util.UTC), *(row.get(c) for c in COLUMNS))
        for row in found.get(statistic_id, [])
    ]


async def forwarded_rows(
    hass: HomeAssistant,
    entry: RecorderConfigEntry,
    statistic_id: str,
    period: StatisticPeriod,
    start: datetime = T0 - timedelta(days=1),
) -> list[tuple[Any, ...]]:
    """What reached the external database, after a flush."""
    await flush(hass, entry)
    rows = await entry.runtime_data.backend.read_statistics(
        entry.runtime_data.site, statistic_id, period, start, start + timedelta(days=400)
    )
    return [(row.start, *(getattr(row, c) for c in COLUMNS)) for row in rows]


async def assert_forwarded_equal(
    hass: HomeAssistant,
    entry: RecorderConfigEntry,
    statistic_ids: tuple[str, ...] = (POWER, ENERGY),
    start: datetime = T0 - timedelta(days=1),
) -> None:
    """Every column of every row, both periods, and the day/week/month rollups."""
    for statistic_id in statistic_ids:
        for period in StatisticPeriod:
            expected = await recorder_rows(hass, statistic_id, period, start)
            assert expected, (statistic_id, period)
            assert await forwarded_rows(hass, entry, statistic_id, period, start) == expected
        await assert_rollups_equal(hass, entry, statistic_id, start)


async def ha_rollups(
    hass: HomeAssistant, statistic_id: str, period: RollupPeriod, start: datetime
) -> list[dict[str, Any]]:
    """What the Energy dashboard shows: statistics_during_period with that period."""
    found = await get_instance(hass).async_add_executor_job(
        statistics_during_period, hass, start, None, {statistic_id}, HA_ROLLUP[period], None,
        {"mean", "min", "max", "state", "sum", "change"},
    )  # fmt: skip
    return list(found.get(statistic_id, []))


async def assert_rollups_equal(
    hass: HomeAssistant, entry: RecorderConfigEntry, statistic_id: str, start: datetime
) -> None:
    """The backend's day, week and month rows equal Home Assistant's for the same span:
    every column exactly, the means of weeks and months (combined from days) to rounding;
    but a bucket with no forwarded row before it has no change (Home Assistant's counts
    from 0)."""
    await flush(hass, entry)
    backend, site = entry.runtime_data.backend, entry.runtime_data.site
    for period in HA_ROLLUP:
        expected = await ha_rollups(hass, statistic_id, period, start)
        assert expected, (statistic_id, period)
        first = datetime.fromtimestamp(expected[0]["start"], dt_util.UTC)
        stored = await backend.read_statistic_rollups(
            site, statistic_id, period, first, first + timedelta(days=400)
        )
        assert [row.start for row in stored] == [
            datetime.fromtimestamp(want["start"], dt_util.UTC) for want in expected
        ], (statistic_id, period)
        for row, want in zip(stored, expected, strict=True):
            earlier = await backend.read_statistics(
                site, statistic_id, StatisticPeriod.HOUR, row.start - timedelta(days=400), row.start
            )
            change = want.get("change") if earlier else None
            got = (row.min, row.max, row.state, row.sum, row.change)
            assert got == (want.get("min"), want.get("max"), want.get("state"), want.get("sum"),
                           change), (statistic_id, period, row.start)  # fmt: skip
            if want.get("mean") is None or period is RollupPeriod.DAY:
                assert row.mean == want.get("mean"), (statistic_id, period, row.start)
            else:
                assert abs(row.mean - want["mean"]) <= 1e-12 * abs(want["mean"]), row.start
