"""One meter's checks together: what fails now, what deserves a repair issue,
and what changed since the last evaluation (for `wattkeeper_data_quality`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .check import Check
from .config import QualityConfig
from .counter import CounterCheck
from .findings import Finding, Severity, Transition, TransitionKind
from .gap import GapCheck
from .observation import Observation, require_aware
from .pv_night import PvNightCheck
from .sign import SignCheck
from .stuck import StuckCheck


@dataclass(frozen=True, slots=True, kw_only=True)
class QualityReport:
    """The verdict at one moment."""

    at: datetime
    # Failing now (warnings and errors), sorted by key.
    failing: tuple[Finding, ...]
    # The subset failing for at least the check's repair delay.
    persistent: tuple[Finding, ...]
    transitions: tuple[Transition, ...]

    @property
    def problem(self) -> bool:
        """The state of the meter's "data quality" problem binary sensor."""
        return bool(self.failing)

    def attributes(self) -> dict[str, Any]:
        """Binary sensor attributes: the failing checks, JSON-safe."""
        return {
            "failing": [finding.as_dict() for finding in self.failing],
            "persistent": [finding.key for finding in self.persistent],
        }


class MeterQuality:
    """Feed it every observation of one meter; evaluate it on the glue's clock."""

    def __init__(self, config: QualityConfig | None = None, *, started_at: datetime) -> None:
        self._config = config or QualityConfig()
        self._counter = CounterCheck(self._config)
        self._checks: tuple[Check, ...] = (
            GapCheck(self._config, started_at=require_aware(started_at)),
            StuckCheck(self._config),
            SignCheck(self._config),
            PvNightCheck(self._config),
            self._counter,
        )
        self._last_at: datetime | None = None
        self._notices: list[Finding] = []
        self._reported: dict[str, Finding] = {}
        self._persistent: set[str] = set()

    def observe(self, observation: Observation) -> bool:
        """Returns False (and ignores it) when the observation is older than the last."""
        if self._last_at is not None and observation.at < self._last_at:
            return False
        self._last_at = observation.at
        for check in self._checks:
            self._notices.extend(check.observe(observation))
        return True

    def accept_counter(self, series_id: str) -> bool:
        """Fix flow for a counter that went backwards: its current value is the baseline."""
        return self._counter.accept(series_id)

    def evaluate(self, now: datetime) -> QualityReport:
        require_aware(now)
        failing = sorted(
            (
                finding
                for check in self._checks
                for finding in check.active(now)
                if finding.severity is not Severity.INFO
            ),
            key=lambda finding: finding.key,
        )
        current = {finding.key: finding for finding in failing}
        transitions = [
            Transition(kind=TransitionKind.CLEARED, finding=finding, at=now)
            for key, finding in sorted(self._reported.items())
            if key not in current
        ]
        self._persistent &= current.keys()
        for finding in failing:
            if finding.key not in self._reported:
                transitions.append(Transition(kind=TransitionKind.STARTED, finding=finding, at=now))
            lasting = now - finding.since >= self._config.repair_delay(finding.check_id)
            if lasting and finding.key not in self._persistent:
                self._persistent.add(finding.key)
                transitions.append(
                    Transition(kind=TransitionKind.PERSISTENT, finding=finding, at=now)
                )
        transitions.extend(
            Transition(kind=TransitionKind.NOTICE, finding=notice, at=now)
            for notice in self._notices
        )
        self._notices = []
        self._reported = current
        return QualityReport(
            at=now,
            failing=tuple(failing),
            persistent=tuple(f for f in failing if f.key in self._persistent),
            transitions=tuple(transitions),
        )
