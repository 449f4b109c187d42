"""Gap: no reading for N expected intervals."""

from __future__ import annotations

from datetime import timedelta

from custom_components.wattkeeper.quality.config import QualityConfig
from custom_components.wattkeeper.quality.findings import CheckId, Severity
from custom_components.wattkeeper.quality.gap import GapCheck

from .factory import POWER, T0, at, obs

CONFIG = QualityConfig(expected_interval=timedelta(seconds=10), missed_intervals=5)


def test_silent_while_readings_arrive() -> None:
    check = GapCheck(CONFIG, started_at=T0)
    for step in range(100):
        check.observe(obs(step * 10, {POWER: 500.0 + step}))
        assert check.active(at(step * 10 + 9)) == []


def test_fires_after_n_missed_intervals_and_clears_on_the_next_reading() -> None:
    check = GapCheck(CONFIG, started_at=T0)
    check.observe(obs(0, {POWER: 500.0}))
    assert check.active(at(50)) == []  # exactly five intervals: still allowed
    (finding,) = check.active(at(51))
    assert finding.check_id is CheckId.GAP
    assert finding.severity is Severity.ERROR
    assert finding.since == T0
    assert finding.placeholders == {"expected_seconds": "10", "last_seen": T0.isoformat()}
    assert finding.key == "gap"
    check.observe(obs(300, {POWER: 510.0}))
    assert check.active(at(301)) == []


def test_a_meter_that_never_reports_is_a_gap_from_the_start() -> None:
    check = GapCheck(CONFIG, started_at=T0)
    assert check.active(at(30)) == []
    (finding,) = check.active(at(120))
    assert finding.since == T0
    assert "last_seen" not in finding.placeholders


def test_an_older_reading_does_not_move_last_seen_back() -> None:
    check = GapCheck(CONFIG, started_at=T0)
    check.observe(obs(100, {POWER: 1.0}))
    check.observe(obs(10, {POWER: 1.0}))
    assert check.active(at(140)) == []
