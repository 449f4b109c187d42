"""Stuck value: identical for a long time while it should move."""

from __future__ import annotations

from datetime import timedelta

from custom_components.wattkeeper.quality.config import QualityConfig
from custom_components.wattkeeper.quality.findings import CheckId, Severity
from custom_components.wattkeeper.quality.stuck import StuckCheck

from .factory import POWER, PV, VOLTAGE_L1, at, obs

CONFIG = QualityConfig()  # power and voltage: 30 minutes
MINUTE = 60


def _feed(check: StuckCheck, values: list[dict], step: int = MINUTE) -> None:
    for index, reading in enumerate(values):
        check.observe(obs(index * step, reading))


def test_identical_power_for_thirty_minutes_fires() -> None:
    check = StuckCheck(CONFIG)
    _feed(check, [{POWER: 734.0}] * 31)
    (finding,) = check.active(at(31 * MINUTE))
    assert finding.check_id is CheckId.STUCK_VALUE
    assert finding.severity is Severity.WARNING
    assert finding.series == "power"
    assert finding.since == at(0)
    assert finding.placeholders["value"] == "734"
    assert finding.placeholders["minutes"] == "30"


def test_twenty_nine_minutes_is_not_yet_stuck() -> None:
    check = StuckCheck(CONFIG)
    _feed(check, [{POWER: 734.0}] * 30)
    assert check.active(at(30 * MINUTE)) == []


def test_moving_values_are_clean() -> None:
    check = StuckCheck(CONFIG)
    _feed(check, [{POWER: 700.0 + (i % 7), VOLTAGE_L1: 230.0 + (i % 3) / 10} for i in range(240)])
    assert check.active(at(240 * MINUTE)) == []


def test_zero_for_hours_is_a_legitimate_state() -> None:
    check = StuckCheck(CONFIG)
    _feed(check, [{POWER: 0.0, VOLTAGE_L1: 0.0}] * 600)
    assert check.active(at(600 * MINUTE)) == []


def test_quantities_that_may_hold_still_are_not_watched() -> None:
    # An inverter clipping at its limit holds PV power flat for hours.
    check = StuckCheck(CONFIG)
    _feed(check, [{PV: 5000.0}] * 300)
    assert check.active(at(300 * MINUTE)) == []


def test_a_change_clears_it_and_restarts_the_span() -> None:
    check = StuckCheck(CONFIG)
    _feed(check, [{VOLTAGE_L1: 231.0}] * 40)
    assert len(check.active(at(40 * MINUTE))) == 1
    check.observe(obs(40 * MINUTE, {VOLTAGE_L1: 231.4}))
    assert check.active(at(41 * MINUTE)) == []


def test_span_is_measured_between_readings_not_to_now() -> None:
    # A meter that stopped reporting is a gap, not a stuck value.
    check = StuckCheck(CONFIG)
    _feed(check, [{POWER: 734.0}] * 2)
    assert check.active(at(10 * 3600)) == []


def test_limits_are_per_quantity() -> None:
    config = QualityConfig(stuck_after={POWER.quantity: timedelta(minutes=5)})
    check = StuckCheck(config)
    _feed(check, [{POWER: 12.0, VOLTAGE_L1: 230.0}] * 6)
    assert [f.series for f in check.active(at(6 * MINUTE))] == ["power"]
