"""PV at night: solar production reported while the sun is below the horizon.

The sun elevation comes from the glue (Home Assistant's sun); without it the
check stays silent rather than guess.
"""

from __future__ import annotations

from datetime import datetime

from .check import Spans, fmt
from .config import PV_QUANTITIES, QualityConfig
from .findings import CheckId, Finding, Severity
from .observation import Observation


class PvNightCheck:
    def __init__(self, config: QualityConfig) -> None:
        self._night_elevation = config.night_elevation
        self._min_power = config.pv_night_min_power
        self._confirm = config.pv_night_confirm
        self._spans = Spans()

    def observe(self, observation: Observation) -> list[Finding]:
        night = (
            observation.sun_elevation is not None
            and observation.sun_elevation < self._night_elevation
        )
        for key, value in observation.values.items():
            if key.quantity not in PV_QUANTITIES:
                continue
            if night and value > self._min_power:
                self._spans.seen(key, observation.at, value, observation.sun_elevation)
            else:
                self._spans.cleared(key)
        return []

    def active(self, now: datetime) -> list[Finding]:
        return [
            Finding(
                check_id=CheckId.PV_AT_NIGHT,
                severity=Severity.WARNING,
                since=span.first,
                series=key.id,
                placeholders={
                    "series": key.id,
                    "value": fmt(span.value),
                    "unit": key.unit or "",
                    "elevation": fmt(span.context if span.context is not None else 0.0),
                },
            )
            for key, span in self._spans.lasting(self._confirm)
        ]
