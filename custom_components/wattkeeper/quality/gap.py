"""Gap: the meter stopped reporting for several expected intervals."""

from __future__ import annotations

from datetime import datetime

from .config import QualityConfig
from .findings import CheckId, Finding, Severity
from .observation import Observation


class GapCheck:
    """Any reading counts; a meter that only sends some series is still alive."""

    def __init__(self, config: QualityConfig, *, started_at: datetime) -> None:
        self._limit = config.expected_interval * config.missed_intervals
        self._interval = config.expected_interval
        # Without any reading yet, the gap runs from when we started watching.
        self._started_at = started_at
        self._last_seen: datetime | None = None

    def observe(self, observation: Observation) -> list[Finding]:
        if self._last_seen is None or observation.at > self._last_seen:
            self._last_seen = observation.at
        return []

    def active(self, now: datetime) -> list[Finding]:
        reference = self._last_seen or self._started_at
        if now - reference <= self._limit:
            return []
        # Placeholders stay fixed for the whole gap so attributes do not churn.
        placeholders = {"expected_seconds": format(self._interval.total_seconds(), "g")}
        if self._last_seen is not None:
            placeholders["last_seen"] = self._last_seen.isoformat()
        return [
            Finding(
                check_id=CheckId.GAP,
                severity=Severity.ERROR,
                since=reference,
                placeholders=placeholders,
            )
        ]
