"""Stuck value: a series that should move repeats one non-zero value for too long."""

from __future__ import annotations

from datetime import datetime, timedelta

from .check import Spans, fmt
from .config import QualityConfig
from .findings import CheckId, Finding, Severity
from .observation import Observation


class StuckCheck:
    """Only quantities in `config.stuck_after` are watched; zero never counts."""

    def __init__(self, config: QualityConfig) -> None:
        self._limits = config.stuck_after
        self._spans = Spans()

    def observe(self, observation: Observation) -> list[Finding]:
        for key, value in observation.values.items():
            if key.quantity not in self._limits:
                continue
            span = self._spans.get(key)
            if value == 0 or (span is not None and span.value != value):
                self._spans.cleared(key)
            if value != 0:
                self._spans.seen(key, observation.at, value)
        return []

    def active(self, now: datetime) -> list[Finding]:
        findings = []
        for key, span in self._spans.lasting(timedelta(0)):
            limit = self._limits[key.quantity]
            if span.length < limit:
                continue
            findings.append(
                Finding(
                    check_id=CheckId.STUCK_VALUE,
                    severity=Severity.WARNING,
                    since=span.first,
                    series=key.id,
                    placeholders={
                        "series": key.id,
                        "value": fmt(span.value),
                        "unit": key.unit or "",
                        "minutes": format(limit.total_seconds() / 60, "g"),
                    },
                )
            )
        return findings
