"""Backend contract: forwarded statistics' meta, and their day/week/month rollups.

The rollups are checked against a brute-force reduction written independently
of the library, with Home Assistant's semantics (statistics_during_period with
period day/week/month, and its "change"): every bucket straight from its hourly
rows, in Europe/Brussels, across the spring-forward night of 2025-03-30 and the
March/April month boundary.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from custom_components.wattkeeper.recorder import (
    Backend,
    RollupPeriod,
    StatisticPeriod,
    StatisticRow,
)
from custom_components.wattkeeper.recorder.statistics_rows import StatisticMeta

from .backends import BackendHarness
from .data import SITE, batch

ZONE = "Europe/Brussels"
PERIODS = (RollupPeriod.DAY, RollupPeriod.WEEK, RollupPeriod.MONTH)
# Monday 24 March 2025, local midnight; 16 days: two week changes, DST, a month change.
START = datetime(2025, 3, 24, tzinfo=ZoneInfo(ZONE)).astimezone(UTC)
HOURS = 16 * 24 - 1  # the spring-forward day has 23 hours
WIDE = (START - timedelta(days=40), START + timedelta(days=60))
METER = "sensor.grid_import"
POWER = "sensor.house_power"


def meter_rows(site: str = SITE, hours: int = HOURS) -> list[StatisticRow]:
    """A total_increasing meter: the state resets once, the sum keeps counting."""
    rows = []
    state = total = 0.0
    rng = random.Random(11)
    for hour in range(hours):
        step = round(rng.uniform(0.0, 2.5), 3)
        state = 0.25 if hour == 200 else state + step  # the meter was replaced
        total += step
        rows.append(
            StatisticRow(site=site, statistic_id=METER, period=StatisticPeriod.HOUR,
                         start=START + timedelta(hours=hour), state=state, sum=total,
                         unit="kWh", source="recorder")
        )  # fmt: skip
    return rows


def power_rows(hours: int = HOURS) -> list[StatisticRow]:
    rows = []
    rng = random.Random(5)
    for hour in range(hours):
        low = rng.uniform(-2000.0, 1000.0)
        high = low + rng.uniform(0.0, 3000.0)
        rows.append(
            StatisticRow(site=SITE, statistic_id=POWER, period=StatisticPeriod.HOUR,
                         start=START + timedelta(hours=hour), mean=rng.uniform(low, high),
                         min=low, max=high, unit="W", source="recorder")
        )  # fmt: skip
    return rows


@dataclass
class Expected:
    start: datetime
    count: int
    mean: float | None
    min: float | None
    max: float | None
    state: float | None
    sum: float | None
    change: float | None


def _bucket(period: RollupPeriod, moment: datetime) -> datetime:
    local = moment.astimezone(ZoneInfo(ZONE)).date()
    if period is RollupPeriod.WEEK:
        local -= timedelta(days=local.weekday())
    elif period is RollupPeriod.MONTH:
        local = local.replace(day=1)
    return datetime(local.year, local.month, local.day, tzinfo=ZoneInfo(ZONE)).astimezone(UTC)


def reference(rows: list[StatisticRow], period: RollupPeriod) -> list[Expected]:
    """Home Assistant's reduction of hourly rows to `period`, and its change (but none
    for the first bucket, which has no sum before it)."""
    buckets: dict[datetime, list[StatisticRow]] = {}
    for row in sorted(rows, key=lambda r: r.start):
        buckets.setdefault(_bucket(period, row.start), []).append(row)
    result = []
    previous: float | None = None
    for start, hours in buckets.items():
        means = [h.mean for h in hours if h.mean is not None]
        mins = [h.min for h in hours if h.min is not None]
        maxes = [h.max for h in hours if h.max is not None]
        last = hours[-1]
        result.append(
            Expected(start=start, count=len(hours), mean=sum(means) / len(means) if means else None,
                     min=min(mins) if mins else None, max=max(maxes) if maxes else None,
                     state=last.state, sum=last.sum,
                     change=None if last.sum is None or previous is None
                     else last.sum - previous)
        )  # fmt: skip
        previous = last.sum
    return result


async def assert_rollups_match(
    backend: Backend, rows: list[StatisticRow], site: str = SITE
) -> None:
    statistic_id = rows[0].statistic_id
    for period in PERIODS:
        stored = await backend.read_statistic_rollups(site, statistic_id, period, *WIDE)
        expected = reference(rows, period)
        assert [row.start for row in stored] == [want.start for want in expected], period
        for row, want in zip(stored, expected, strict=True):
            assert row.period is period
            assert (row.count, row.min, row.max, row.state, row.sum, row.change) == (
                want.count, want.min, want.max, want.state, want.sum, want.change,
            ), (period, row.start)  # fmt: skip
            if period is RollupPeriod.DAY:
                assert row.mean == want.mean, row.start  # the same float as Home Assistant
            else:
                assert row.mean == pytest.approx(want.mean, rel=1e-12), (period, row.start)


async def write_shuffled(backend: Backend, rows: list[StatisticRow], parts: int, seed: int) -> None:
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)
    size = -(-len(shuffled) // parts)
    for offset in range(0, len(shuffled), size):
        await backend.write(batch({}, shuffled[offset : offset + size]))


async def test_rollups_equal_home_assistants_reduction_across_dst_and_months(
    harness: BackendHarness,
) -> None:
    backend = await harness.make(time_zone=ZONE)
    meter, power = meter_rows(), power_rows()
    await write_shuffled(backend, meter + power, parts=7, seed=3)
    await assert_rollups_match(backend, meter)
    await assert_rollups_match(backend, power)

    days = await backend.read_statistic_rollups(SITE, METER, RollupPeriod.DAY, *WIDE)
    assert len(days) == 16
    # Local midnights in UTC: 23:00 before the switch, 22:00 after; Sunday has 23 hours.
    sunday = days[6]
    assert (sunday.start, sunday.count) == (datetime(2025, 3, 29, 23, tzinfo=UTC), 23)
    assert days[7].start == datetime(2025, 3, 30, 22, tzinfo=UTC)
    months = await backend.read_statistic_rollups(SITE, METER, RollupPeriod.MONTH, *WIDE)
    assert [m.start for m in months] == [
        datetime(2025, 2, 28, 23, tzinfo=UTC),
        datetime(2025, 3, 31, 22, tzinfo=UTC),
    ]
    # Nothing before: no change to tell (Home Assistant would count the whole sum).
    assert (months[0].change, months[1].change) == (None, months[1].sum - months[0].sum)


async def test_history_written_after_newer_rows_updates_the_following_buckets(
    harness: BackendHarness,
) -> None:
    """A backfill of older history reaches the change of the first bucket after it."""
    backend = await harness.make(time_zone=ZONE)
    meter = meter_rows()
    newer = [row for row in meter if row.start >= START + timedelta(days=9)]
    await backend.write(batch({}, newer))
    for offset in range(0, len(meter) - len(newer), 50):  # oldest chunks first, as backfill does
        await backend.write(batch({}, meter[offset : min(offset + 50, len(meter) - len(newer))]))
    await assert_rollups_match(backend, meter)


async def test_a_correction_of_sums_replaces_the_rollups_it_changes(
    harness: BackendHarness,
) -> None:
    backend = await harness.make(time_zone=ZONE)
    meter = meter_rows()
    await backend.write(batch({}, meter))
    # The developer tools' "adjust sum": every sum from some hour on moves by the same amount.
    cut = START + timedelta(days=6, hours=5)
    corrected = [
        dataclasses.replace(row, sum=(row.sum or 0.0) - 40.0) if row.start >= cut else row
        for row in meter
    ]
    await backend.write(batch({}, [row for row in corrected if row.start >= cut]))
    await assert_rollups_match(backend, corrected)
    # Replaying the same correction changes nothing.
    before = await backend.read_statistic_rollups(SITE, METER, RollupPeriod.WEEK, *WIDE)
    await backend.write(batch({}, [row for row in corrected if row.start >= cut]))
    assert await backend.read_statistic_rollups(SITE, METER, RollupPeriod.WEEK, *WIDE) == before


async def test_five_minute_rows_and_other_sites_stay_out_of_the_rollups(
    harness: BackendHarness,
) -> None:
    backend = await harness.make(time_zone=ZONE)
    five = StatisticRow(
        site=SITE, statistic_id=POWER, period=StatisticPeriod.FIVE_MINUTES, start=START,
        mean=1.0, min=1.0, max=1.0, unit="W",
    )  # fmt: skip
    other = meter_rows(site="neighbour", hours=30)
    await backend.write(batch({}, [five, *other]))
    assert await backend.read_statistic_rollups(SITE, POWER, RollupPeriod.DAY, *WIDE) == []
    assert await backend.read_statistic_rollups(SITE, METER, RollupPeriod.DAY, *WIDE) == []
    await assert_rollups_match(backend, other, site="neighbour")


async def test_statistics_meta_is_kept_per_site_and_its_flags_only_grow(
    harness: BackendHarness,
) -> None:
    backend = await harness.make()
    meter, power = meter_rows(hours=3), power_rows(hours=3)
    await backend.write(batch({}, [*meter, *power, *meter_rows(site="neighbour", hours=1)]))
    assert await backend.read_statistics_meta(SITE) == [
        StatisticMeta(site=SITE, statistic_id=METER, unit="kWh", source="recorder",
                      has_mean=False, has_sum=True),
        StatisticMeta(site=SITE, statistic_id=POWER, unit="W", source="recorder",
                      has_mean=True, has_sum=False),
    ]  # fmt: skip
    # A later row in another unit, without a sum: the unit follows, the flag stays.
    changed = dataclasses.replace(
        meter[-1], start=meter[-1].start + timedelta(hours=1), sum=None, state=None, unit="Wh"
    )
    await backend.write(batch({}, [changed]))
    [meta, _] = await backend.read_statistics_meta(SITE)
    assert (meta.unit, meta.has_sum, meta.has_mean) == ("Wh", True, False)
    assert [m.statistic_id for m in await backend.read_statistics_meta("neighbour")] == [METER]
    assert await backend.read_statistics_meta("nobody") == []
