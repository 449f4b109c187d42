"""The per-meter aggregator: failing now, persistent, and transitions."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import pytest

from custom_components.wattkeeper.meters.model import (
    MeterIdentity,
    MeterKind,
    Quantity,
    QuantityKey,
    Snapshot,
)
from custom_components.wattkeeper.quality.aggregator import MeterQuality
from custom_components.wattkeeper.quality.config import QualityConfig
from custom_components.wattkeeper.quality.errors import QualityConfigError, QualityInputError
from custom_components.wattkeeper.quality.findings import CheckId, TransitionKind
from custom_components.wattkeeper.quality.observation import Observation

from .factory import CONSUMPTION, EXPORT_T1, IMPORT_T1, POWER, PV, T0, VOLTAGE_L1, at, obs

CONFIG = QualityConfig(expected_interval=timedelta(seconds=10))


def _sun(hour: float) -> float:
    """A crude June sun: up from 5:00 to 21:00, 60° at noon."""
    return 68 * math.sin(math.pi * (hour - 5) / 16) - 8


def _clean_day() -> list[Observation]:
    """A household with PV over 24 h, a reading every 10 s, everything plausible."""
    readings = []
    imported, exported = 4000.0, 2500.0
    start = T0.replace(hour=0)
    for step in range(8640):
        hour = step * 10 / 3600
        sun = _sun(hour)
        pv = 4000 * math.sin(math.radians(sun)) if sun > 0 else 0.0
        consumption = 350 + 150 * math.sin(step / 37) + (2000 if 18 <= hour < 19 else 0)
        net = consumption - pv
        if net > 0:
            imported += net * 10 / 3600 / 1000
        else:
            exported += -net * 10 / 3600 / 1000
        readings.append(
            Observation(
                at=start + timedelta(seconds=step * 10),
                values={
                    POWER: round(net),
                    VOLTAGE_L1: round(230 + 3 * math.sin(step / 11), 1),
                    CONSUMPTION: round(consumption),
                    PV: round(pv),
                    IMPORT_T1: round(imported, 3),
                    EXPORT_T1: round(exported, 3),
                },
                sun_elevation=sun,
            )
        )
    return readings


def test_a_clean_day_with_pv_and_night_stays_silent() -> None:
    readings = _clean_day()
    quality = MeterQuality(CONFIG, started_at=readings[0].at)
    for index, reading in enumerate(readings):
        assert quality.observe(reading)
        if index % 6 == 5:
            report = quality.evaluate(reading.at + timedelta(seconds=5))
            assert report.failing == ()
            assert report.transitions == ()
            assert not report.problem


def test_started_persistent_cleared_are_each_emitted_once() -> None:
    quality = MeterQuality(CONFIG, started_at=T0)
    transitions = []
    for second in range(0, 2 * 3600, 10):
        quality.observe(obs(second, {CONSUMPTION: -400.0 - second % 7}))
        transitions += quality.evaluate(at(second)).transitions
    quality.observe(obs(7200, {CONSUMPTION: 400.0}))
    final = quality.evaluate(at(7200))
    transitions += final.transitions
    kinds = [(t.kind, t.finding.key) for t in transitions]
    key = "impossible_sign:power_consumption_cmain"
    assert kinds == [
        (TransitionKind.STARTED, key),
        (TransitionKind.PERSISTENT, key),
        (TransitionKind.CLEARED, key),
    ]
    started, persistent, _cleared = transitions
    assert started.at == at(60)  # confirmed after one minute
    assert persistent.at == at(3600)  # repair after one hour since it began
    assert not final.problem


def test_report_lists_failing_and_persistent_findings() -> None:
    quality = MeterQuality(CONFIG, started_at=T0)
    quality.observe(obs(0, {POWER: 100.0}))
    report = quality.evaluate(at(25 * 60))
    assert [f.check_id for f in report.failing] == [CheckId.GAP]
    assert report.persistent == ()
    report = quality.evaluate(at(31 * 60))  # gaps deserve a repair after 30 minutes
    assert [f.key for f in report.persistent] == ["gap"]
    attributes = report.attributes()
    assert json.loads(json.dumps(attributes)) == attributes
    assert attributes["failing"][0]["check"] == "gap"
    assert attributes["persistent"] == ["gap"]


def test_a_meter_swap_emits_a_notice_without_failing() -> None:
    quality = MeterQuality(CONFIG, started_at=T0)
    quality.observe(obs(0, {IMPORT_T1: 18000.0}))
    quality.observe(obs(10, {IMPORT_T1: 0.3}))
    report = quality.evaluate(at(11))
    assert report.failing == ()
    (notice,) = report.transitions
    assert notice.kind is TransitionKind.NOTICE
    assert notice.finding.check_id is CheckId.COUNTER_RESET
    event = notice.as_dict()
    assert event["transition"] == "notice"
    assert event["severity"] == "info"
    assert json.loads(json.dumps(event)) == event
    assert quality.evaluate(at(12)).transitions == ()


def test_accept_counter_through_the_aggregator() -> None:
    quality = MeterQuality(CONFIG, started_at=T0)
    quality.observe(obs(0, {IMPORT_T1: 18000.0}))
    quality.observe(obs(10, {IMPORT_T1: 9000.0}))
    assert [f.fix for f in quality.evaluate(at(11)).failing] == ["accept_counter"]
    assert quality.accept_counter("energy_import_t1")
    report = quality.evaluate(at(12))
    assert report.failing == ()
    assert [t.kind for t in report.transitions] == [TransitionKind.CLEARED]


def test_out_of_order_observations_are_ignored() -> None:
    quality = MeterQuality(CONFIG, started_at=T0)
    assert quality.observe(obs(100, {IMPORT_T1: 10.0}))
    assert not quality.observe(obs(50, {IMPORT_T1: 5.0}))
    assert quality.evaluate(at(101)).failing == ()


def test_observation_from_a_snapshot_ignores_sub_meters() -> None:
    identity = MeterIdentity(
        kind=MeterKind.DSMR, serial="E0012", model="5B", manufacturer="Fluvius", name="P1"
    )
    gas_identity = MeterIdentity(
        kind=MeterKind.DSMR, serial="G0034", model="gas", manufacturer="Fluvius", name="Gas"
    )
    gas = Snapshot(
        identity=gas_identity,
        measured_at=T0,
        values={QuantityKey(Quantity.GAS): -1.0},
    )
    snapshot = Snapshot(identity=identity, measured_at=T0, values={POWER: 300.0}, sub_meters=(gas,))
    observation = Observation.from_snapshot(snapshot, sun_elevation=12.5)
    assert observation.values == {POWER: 300.0}
    assert observation.sun_elevation == 12.5


def test_naive_times_are_refused() -> None:
    with pytest.raises(QualityInputError):
        Observation(at=datetime(2025, 6, 1, 12, 0))
    quality = MeterQuality(CONFIG, started_at=T0)
    with pytest.raises(QualityInputError):
        quality.evaluate(datetime(2025, 6, 1, 12, 0))


def test_nonsense_config_is_refused() -> None:
    with pytest.raises(QualityConfigError):
        QualityConfig(expected_interval=timedelta(0))
    with pytest.raises(QualityConfigError):
        QualityConfig(missed_intervals=0)
