"""Impossible sign: magnitudes (consumption, production, PV, counters) below zero."""

from __future__ import annotations

from custom_components.wattkeeper.quality.config import QualityConfig
from custom_components.wattkeeper.quality.findings import CheckId, FixHint, Severity
from custom_components.wattkeeper.quality.sign import SignCheck

from .factory import CONSUMPTION, EXPORT_T1, POWER, PRODUCTION, PV, at, obs

CONFIG = QualityConfig()  # 10 W noise, confirmed after one minute


def _run(values: dict, seconds: int = 120, step: int = 10) -> SignCheck:
    check = SignCheck(CONFIG)
    for t in range(0, seconds + 1, step):
        check.observe(obs(t, values))
    return check


def test_negative_consumption_fires_with_a_flip_sign_fix() -> None:
    check = _run({CONSUMPTION: -523.0})
    (finding,) = check.active(at(120))
    assert finding.check_id is CheckId.IMPOSSIBLE_SIGN
    assert finding.severity is Severity.WARNING
    assert finding.series == "power_consumption_cmain"
    assert finding.fix is FixHint.FLIP_SIGN
    assert finding.since == at(0)
    assert finding.placeholders == {
        "series": "power_consumption_cmain",
        "quantity": "power_consumption",
        "value": "-523",
        "unit": "W",
    }


def test_negative_production_and_pv_fire() -> None:
    check = _run({PRODUCTION: -1800.0, PV: -250.0})
    assert {f.series for f in check.active(at(120))} == {"power_production_csolar", "pv_power"}


def test_a_counter_below_zero_fires() -> None:
    check = _run({EXPORT_T1: -3.2})
    assert [f.series for f in check.active(at(120))] == ["energy_export_t1"]


def test_net_power_may_be_negative() -> None:
    # POWER is net, import positive: negative is export, which is normal.
    check = _run({POWER: -2500.0})
    assert check.active(at(120)) == []


def test_noise_around_zero_is_clean() -> None:
    check = _run({CONSUMPTION: -4.0, PV: -9.5})
    assert check.active(at(120)) == []


def test_one_negative_reading_is_not_confirmed() -> None:
    check = SignCheck(CONFIG)
    check.observe(obs(0, {CONSUMPTION: 300.0}))
    check.observe(obs(10, {CONSUMPTION: -300.0}))
    check.observe(obs(20, {CONSUMPTION: 310.0}))
    assert check.active(at(30)) == []


def test_a_good_reading_clears_it() -> None:
    check = _run({CONSUMPTION: -523.0})
    check.observe(obs(130, {CONSUMPTION: 523.0}))
    assert check.active(at(131)) == []
