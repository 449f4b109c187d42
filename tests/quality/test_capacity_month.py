"""Capacity tariff over a simulated month, including the October DST change.

Readings every minute of an import counter built from a known power profile;
every event covers whole local quarter hours, so each quarter's average demand
is known by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from custom_components.wattkeeper.quality.capacity import (
    CapacityConfig,
    CapacityReading,
    CapacityTracker,
    QuarterResult,
)
from custom_components.wattkeeper.quality.demand_inputs import DemandSample

BRUSSELS = ZoneInfo("Europe/Brussels")
BASE_W = 400.0
Q = timedelta(minutes=15)


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# (start in UTC, watts) of one quarter hour each; local times in the comments.
EVENTS = {
    _utc(2025, 9, 30, 21, 45): 4000.0,  # 30 Sep 23:45 CEST: still September
    _utc(2025, 10, 7, 16, 0): 5200.0,  # 7 Oct 18:00 CEST
    _utc(2025, 10, 26, 0, 15): 3000.0,  # 26 Oct 02:15 CEST (first 02:15)
    _utc(2025, 10, 26, 1, 15): 6400.0,  # 26 Oct 02:15 CET (second 02:15): October's peak
    _utc(2025, 10, 31, 23, 0): 7000.0,  # 1 Nov 00:00 CET: already November
}
START = _utc(2025, 9, 30, 21, 0)  # 30 Sep 23:00 CEST
END = _utc(2025, 11, 1, 0, 0)  # 1 Nov 01:00 CET


def _power(moment: datetime) -> float:
    start = moment.replace(minute=moment.minute - moment.minute % 15, second=0)
    return EVENTS.get(start, BASE_W)


def _simulate() -> tuple[CapacityTracker, list[QuarterResult], list[CapacityReading]]:
    tracker = CapacityTracker(CapacityConfig(time_zone="Europe/Brussels"))
    energy = 31000.0
    completed: list[QuarterResult] = []
    readings: list[CapacityReading] = []
    moment = START
    while moment <= END:
        reading = tracker.observe_sample(
            DemandSample(at=moment, energy_kwh=energy, power_w=_power(moment))
        )
        completed.extend(reading.completed)
        readings.append(reading)
        energy += _power(moment) / 60 / 1000  # the minute that starts now
        moment += timedelta(minutes=1)
    return tracker, completed, readings


@pytest.fixture(scope="module")
def month() -> tuple[CapacityTracker, list[QuarterResult], list[CapacityReading]]:
    return _simulate()


def test_every_quarter_is_aligned_and_has_its_hand_computed_average(month) -> None:
    _tracker, completed, _readings = month
    for quarter in completed:
        local = quarter.start.astimezone(BRUSSELS)
        assert (local.minute % 15, local.second) == (0, 0)
        assert quarter.end - quarter.start == Q
        expected = EVENTS.get(quarter.start, BASE_W)
        assert quarter.average_w == pytest.approx(expected, abs=1e-6)
    assert completed[0].partial is False  # the simulation starts on a boundary


def test_october_has_2980_quarters_because_of_the_extra_hour(month) -> None:
    _tracker, completed, _readings = month
    starts = [q.start.astimezone(BRUSSELS) for q in completed]
    october = [s for s in starts if (s.year, s.month) == (2025, 10)]
    assert len(october) == 31 * 96 + 4
    repeated = [s for s in october if s.day == 26 and s.hour == 2]
    assert [(s.minute, s.utcoffset()) for s in repeated] == [
        (0, timedelta(hours=2)),
        (15, timedelta(hours=2)),
        (30, timedelta(hours=2)),
        (45, timedelta(hours=2)),
        (0, timedelta(hours=1)),
        (15, timedelta(hours=1)),
        (30, timedelta(hours=1)),
        (45, timedelta(hours=1)),
    ]


def test_monthly_peaks_land_in_their_local_month(month) -> None:
    tracker, _completed, readings = month
    assert tracker.monthly_peaks() == pytest.approx(
        {"2025-09": 4000.0, "2025-10": 6400.0, "2025-11": 7000.0}
    )
    last_october = next(r for r in reversed(readings) if r.month == "2025-10")
    assert last_october.month_peak_w == pytest.approx(6400.0)
    # The second 02:15 of 26 October, in winter time (01:15 UTC, not 00:15).
    assert last_october.month_peak_at == _utc(2025, 10, 26, 1, 15)


def test_rolling_average_over_the_months_seen(month) -> None:
    _tracker, _completed, readings = month
    final = readings[-1]
    assert final.month == "2025-11"
    assert final.rolling_months == 3
    assert final.rolling_average_w == pytest.approx((4000 + 6400 + 7000) / 3)


def test_running_average_and_projection_inside_the_peak_quarter(month) -> None:
    _tracker, _completed, readings = month
    reading = next(r for r in readings if r.at == _utc(2025, 10, 26, 1, 20))
    # Five minutes at 6.4 kW so far: 6400 × 5/15 W; projected with 6.4 kW held.
    assert reading.average_w == pytest.approx(6400 * 5 / 15)
    assert reading.projected_w == pytest.approx(6400.0)
    assert reading.quarter_start == _utc(2025, 10, 26, 1, 15)
    assert reading.quarter_end == _utc(2025, 10, 26, 1, 30)
    assert not reading.average_from_meter


def test_spring_dst_change_skips_an_hour_of_quarters() -> None:
    tracker = CapacityTracker(CapacityConfig(time_zone="Europe/Brussels"))
    moment, energy, starts = _utc(2025, 3, 30, 0, 30), 100.0, []
    while moment <= _utc(2025, 3, 30, 1, 30):
        reading = tracker.observe_sample(DemandSample(at=moment, energy_kwh=energy))
        for quarter in reading.completed:
            local = quarter.start.astimezone(BRUSSELS)
            starts.append((local.hour, local.minute, quarter.average_w))
        energy += 0.05  # 3 kW for one minute
        moment += timedelta(minutes=1)
    assert [(h, m) for h, m, _ in starts] == [(1, 30), (1, 45), (3, 0), (3, 15)]
    assert all(avg == pytest.approx(3000.0) for _, _, avg in starts)
