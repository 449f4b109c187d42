"""Belgian capacity tariff: quarter-hour average demand, its projection, the
month's peak and the rolling 12-month average (rule in fluvius.py).

Definitions:
- The average demand of a quarter hour is the import energy of that quarter
  × 4, in W, as the meter computes it. While the quarter runs, the "current
  average" is the energy so far × 4 (it rises to the final value, a sawtooth).
- The projected average adds the current import power held until the quarter
  ends: current average + power × remaining hours × 4.
- Energy comes from the import counter (the total register, else the sum of
  the tariff registers); without a counter, import power is integrated
  (trapezoids; readings more than `max_gap` apart are not integrated).
- A reading that spans quarter boundaries is split by linear interpolation.
  Counter energy across a longer gap is spread evenly over it (the total is
  right, the per-quarter split is a guess), and the months touched are marked
  incomplete so our peak is not held against the meter's.
- The running quarter counts towards the month's peak as it grows (its value
  so far is a lower bound of its final value); a peak is stamped with the
  start of its quarter.
- Where the meter reports its own average (AVERAGE_DEMAND) or monthly peak
  (MONTHLY_PEAK), the meter's value is published and ours is compared with it.

Times going out are UTC: quarters and months are aligned in local time, but an
aware local datetime inside the repeated autumn hour compares and subtracts
wrongly in Python (wall-clock arithmetic), so conversion is left to display.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from custom_components.wattkeeper.meters.model import Quantity, Snapshot

from .capacity_state import CapacityState, MonthRecord
from .demand_inputs import DemandSample, sample_from_snapshot
from .errors import QualityConfigError
from .fluvius import rolling_average
from .local_time import QUARTER, load_zone, month_key, months_before, quarter_start

_HOUR = timedelta(hours=1)
# Watt from kWh in a quarter hour: × 1000 W/kW × 4 quarters per hour.
_W_PER_KWH_PER_QUARTER = 4000.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CapacityConfig:
    time_zone: str
    max_gap: timedelta = timedelta(minutes=15)
    # Ours agrees with the meter's within max(tolerance_w, tolerance_ratio × meter).
    tolerance_w: float = 100.0
    tolerance_ratio: float = 0.05
    # Without a power reading, the projection uses the counter's rate over this window.
    rate_window: timedelta = timedelta(minutes=5)
    rate_min_span: timedelta = timedelta(minutes=1)

    def __post_init__(self) -> None:
        if self.max_gap <= timedelta(0) or self.rate_min_span > self.rate_window:
            raise QualityConfigError("capacity tariff windows are inconsistent")


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparison:
    """Our figure against the meter's. `agrees` is None when ours is incomplete."""

    quantity: Quantity
    own_w: float
    meter_w: float
    tolerance_w: float
    agrees: bool | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "quantity": self.quantity.value,
            "own_w": self.own_w,
            "meter_w": self.meter_w,
            "tolerance_w": self.tolerance_w,
            "agrees": self.agrees,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class QuarterResult:
    """A finished quarter hour (UTC times)."""

    start: datetime
    end: datetime
    average_w: float
    partial: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class CapacityReading:
    """Everything the capacity sensors show after one observation (UTC times;
    `month` is the local month, "YYYY-MM")."""

    at: datetime
    quarter_start: datetime
    quarter_end: datetime
    average_w: float
    own_average_w: float
    average_from_meter: bool
    projected_w: float | None
    month: str
    month_peak_w: float
    month_peak_at: datetime | None
    own_month_peak_w: float
    rolling_average_w: float | None
    rolling_months: int
    comparisons: tuple[Comparison, ...]
    completed: tuple[QuarterResult, ...]


class CapacityTracker:
    """Feed it one meter's snapshots in order; persist `to_dict()` between runs."""

    def __init__(self, config: CapacityConfig, state: CapacityState | None = None) -> None:
        self._config = config
        self._zone = load_zone(config.time_zone)
        self._state = state or CapacityState()
        # Transient: recent (time, accounted kWh) for a rate when there is no power.
        self._recent: deque[tuple[datetime, float]] = deque()

    @classmethod
    def from_dict(cls, data: Any, config: CapacityConfig) -> CapacityTracker:
        return cls(config, CapacityState.from_dict(data))

    def to_dict(self) -> dict[str, Any]:
        return self._state.to_dict()

    def monthly_peaks(self) -> dict[str, float]:
        """Effective peak per month kept in state (the meter's where it reports one)."""
        return {key: rec.effective_peak_w for key, rec in sorted(self._state.months.items())}

    def observe(self, snapshot: Snapshot) -> CapacityReading:
        return self.observe_sample(sample_from_snapshot(snapshot, self._zone))

    def observe_sample(self, sample: DemandSample) -> CapacityReading:
        state = self._state
        at = sample.at.astimezone(UTC)
        if state.last_at is not None and at <= state.last_at:
            # Duplicate or out of order: nothing to account, report as before.
            return self._reading(state.last_at, None, ())
        completed: tuple[QuarterResult, ...] = ()
        if state.last_at is None or state.quarter_start is None:
            state.quarter_start = quarter_start(at, self._zone)
            state.quarter_start_kwh = state.accounted_kwh
            # Only a first reading exactly on a boundary sees the whole quarter.
            state.quarter_partial = at != state.quarter_start
        else:
            delta, gap = self._delta(sample, at - state.last_at)
            completed = self._close_quarters(state.last_at, at, delta, gap)
            state.accounted_kwh += delta
        state.last_at = at
        state.last_energy_kwh = sample.energy_kwh
        state.last_energy_source = sample.energy_source if sample.energy_kwh is not None else None
        state.last_power_w = sample.power_w
        self._remember_rate(at)
        self._record_peak(state.quarter_start, self._own_average(), gap=False)
        if sample.meter_peak_w is not None:
            self._record_meter_peak(sample.meter_peak_w, sample.meter_peak_at or at)
        self._prune(month_key(at, self._zone))
        return self._reading(at, sample, completed)

    def _delta(self, sample: DemandSample, elapsed: timedelta) -> tuple[float, bool]:
        """Import energy since the last reading (kWh), and whether data is missing."""
        state = self._state
        if sample.energy_kwh is not None:
            comparable = (
                state.last_energy_kwh is not None
                and state.last_energy_source == sample.energy_source
            )
            if not comparable or state.last_energy_kwh is None:
                return 0.0, True
            # A counter reset or a backwards step adds nothing; the quality
            # checks report it.
            return max(
                sample.energy_kwh - state.last_energy_kwh, 0.0
            ), elapsed > self._config.max_gap
        if (
            sample.power_w is None
            or state.last_power_w is None
            or state.last_energy_kwh is not None
            or elapsed > self._config.max_gap
        ):
            return 0.0, True
        mean_w = max((state.last_power_w + sample.power_w) / 2, 0.0)
        return mean_w * (elapsed / _HOUR) / 1000.0, False

    def _close_quarters(
        self, since: datetime, at: datetime, delta: float, gap: bool
    ) -> tuple[QuarterResult, ...]:
        state = self._state
        assert state.quarter_start is not None
        completed = []
        span = at - since
        boundary = state.quarter_start + QUARTER
        while boundary <= at:
            kwh_at_boundary = state.accounted_kwh + delta * ((boundary - since) / span)
            average = (kwh_at_boundary - state.quarter_start_kwh) * _W_PER_KWH_PER_QUARTER
            self._record_peak(state.quarter_start, average, gap)
            completed.append(
                QuarterResult(
                    start=state.quarter_start,
                    end=boundary,
                    average_w=average,
                    partial=state.quarter_partial or gap,
                )
            )
            state.last_quarter_start, state.last_quarter_w = state.quarter_start, average
            new_month = month_key(boundary, self._zone)
            if new_month != month_key(state.quarter_start, self._zone):
                record = state.months.get(new_month)
                if record is None:
                    state.months[new_month] = MonthRecord(complete=not gap)
                elif gap:
                    record.complete = False
            state.quarter_start, state.quarter_start_kwh = boundary, kwh_at_boundary
            state.quarter_partial = gap
            boundary += QUARTER
        if gap:
            state.quarter_partial = True
            self._month(month_key(state.quarter_start, self._zone)).complete = False
        return tuple(completed)

    def _month(self, key: str) -> MonthRecord:
        return self._state.months.setdefault(key, MonthRecord())

    def _record_peak(self, start: datetime, average: float, gap: bool) -> None:
        record = self._month(month_key(start, self._zone))
        if gap:
            record.complete = False
        if record.peak_at is None or average > record.peak_w:
            record.peak_w, record.peak_at = average, start

    def _record_meter_peak(self, peak_w: float, peak_at: datetime) -> None:
        # The peak belongs to the month of its own time stamp: right after
        # midnight a meter may still show last month's peak.
        record = self._month(month_key(peak_at, self._zone))
        record.meter_peak_w, record.meter_peak_at = peak_w, peak_at.astimezone(UTC)

    def _prune(self, current: str) -> None:
        oldest = months_before(current, 12)
        for key in [key for key in self._state.months if key < oldest]:
            del self._state.months[key]

    def _own_average(self) -> float:
        state = self._state
        return (state.accounted_kwh - state.quarter_start_kwh) * _W_PER_KWH_PER_QUARTER

    def _remember_rate(self, at: datetime) -> None:
        self._recent.append((at, self._state.accounted_kwh))
        while self._recent and at - self._recent[0][0] > self._config.rate_window:
            self._recent.popleft()

    def _power_estimate(self, sample: DemandSample | None) -> float | None:
        power = sample.power_w if sample is not None else self._state.last_power_w
        if power is not None:
            return max(power, 0.0)
        if not self._recent:
            return None
        (first_at, first_kwh), (last_at, last_kwh) = self._recent[0], self._recent[-1]
        if last_at - first_at < self._config.rate_min_span:
            return None
        return (last_kwh - first_kwh) * 1000.0 / ((last_at - first_at) / _HOUR)

    def _reading(
        self, at: datetime, sample: DemandSample | None, completed: tuple[QuarterResult, ...]
    ) -> CapacityReading:
        state = self._state
        assert state.quarter_start is not None
        zone = self._zone
        own_average = self._own_average()
        meter_average = sample.meter_average_w if sample is not None else None
        average = meter_average if meter_average is not None else own_average
        end = state.quarter_start + QUARTER
        power = self._power_estimate(sample)
        projected = None if power is None else average + power * ((end - at) / _HOUR) * 4
        current = month_key(at, zone)
        record = self._month(current)
        comparisons = []
        if meter_average is not None:
            comparisons.append(
                self._compare(
                    Quantity.AVERAGE_DEMAND, own_average, meter_average, state.quarter_partial
                )
            )
        if sample is not None and sample.meter_peak_w is not None:
            peak_month = self._month(month_key(sample.meter_peak_at or at, zone))
            # A meter's peak counts ended quarters only; ours also the running one,
            # so while the running quarter tops the meter's peak there is nothing
            # to compare yet.
            running_on_top = (
                peak_month.peak_at == state.quarter_start
                and peak_month.peak_w > sample.meter_peak_w
            )
            comparisons.append(
                self._compare(
                    Quantity.MONTHLY_PEAK,
                    peak_month.peak_w,
                    sample.meter_peak_w,
                    not peak_month.complete or running_on_top,
                )
            )
        rolling = rolling_average(self.monthly_peaks(), current)
        return CapacityReading(
            at=at,
            quarter_start=state.quarter_start,
            quarter_end=end,
            average_w=average,
            own_average_w=own_average,
            average_from_meter=meter_average is not None,
            projected_w=projected,
            month=current,
            month_peak_w=record.effective_peak_w,
            month_peak_at=record.effective_peak_at,
            own_month_peak_w=record.peak_w,
            rolling_average_w=rolling.average_w if rolling is not None else None,
            rolling_months=rolling.months if rolling is not None else 0,
            comparisons=tuple(comparisons),
            completed=completed,
        )

    def _compare(
        self, quantity: Quantity, own: float, meter: float, incomplete: bool
    ) -> Comparison:
        tolerance = max(self._config.tolerance_w, self._config.tolerance_ratio * abs(meter))
        return Comparison(
            quantity=quantity,
            own_w=own,
            meter_w=meter,
            tolerance_w=tolerance,
            agrees=None if incomplete else abs(own - meter) <= tolerance,
        )
