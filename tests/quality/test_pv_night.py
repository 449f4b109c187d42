"""PV production while the sun is below the horizon."""

from __future__ import annotations

from custom_components.wattkeeper.quality.config import QualityConfig
from custom_components.wattkeeper.quality.findings import CheckId, Severity
from custom_components.wattkeeper.quality.pv_night import PvNightCheck

from .factory import CONSUMPTION, PRODUCTION, PV, PV_STRING_1, at, obs

CONFIG = QualityConfig()  # night below -2°, above 20 W, for five minutes


def _run(values: dict, sun: float | None, minutes: int = 10) -> PvNightCheck:
    check = PvNightCheck(CONFIG)
    for minute in range(minutes + 1):
        check.observe(obs(minute * 60, values, sun=sun))
    return check


def test_pv_power_at_night_fires() -> None:
    check = _run({PV: 850.0, PV_STRING_1: 400.0}, sun=-25.0)
    findings = check.active(at(600))
    assert [f.series for f in findings] == ["pv_power", "pv_power_c1"]
    assert all(f.check_id is CheckId.PV_AT_NIGHT for f in findings)
    assert all(f.severity is Severity.WARNING for f in findings)
    assert findings[0].since == at(0)
    assert findings[0].placeholders == {
        "series": "pv_power",
        "value": "850",
        "unit": "W",
        "elevation": "-25",
    }


def test_production_role_is_watched_too() -> None:
    check = _run({PRODUCTION: 300.0}, sun=-10.0)
    assert [f.series for f in check.active(at(600))] == ["power_production_csolar"]


def test_night_without_pv_is_clean() -> None:
    # Inverters read zero or a few watts of noise at night; consumption is not PV.
    check = _run({PV: 0.0, PV_STRING_1: 3.0, CONSUMPTION: 450.0}, sun=-30.0, minutes=600)
    assert check.active(at(36000)) == []


def test_daytime_production_is_clean() -> None:
    check = _run({PV: 4200.0}, sun=35.0)
    assert check.active(at(600)) == []


def test_twilight_just_below_the_horizon_is_clean() -> None:
    check = _run({PV: 60.0}, sun=-1.0)
    assert check.active(at(600)) == []


def test_without_the_sun_elevation_it_stays_silent() -> None:
    check = _run({PV: 850.0}, sun=None)
    assert check.active(at(600)) == []


def test_short_bursts_are_not_confirmed_and_sunrise_clears() -> None:
    check = _run({PV: 850.0}, sun=-10.0, minutes=3)
    assert check.active(at(180)) == []
    check = _run({PV: 850.0}, sun=-10.0)
    check.observe(obs(660, {PV: 900.0}, sun=1.0))
    assert check.active(at(661)) == []
