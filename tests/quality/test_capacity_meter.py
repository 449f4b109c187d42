"""When the meter reports its own average demand and monthly peak, its values
win and ours are checked against them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.wattkeeper.meters.model import Quantity
from custom_components.wattkeeper.quality.capacity import (
    CapacityConfig,
    CapacityReading,
    CapacityTracker,
)
from custom_components.wattkeeper.quality.demand_inputs import DemandSample

CONFIG = CapacityConfig(time_zone="Europe/Brussels")  # 100 W or 5 %
# 31 May 23:00 local; the month of June is followed from its first quarter.
START = datetime(2025, 5, 31, 21, 0, tzinfo=UTC)
JUNE_1 = datetime(2025, 5, 31, 22, 0, tzinfo=UTC)


def _run(
    minutes: int, meter_average_offset: float | None = None, **meter: object
) -> list[CapacityReading]:
    """2 kW steady, with a meter that reports its own figures from June on."""
    tracker = CapacityTracker(CONFIG)
    readings = []
    for minute in range(minutes + 1):
        at = START + timedelta(minutes=minute)
        into_quarter = minute % 15
        own_average = 2000 * into_quarter / 15
        in_june = at >= JUNE_1
        average = (
            own_average + meter_average_offset
            if in_june and meter_average_offset is not None
            else None
        )
        readings.append(
            tracker.observe_sample(
                DemandSample(
                    at=at,
                    energy_kwh=10 + 2 * minute / 60,
                    power_w=2000.0,
                    meter_average_w=average,
                    **(meter if in_june else {}),  # type: ignore[arg-type]
                )
            )
        )
    return readings


def _comparison(reading: CapacityReading, quantity: Quantity) -> bool | None:
    (match,) = [c for c in reading.comparisons if c.quantity is quantity]
    return match.agrees


def test_the_meters_average_wins_and_agrees_within_tolerance() -> None:
    reading = _run(60 + 20, meter_average_offset=60.0)[-1]
    assert reading.average_from_meter
    assert reading.average_w == pytest.approx(reading.own_average_w + 60)
    assert _comparison(reading, Quantity.AVERAGE_DEMAND) is True


def test_a_meter_average_far_from_ours_disagrees() -> None:
    reading = _run(60 + 20, meter_average_offset=-900.0)[-1]
    assert _comparison(reading, Quantity.AVERAGE_DEMAND) is False


def test_no_verdict_while_our_quarter_is_partial() -> None:
    tracker = CapacityTracker(CONFIG)
    at = START + timedelta(minutes=7)
    reading = tracker.observe_sample(
        DemandSample(at=at, energy_kwh=1.0, power_w=500.0, meter_average_w=900.0)
    )
    assert reading.average_w == 900.0
    assert _comparison(reading, Quantity.AVERAGE_DEMAND) is None


def test_the_meters_monthly_peak_wins_and_is_compared_for_a_complete_month() -> None:
    peak_at = JUNE_1 + timedelta(minutes=15)
    reading = _run(90, meter_peak_w=2040.0, meter_peak_at=peak_at)[-1]
    assert reading.month == "2025-06"
    assert reading.month_peak_w == 2040.0
    assert reading.month_peak_at == peak_at
    assert reading.own_month_peak_w == pytest.approx(2000.0)
    assert _comparison(reading, Quantity.MONTHLY_PEAK) is True
    reading = _run(90, meter_peak_w=3500.0, meter_peak_at=peak_at)[-1]
    assert _comparison(reading, Quantity.MONTHLY_PEAK) is False


def test_no_verdict_while_the_running_quarter_tops_the_meters_peak() -> None:
    """The meter's peak counts ended quarters; ours grows with the running one too."""
    tracker = CapacityTracker(CONFIG)
    quarter = JUNE_1 + timedelta(minutes=30)
    readings = []
    # 1 kW for the first two quarters of June, then 4 kW: the third quarter's
    # average passes the first two halfway through, before the meter counts it.
    energy = 10.0
    for minute in range(-60, 45 + 1):  # from May on, so June is followed whole
        at = JUNE_1 + timedelta(minutes=minute)
        energy += (1 if at <= quarter else 4) / 60
        if minute < 0:
            tracker.observe_sample(DemandSample(at=at, energy_kwh=energy))
            continue
        meter_peak = 1000.0 if minute < 45 else 4000.0
        readings.append(
            tracker.observe_sample(
                DemandSample(
                    at=at, energy_kwh=energy, meter_peak_w=meter_peak, meter_peak_at=JUNE_1
                )
            )
        )
    early, topping, ended = readings[33], readings[44], readings[45]
    assert early.own_month_peak_w == pytest.approx(1000.0)
    assert _comparison(early, Quantity.MONTHLY_PEAK) is True
    assert topping.own_month_peak_w > 1000.0 + 500  # the running quarter, far above
    assert _comparison(topping, Quantity.MONTHLY_PEAK) is None
    assert ended.own_month_peak_w == pytest.approx(4000.0)
    assert _comparison(ended, Quantity.MONTHLY_PEAK) is True


def test_a_month_we_joined_late_gets_no_verdict() -> None:
    tracker = CapacityTracker(CONFIG)
    at = JUNE_1 + timedelta(days=3)
    tracker.observe_sample(DemandSample(at=at, energy_kwh=1.0))
    reading = tracker.observe_sample(
        DemandSample(at=at + timedelta(minutes=1), energy_kwh=1.01, meter_peak_w=5100.0)
    )
    assert reading.month_peak_w == 5100.0
    assert _comparison(reading, Quantity.MONTHLY_PEAK) is None


def test_last_months_peak_shown_after_midnight_stays_in_last_month() -> None:
    # Right after midnight the meter still shows May's peak, stamped in May.
    may_peak_at = datetime(2025, 5, 20, 16, 30, tzinfo=UTC)
    readings = _run(75, meter_peak_w=6100.0, meter_peak_at=may_peak_at)
    final = readings[-1]
    assert final.month == "2025-06"
    assert final.month_peak_w == pytest.approx(2000.0)  # ours: no June figure from the meter
    # May counts with the meter's 6.1 kW, June with our 2 kW floored to 2.5 kW.
    assert final.rolling_average_w == pytest.approx((6100 + 2500) / 2)
