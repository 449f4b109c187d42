"""Backend contract: rollups equal a brute-force recomputation from the raw readings."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from custom_components.wattkeeper.recorder import Backend, RollupPeriod, SeriesInfo
from custom_components.wattkeeper.recorder.timeconv import from_us

from .backends import BackendHarness
from .data import ENERGY, POWER, SECOND, T0, T0_US, batch
from .reference import rollups

ZONE = "Europe/Brussels"
# From Saturday 23:00 local, across the spring-forward night (a 23-hour Sunday),
# the week change on Monday 1 April and the month change the night before.
SPAN = timedelta(hours=50)
WIDE = (T0 - timedelta(days=40), T0 + timedelta(days=40))


def _energy_readings(rng: random.Random) -> dict[int, float]:
    """A counter at irregular intervals, with a reset to zero and a small glitch drop."""
    readings: dict[int, float] = {}
    value = 5000.0
    ts = T0_US
    step = 0
    while ts < T0_US + int(SPAN.total_seconds()) * SECOND:
        step += 1
        value += rng.uniform(0.0, 0.05)
        if step == 700:
            value = 3.0  # meter replaced: the new one had already counted 3 kWh
        if step == 1500:
            value -= 0.3  # a glitch: the meter reads lower once
        readings[ts] = round(value, 4)
        ts += rng.randint(20, 140) * SECOND + rng.randint(0, 999_999)
    return readings


def _power_readings(rng: random.Random) -> dict[int, float]:
    return {
        T0_US + i * 60 * SECOND: round(rng.uniform(-2000.0, 4000.0), 2)
        for i in range(int(SPAN.total_seconds()) // 60)
    }


async def _assert_matches_reference(
    backend: Backend, info: SeriesInfo, readings: dict[int, float]
) -> None:
    expected = rollups(
        {from_us(ts): value for ts, value in readings.items()},
        counter=info.is_counter,
        time_zone=ZONE,
    )
    for period in RollupPeriod:
        stored = await backend.read_rollups(info.key, period, *WIDE)
        assert [row.start for row in stored] == sorted(expected[period]), period
        for row in stored:
            want = expected[period][row.start]
            assert (row.count, row.min, row.max, row.first, row.last) == (
                want.count, want.min, want.max, want.first, want.last,
            ), (period, row.start)  # fmt: skip
            assert row.mean == pytest.approx(want.mean, rel=1e-9), (period, row.start)
            if info.is_counter:
                assert row.delta == pytest.approx(want.delta, abs=1e-6), (period, row.start)
            else:
                assert row.delta is None


async def _write_shuffled(
    backend: Backend, readings: dict[SeriesInfo, dict[int, float]], parts: int, seed: int
) -> None:
    """Write everything in `parts` batches of randomly mixed times: most buckets get late data."""
    rows = [(info, ts, value) for info, series in readings.items() for ts, value in series.items()]
    random.Random(seed).shuffle(rows)
    size = -(-len(rows) // parts)
    for start in range(0, len(rows), size):
        chunk: dict[SeriesInfo, list[tuple[int, float]]] = {}
        for info, ts, value in rows[start : start + size]:
            chunk.setdefault(info, []).append((ts, value))
        await backend.write(batch(chunk))


async def test_rollups_equal_brute_force_with_late_data_resets_and_dst(
    harness: BackendHarness,
) -> None:
    backend = await harness.make(time_zone=ZONE)
    rng = random.Random(42)
    readings = {ENERGY: _energy_readings(rng), POWER: _power_readings(rng)}
    await _write_shuffled(backend, readings, parts=5, seed=1)
    for info, series in readings.items():
        await _assert_matches_reference(backend, info, series)

    days = await backend.read_rollups(ENERGY.key, RollupPeriod.DAY, *WIDE)
    # Local midnights in UTC: 23:00 before the switch, 22:00 after; Sunday has 23 hours.
    assert [row.start for row in days] == [
        datetime.fromisoformat(text)
        for text in ("2024-03-29T23:00Z", "2024-03-30T23:00Z", "2024-03-31T22:00Z",
                     "2024-04-01T22:00Z")
    ]  # fmt: skip


async def test_recomputing_gives_the_same_rows(harness: BackendHarness) -> None:
    backend = await harness.make(time_zone=ZONE)
    rng = random.Random(3)
    readings = {ENERGY: _energy_readings(rng)}
    await _write_shuffled(backend, readings, parts=1, seed=2)
    before = {p: await backend.read_rollups(ENERGY.key, p, *WIDE) for p in RollupPeriod}
    recomputed = await backend.recompute_rollups(T0 - timedelta(hours=1), T0 + SPAN)
    assert recomputed == len(before[RollupPeriod.QUARTER_HOUR])
    after = {p: await backend.read_rollups(ENERGY.key, p, *WIDE) for p in RollupPeriod}
    for period in RollupPeriod:
        assert len(after[period]) == len(before[period])
        for old, new in zip(before[period], after[period], strict=True):
            assert new.start == old.start
            assert new.count == old.count
            assert new.mean == pytest.approx(old.mean, rel=1e-12)
            assert new.delta == pytest.approx(old.delta, abs=1e-9)


async def test_late_reading_at_a_bucket_end_updates_the_next_bucket_delta(
    harness: BackendHarness,
) -> None:
    """The delta of a bucket starts from the reading before it, possibly hours earlier."""
    backend = await harness.make(time_zone=ZONE)
    readings = {T0_US: 10.0, T0_US + 60 * SECOND: 11.0, T0_US + 3 * 3600 * SECOND: 20.0}
    await backend.write(batch({ENERGY: list(readings.items())}))
    late = {T0_US + 14 * 60 * SECOND: 18.0}  # last reading of the first 15-minute bucket
    await backend.write(batch({ENERGY: list(late.items())}))
    quarters = await backend.read_rollups(ENERGY.key, RollupPeriod.QUARTER_HOUR, *WIDE)
    assert [row.delta for row in quarters] == pytest.approx([8.0, 2.0])
    await _assert_matches_reference(backend, ENERGY, readings | late)


async def test_a_replaced_meter_counts_its_first_value_from_zero(
    harness: BackendHarness,
) -> None:
    """A reset at a bucket boundary: the new meter's first reading adds its whole value."""
    backend = await harness.make(time_zone=ZONE)
    minute = 60 * SECOND
    readings = {
        T0_US: 100.0,
        T0_US + minute: 101.0,
        T0_US + 15 * minute + 10 * SECOND: 0.5,  # first reading of the new meter
        T0_US + 16 * minute: 1.5,
        T0_US + 17 * minute: 1.4,  # a glitch within 10 %: adds nothing
    }
    await backend.write(batch({ENERGY: list(readings.items())}))
    quarters = await backend.read_rollups(ENERGY.key, RollupPeriod.QUARTER_HOUR, *WIDE)
    assert [row.delta for row in quarters] == pytest.approx([1.0, 1.5])
    [hour] = await backend.read_rollups(ENERGY.key, RollupPeriod.HOUR, *WIDE)
    assert hour.delta == pytest.approx(2.5)
    await backend.recompute_rollups(*WIDE)
    assert await backend.read_rollups(ENERGY.key, RollupPeriod.QUARTER_HOUR, *WIDE) == quarters
    await _assert_matches_reference(backend, ENERGY, readings)


async def test_recompute_of_an_empty_range_changes_nothing(harness: BackendHarness) -> None:
    backend = await harness.make()
    await backend.write(batch({POWER: [(T0_US, 1.0)]}))
    assert await backend.recompute_rollups(T0 + timedelta(days=1), T0 + timedelta(days=2)) == 0
    [row] = await backend.read_rollups(POWER.key, RollupPeriod.MONTH, *WIDE)
    assert row.count == 1
