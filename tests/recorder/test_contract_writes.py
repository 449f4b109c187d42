"""Backend contract: writes are idempotent, bad values are counted, series are upserted."""

from __future__ import annotations

import dataclasses
import math
import random

from custom_components.wattkeeper.recorder import (
    RollupPeriod,
    StatisticPeriod,
    StatisticRow,
)
from custom_components.wattkeeper.recorder.timeconv import from_us

from .backends import BackendHarness
from .data import ENERGY, POWER, SECOND, SITE, T0, T0_US, VOLTAGE, batch

END = from_us(T0_US + 10**12)


async def test_schema_is_current_and_reopening_migrates_nothing(harness: BackendHarness) -> None:
    backend = await harness.make()
    first = await backend.schema_version()
    assert first >= 1
    await backend.close()
    await backend.open()
    assert await backend.schema_version() == first


async def test_roundtrip_keeps_microseconds_and_values(harness: BackendHarness) -> None:
    backend = await harness.make()
    rows = [(T0_US + i * SECOND + 123_457, 230.0 + i / 7) for i in range(50)]
    result = await backend.write(batch({VOLTAGE: rows}))
    assert (result.samples_written, result.samples_duplicate, result.samples_rejected) == (50, 0, 0)
    stored = await backend.read_samples(VOLTAGE.key, T0, END)
    assert [(s.ts, s.value) for s in stored] == [(from_us(ts), value) for ts, value in rows]
    assert all(s.series == VOLTAGE.key for s in stored)
    assert await backend.read_series() == [VOLTAGE]


async def test_replaying_a_batch_stores_it_once(harness: BackendHarness) -> None:
    backend = await harness.make()
    rows = [(T0_US + i * SECOND, float(i)) for i in range(300)]
    first = await backend.write(batch({POWER: rows}))
    rollups_before = await backend.read_rollups(POWER.key, RollupPeriod.QUARTER_HOUR, T0, END)
    again = await backend.write(batch({POWER: rows}))
    assert first.samples_written == 300
    assert (again.samples_written, again.samples_duplicate) == (0, 300)
    assert len(await backend.read_samples(POWER.key, T0, END)) == 300
    assert await backend.read_rollups(POWER.key, RollupPeriod.QUARTER_HOUR, T0, END) == (
        rollups_before
    )


async def test_batch_overlapping_stored_readings_adds_only_the_new_ones(
    harness: BackendHarness,
) -> None:
    backend = await harness.make()
    rows = [(T0_US + i * SECOND, float(i)) for i in range(150)]
    await backend.write(batch({POWER: rows[:100]}))
    result = await backend.write(batch({POWER: rows[50:]}))
    assert (result.samples_written, result.samples_duplicate) == (50, 50)
    stored = await backend.read_samples(POWER.key, T0, END)
    assert [(s.ts, s.value) for s in stored] == [(from_us(ts), value) for ts, value in rows]
    [hour] = await backend.read_rollups(POWER.key, RollupPeriod.HOUR, T0, END)
    assert (hour.count, hour.last) == (150, 149.0)


async def test_duplicate_timestamps_within_a_batch_keep_one_reading(
    harness: BackendHarness,
) -> None:
    backend = await harness.make()
    rows = [(T0_US, 1.0), (T0_US, 1.0), (T0_US + SECOND, 2.0), (T0_US + SECOND, 2.0)]
    result = await backend.write(batch({POWER: rows}))
    assert (result.samples_written, result.samples_duplicate) == (2, 2)
    assert [s.value for s in await backend.read_samples(POWER.key, T0, END)] == [1.0, 2.0]


async def test_duplicate_timestamps_with_different_values_keep_the_first(
    harness: BackendHarness,
) -> None:
    """The first reading stored for a (series, timestamp) wins, within a batch and across
    batches; later ones are counted as duplicates and change no rollup."""
    backend = await harness.make()
    first = await backend.write(batch({POWER: [(T0_US, 1.0), (T0_US, 5.0), (T0_US + SECOND, 2.0)]}))
    assert (first.samples_written, first.samples_duplicate) == (2, 1)
    second = await backend.write(
        batch({POWER: [(T0_US, 9.0), (T0_US + SECOND, 8.0), (T0_US + 2 * SECOND, 3.0)]})
    )
    assert (second.samples_written, second.samples_duplicate) == (1, 2)
    stored = await backend.read_samples(POWER.key, T0, END)
    assert [s.value for s in stored] == [1.0, 2.0, 3.0]
    for period in (RollupPeriod.QUARTER_HOUR, RollupPeriod.DAY):
        [row] = await backend.read_rollups(POWER.key, period, from_us(0), END)
        assert (row.count, row.min, row.max, row.mean, row.first, row.last) == (
            3, 1.0, 3.0, 2.0, 1.0, 3.0,
        )  # fmt: skip


async def test_out_of_order_readings_are_stored_in_time_order(harness: BackendHarness) -> None:
    backend = await harness.make()
    rows = [(T0_US + i * SECOND, float(i)) for i in range(200)]
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    for start in range(0, 200, 50):
        await backend.write(batch({POWER: shuffled[start : start + 50]}))
    stored = await backend.read_samples(POWER.key, T0, END)
    assert [(s.ts, s.value) for s in stored] == [(from_us(ts), value) for ts, value in rows]


async def test_nan_and_infinity_are_rejected_and_counted(harness: BackendHarness) -> None:
    backend = await harness.make()
    rows = [
        (T0_US, 1.0),
        (T0_US + SECOND, math.nan),
        (T0_US + 2 * SECOND, math.inf),
        (T0_US + 3 * SECOND, -math.inf),
        (T0_US + 4 * SECOND, 5.0),
    ]
    bad_statistic = StatisticRow(
        site=SITE, statistic_id="sensor.x", period=StatisticPeriod.HOUR, start=T0, mean=math.nan
    )
    result = await backend.write(batch({POWER: rows}, [bad_statistic]))
    assert (result.samples_written, result.samples_rejected) == (2, 3)
    assert result.statistics_rejected == 1
    assert [s.value for s in await backend.read_samples(POWER.key, T0, END)] == [1.0, 5.0]


async def test_renamed_series_keeps_its_readings(harness: BackendHarness) -> None:
    backend = await harness.make()
    await backend.write(batch({POWER: [(T0_US, 1.0)]}))
    renamed = dataclasses.replace(POWER, entity_id="sensor.grid_power")
    await backend.write(batch({renamed: [(T0_US + SECOND, 2.0)]}))
    assert await backend.read_series() == [renamed]
    assert [s.value for s in await backend.read_samples(POWER.key, T0, END)] == [1.0, 2.0]


async def test_statistics_are_upserted_and_corrections_replace_rows(
    harness: BackendHarness,
) -> None:
    backend = await harness.make()
    hourly = [
        StatisticRow(site=SITE, statistic_id="sensor.energy", period=StatisticPeriod.HOUR,
                     start=from_us(T0_US + h * 3600 * SECOND), state=10.0 + h, sum=float(h),
                     unit="kWh", source="recorder")
        for h in range(3)
    ]  # fmt: skip
    five = StatisticRow(
        site=SITE, statistic_id="sensor.power", period=StatisticPeriod.FIVE_MINUTES, start=T0,
        mean=1.5, min=1.0, max=2.0, unit="W",
    )  # fmt: skip
    result = await backend.write(batch({}, [*hourly, five]))
    assert result.statistics_written == 4
    corrected = dataclasses.replace(hourly[1], sum=99.0)
    await backend.write(batch({}, [corrected, hourly[2]]))
    stored = await backend.read_statistics(SITE, "sensor.energy", StatisticPeriod.HOUR, T0, END)
    assert stored == [hourly[0], corrected, hourly[2]]
    assert await backend.read_statistics(
        SITE, "sensor.power", StatisticPeriod.FIVE_MINUTES, T0, END
    ) == [five]


async def test_heartbeat_records_the_site(harness: BackendHarness) -> None:
    backend = await harness.make(time_zone="Europe/Brussels")
    await backend.heartbeat(SITE, "0.1.0", 12)
    await backend.heartbeat(SITE, "0.2.0", 3)
    sites = await backend.read_sites()
    assert [(s.site, s.version, s.backlog, s.time_zone) for s in sites] == [
        (SITE, "0.2.0", 3, "Europe/Brussels")
    ]
    assert sites[0].last_seen.tzinfo is not None


async def test_counter_and_gauge_series_in_one_batch(harness: BackendHarness) -> None:
    backend = await harness.make()
    result = await backend.write(
        batch(
            {
                POWER: [(T0_US + i * SECOND, 100.0 + i) for i in range(10)],
                ENERGY: [(T0_US + i * SECOND, 1000.0 + i / 100) for i in range(10)],
            }
        )
    )
    assert result.samples_written == 20
    [energy] = await backend.read_rollups(ENERGY.key, RollupPeriod.HOUR, T0, END)
    [power] = await backend.read_rollups(POWER.key, RollupPeriod.HOUR, T0, END)
    assert energy.delta is not None
    assert math.isclose(energy.delta, 0.09)
    assert power.delta is None
    assert (power.count, power.min, power.max, power.first, power.last) == (10, 100, 109, 100, 109)
