"""No reading is lost while the recorder entry is not loaded.

At start-up meter entries may load before the recorder entry, and a reload of
the recorder (an options change) leaves a gap between unload and setup. The
snapshot hub keeps what the meters deliver meanwhile and hands it over when the
recorder loads; the recorder's choice of meters still applies. Counts are exact.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant

from custom_components.wattkeeper import recorder_hub
from custom_components.wattkeeper.recorder import SeriesKey
from custom_components.wattkeeper.recorder_hub import DATA_HUB
from simulators.homewizard import HomeWizardSimulator

from .helpers import add_homewizard
from .recorder_support import (  # noqa: F401 (fixtures)
    ReadingCounter,
    add_sqlite_recorder,
    config_dir_per_test,
    counted,
    flush,
    poll,
    state_of,
    stored_per_series,
)


@pytest.fixture
async def kwh_sim() -> AsyncIterator[HomeWizardSimulator]:
    sim = HomeWizardSimulator("kwh1")
    await sim.start()
    yield sim
    await sim.stop()


async def test_meter_loaded_before_the_recorder_at_start_up(
    hass: HomeAssistant,
    homewizard_sim: HomeWizardSimulator,
    counted: Callable[[str], ReadingCounter],  # noqa: F811
) -> None:
    readings = counted("test_home")
    recorder = await add_sqlite_recorder(hass)
    meter = await add_homewizard(hass, homewizard_sim)
    await poll(hass, meter, 2)
    # Home Assistant stops; at the next start the meter loads and polls first.
    for entry in (meter, recorder):
        assert await hass.config_entries.async_unload(entry.entry_id)
    assert await hass.config_entries.async_setup(meter.entry_id)
    for _ in range(3):
        homewizard_sim.step(5)
        await poll(hass, meter)
    assert recorder.state is ConfigEntryState.NOT_LOADED
    assert await hass.config_entries.async_setup(recorder.entry_id)
    await hass.async_block_till_done()
    assert hass.data[DATA_HUB].buffered(recorder.entry_id) == 0

    assert (await flush(hass))[recorder.entry_id]["empty"] is True
    stored = await stored_per_series(recorder.runtime_data.backend, "test_home")
    assert stored == readings.per_series
    power = SeriesKey("test_home", homewizard_sim.device["serial"], "power")
    assert stored[power] == 7  # 1 + 2 polls, then 1 + 3 polls before the recorder loaded


async def test_polls_during_a_recorder_reload_keep_the_meter_choice(
    hass: HomeAssistant,
    homewizard_sim: HomeWizardSimulator,
    kwh_sim: HomeWizardSimulator,
    counted: Callable[[str], ReadingCounter],  # noqa: F811
) -> None:
    p1 = await add_homewizard(hass, homewizard_sim)
    await add_homewizard(hass, kwh_sim)
    # Counted from here: the setup readings came before the recorder existed.
    readings = counted("test_home")
    recorder = await add_sqlite_recorder(hass, meters=[p1.entry_id])
    await poll(hass, p1, 2)  # every meter's timer fires: both meters poll
    # The gap of a reload: unloaded, both meters poll, set up again.
    assert await hass.config_entries.async_unload(recorder.entry_id)
    await poll(hass, p1, 3)
    assert hass.data[DATA_HUB].buffered(recorder.entry_id) == 6
    assert await hass.config_entries.async_setup(recorder.entry_id)
    await hass.async_block_till_done()
    assert (await flush(hass))[recorder.entry_id]["empty"] is True

    stored = await stored_per_series(recorder.runtime_data.backend, "test_home")
    assert stored == readings.per_meter_entry[p1.entry_id]
    assert all(key.device != kwh_sim.device["serial"] for key in stored)
    power = SeriesKey("test_home", homewizard_sim.device["serial"], "power")
    assert stored[power] == 5  # two polls, three during the gap


async def test_an_options_change_reloads_without_losing_readings(
    hass: HomeAssistant,
    homewizard_sim: HomeWizardSimulator,
    kwh_sim: HomeWizardSimulator,
    counted: Callable[[str], ReadingCounter],  # noqa: F811
) -> None:
    """Through the options flow: the reloaded recorder records the second meter as well,
    and has lost none of the first's readings."""
    readings = counted("test_home")
    p1 = await add_homewizard(hass, homewizard_sim)
    kwh = await add_homewizard(hass, kwh_sim)
    recorder = await add_sqlite_recorder(hass, meters=[p1.entry_id])
    await poll(hass, p1, 2)
    result = await hass.config_entries.options.async_init(recorder.entry_id)
    assert result["step_id"] == "recorder_options"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {"meters": [p1.entry_id, kwh.entry_id], "retention_days": 30, "quota_mb": 1024},
    )
    await hass.async_block_till_done()  # the reload
    assert recorder.state is ConfigEntryState.LOADED
    await poll(hass, p1, 2)  # both meters
    assert (await flush(hass))[recorder.entry_id]["empty"] is True
    stored = await stored_per_series(recorder.runtime_data.backend, "test_home")
    p1_power = SeriesKey("test_home", homewizard_sim.device["serial"], "power")
    kwh_power = SeriesKey("test_home", kwh_sim.device["serial"], "power")
    assert stored[p1_power] == readings.per_series[p1_power] - 1  # all but the pre-recorder one
    assert stored[kwh_power] == 2  # the polls after the options change


async def test_a_full_buffer_drops_the_oldest_and_counts_them(
    hass: HomeAssistant,
    homewizard_sim: HomeWizardSimulator,
    counted: Callable[[str], ReadingCounter],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(recorder_hub, "MAX_BUFFERED", 2)
    readings = counted("test_home")
    recorder = await add_sqlite_recorder(hass)
    meter = await add_homewizard(hass, homewizard_sim)
    assert await hass.config_entries.async_unload(recorder.entry_id)
    before = readings.total
    await poll(hass, meter, 5)
    per_poll = (readings.total - before) // 5
    assert await hass.config_entries.async_setup(recorder.entry_id)
    await hass.async_block_till_done()
    assert (await flush(hass))[recorder.entry_id]["empty"] is True
    assert state_of(hass, recorder, "dropped") == str(3 * per_poll)
    stored = await stored_per_series(recorder.runtime_data.backend, "test_home")
    assert sum(stored.values()) == readings.total - 3 * per_poll


async def test_a_removed_recorder_is_kept_nothing_for(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    recorder = await add_sqlite_recorder(hass)
    meter = await add_homewizard(hass, homewizard_sim)
    assert await hass.config_entries.async_unload(recorder.entry_id)
    await poll(hass, meter, 2)
    assert hass.data[DATA_HUB].buffered(recorder.entry_id) == 2
    assert await hass.config_entries.async_remove(recorder.entry_id)
    await poll(hass, meter, 2)
    assert hass.data[DATA_HUB].buffered(recorder.entry_id) == 0
