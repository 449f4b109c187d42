"""What a check reports: findings, and the transitions the aggregator emits.

A finding's `key` identifies one problem across evaluations (the check and the
series it concerns), so "started", "persistent" and "cleared" pair up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """How bad a finding is; INFO findings never make a meter fail."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class CheckId(StrEnum):
    """Stable check ids for attributes and event data. The glue words each one
    in the user's language from its repair issue's title (quality_issues.py)."""

    GAP = "gap"
    STUCK_VALUE = "stuck_value"
    IMPOSSIBLE_SIGN = "impossible_sign"
    PV_AT_NIGHT = "pv_at_night"
    COUNTER_BACKWARDS = "counter_backwards"
    COUNTER_JUMP = "counter_jump"
    COUNTER_RESET = "counter_reset"


class FixHint(StrEnum):
    """A repair the glue may offer as a fix flow, when the meter supports it."""

    # The sensor's sign convention is the wrong way round (Fluksometer, CT clamp).
    FLIP_SIGN = "flip_sign"
    # The counter restarted at a value that is not near zero (meter swap);
    # accept the current value as the new baseline.
    ACCEPT_COUNTER = "accept_counter"


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One problem (or notice) on one meter, optionally on one series."""

    check_id: CheckId
    severity: Severity
    since: datetime
    # QuantityKey.id of the series concerned; None for meter-wide findings.
    series: str | None = None
    # Translation placeholders; strings because Home Assistant wants strings.
    placeholders: Mapping[str, str] = field(default_factory=dict)
    fix: FixHint | None = None

    @property
    def key(self) -> str:
        """Identifies this problem across evaluations."""
        if self.series is None:
            return self.check_id.value
        return f"{self.check_id.value}:{self.series}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form for binary sensor attributes and event data."""
        return {
            "check": self.check_id.value,
            "series": self.series,
            "severity": self.severity.value,
            "placeholders": dict(self.placeholders),
            "since": self.since.isoformat(),
            "fix": self.fix.value if self.fix is not None else None,
        }


class TransitionKind(StrEnum):
    """What changed about a finding between two evaluations."""

    STARTED = "started"
    # Failing long enough to deserve a repair issue.
    PERSISTENT = "persistent"
    CLEARED = "cleared"
    # A one-off event that is not a failure (a counter reset at a meter swap).
    NOTICE = "notice"


@dataclass(frozen=True, slots=True, kw_only=True)
class Transition:
    """One change the glue turns into a `wattkeeper_data_quality` event."""

    kind: TransitionKind
    finding: Finding
    at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"transition": self.kind.value, "at": self.at.isoformat(), **self.finding.as_dict()}
