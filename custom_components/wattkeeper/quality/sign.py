"""Impossible sign: a magnitude quantity (consumption, production, PV…) below zero.

See config.py for the sign convention this relies on.
"""

from __future__ import annotations

from datetime import datetime

from .check import Spans, fmt
from .config import QualityConfig
from .findings import CheckId, Finding, FixHint, Severity
from .observation import Observation


class SignCheck:
    def __init__(self, config: QualityConfig) -> None:
        self._noise = config.non_negative
        self._confirm = config.sign_confirm
        self._spans = Spans()

    def observe(self, observation: Observation) -> list[Finding]:
        for key, value in observation.values.items():
            noise = self._noise.get(key.quantity)
            if noise is None:
                continue
            if value < -noise:
                self._spans.seen(key, observation.at, value)
            else:
                self._spans.cleared(key)
        return []

    def active(self, now: datetime) -> list[Finding]:
        return [
            Finding(
                check_id=CheckId.IMPOSSIBLE_SIGN,
                severity=Severity.WARNING,
                since=span.first,
                series=key.id,
                placeholders={
                    "series": key.id,
                    "quantity": key.quantity.value,
                    "value": fmt(span.value),
                    "unit": key.unit or "",
                },
                fix=FixHint.FLIP_SIGN,
            )
            for key, span in self._spans.lasting(self._confirm)
        ]
