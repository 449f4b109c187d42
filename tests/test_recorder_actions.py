"""The recorder's actions when they succeed: flush waits until the outbox is empty,
recompute_rollups rebuilds exactly the rollups the writes made."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import datetime, timedelta

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from custom_components.wattkeeper.const import DOMAIN
from custom_components.wattkeeper.recorder import Backend, RollupPeriod, RollupRow, SeriesKey
from custom_components.wattkeeper.recorder.rollup_plan import ROLLUP_TABLES
from simulators.homewizard import HomeWizardSimulator
from tests.recorder.conftest import embedded_pg, embedded_pg_server  # noqa: F401
from tests.recorder.pg_server import EmbeddedPostgres

from .helpers import add_homewizard
from .recorder_support import (  # noqa: F401 (fixtures)
    ReadingCounter,
    add_postgres_recorder,
    add_sqlite_recorder,
    config_dir_per_test,
    counted,
    flush,
    poll,
    refresh_health,
    state_of,
    stored_per_series,
    window,
)

QUARTER_HOUR = RollupPeriod.QUARTER_HOUR


async def test_flush_sends_the_backlog_and_waits_until_it_is_gone(
    hass: HomeAssistant,
    homewizard_sim: HomeWizardSimulator,
    embedded_pg: EmbeddedPostgres,  # noqa: F811
    counted: Callable[[str], ReadingCounter],  # noqa: F811
) -> None:
    readings = counted("flush_ok")
    recorder = await add_postgres_recorder(hass, embedded_pg, "flush_ok")
    meter = await add_homewizard(hass, homewizard_sim)
    embedded_pg.stop()
    try:
        for _ in range(3):
            homewizard_sim.step(5)
            await poll(hass, meter)
        await refresh_health(hass, recorder)
        waiting = int(state_of(hass, recorder, "backlog"))
        assert waiting == readings.total
    finally:
        embedded_pg.start()
    # The sender is backing off after the failures; the action sends now and returns
    # only once the database has committed everything.
    response = await flush(hass, entry_id=recorder.entry_id)
    assert response == {
        recorder.entry_id: {"empty": True, "backlog": 0, "readings": 0, "statistics": 0}
    }
    assert state_of(hass, recorder, "backlog") == "0"
    assert state_of(hass, recorder, "database_connected") == "on"
    assert await stored_per_series(recorder.runtime_data.backend, "test_home") == {}
    assert await stored_per_series(recorder.runtime_data.backend, "flush_ok") == (
        readings.per_series
    )


async def _all_rollups(
    backend: Backend, keys: list[SeriesKey]
) -> dict[tuple[SeriesKey, RollupPeriod], list[RollupRow]]:
    now = dt_util.utcnow()
    start, end = now - timedelta(days=40), now + timedelta(days=40)
    return {
        (key, period): await backend.read_rollups(key, period, start, end)
        for key in keys
        for period in RollupPeriod
    }


def _quarter(ts: datetime) -> datetime:
    return ts.replace(minute=ts.minute - ts.minute % 15, second=0, microsecond=0)


def _tamper(path: str) -> None:
    """Spoil every rollup table behind the backend's back (table names are constants)."""
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(f"UPDATE {ROLLUP_TABLES[QUARTER_HOUR]} SET mean = mean + 1000")  # noqa: S608
        for period, table in ROLLUP_TABLES.items():
            if period is not QUARTER_HOUR:
                conn.execute(f"DELETE FROM {table}")  # noqa: S608


async def test_recompute_rollups_rebuilds_the_same_rollups(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    recorder = await add_sqlite_recorder(hass)
    meter = await add_homewizard(hass, homewizard_sim)
    for _ in range(6):
        homewizard_sim.step(5)
        await poll(hass, meter)
    assert (await flush(hass))[recorder.entry_id]["empty"] is True
    backend = recorder.runtime_data.backend
    keys = [info.key for info in await backend.read_series()]
    written = await _all_rollups(backend, keys)

    # Brute force for one series: the 15-minute rollups are the raw readings' aggregates.
    power = SeriesKey("test_home", homewizard_sim.device["serial"], "power")
    by_quarter: dict[datetime, list[float]] = {}
    for sample in await backend.read_samples(power, *window()):
        by_quarter.setdefault(_quarter(sample.ts), []).append(sample.value)
    quarters = written[power, QUARTER_HOUR]
    expected = sorted(by_quarter.items())
    assert [(row.start, row.count) for row in quarters] == [(t, len(v)) for t, v in expected]
    assert [row.mean for row in quarters] == pytest.approx([sum(v) / len(v) for _, v in expected])

    await hass.async_add_executor_job(_tamper, hass.config.path("wattkeeper_recorder.db"))
    assert await _all_rollups(backend, keys) != written
    start, end = window()
    response = await hass.services.async_call(
        DOMAIN,
        "recompute_rollups",
        {"config_entry_id": recorder.entry_id, "start": start, "end": end},
        blocking=True,
        return_response=True,
    )
    # One 15-minute bucket per series and quarter hour holding readings.
    expected_buckets = 0
    for key in keys:
        samples = await backend.read_samples(key, start, end)
        expected_buckets += len({_quarter(sample.ts) for sample in samples})
    assert response == {recorder.entry_id: {"buckets": expected_buckets}}
    assert await _all_rollups(backend, keys) == written
