"""Bucket boundaries and rollup arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from custom_components.wattkeeper.recorder import RollupPeriod
from custom_components.wattkeeper.recorder.buckets import LocalCalendar
from custom_components.wattkeeper.recorder.rollup_math import (
    Aggregate,
    aggregate_readings,
    combine,
    increase,
)
from custom_components.wattkeeper.recorder.rollup_plan import plan_coarse
from custom_components.wattkeeper.recorder.timeconv import HOUR_US, from_us, to_us


def utc(text: str) -> int:
    return to_us(datetime.fromisoformat(text).replace(tzinfo=UTC))


def spans(calendar: LocalCalendar, period: RollupPeriod, text: str) -> tuple[str, str]:
    start, end = calendar.span(period, utc(text))
    return from_us(start).isoformat()[:16], from_us(end).isoformat()[:16]


@pytest.mark.parametrize(
    ("period", "moment", "expected"),
    [
        (
            RollupPeriod.QUARTER_HOUR,
            "2024-03-31T01:59:59",
            ("2024-03-31T01:45", "2024-03-31T02:00"),
        ),
        (RollupPeriod.HOUR, "2024-03-31T01:59:59", ("2024-03-31T01:00", "2024-03-31T02:00")),
        # Spring forward: Sunday 31 March has 23 hours in Brussels.
        (RollupPeriod.DAY, "2024-03-31T12:00", ("2024-03-30T23:00", "2024-03-31T22:00")),
        # Fall back: Sunday 27 October has 25 hours.
        (RollupPeriod.DAY, "2024-10-27T12:00", ("2024-10-26T22:00", "2024-10-27T23:00")),
        # ISO week from Monday 25 March to Monday 1 April (local midnights).
        (RollupPeriod.WEEK, "2024-03-31T21:59", ("2024-03-24T23:00", "2024-03-31T22:00")),
        (RollupPeriod.WEEK, "2024-03-31T22:00", ("2024-03-31T22:00", "2024-04-07T22:00")),
        (RollupPeriod.MONTH, "2024-02-29T22:59", ("2024-01-31T23:00", "2024-02-29T23:00")),
        (RollupPeriod.MONTH, "2024-12-31T23:00", ("2024-12-31T23:00", "2025-01-31T23:00")),
    ],
)
def test_brussels_spans(period: RollupPeriod, moment: str, expected: tuple[str, str]) -> None:
    assert spans(LocalCalendar("Europe/Brussels"), period, moment) == expected


def test_quarter_hour_offsets_keep_days_aligned_to_quarters() -> None:
    calendar = LocalCalendar("Asia/Kathmandu")  # UTC+05:45
    assert spans(calendar, RollupPeriod.DAY, "2024-06-01T18:15") == (
        "2024-06-01T18:15",
        "2024-06-02T18:15",
    )
    assert spans(calendar, RollupPeriod.DAY, "2024-06-01T18:14:59") == (
        "2024-05-31T18:15",
        "2024-06-01T18:15",
    )


def test_counter_delta_counts_increases_and_the_new_value_after_a_reset() -> None:
    readings = [(1, 10.0), (2, 12.5), (3, 0.5), (4, 1.0), (5, 0.95), (6, 2.0)]
    aggregate = aggregate_readings(readings, previous=9.0, counter=True)
    assert aggregate is not None
    # 9→10 +1, →12.5 +2.5, reset to 0.5 +0.5 (from 0), →1.0 +0.5, glitch 0.95 (within
    # 10 %) +0, →2.0 +1.05
    assert aggregate.delta == pytest.approx(5.55)
    assert (aggregate.count, aggregate.first, aggregate.last) == (6, 10.0, 2.0)
    gauge = aggregate_readings(readings, previous=None, counter=False)
    assert gauge is not None
    assert gauge.delta is None
    assert aggregate_readings([], previous=1.0, counter=True) is None


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [(5.0, 7.0, 2.0), (5.0, 5.0, 0.0), (100.0, 90.0, 0.0), (100.0, 89.0, 89.0), (100.0, 0.0, 0.0)],
)
def test_increase_tells_a_reset_from_a_glitch(
    previous: float, current: float, expected: float
) -> None:
    assert increase(previous, current) == expected


def test_combine_weights_means_by_count() -> None:
    parts = [
        Aggregate(count=3, min=1, max=5, mean=2.0, first=1, last=5, first_ts=10, last_ts=20,
                  delta=4.0),
        Aggregate(count=1, min=0, max=0, mean=0.0, first=0, last=0, first_ts=0, last_ts=0,
                  delta=1.0),
    ]  # fmt: skip
    combined = combine(parts)
    assert combined == Aggregate(
        count=4, min=0, max=5, mean=1.5, first=0, last=5, first_ts=0, last_ts=20, delta=5.0
    )
    assert combine([]) is None


def test_plan_covers_every_coarse_period_once() -> None:
    calendar = LocalCalendar("UTC")
    start = utc("2024-01-31T23:30")
    plan = plan_coarse(calendar, [(1, start), (1, start + HOUR_US // 4), (2, start)])
    assert plan.for_period(RollupPeriod.HOUR) == [
        (1, utc("2024-01-31T23:00"), utc("2024-02-01T00:00")),
        (2, utc("2024-01-31T23:00"), utc("2024-02-01T00:00")),
    ]
    assert [span[:2] for span in plan.for_period(RollupPeriod.MONTH)] == [
        (1, utc("2024-01-01T00:00")),
        (2, utc("2024-01-01T00:00")),
    ]
