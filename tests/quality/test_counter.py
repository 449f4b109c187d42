"""Counters: backwards, reset at a meter swap, and impossible jumps."""

from __future__ import annotations

from datetime import timedelta

from custom_components.wattkeeper.meters.model import Quantity, QuantityKey
from custom_components.wattkeeper.quality.config import QualityConfig
from custom_components.wattkeeper.quality.counter import CounterCheck
from custom_components.wattkeeper.quality.findings import CheckId, FixHint, Severity

from .factory import GAS, IMPORT_T1, POWER_FAILURES, at, obs

CONFIG = QualityConfig()
HOUR = 3600


def test_a_steadily_rising_counter_is_clean() -> None:
    check = CounterCheck(CONFIG)
    for second in range(0, 86400, 10):
        # 3.6 kW average, with a flat night stretch.
        energy = 1000.0 + max(second - 20000, 0) * 0.001
        assert check.observe(obs(second, {IMPORT_T1: energy})) == []
    assert check.active(at(86400)) == []


def test_going_backwards_is_an_error_until_it_climbs_back() -> None:
    check = CounterCheck(CONFIG)
    check.observe(obs(0, {IMPORT_T1: 1000.0}))
    check.observe(obs(10, {IMPORT_T1: 990.0}))
    check.observe(obs(20, {IMPORT_T1: 995.0}))
    (finding,) = check.active(at(20))
    assert finding.check_id is CheckId.COUNTER_BACKWARDS
    assert finding.severity is Severity.ERROR
    assert finding.fix is FixHint.ACCEPT_COUNTER
    assert finding.since == at(10)
    assert finding.placeholders == {
        "series": "energy_import_t1",
        "previous": "1000",
        "value": "990",
        "unit": "kWh",
    }
    check.observe(obs(30, {IMPORT_T1: 1000.2}))
    assert check.active(at(30)) == []


def test_accepting_the_current_value_clears_it() -> None:
    check = CounterCheck(CONFIG)
    check.observe(obs(0, {IMPORT_T1: 1000.0}))
    check.observe(obs(10, {IMPORT_T1: 640.0}))
    assert check.accept("energy_import_t1")
    assert not check.accept("energy_import_t9")
    check.observe(obs(20, {IMPORT_T1: 640.1}))
    assert check.active(at(20)) == []


def test_reset_to_near_zero_at_a_meter_swap_is_a_notice_not_an_error() -> None:
    check = CounterCheck(CONFIG)
    check.observe(obs(0, {IMPORT_T1: 23456.789}))
    (notice,) = check.observe(obs(10, {IMPORT_T1: 0.012}))
    assert notice.check_id is CheckId.COUNTER_RESET
    assert notice.severity is Severity.INFO
    assert notice.placeholders["previous"] == "23456.8"
    for step in range(2, 100):
        assert check.observe(obs(step * 10, {IMPORT_T1: 0.012 + step * 0.001})) == []
    assert check.active(at(1000)) == []


def test_event_counters_reset_to_zero_too() -> None:
    check = CounterCheck(CONFIG)
    check.observe(obs(0, {POWER_FAILURES: 7.0}))
    (notice,) = check.observe(obs(10, {POWER_FAILURES: 0.0}))
    assert notice.check_id is CheckId.COUNTER_RESET


def test_rounding_steps_back_are_ignored() -> None:
    check = CounterCheck(CONFIG)
    check.observe(obs(0, {IMPORT_T1: 1000.0}))
    check.observe(obs(10, {IMPORT_T1: 999.9995}))
    assert check.active(at(10)) == []


def test_an_impossible_jump_is_reported_for_a_while() -> None:
    check = CounterCheck(CONFIG)
    check.observe(obs(0, {IMPORT_T1: 1000.0}))
    check.observe(obs(10, {IMPORT_T1: 1500.0}))  # 500 kWh in 10 s
    (finding,) = check.active(at(10))
    assert finding.check_id is CheckId.COUNTER_JUMP
    assert finding.severity is Severity.WARNING
    assert finding.since == at(10)
    assert finding.placeholders["max_rate_per_hour"] == "60"
    # The new level is taken as the reference: normal growth afterwards is clean.
    check.observe(obs(20, {IMPORT_T1: 1500.01}))
    assert len(check.active(at(20))) == 1  # held for 15 minutes
    assert check.active(at(10 + 15 * 60 + 1)) == []


def test_growth_within_physical_limits_after_a_long_gap_is_clean() -> None:
    check = CounterCheck(CONFIG)
    check.observe(obs(0, {IMPORT_T1: 1000.0}))
    check.observe(obs(10 * HOUR, {IMPORT_T1: 1300.0}))  # 30 kWh/h average
    assert check.active(at(10 * HOUR)) == []


def test_a_counter_that_steps_hourly_is_clean() -> None:
    # A DSMR 4 gas meter reports once an hour; its steps must not look like jumps.
    check = CounterCheck(CONFIG)
    for hour in range(24):
        for second in range(0, HOUR, 60):
            check.observe(obs(hour * HOUR + second, {GAS: 5000.0 + hour * 2.5}))
    assert check.active(at(24 * HOUR)) == []


def test_event_counters_have_no_rate_limit() -> None:
    check = CounterCheck(CONFIG)
    check.observe(obs(0, {POWER_FAILURES: 3.0}))
    check.observe(obs(1, {POWER_FAILURES: 300.0}))
    assert check.active(at(1)) == []


ONE_SECOND = QualityConfig(expected_interval=timedelta(seconds=1))


def test_a_jump_on_a_one_second_counter_is_caught() -> None:
    # 5 kWh in 10 s is 1.8 MW: far beyond the connection, though well below
    # what a one-hour window (60 kWh) would let through.
    check = CounterCheck(ONE_SECOND)
    energy = 1000.0
    for second in range(60):
        energy += 0.001
        check.observe(obs(second, {IMPORT_T1: round(energy, 3)}))
    check.observe(obs(70, {IMPORT_T1: round(energy + 5.0, 3)}))
    (finding,) = check.active(at(70))
    assert finding.check_id is CheckId.COUNTER_JUMP
    assert finding.since == at(70)


def test_a_one_second_counter_at_full_load_is_clean() -> None:
    # 55 kW for an hour, read every second with 0.001 kWh resolution.
    check = CounterCheck(ONE_SECOND)
    for second in range(HOUR):
        check.observe(obs(second, {IMPORT_T1: round(1000.0 + second * 55.0 / HOUR, 3)}))
    assert check.active(at(HOUR)) == []


def test_a_counter_that_changes_seldom_is_clean() -> None:
    # 100 W on a 0.001 kWh counter read every second: one step every 36 s.
    # An inverter's 0.01 kWh register at 10 kW read every second: one step per 3.6 s.
    check = CounterCheck(ONE_SECOND)
    inverter = QuantityKey(Quantity.PV_ENERGY)
    for second in range(2 * HOUR):
        values = {
            IMPORT_T1: round(1000.0 + (second // 36) * 0.001, 3),
            inverter: round(20.0 + (second // 3.6) * 0.01, 2),
        }
        check.observe(obs(second, values))
    assert check.active(at(2 * HOUR)) == []


def test_a_sub_meter_reporting_hourly_is_clean() -> None:
    # An M-Bus electricity sub-meter: the glue gives sub-meters an hourly interval.
    check = CounterCheck(QualityConfig(expected_interval=timedelta(hours=1)))
    for hour in range(12):
        for minute in range(0, 60, 5):
            check.observe(obs(hour * HOUR + minute * 60, {IMPORT_T1: 100.0 + hour * 40.0}))
    assert check.active(at(12 * HOUR)) == []


def test_a_water_meter_waking_up_now_and_then_is_clean() -> None:
    # Read every second, but the battery meter sends a new total every 20 minutes.
    check = CounterCheck(ONE_SECOND)
    water = QuantityKey(Quantity.WATER)
    for second in range(0, 4 * HOUR, 10):
        check.observe(obs(second, {water: 120.0 + (second // 1200) * 0.4}))
    assert check.active(at(4 * HOUR)) == []
