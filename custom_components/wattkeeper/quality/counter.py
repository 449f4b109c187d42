"""Counters: going backwards, jumping further than physics allows, or being reset.

A counter that drops to near zero was reset or the meter was swapped: that is a
notice (the recorder's rollups handle resets), not an error. Any other drop is
an error until the counter climbs back to where it was, or the user accepts the
new value as the baseline (the repair issue's fix flow).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from custom_components.wattkeeper.meters.model import QuantityKey

from .check import fmt
from .config import QualityConfig
from .findings import CheckId, Finding, FixHint, Severity
from .observation import Observation

_HOUR = timedelta(hours=1)
_ZERO = timedelta(0)


@dataclass(slots=True)
class _Backwards:
    since: datetime
    reference: float
    value: float


@dataclass(slots=True)
class _Jump:
    since: datetime
    last: datetime
    placeholders: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Series:
    # Highest accepted value, and when it last changed (jump limits count from there).
    reference: float
    changed_at: datetime
    latest: float
    latest_at: datetime
    backwards: _Backwards | None = None
    jump: _Jump | None = None


class CounterCheck:
    """Watches every series whose quantity is a counter (meters.model.COUNTERS)."""

    def __init__(self, config: QualityConfig) -> None:
        self._config = config
        self._series: dict[QuantityKey, _Series] = {}

    def observe(self, observation: Observation) -> list[Finding]:
        notices = []
        for key, value in observation.values.items():
            if not key.is_counter:
                continue
            state = self._series.get(key)
            if state is None:
                self._series[key] = _Series(value, observation.at, value, observation.at)
                continue
            state.latest, state.latest_at = value, observation.at
            notice = self._step(key, state, value, observation.at)
            if notice is not None:
                notices.append(notice)
        return notices

    def _step(self, key: QuantityKey, state: _Series, value: float, at: datetime) -> Finding | None:
        config = self._config
        if value < state.reference - config.backwards_tolerance:
            if value <= max(config.reset_ceiling, config.reset_fraction * state.reference):
                previous = state.reference
                state.reference, state.changed_at, state.backwards = value, at, None
                return Finding(
                    check_id=CheckId.COUNTER_RESET,
                    severity=Severity.INFO,
                    since=at,
                    series=key.id,
                    placeholders=_pair(key, previous, value),
                )
            if state.backwards is None:
                state.backwards = _Backwards(at, state.reference, value)
            return None
        state.backwards = None
        if value > state.reference:
            self._watch_jump(key, state, value, at)
            state.reference, state.changed_at = value, at
        return None

    def _watch_jump(self, key: QuantityKey, state: _Series, value: float, at: datetime) -> None:
        config = self._config
        rate = config.max_rate_per_hour.get(key.quantity)
        if rate is None:
            return
        # Real elapsed time, not a fixed window: a 1 s meter must not hide an
        # hour's worth of energy in one step.
        window = max(
            at - state.changed_at + config.expected_interval,
            config.slow_counter_window.get(key.quantity, _ZERO),
        )
        resolution = config.counter_resolution.get(key.quantity, config.backwards_tolerance)
        allowed = rate * (window / _HOUR) + resolution
        if value - state.reference <= allowed:
            return
        ongoing = state.jump is not None and at - state.jump.last <= config.jump_hold
        if state.jump is not None and ongoing:
            state.jump.last = at
        else:
            placeholders = _pair(key, state.reference, value)
            placeholders["max_rate_per_hour"] = fmt(rate)
            state.jump = _Jump(at, at, placeholders)

    def active(self, now: datetime) -> list[Finding]:
        findings = []
        for key, state in sorted(self._series.items(), key=lambda item: item[0].id):
            if state.backwards is not None:
                findings.append(
                    Finding(
                        check_id=CheckId.COUNTER_BACKWARDS,
                        severity=Severity.ERROR,
                        since=state.backwards.since,
                        series=key.id,
                        placeholders=_pair(key, state.backwards.reference, state.backwards.value),
                        fix=FixHint.ACCEPT_COUNTER,
                    )
                )
            if state.jump is not None and now - state.jump.last <= self._config.jump_hold:
                findings.append(
                    Finding(
                        check_id=CheckId.COUNTER_JUMP,
                        severity=Severity.WARNING,
                        since=state.jump.since,
                        series=key.id,
                        placeholders=dict(state.jump.placeholders),
                    )
                )
        return findings

    def accept(self, series_id: str) -> bool:
        """Take the latest value of a series as its new baseline; False if unknown."""
        for key, state in self._series.items():
            if key.id == series_id:
                state.reference, state.changed_at = state.latest, state.latest_at
                state.backwards = None
                return True
        return False


def _pair(key: QuantityKey, previous: float, value: float) -> dict[str, str]:
    return {
        "series": key.id,
        "previous": fmt(previous),
        "value": fmt(value),
        "unit": key.unit or "",
    }
