"""The flukso.net history backfill: options step, hourly statistics, idempotence, failures."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.const import EVENT_RECORDER_5MIN_STATISTICS_GENERATED
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)

from custom_components.wattkeeper.const import DOMAIN
from custom_components.wattkeeper.flukso_backfill import BackfillReport, last_backfill, tmpo_client
from custom_components.wattkeeper.flukso_entry import CONF_TMPO_TOKENS, CONF_TMPO_URL
from custom_components.wattkeeper.meters.flukso_tmpo import DEFAULT_BASE_URL
from simulators.flukso import FluksoSimulator
from simulators.flukso_tmpo import TmpoSensor, TmpoServer

from .flukso_helpers import (
    GUARD,
    add_flukso,
    entity_id,
    pumping,
    quick_meters,  # noqa: F401  (autouse)
    role_input,
    steady_amqtt,  # noqa: F401  (autouse)
    tick,
)

TOKEN = "c0nsumpt10n-t0ken"
# Four hours before now, on the hour: the history ends well before Home Assistant's own.
H0 = int(dt_util.utcnow().replace(minute=0, second=0, microsecond=0).timestamp()) - 4 * 3600
# The consumption clamp's counter on flukso.net (Wh): readings every half hour, then a gap.
HISTORY = [
    (H0, 100.0),
    (H0 + 1800, 150.0),
    (H0 + 3600, 200.0),
    (H0 + 5400, 300.0),
    (H0 + 9000, 400.5),
]


def hour(n: int) -> datetime:
    return datetime.fromtimestamp(H0 + n * 3600, UTC)


def field(sim: FluksoSimulator, port: int) -> str:
    """A token field of the backfill form: named after the sensor, as the user named it."""
    return sim.sensor(port=port).function


@pytest.fixture
async def flm02() -> AsyncIterator[FluksoSimulator]:
    sim = FluksoSimulator("FLM02", counter_every=1)
    # Run the meter's counters past the history's last reading before it goes online.
    while sim._energy_wh.get("consumption", 0.0) < 420:
        await sim.tick()
    await sim.start(autorun=False)
    yield sim
    await sim.stop()


@pytest.fixture
async def tmpo(flm02: FluksoSimulator) -> AsyncIterator[TmpoServer]:
    server = TmpoServer(now=H0 + 5 * 3600)
    server.add_sensor(
        TmpoSensor(
            sensor_id=flm02.sensor(port=1).id,
            token=TOKEN,
            points={0: HISTORY},
            config={"type": "electricity", "data_type": "counter"},
        )
    )
    # The solar clamp's token belongs to a gauge series: nothing to import from it.
    server.add_sensor(
        TmpoSensor(
            sensor_id=flm02.sensor(port=2).id,
            token="s0lar",
            points={0: [(H0, 1200.0), (H0 + 60, 1100.0)]},
            config={"type": "electricity", "data_type": "gauge"},
        )
    )
    await server.start()
    yield server
    await server.stop()


async def _compile_statistics(hass: HomeAssistant, sim: FluksoSimulator, entry: Any) -> None:
    """Home Assistant's own 5-minute statistics of the entities: the backfill's anchor."""
    await tick(hass, sim, entry)
    await async_wait_recording_done(hass)
    now = dt_util.utcnow()
    do_adhoc_statistics(
        hass, start=now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
    )
    await async_wait_recording_done(hass)


async def _backfill(
    hass: HomeAssistant, sim: FluksoSimulator, entry: Any, form: dict[str, str]
) -> dict[str, Any]:
    """Walk the options flow to the backfill step and submit `form`; returns the last result."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], role_input(sim.expected_roles())
    )
    assert result["step_id"] == "flukso_backfill"
    async with pumping(sim):
        result = await hass.config_entries.options.async_configure(result["flow_id"], form)
        await hass.async_block_till_done()
    return dict(result)


async def _statistics(hass: HomeAssistant, statistic_id: str, period: str) -> list[Any]:
    # Hourly rows end before the current hour: when the test runs in an hour's last five
    # minutes, compiling that 5-minute period also compiles Home Assistant's own hour.
    end = dt_util.utcnow().replace(minute=0, second=0, microsecond=0) if period == "hour" else None
    rows = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        hour(-1),
        end,
        {statistic_id},
        period,
        None,
        {"state", "sum"},
    )
    return [
        (dt_util.utc_from_timestamp(r["start"]), r["state"], r["sum"]) for r in rows[statistic_id]
    ]


async def test_backfill_imports_hourly_statistics_and_is_idempotent(
    recorder_mock: None, hass: HomeAssistant, flm02: FluksoSimulator, tmpo: TmpoServer
) -> None:
    entry = await add_flukso(hass, flm02)
    await _compile_statistics(hass, flm02, entry)
    serial, clamp = flm02.device_id, flm02.sensor(port=1).id
    targets = [
        entity_id(hass, serial, "energy_consumption"),
        entity_id(hass, serial, f"energy_import_c{clamp}"),
    ]
    anchors = {target: (await _statistics(hass, target, "5minute"))[0] for target in targets}

    reports: list[BackfillReport] = []
    form = {CONF_TMPO_URL: tmpo.base_url, field(flm02, 1): TOKEN}
    for _ in range(2):
        result = await _backfill(hass, flm02, entry, form)
        assert result["type"] is FlowResultType.CREATE_ENTRY
        task = last_backfill(hass, entry.entry_id)
        assert task is not None
        reports.append(await task)
        # A stored token is imported once; cleared and entered again, it runs again.
        await _backfill(hass, flm02, entry, {CONF_TMPO_URL: tmpo.base_url})
        assert CONF_TMPO_TOKENS not in entry.options
        for target in targets:
            _, state, total = anchors[target]
            rows = await _statistics(hass, target, "hour")
            # The tmpo hours (state: last reading of the hour, in kWh) ...
            assert [(start, row_state) for start, row_state, _ in rows] == [
                (hour(0), 0.15),
                (hour(1), 0.3),
                (hour(2), 0.4005),
            ]
            # ... grow as the counter grew, and run on into Home Assistant's own sums.
            sums = [row_sum for _, _, row_sum in rows]
            assert [b - a for a, b in itertools.pairwise(sums)] == [
                pytest.approx(0.15),
                pytest.approx(0.1005),
            ]
            assert sums[-1] == pytest.approx(total - (state - 0.4005))

    assert reports[0] == reports[1]
    assert reports[0].imported == dict.fromkeys(targets, 3)
    assert (reports[0].failed, reports[0].skipped, reports[0].unnamed) == ({}, [], [])
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"flukso_backfill_{entry.entry_id}") is None


async def test_unchanged_tokens_are_not_checked_or_imported_again(
    recorder_mock: None, hass: HomeAssistant, flm02: FluksoSimulator, tmpo: TmpoServer
) -> None:
    entry = await add_flukso(hass, flm02)
    await _compile_statistics(hass, flm02, entry)
    clamp = flm02.sensor(port=1).id
    await _backfill(hass, flm02, entry, {CONF_TMPO_URL: tmpo.base_url, field(flm02, 1): TOKEN})
    first = last_backfill(hass, entry.entry_id)
    assert first is not None
    await first
    assert entry.options[CONF_TMPO_TOKENS] == {clamp: TOKEN}

    await tmpo.stop()  # offline: flukso.net cannot be asked
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], role_input(flm02.expected_roles())
    )
    # The stored token is pre-filled; the form sends it back as it is.
    suggested = {
        str(marker.schema): (marker.description or {}).get("suggested_value")
        for marker in result["data_schema"].schema
    }
    assert suggested[field(flm02, 1)] == TOKEN
    async with pumping(flm02):
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {CONF_TMPO_URL: tmpo.base_url, field(flm02, 1): TOKEN}
        )
        await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert last_backfill(hass, entry.entry_id) is first  # nothing started again
    assert entry.options[CONF_TMPO_TOKENS] == {clamp: TOKEN}


async def test_backfill_waits_for_the_first_statistics(
    recorder_mock: None, hass: HomeAssistant, flm02: FluksoSimulator, tmpo: TmpoServer
) -> None:
    entry = await add_flukso(hass, flm02)
    await _backfill(hass, flm02, entry, {CONF_TMPO_URL: tmpo.base_url, field(flm02, 1): TOKEN})
    task = last_backfill(hass, entry.entry_id)
    assert task is not None
    await hass.async_block_till_done()
    assert not task.done()  # no statistics yet: nothing to join the history onto

    await _compile_statistics(hass, flm02, entry)
    # Announce the compile until the backfill hears it (it may still be busy elsewhere).
    async with asyncio.timeout(GUARD):
        while not task.done():
            hass.bus.async_fire(EVENT_RECORDER_5MIN_STATISTICS_GENERATED)
            await asyncio.sleep(0.05)
    report = task.result()
    assert sorted(report.imported.values()) == [3, 3]
    rows = await _statistics(hass, entity_id(hass, flm02.device_id, "energy_consumption"), "hour")
    assert [start for start, _, _ in rows] == [hour(0), hour(1), hour(2)]


async def test_backfill_of_a_gauge_series_raises_a_repair_issue(
    recorder_mock: None, hass: HomeAssistant, flm02: FluksoSimulator, tmpo: TmpoServer
) -> None:
    entry = await add_flukso(hass, flm02)
    await _compile_statistics(hass, flm02, entry)
    solar = flm02.sensor(port=2).id
    await _backfill(hass, flm02, entry, {CONF_TMPO_URL: tmpo.base_url, field(flm02, 2): "s0lar"})
    task = last_backfill(hass, entry.entry_id)
    assert task is not None
    report = await task
    assert report.imported == {}
    assert list(report.failed) == [solar]
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"flukso_backfill_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_key == "flukso_backfill_failed"


async def test_token_errors_are_shown_in_the_form(
    recorder_mock: None, hass: HomeAssistant, flm02: FluksoSimulator, tmpo: TmpoServer
) -> None:
    entry = await add_flukso(hass, flm02)
    clamp = field(flm02, 1)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], role_input(flm02.expected_roles())
    )
    flow_id = result["flow_id"]
    result = await hass.config_entries.options.async_configure(
        flow_id, {CONF_TMPO_URL: tmpo.base_url, clamp: "wrong"}
    )
    assert result["errors"] == {clamp: "invalid_token"}
    result = await hass.config_entries.options.async_configure(
        flow_id, {CONF_TMPO_URL: "http://127.0.0.1:9", clamp: TOKEN}
    )
    assert result["errors"] == {"base": "tmpo_unreachable"}
    assert last_backfill(hass, entry.entry_id) is None  # nothing was started


async def test_backfill_needs_the_recorder(hass: HomeAssistant, flm02: FluksoSimulator) -> None:
    entry = await add_flukso(hass, flm02)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], role_input(flm02.expected_roles())
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {field(flm02, 1): TOKEN}
    )
    assert result["errors"] == {"base": "recorder_not_loaded"}


async def test_flukso_net_is_asked_with_flukso_s_ca(hass: HomeAssistant, tmpo: TmpoServer) -> None:
    real = await tmpo_client(hass, DEFAULT_BASE_URL)
    assert real.ssl_context is not None
    subjects = [cert["subject"] for cert in real.ssl_context.get_ca_certs()]
    assert any((("commonName", "flukso.net"),) in subject for subject in subjects)
    # Built once, outside the event loop, and shared.
    assert (await tmpo_client(hass, DEFAULT_BASE_URL)).ssl_context is real.ssl_context
    # Any other server (a copy of the API, this double) is verified as usual.
    assert (await tmpo_client(hass, tmpo.base_url)).ssl_context is None
