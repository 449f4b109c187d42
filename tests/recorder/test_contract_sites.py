"""Backend contract: households sharing one database never act on each other's series."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from custom_components.wattkeeper.recorder import RollupPeriod, SeriesInfo
from custom_components.wattkeeper.recorder.buckets import floor_quarter
from custom_components.wattkeeper.recorder.timeconv import to_us

from .backends import BackendHarness
from .data import ENERGY, POWER, SECOND, T0, T0_US, batch

NEIGHBOUR = "neighbour"
STEP = 30 * 60 * SECOND
DAYS = 40
NOW = T0 + timedelta(days=DAYS)
CUTOFF_US = floor_quarter(to_us(NOW - timedelta(days=30)))
WIDE = (T0 - timedelta(days=60), NOW + timedelta(days=60))


def of_neighbour(info: SeriesInfo) -> SeriesInfo:
    return dataclasses.replace(info, site=NEIGHBOUR)


def rows(base: float) -> list[tuple[int, float]]:
    return [(T0_US + i * STEP, base + i * 0.25) for i in range(DAYS * 48)]


async def test_two_sites_in_one_database_keep_to_their_own_series(
    harness: BackendHarness,
) -> None:
    home = await harness.make()
    neighbour = await harness.make(site=NEIGHBOUR, shared=True)
    their_energy, their_power = of_neighbour(ENERGY), of_neighbour(POWER)
    await home.write(batch({ENERGY: rows(100.0), POWER: rows(0.0)}))
    await neighbour.write(batch({their_energy: rows(500.0), their_power: rows(7.0)}))

    assert {info.key for info in await home.read_series()} == {ENERGY.key, POWER.key}
    assert {info.key for info in await neighbour.read_series()} == {
        their_energy.key,
        their_power.key,
    }

    # Retention of one household deletes only its own old readings.
    old = sum(ts < CUTOFF_US for ts, _ in rows(0.0))
    assert await home.apply_retention(30, now=NOW) == 2 * old
    assert len(await home.read_samples(ENERGY.key, *WIDE)) == DAYS * 48 - old
    for info in (their_energy, their_power):
        assert len(await neighbour.read_samples(info.key, *WIDE)) == DAYS * 48

    # A reading of the neighbour stored without its rollup: the home's recomputation
    # leaves it alone, the neighbour's own rolls it up.
    stray = T0_US + DAYS * 48 * STEP + 5 * SECOND
    await harness.inject_raw(their_power, [(stray, 1.0)])
    last_hour = (T0 + timedelta(days=DAYS) - timedelta(hours=1), WIDE[1])

    async def neighbour_rolled_up() -> int:
        hours = await neighbour.read_rollups(their_power.key, RollupPeriod.HOUR, *WIDE)
        return sum(row.count for row in hours)

    assert await neighbour_rolled_up() == DAYS * 48
    home_buckets = await home.recompute_rollups(*last_hour)
    assert home_buckets == 2 * 2  # two series, two 15-minute buckets with readings each
    assert await neighbour_rolled_up() == DAYS * 48
    assert await neighbour.recompute_rollups(*last_hour) == 2 * 2 + 1
    assert await neighbour_rolled_up() == DAYS * 48 + 1
