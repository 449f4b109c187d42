"""The capacity tracker's persistent state, as plain data the glue can store.

Times are stored as UTC ISO strings; to_dict() output is JSON-safe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from .errors import QualityStateError

STATE_VERSION: Final = 1


@dataclass(slots=True, kw_only=True)
class MonthRecord:
    """One local month: our peak, the meter's, and whether we saw all of it."""

    peak_w: float = 0.0
    peak_at: datetime | None = None
    meter_peak_w: float | None = None
    meter_peak_at: datetime | None = None
    # True when we followed the month from its first quarter without a gap;
    # only then is our peak comparable with the meter's.
    complete: bool = False

    @property
    def effective_peak_w(self) -> float:
        """The meter's figure wins where it reports one."""
        return self.meter_peak_w if self.meter_peak_w is not None else self.peak_w

    @property
    def effective_peak_at(self) -> datetime | None:
        if self.meter_peak_w is not None:
            return self.meter_peak_at
        return self.peak_at


@dataclass(slots=True, kw_only=True)
class CapacityState:
    # Import energy we have accounted for (kWh); our own monotonic counter,
    # immune to meter resets and to switching between energy and power.
    accounted_kwh: float = 0.0
    last_at: datetime | None = None
    last_energy_kwh: float | None = None
    last_energy_source: str | None = None
    last_power_w: float | None = None
    quarter_start: datetime | None = None
    quarter_start_kwh: float = 0.0
    # The running quarter did not start with data (first start, or after a gap).
    quarter_partial: bool = True
    last_quarter_start: datetime | None = None
    last_quarter_w: float | None = None
    months: dict[str, MonthRecord] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "accounted_kwh": self.accounted_kwh,
            "last_at": _time(self.last_at),
            "last_energy_kwh": self.last_energy_kwh,
            "last_energy_source": self.last_energy_source,
            "last_power_w": self.last_power_w,
            "quarter_start": _time(self.quarter_start),
            "quarter_start_kwh": self.quarter_start_kwh,
            "quarter_partial": self.quarter_partial,
            "last_quarter_start": _time(self.last_quarter_start),
            "last_quarter_w": self.last_quarter_w,
            "months": {
                key: {
                    "peak_w": record.peak_w,
                    "peak_at": _time(record.peak_at),
                    "meter_peak_w": record.meter_peak_w,
                    "meter_peak_at": _time(record.meter_peak_at),
                    "complete": record.complete,
                }
                for key, record in sorted(self.months.items())
            },
        }

    @classmethod
    def from_dict(cls, data: Any) -> CapacityState:
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise QualityStateError("capacity state missing or of an unknown version")
        try:
            return cls(
                accounted_kwh=float(data["accounted_kwh"]),
                last_at=_parse(data["last_at"]),
                last_energy_kwh=_number(data["last_energy_kwh"]),
                last_energy_source=_text(data["last_energy_source"]),
                last_power_w=_number(data["last_power_w"]),
                quarter_start=_parse(data["quarter_start"]),
                quarter_start_kwh=float(data["quarter_start_kwh"]),
                quarter_partial=bool(data["quarter_partial"]),
                last_quarter_start=_parse(data["last_quarter_start"]),
                last_quarter_w=_number(data["last_quarter_w"]),
                months={
                    str(key): MonthRecord(
                        peak_w=float(month["peak_w"]),
                        peak_at=_parse(month["peak_at"]),
                        meter_peak_w=_number(month["meter_peak_w"]),
                        meter_peak_at=_parse(month["meter_peak_at"]),
                        complete=bool(month["complete"]),
                    )
                    for key, month in data["months"].items()
                },
            )
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise QualityStateError(f"corrupt capacity state: {err}") from err


def _time(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def _parse(text: Any) -> datetime | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(str(text))
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} has no zone")
    return moment.astimezone(UTC)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
