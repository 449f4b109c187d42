"""Backend contract: retention deletes only raw readings whose buckets are rolled up."""

from __future__ import annotations

from datetime import timedelta

import pytest

from custom_components.wattkeeper.recorder import RollupPeriod
from custom_components.wattkeeper.recorder.buckets import floor_quarter
from custom_components.wattkeeper.recorder.timeconv import from_us, to_us

from .backends import BackendHarness
from .data import ENERGY, POWER, SECOND, T0, T0_US, VOLTAGE, batch
from .test_contract_rollups import ZONE
from .test_contract_rollups import _assert_matches_reference as assert_matches_reference

DAYS = 40
STEP = 30 * 60 * SECOND
NOW = T0 + timedelta(days=DAYS)
CUTOFF_US = floor_quarter(to_us(NOW - timedelta(days=30)))
WIDE = (T0 - timedelta(days=60), NOW + timedelta(days=60))


def _counter_rows() -> list[tuple[int, float]]:
    return [(T0_US + i * STEP, 100.0 + i * 0.25) for i in range(DAYS * 48)]


async def test_retention_keeps_rollups_and_recent_raw(harness: BackendHarness) -> None:
    backend = await harness.make(time_zone="Europe/Amsterdam")
    rows = _counter_rows()
    await backend.write(batch({ENERGY: rows}))
    before = {p: await backend.read_rollups(ENERGY.key, p, *WIDE) for p in RollupPeriod}

    deleted = await backend.apply_retention(30, now=NOW)

    old = [row for row in rows if row[0] < CUTOFF_US]
    assert deleted == len(old)
    kept = await backend.read_samples(ENERGY.key, *WIDE)
    assert [(to_us(s.ts), s.value) for s in kept] == [row for row in rows if row[0] >= CUTOFF_US]
    for period in RollupPeriod:
        assert await backend.read_rollups(ENERGY.key, period, *WIDE) == before[period]

    # Rebuilding everything, with the old raw data gone, leaves the old buckets alone and
    # takes the delta of the first kept bucket from the last rolled-up reading.
    await backend.recompute_rollups(*WIDE)
    for period in RollupPeriod:
        after = await backend.read_rollups(ENERGY.key, period, *WIDE)
        assert [(r.start, r.count, r.first, r.last) for r in after] == [
            (r.start, r.count, r.first, r.last) for r in before[period]
        ]
        assert sum(r.delta or 0 for r in after) == pytest.approx(
            sum(r.delta or 0 for r in before[period])
        )

    assert await backend.apply_retention(30, now=NOW) == 0


async def test_retention_never_deletes_readings_that_are_not_rolled_up(
    harness: BackendHarness,
) -> None:
    backend = await harness.make()
    rows = _counter_rows()
    await backend.write(batch({ENERGY: rows}))
    # Raw readings that reached the database without their rollups: a series with none
    # at all, and one extra reading inside an old, rolled-up bucket of ENERGY.
    orphan = [(T0_US + i * STEP, float(i)) for i in range(30)]
    await harness.inject_raw(VOLTAGE, orphan)
    stray = (T0_US + 5 * SECOND, 100.0)
    await harness.inject_raw(ENERGY, [stray])

    deleted = await backend.apply_retention(30, now=NOW)

    old = [row for row in rows if row[0] < CUTOFF_US]
    assert deleted == len(old) - 1  # the stray's bucket no longer matches its rollup
    kept_voltage = await backend.read_samples(VOLTAGE.key, *WIDE)
    assert [(to_us(s.ts), s.value) for s in kept_voltage] == orphan
    first_bucket = await backend.read_samples(
        ENERGY.key, T0, from_us(floor_quarter(T0_US) + 900 * SECOND)
    )
    assert [(to_us(s.ts), s.value) for s in first_bucket] == [rows[0], stray]


async def test_zero_days_keeps_everything(harness: BackendHarness) -> None:
    backend = await harness.make()
    rows = [(T0_US + i * STEP, 1.0) for i in range(100)]
    await backend.write(batch({POWER: rows}))
    assert await backend.apply_retention(0, now=NOW + timedelta(days=900)) == 0
    assert len(await backend.read_samples(POWER.key, *WIDE)) == 100


async def test_late_readings_into_a_purged_bucket_add_to_its_rollup(
    harness: BackendHarness,
) -> None:
    """Retention deleted a bucket's raw readings; readings arriving later for it are
    merged with what its rollup already counts, idempotently, and are purged in turn."""
    backend = await harness.make(time_zone=ZONE)
    minute = 60 * SECOND
    recent = T0_US + 39 * 24 * 3600 * SECOND
    energy = {T0_US + i * minute: 100.0 + i * 0.5 for i in range(10)}  # one bucket, 10 readings
    energy |= {T0_US + 60 * minute + i * minute: 110.0 + i for i in range(3)}  # an hour later
    energy |= {recent + i * minute: 200.0 + i for i in range(3)}
    power = {ts: 1000.0 + i for i, ts in enumerate(energy)}
    await backend.write(batch({ENERGY: list(energy.items()), POWER: list(power.items())}))
    assert await backend.apply_retention(30, now=NOW) == 2 * 13

    # Inside the purged readings, and after them at the bucket's end (which also moves the
    # start of the next bucket's delta, that bucket being purged too).
    late_energy = {T0_US + 90 * SECOND: 100.7, T0_US + 14 * minute: 105.0}
    late_power = {T0_US + 90 * SECOND: 5.0, T0_US + 14 * minute: 3000.0}
    late = batch({ENERGY: list(late_energy.items()), POWER: list(late_power.items())})
    assert (await backend.write(late)).samples_written == 4
    all_energy, all_power = energy | late_energy, power | late_power
    [first] = await backend.read_rollups(
        ENERGY.key, RollupPeriod.QUARTER_HOUR, T0, from_us(T0_US + 15 * minute)
    )
    assert (first.count, first.first, first.last) == (12, 100.0, 105.0)
    assert first.delta == pytest.approx(105.0 - 100.0)

    async def assert_all_match() -> None:
        await assert_matches_reference(backend, ENERGY, all_energy)
        await assert_matches_reference(backend, POWER, all_power)

    await assert_all_match()
    replay = await backend.write(late)
    assert (replay.samples_written, replay.samples_duplicate) == (0, 4)
    await assert_all_match()
    await backend.recompute_rollups(*WIDE)
    await assert_all_match()

    # The late readings are purged like the others, and the rows stay as they are.
    assert await backend.apply_retention(30, now=NOW) == 4
    assert await backend.read_samples(ENERGY.key, T0, from_us(recent)) == []
    await backend.recompute_rollups(*WIDE)
    await assert_all_match()
    again = {T0_US + 60 * minute + 30 * SECOND: 110.2}
    await backend.write(batch({ENERGY: list(again.items())}))
    all_energy |= again
    await assert_all_match()
