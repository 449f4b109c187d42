"""Capacity tariff inputs: counters, power only, tariff registers, gaps, resets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.wattkeeper.meters.model import (
    MeterIdentity,
    MeterKind,
    Quantity,
    QuantityKey,
    Snapshot,
)
from custom_components.wattkeeper.quality.capacity import (
    CapacityConfig,
    CapacityReading,
    CapacityTracker,
)
from custom_components.wattkeeper.quality.demand_inputs import DemandSample, sample_from_snapshot
from custom_components.wattkeeper.quality.errors import QualityConfigError
from custom_components.wattkeeper.quality.local_time import load_zone

CONFIG = CapacityConfig(time_zone="Europe/Brussels")
T0 = datetime(2025, 6, 10, 10, 0, tzinfo=UTC)  # 12:00 local, a quarter boundary
IDENTITY = MeterIdentity(
    kind=MeterKind.HOMEWIZARD, serial="5c2f", model="HWE-P1", manufacturer="HomeWizard", name="P1"
)


def _feed(tracker: CapacityTracker, samples: list[DemandSample]) -> list[CapacityReading]:
    return [tracker.observe_sample(sample) for sample in samples]


def _quarters(readings: list[CapacityReading]) -> list[float]:
    return [q.average_w for r in readings for q in r.completed]


def test_power_only_is_integrated_with_trapezoids() -> None:
    # A linear ramp 0 → 3600 W over the quarter averages 1800 W exactly.
    samples = [DemandSample(at=T0 + timedelta(minutes=m), power_w=3600 * m / 15) for m in range(16)]
    readings = _feed(CapacityTracker(CONFIG), samples)
    assert _quarters(readings) == [pytest.approx(1800.0)]


def test_readings_off_the_boundaries_are_split_by_interpolation() -> None:
    # A counter read every 7 s at a steady 3 kW: each quarter is 3000 W.
    samples = [
        DemandSample(at=T0 + timedelta(seconds=7 * i + 3), energy_kwh=500 + 3 * (7 * i + 3) / 3600)
        for i in range(700)
    ]
    readings = _feed(CapacityTracker(CONFIG), samples)
    averages = _quarters(readings)
    assert len(averages) == 5
    assert averages[0] == pytest.approx(3000 * (900 - 3) / 900)  # first one seen from 12:00:03
    assert averages[1:] == [pytest.approx(3000.0)] * 4
    assert [q.partial for r in readings for q in r.completed] == [True] + [False] * 4


def test_power_readings_too_far_apart_are_not_integrated() -> None:
    tracker = CapacityTracker(CONFIG)
    tracker.observe_sample(DemandSample(at=T0, power_w=5000.0))
    reading = tracker.observe_sample(DemandSample(at=T0 + timedelta(minutes=40), power_w=5000.0))
    assert [q.average_w for q in reading.completed] == [0.0, 0.0]
    assert all(q.partial for q in reading.completed)


def test_counter_energy_across_a_long_gap_is_spread_evenly() -> None:
    tracker = CapacityTracker(CONFIG)
    tracker.observe_sample(DemandSample(at=T0, energy_kwh=100.0))
    reading = tracker.observe_sample(DemandSample(at=T0 + timedelta(hours=2), energy_kwh=104.0))
    assert [q.average_w for q in reading.completed] == [pytest.approx(2000.0)] * 8
    assert all(q.partial for q in reading.completed)


def test_a_counter_reset_adds_nothing() -> None:
    tracker = CapacityTracker(CONFIG)
    tracker.observe_sample(DemandSample(at=T0, energy_kwh=18000.0))
    tracker.observe_sample(DemandSample(at=T0 + timedelta(minutes=5), energy_kwh=0.1))
    reading = tracker.observe_sample(DemandSample(at=T0 + timedelta(minutes=15), energy_kwh=0.35))
    # Only the 0.25 kWh after the swap counts: 1000 W for the quarter.
    assert _quarters([reading]) == [pytest.approx(1000.0)]


def test_a_change_of_tariff_registers_is_not_counted_as_energy() -> None:
    t1, t2, t3 = (QuantityKey(Quantity.ENERGY_IMPORT, tariff=t) for t in (1, 2, 3))
    zone = load_zone("Europe/Brussels")

    def snapshot(minute: int, values: dict[QuantityKey, float]) -> Snapshot:
        return Snapshot(
            identity=IDENTITY, measured_at=T0 + timedelta(minutes=minute), values=values
        )

    tracker = CapacityTracker(CONFIG)
    tracker.observe(snapshot(0, {t1: 1000.0, t2: 2000.0}))
    tracker.observe(snapshot(5, {t1: 1000.1, t2: 2000.1}))
    # A third register appears: the sum leaps by 500 kWh, which is not consumption.
    tracker.observe(snapshot(10, {t1: 1000.2, t2: 2000.1, t3: 500.0}))
    reading = tracker.observe(snapshot(15, {t1: 1000.3, t2: 2000.1, t3: 500.0}))
    assert _quarters([reading]) == [pytest.approx((0.2 + 0.1) * 4000)]
    assert sample_from_snapshot(snapshot(0, {t1: 1.0, t2: 2.0}), zone).energy_source == "t1+t2"


def test_snapshot_inputs_prefer_the_total_and_clip_export() -> None:
    zone = load_zone("Europe/Brussels")
    snapshot = Snapshot(
        identity=IDENTITY,
        measured_at=T0,
        values={
            QuantityKey(Quantity.ENERGY_IMPORT): 3000.5,
            QuantityKey(Quantity.ENERGY_IMPORT, tariff=1): 1000.0,
            QuantityKey(Quantity.POWER): -1500.0,
            QuantityKey(Quantity.AVERAGE_DEMAND): 812.0,
            QuantityKey(Quantity.MONTHLY_PEAK): 4321.0,
        },
        texts={"monthly_peak_at": "2025-06-03T19:45:00"},
    )
    sample = sample_from_snapshot(snapshot, zone)
    assert sample.energy_kwh == 3000.5
    assert sample.energy_source == "total"
    assert sample.power_w == 0.0  # exporting: no import demand
    assert sample.meter_average_w == 812.0
    assert sample.meter_peak_w == 4321.0
    # A naive meter time stamp is local time: 19:45 CEST is 17:45 UTC.
    assert sample.meter_peak_at == datetime(2025, 6, 3, 17, 45, tzinfo=UTC)
    garbled = Snapshot(identity=IDENTITY, measured_at=T0, texts={"monthly_peak_at": "soon"})
    assert sample_from_snapshot(garbled, zone).meter_peak_at is None


def test_projection_from_the_counter_rate_without_a_power_reading() -> None:
    # 2.4 kW steady, counter only, read every 10 s; 6 minutes into the quarter.
    samples = [
        DemandSample(at=T0 + timedelta(seconds=s), energy_kwh=100 + 2.4 * s / 3600)
        for s in range(0, 361, 10)
    ]
    reading = _feed(CapacityTracker(CONFIG), samples)[-1]
    assert reading.average_w == pytest.approx(2400 * 6 / 15)
    assert reading.projected_w == pytest.approx(2400.0)


def test_no_projection_without_power_or_enough_history() -> None:
    tracker = CapacityTracker(CONFIG)
    reading = tracker.observe_sample(DemandSample(at=T0, energy_kwh=1.0))
    assert reading.projected_w is None


def test_duplicates_and_stale_readings_change_nothing() -> None:
    tracker = CapacityTracker(CONFIG)
    tracker.observe_sample(DemandSample(at=T0, energy_kwh=1.0))
    first = tracker.observe_sample(DemandSample(at=T0 + timedelta(minutes=5), energy_kwh=1.2))
    again = tracker.observe_sample(DemandSample(at=T0 + timedelta(minutes=2), energy_kwh=9.0))
    assert again.average_w == first.average_w == pytest.approx(800.0)
    assert again.at == first.at


def test_inconsistent_windows_are_refused() -> None:
    with pytest.raises(QualityConfigError):
        CapacityConfig(time_zone="Europe/Brussels", max_gap=timedelta(0))
    with pytest.raises(QualityConfigError):
        CapacityTracker(CapacityConfig(time_zone="Mars/Olympus_Mons"))
