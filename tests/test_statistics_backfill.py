"""The backfill action: history already in Home Assistant reaches the external recorder.

External statistics imported into Home Assistant's recorder are forwarded by
`wattkeeper.backfill_statistics` in chunks (14 days of hourly rows, then a day
of 5-minute rows at a time), with its progress on a sensor and in a persistent
notification; a job survives an unload, and a failed chunk is retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import persistent_notification
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import async_add_external_statistics
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from sqlalchemy.exc import OperationalError

from custom_components.wattkeeper import statistics_backfill
from custom_components.wattkeeper.const import DOMAIN
from custom_components.wattkeeper.recorder import StatisticPeriod
from custom_components.wattkeeper.recorder_runtime import RecorderConfigEntry
from custom_components.wattkeeper.statistics_backfill import backfill_store

from .statistics_helpers import (
    T0,
    ZONE,
    add_recorder,
    assert_rollups_equal,
    backfill_sensor,
    flush,
    forwarded_rows,
    recorder_rows,
    statistics_of,
)

GAS = "wattkeeper_test:gas"
NOTIFICATION = "wattkeeper_backfill_{}"


@pytest.fixture(autouse=True)
async def brussels(hass: HomeAssistant, tmp_path: Path) -> None:
    hass.config.config_dir = str(tmp_path)
    await hass.config.async_set_time_zone(ZONE)


async def import_gas(hass: HomeAssistant, days: int) -> datetime:
    """`days` of hourly rows of an external meter statistic, ending at T0; their start."""
    meta = StatisticMetaData(
        has_mean=False, mean_type=StatisticMeanType.NONE, has_sum=True, name="Gas",
        source="wattkeeper_test", statistic_id=GAS, unit_of_measurement="m³",
    )  # fmt: skip
    start = T0 - timedelta(days=days)
    rows = [
        StatisticData(start=start + timedelta(hours=h), state=h * 0.1 % 7, sum=h * 0.1)
        for h in range(days * 24)
    ]
    async_add_external_statistics(hass, meta, rows)
    await async_wait_recording_done(hass)
    return start


async def backfill(hass: HomeAssistant, start: datetime, *, wait: bool) -> None:
    await hass.services.async_call(
        DOMAIN, "backfill_statistics",
        {"statistic_ids": [GAS], "start": start.isoformat(), "end": T0.isoformat(),
         "wait": wait},
        blocking=True, return_response=True,
    )  # fmt: skip


async def assert_gas_forwarded(
    hass: HomeAssistant, entry: RecorderConfigEntry, start: datetime, days: int
) -> None:
    expected = await recorder_rows(hass, GAS, StatisticPeriod.HOUR, start)
    assert len(expected) == days * 24
    assert await forwarded_rows(hass, entry, GAS, StatisticPeriod.HOUR, start) == expected
    await assert_rollups_equal(hass, entry, GAS, start)


async def test_backfill_of_90_days_equals_direct_export(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(T0)
    start = await import_gas(hass, 90)
    entry = await add_recorder(hass)
    await backfill(hass, start, wait=True)
    await assert_gas_forwarded(hass, entry, start, 90)
    forwarded = await entry.runtime_data.backend.read_statistics(
        "home", GAS, StatisticPeriod.HOUR, start, T0
    )
    assert {(r.unit, r.source) for r in forwarded} == {("m³", "wattkeeper_test")}
    assert statistics_of(entry).backfill.jobs == []
    # Idempotent: the same backfill again stores the same rows once.
    await backfill(hass, start, wait=True)
    await flush(hass, entry)
    again = await entry.runtime_data.backend.read_statistics(
        "home", GAS, StatisticPeriod.HOUR, start, T0
    )
    assert again == forwarded


async def test_progress_sensor_and_notification(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(T0)
    start = await import_gas(hass, 28)
    entry = await add_recorder(hass)
    sensor = backfill_sensor(hass, entry)
    assert hass.states.get(sensor).state == "unknown"  # type: ignore[union-attr]
    states: list[tuple[str, Any]] = []
    messages: list[str] = []

    @callback
    def on_state(event: Event[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        assert new is not None
        states.append((new.state, new.attributes.get("rows_forwarded")))

    @callback
    def on_notification(_: Any, notifications: dict[str, Any]) -> None:
        if (found := notifications.get(NOTIFICATION.format(entry.entry_id))) is not None:
            messages.append(found["message"])

    async_track_state_change_event(hass, sensor, on_state)
    persistent_notification.async_register_callback(hass, on_notification)
    await backfill(hass, start, wait=True)
    await hass.async_block_till_done()

    # Two 14-day chunks of hourly rows make the first half; 28 days of 5-minute rows
    # (an external statistic has none) the second.
    expected = [("25.0", 336), ("50.0", 672)]
    expected += [(str(round(50 + 50 * day / 28, 1)), 672) for day in range(1, 29)]
    assert states == [*expected, ("unknown", 672)]
    assert messages[0] == "Backfilling 1 statistics: 25 % (336 rows)."
    assert messages[-2] == "Backfilling 1 statistics: 100 % (672 rows)."
    assert messages[-1] == "Backfill done: 672 statistics rows forwarded."
    attributes = hass.states.get(sensor).attributes  # type: ignore[union-attr]
    assert (attributes["jobs"], attributes["rows_forwarded"]) == (0, 672)


def stop_after(chunks: int) -> tuple[Callable[..., Awaitable[Any]], asyncio.Event]:
    """A reader that reads `chunks` chunks, then waits (until cancelled) on the next one."""
    original = statistics_backfill.async_read_statistics
    reached = asyncio.Event()
    calls = 0

    async def read(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls > chunks:
            reached.set()
            await asyncio.Event().wait()
        return await original(*args)

    return read, reached


async def test_backfill_resumes_after_an_unload_mid_job(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(T0)
    start = await import_gas(hass, 90)
    entry = await add_recorder(hass)
    read, reached = stop_after(2)
    with patch.object(statistics_backfill, "async_read_statistics", read):
        await backfill(hass, start, wait=False)
        await reached.wait()  # two chunks done, the third one being read
        assert await hass.config_entries.async_unload(entry.entry_id)
    [job] = await backfill_store(hass, entry.entry_id).async_load() or []
    assert job["positions"] == {
        "1h": (start + timedelta(days=28)).isoformat(),
        "5m": start.isoformat(),
    }
    assert job["rows"] == 28 * 24

    assert await hass.config_entries.async_setup(entry.entry_id)  # resumes by itself
    await statistics_of(entry).backfill.wait()
    await assert_gas_forwarded(hass, entry, start, 90)
    assert statistics_of(entry).backfill.jobs == []
    assert await backfill_store(hass, entry.entry_id).async_load() == []


async def test_a_failed_chunk_is_retried_with_backoff(
    recorder_mock: Recorder, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(T0)
    start = await import_gas(hass, 28)
    entry = await add_recorder(hass)
    original = statistics_backfill.async_read_statistics
    calls = 0

    async def flaky(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls in (2, 3):  # Home Assistant's database is busy, twice in a row
            raise OperationalError("SELECT", {}, Exception("database is locked"))
        return await original(*args)

    runner = statistics_of(entry).backfill
    issue_id = f"statistics_backfill_{entry.entry_id}"
    with patch.object(statistics_backfill, "async_read_statistics", flaky):
        await backfill(hass, start, wait=True)  # returns when the chunk failed
        issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
        assert issue is not None
        assert issue.translation_key == "statistics_backfill_failed"
        assert issue.translation_placeholders["progress"] == "25"  # type: ignore[index]
        assert "database is locked" in issue.translation_placeholders["error"]  # type: ignore[index]
        assert (runner.failures, len(runner.jobs)) == (1, 1)
        assert hass.states.get(backfill_sensor(hass, entry)).state == "25.0"  # type: ignore[union-attr]

        freezer.tick(timedelta(seconds=61))  # the first wait is at most a minute
        async_fire_time_changed(hass, dt_util.utcnow())
        await hass.async_block_till_done(wait_background_tasks=True)
        assert (runner.failures, calls) == (2, 3)  # failed again: waits longer now
        freezer.tick(timedelta(seconds=121))
        async_fire_time_changed(hass, dt_util.utcnow())
        await hass.async_block_till_done(wait_background_tasks=True)

    assert runner.jobs == []
    assert runner.failures == 0
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    await assert_gas_forwarded(hass, entry, start, 28)


async def test_removing_the_recorder_removes_its_statistics_stores(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    freezer.move_to(T0)
    start = await import_gas(hass, 2)
    entry = await add_recorder(hass, statistics=[GAS])
    await backfill(hass, start, wait=True)
    await hass.async_block_till_done(wait_background_tasks=True)
    stores = [
        f"wattkeeper.statistics_cursor.{entry.entry_id}",
        f"wattkeeper.statistics_backfill.{entry.entry_id}",
    ]
    assert all(key in hass_storage for key in stores)
    assert hass_storage[stores[0]]["data"]["sums"][GAS]  # the forwarded sums' checkpoints
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert not any(key in hass_storage for key in stores)
