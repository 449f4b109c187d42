"""Home Assistant's long-term statistics reach the external recorder, exactly.

Home Assistant's recorder runs on its SQLite; its periodic compile runs on
simulated time (freezer), fires its events, and the forwarder reads the new rows
through the recorder's API. Rows are compared column by column, and the day,
week and month rollups with what Home Assistant gives for those periods. The
site's time zone is Europe/Brussels and the runs start at 23:00 local on
29 March 2025: they cross a local midnight and the spring-forward at 01:00 UTC.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.energy.data import async_get_manager
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder import statistics as ha_statistics
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.recorder import get_instance
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.wattkeeper.recorder import RollupPeriod, StatisticPeriod
from custom_components.wattkeeper.recorder_runtime import RecorderConfigEntry
from tests.recorder.conftest import embedded_pg, embedded_pg_server  # noqa: F401
from tests.recorder.pg_server import EmbeddedPostgres

from .statistics_helpers import (
    ENERGY,
    POWER,
    T0,
    ZONE,
    Feed,
    add_recorder,
    assert_forwarded_equal,
    configure_statistics,
    forwarded_rows,
    recorder_rows,
    start_recorder_flow,
    statistics_of,
)

OUTDOOR = "sensor.outdoor_temperature"


@pytest.fixture
def enable_statistics() -> bool:
    """Let the recorder compile statistics on its schedule (and fire its events)."""
    return True


@pytest.fixture(autouse=True)
async def brussels(hass: HomeAssistant, tmp_path: Path) -> None:
    """The site's zone (pytest-homeassistant's own is US/Pacific), and a config folder
    per test for the outbox and the embedded database."""
    hass.config.config_dir = str(tmp_path)
    await hass.config.async_set_time_zone(ZONE)


async def test_forwarded_rows_equal_the_recorders(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(T0)
    assert await async_setup_component(hass, "sensor", {})
    entry = await add_recorder(hass, statistics=[POWER, ENERGY])
    feed = Feed(hass, freezer)
    await feed.run(200)  # past a meter reset, local midnight and the DST change
    await assert_forwarded_equal(hass, entry)
    rows = await recorder_rows(hass, ENERGY, StatisticPeriod.HOUR)
    assert min(row[4] for row in rows) < 1  # the state after the reset was forwarded
    assert statistics_of(entry).forwarder.forwarded > 0
    days = await entry.runtime_data.backend.read_statistic_rollups(
        "home", ENERGY, RollupPeriod.DAY, T0 - timedelta(days=1), T0 + timedelta(days=2)
    )
    # 29 March (its last hour) and the 23-hour 30 March, each from a local midnight.
    assert [day.start for day in days] == [
        datetime.fromisoformat("2025-03-28T23:00:00+00:00"),
        datetime.fromisoformat("2025-03-29T23:00:00+00:00"),
    ]
    assert [day.count for day in days] == [1, 2]


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


async def test_database_outage_mid_way_loses_nothing(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    embedded_pg: EmbeddedPostgres,  # noqa: F811
) -> None:
    freezer.move_to(T0)
    assert await async_setup_component(hass, "sensor", {})
    # The server is shared by the session's tests: a site of its own keeps rows exact.
    result = await start_recorder_flow(hass, backend="postgresql", site="stats-outage")
    # Without TLS: asyncpg leaves a future unretrieved when the server goes away in the
    # middle of a TLS negotiation (Home Assistant logs it; the tests count it as an error).
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"dsn": f"{embedded_pg.dsn('postgres')}?sslmode=disable"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    entry: RecorderConfigEntry = result["result"]
    await configure_statistics(hass, entry, statistics=[POWER, ENERGY])
    feed = Feed(hass, freezer)
    await feed.run(70)
    embedded_pg.stop()
    try:
        await feed.run(80)  # two hourly compiles while the database is gone
        await entry.runtime_data.health.async_refresh()
        health = entry.runtime_data.health.data
        assert health.connected is False
        assert health.backlog_statistics > 0  # kept in the outbox
    finally:
        embedded_pg.start()
    await feed.run(20)
    await assert_forwarded_equal(hass, entry)


async def test_adjusted_sums_are_forwarded_again(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """The developer tools' adjust-sum fires no event; the next hourly compile finds it."""
    freezer.move_to(T0)
    assert await async_setup_component(hass, "sensor", {})
    entry = await add_recorder(hass, statistics=[POWER, ENERGY])
    feed = Feed(hass, freezer)
    await feed.run(130)
    before = await forwarded_rows(hass, entry, ENERGY, StatisticPeriod.HOUR)
    get_instance(hass).async_adjust_statistics(ENERGY, T0 + timedelta(hours=1), -2.5, "kWh")
    await async_wait_recording_done(hass)
    adjusted = await recorder_rows(hass, ENERGY, StatisticPeriod.HOUR)
    assert adjusted[1:] != before[1:]  # every sum from the adjusted hour on moved
    await feed.run(60)  # the next hourly compile, and 5-minute compiles after it
    await assert_forwarded_equal(hass, entry)
    assert statistics_of(entry).forwarder.corrections == 1
    again = await forwarded_rows(hass, entry, ENERGY, StatisticPeriod.HOUR)
    assert again[: len(adjusted)] == adjusted


async def test_a_statistic_that_stops_costs_no_reads_and_loses_nothing(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(T0)
    assert await async_setup_component(hass, "sensor", {})
    entry = await add_recorder(hass, statistics=[POWER, ENERGY, OUTDOOR])
    feed = Feed(hass, freezer)

    def outdoor(value: float) -> None:
        hass.states.async_set(
            OUTDOOR, f"{value}", {"state_class": "measurement", "unit_of_measurement": "°C",
                                  "device_class": "temperature"},
        )  # fmt: skip

    outdoor(7.5)
    await feed.run(70)
    hass.states.async_remove(OUTDOOR)  # the sensor is gone: no more rows for it
    await feed.run(55)  # its last hour is compiled (from its 5-minute rows) and forwarded
    cursor = statistics_of(entry).forwarder.cursor(StatisticPeriod.HOUR, OUTDOOR)
    reads: list[set[str]] = []
    original = ha_statistics.statistics_during_period

    def counting(*args: Any) -> Any:
        reads.append(set(args[3]))
        return original(*args)

    with patch("custom_components.wattkeeper.statistics_reader.statistics_during_period", counting):
        await feed.run(180)
    assert reads  # the other statistics were read after every compile
    assert all(OUTDOOR not in ids for ids in reads)
    assert statistics_of(entry).forwarder.cursor(StatisticPeriod.HOUR, OUTDOOR) == cursor
    outdoor(9.0)  # back again: its new rows are forwarded as if nothing happened
    await feed.run(70)
    await assert_forwarded_equal(hass, entry, (POWER, ENERGY, OUTDOOR))


async def test_all_energy_dashboard_sources_are_forwarded(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(T0)
    assert await async_setup_component(hass, "sensor", {})
    assert await async_setup_component(hass, "energy", {})
    entry = await add_recorder(hass, energy_sources=True)
    feed = Feed(hass, freezer)
    await feed.run(10)
    # A grid source added after the recorder entry: read at every compile, no reload needed.
    manager = await async_get_manager(hass)
    await manager.async_update(
        {
            "energy_sources": [
                {
                    "type": "grid",
                    "flow_from": [{"stat_energy_from": ENERGY, "stat_cost": None,
                                   "entity_energy_price": None, "number_energy_price": None}],
                    "flow_to": [],
                    "cost_adjustment_day": 0.0,
                }
            ]
        }
    )  # fmt: skip
    await feed.run(70)
    await assert_forwarded_equal(hass, entry, (ENERGY,), start=T0)
    assert await forwarded_rows(hass, entry, POWER, StatisticPeriod.HOUR) == []
    assert await forwarded_rows(hass, entry, POWER, StatisticPeriod.FIVE_MINUTES) == []
    assert entry.options["statistics"] == []
