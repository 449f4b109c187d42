"""Helpers for the external recorder's Home Assistant tests.

The recorder is added through the config flow as a user would; readings come
from the HomeWizard twin over HTTP; databases are real (SQLite on disk, the
embedded PostgreSQL server, the CQL protocol double). Counts are exact: a
`ReadingCounter` counts every reading the meters deliver, the database must
hold exactly those.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.wattkeeper.const import DOMAIN, SIGNAL_SNAPSHOT
from custom_components.wattkeeper.meters.model import Snapshot
from custom_components.wattkeeper.recorder import Backend, SeriesKey
from custom_components.wattkeeper.recorder.sender import SenderActivity
from custom_components.wattkeeper.recorder_runtime import RecorderConfigEntry
from tests.recorder.pg_server import EmbeddedPostgres


@pytest.fixture(autouse=True)
def config_dir_per_test(hass: HomeAssistant, tmp_path: Path) -> None:
    """The outbox and the embedded database live in the config folder: one per test."""
    hass.config.config_dir = str(tmp_path)


@pytest.fixture(scope="session")
def driver_reactor_thread() -> None:
    """Started before any test counts threads: it lives as long as the process."""
    from tests.recorder.test_cassandra_contract import start_driver_reactor

    start_driver_reactor()


@pytest.fixture
def asyncio_reactor(driver_reactor_thread: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The driver's asyncio reactor: libev's thread outlives a test (see the Cassandra tests)."""
    from custom_components.wattkeeper import recorder_runtime
    from custom_components.wattkeeper.recorder import CassandraConfig

    monkeypatch.setattr(
        recorder_runtime, "CassandraConfig", partial(CassandraConfig, reactor="asyncio")
    )


class ReadingCounter:
    """Every reading the meters delivered (SIGNAL_SNAPSHOT), per series of one site."""

    def __init__(self, hass: HomeAssistant, site: str) -> None:
        self.site = site
        self.per_series: Counter[SeriesKey] = Counter()
        self.per_meter_entry: dict[str, Counter[SeriesKey]] = {}
        self.unsubscribe = async_dispatcher_connect(hass, SIGNAL_SNAPSHOT, self._count)

    @callback
    def _count(self, entry_id: str, snapshot: Snapshot) -> None:
        of_entry = self.per_meter_entry.setdefault(entry_id, Counter())
        for meter in snapshot.all_meters():
            for key in meter.values:
                series = SeriesKey(self.site, meter.identity.serial, key.id)
                self.per_series[series] += 1
                of_entry[series] += 1

    @property
    def total(self) -> int:
        return sum(self.per_series.values())


@pytest.fixture
def counted(hass: HomeAssistant) -> Iterator[Callable[[str], ReadingCounter]]:
    counters: list[ReadingCounter] = []

    def start(site: str) -> ReadingCounter:
        counters.append(ReadingCounter(hass, site))
        return counters[-1]

    yield start
    for counter in counters:
        counter.unsubscribe()


async def start_recorder_flow(hass: HomeAssistant, **fields: Any) -> dict[str, Any]:
    """Menu → recorder step with the given fields (SQLite, site "Test home" by default)."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": "user"})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "recorder"}
    )
    assert result["step_id"] == "recorder"
    return dict(
        await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {"backend": "sqlite", "site": "Test home", "retention_days": 30, **fields},
        )
    )


async def add_sqlite_recorder(hass: HomeAssistant, **fields: Any) -> RecorderConfigEntry:
    result = await start_recorder_flow(hass, **fields)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    entry: RecorderConfigEntry = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    return entry


async def add_postgres_recorder(
    hass: HomeAssistant, server: EmbeddedPostgres, site: str, **connection: Any
) -> RecorderConfigEntry:
    """A PostgreSQL recorder; the server is shared by the session, so a site of its own."""
    result = await start_recorder_flow(hass, backend="postgresql", site=site)
    assert result["step_id"] == "recorder_postgresql"
    result = dict(
        await hass.config_entries.flow.async_configure(
            result["flow_id"], connection or {"dsn": server.dsn("postgres")}
        )
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    entry: RecorderConfigEntry = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    return entry


async def poll(hass: HomeAssistant, meter: ConfigEntry, times: int = 1) -> None:
    """Let a polled meter's coordinator read `times` more readings."""
    for _ in range(times):
        async_fire_time_changed(
            hass, dt_util.utcnow() + meter.runtime_data.coordinator.update_interval
        )
        await hass.async_block_till_done(wait_background_tasks=True)


async def flush(
    hass: HomeAssistant, timeout: float = 30, entry_id: str | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {"timeout": timeout}
    if entry_id is not None:
        data["config_entry_id"] = entry_id
    response = await hass.services.async_call(
        DOMAIN, "flush", data, blocking=True, return_response=True
    )
    assert response is not None
    return dict(response)


def recorder_entity(hass: HomeAssistant, recorder: ConfigEntry, key: str) -> str:
    """The entity id of one of the recorder's health entities, by translation key."""
    registry = er.async_get(hass)
    for entry in er.async_entries_for_config_entry(registry, recorder.entry_id):
        if entry.translation_key == key:
            return entry.entity_id
    raise AssertionError(f"the recorder has no {key} entity")


def state_of(hass: HomeAssistant, recorder: ConfigEntry, key: str) -> str:
    state = hass.states.get(recorder_entity(hass, recorder, key))
    assert state is not None
    return state.state


async def settle(hass: HomeAssistant, recorder: RecorderConfigEntry, within: float = 10) -> None:
    """Wait (in real time) until the sender has done what the frozen clock made due.

    Its batches go through threads the clock does not move, so a test that steps the
    clock faster than those run would see the sender fall behind the readings."""
    sender, outbox = recorder.runtime_data.sender, recorder.runtime_data.outbox
    pause = 0.002
    for _ in range(int(within / pause)):
        await hass.async_block_till_done()
        activity = sender.activity
        if activity is SenderActivity.RETRYING or (
            activity is SenderActivity.IDLE and outbox.is_empty
        ):
            return
        # The loop's timers and time.monotonic follow the frozen clock: pause in a thread.
        await asyncio.to_thread(time.sleep, pause)
    raise AssertionError(
        f"the recorder's sender is still {activity} after {within} s "
        f"(backlog {outbox.status().backlog_samples})"
    )


async def refresh_health(hass: HomeAssistant, recorder: RecorderConfigEntry) -> None:
    await recorder.runtime_data.health.async_refresh()
    await hass.async_block_till_done()


def window() -> tuple[Any, Any]:
    now = dt_util.utcnow()
    return now - timedelta(hours=2), now + timedelta(hours=2)


async def stored_per_series(backend: Backend, site: str) -> Counter[SeriesKey]:
    """How many raw readings the database holds per series of `site` (and checks: once each)."""
    start, end = window()
    stored: Counter[SeriesKey] = Counter()
    for info in await backend.read_series():
        if info.site != site:
            continue
        samples = await backend.read_samples(info.key, start, end)
        assert len({sample.ts for sample in samples}) == len(samples), info.key
        if samples:
            stored[info.key] = len(samples)
    return stored


async def wait_until(
    condition: Callable[[], bool], step: Callable[[], Awaitable[object]], attempts: int = 60
) -> None:
    """Run `step` until `condition` holds; fail after `attempts` steps (no wall-clock bound)."""
    for _ in range(attempts):
        if condition():
            return
        await step()
    assert condition(), "the condition never held"
