"""Import and export energy integrated from real power, frame by frame.

Trapezoids over the real time between frame centres; where power changes sign
inside an interval, the crossing is placed by linear interpolation so import
and export each get their own part. Both totals only grow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

_WS_PER_KWH = 3_600_000.0


@dataclass(frozen=True, slots=True)
class EnergyTotals:
    """The counters the glue persists through restore state."""

    import_kwh: float = 0.0
    export_kwh: float = 0.0

    def __post_init__(self) -> None:
        for name in ("import_kwh", "export_kwh"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number ≥ 0, got {value!r}")

    def __add__(self, other: EnergyTotals) -> EnergyTotals:
        return EnergyTotals(self.import_kwh + other.import_kwh, self.export_kwh + other.export_kwh)

    def to_dict(self) -> dict[str, float]:
        return {"import_kwh": self.import_kwh, "export_kwh": self.export_kwh}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> EnergyTotals:
        """Rebuild saved totals; a missing key counts as 0, garbage raises ValueError."""
        values: list[float] = []
        for key in ("import_kwh", "export_kwh"):
            raw = data.get(key, 0.0)
            if isinstance(raw, bool) or not isinstance(raw, int | float | str):
                raise ValueError(f"{key} must be a number, got {raw!r}")
            values.append(float(raw))
        return cls(values[0], values[1])


class EnergyIntegrator:
    """Energy of one channel: a restored base plus what this session measured.

    Restoring replaces the base rather than adding to it, so a restore that
    arrives after the first frames neither loses them nor counts twice.
    """

    def __init__(self, *, max_gap_s: float) -> None:
        self._max_gap_s = max_gap_s
        self._base = EnergyTotals()
        self._import_ws = 0.0
        self._export_ws = 0.0
        self._last: tuple[float, float] | None = None  # (time s, power W)

    @property
    def totals(self) -> EnergyTotals:
        return self._base + EnergyTotals(
            self._import_ws / _WS_PER_KWH, self._export_ws / _WS_PER_KWH
        )

    def restore(self, totals: EnergyTotals) -> None:
        self._base = totals

    def interrupt(self) -> None:
        """No trustworthy power now: do not integrate across this point."""
        self._last = None

    def add(self, power_w: float, at_s: float) -> None:
        """Real power (import positive) at a moment on a monotonic clock."""
        if not math.isfinite(power_w):
            self._last = None
            return
        last, self._last = self._last, (at_s, power_w)
        if last is None:
            return
        elapsed = at_s - last[0]
        if elapsed <= 0 or elapsed > self._max_gap_s:
            return
        imported, exported = trapezoid_split(last[1], power_w, elapsed)
        self._import_ws += imported
        self._export_ws += exported


def trapezoid_split(start_w: float, end_w: float, seconds: float) -> tuple[float, float]:
    """(import, export) watt-seconds under a straight line from start to end."""
    if start_w >= 0 and end_w >= 0:
        return (start_w + end_w) / 2 * seconds, 0.0
    if start_w <= 0 and end_w <= 0:
        return 0.0, -(start_w + end_w) / 2 * seconds
    crossing = start_w / (start_w - end_w) * seconds
    first = start_w / 2 * crossing
    second = end_w / 2 * (seconds - crossing)
    return (first, -second) if start_w > 0 else (second, -first)
