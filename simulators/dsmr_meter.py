"""The physics behind the DSMR twin: a household on a three-phase meter.

Each `step()` advances the meter clock by `step_seconds`, draws new per-phase
consumption (a wandering base load plus appliances switching on and off) and
PV production (a sine over the day under passing clouds), and integrates the
net power into the tariff registers, so the counters only grow and their
slope is the power the telegram reports. M-Bus meters (gas, water, heat)
integrate their own flow and capture a reading every few minutes, as real
M-Bus meters do. The Belgian capacity tariff state (running quarter-hour
average, monthly peak, 13 months of history) follows the same power.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

METER_ZONE = ZoneInfo("Europe/Amsterdam")
# A Monday two minutes before the Dutch low tariff starts: tests see a switch early.
DEFAULT_START = datetime(2024, 3, 4, 22, 58, 0, tzinfo=METER_ZONE)
QUARTER = timedelta(minutes=15)

MBUS_GAS = 3
MBUS_HEAT = 4
MBUS_WATER = 7


@dataclass
class MBusMeter:
    """One M-Bus device: its register and the last reading it captured."""

    channel: int
    device_type: int
    serial: str
    capture_period: timedelta
    register: float
    rate_per_hour: float = 0.0
    captured: float = 0.0
    captured_at: datetime | None = None


@dataclass
class DemandState:
    """Belgian capacity tariff as a DLMS demand register keeps it (W).

    The current average (1.4.0) is the import energy of the running quarter
    divided by the whole quarter, so it climbs to the quarter's final value;
    the month's peak (1.6.0) is the highest average of the quarters that have
    ended, stamped with the start of its quarter.
    """

    block_start: datetime
    block_import_wh: float = 0.0
    month_peak_w: float = 0.0
    month_peak_at: datetime | None = None
    # (month start, time of the peak, peak W), oldest first, at most 13.
    history: list[tuple[datetime, datetime, float]] = field(default_factory=list)

    def current_average_w(self) -> float:
        return self.block_import_wh * 4.0


class MeterModel:
    """State of one simulated meter; advance it with step()."""

    def __init__(
        self,
        *,
        seed: int = 1,
        start: datetime = DEFAULT_START,
        step_seconds: float = 1.0,
        phases: int = 3,
        day_tariff: int = 2,
        pv_peak_w: float = 3600.0,
        mbus: tuple[tuple[int, int, str], ...] = (),
        capture_period: timedelta = timedelta(minutes=5),
    ) -> None:
        self.rng = random.Random(seed)
        self.now = start.astimezone(METER_ZONE)
        self.step_seconds = step_seconds
        self.phases = phases
        self.day_tariff = day_tariff
        self.pv_peak_w = pv_peak_w
        rng = self.rng
        # Registers in Wh: index 0 is tariff 1, index 1 tariff 2.
        self.import_wh = [rng.uniform(1.0e6, 4.0e6), rng.uniform(1.0e6, 4.0e6)]
        self.export_wh = [rng.uniform(1.0e5, 9.0e5), rng.uniform(2.0e5, 1.5e6)]
        self.reactive_import_varh = rng.uniform(1.0e4, 5.0e4)
        self.reactive_export_varh = rng.uniform(1.0e5, 9.0e5)
        self._base = [rng.uniform(60, 160) for _ in range(phases)]
        self._appliance = [0.0] * phases
        self._appliance_left = [0.0] * phases
        self._cloud = 0.8
        self.consumption_w = [0.0] * phases
        self.production_w = [0.0] * phases
        self.net_w = [0] * phases
        self.voltage = [230.0] * phases
        self.sags = [rng.randint(0, 3) for _ in range(phases)]
        self.swells = [rng.randint(0, 2) for _ in range(phases)]
        self.power_failures = rng.randint(2, 9)
        self.long_power_failures = rng.randint(0, 3)
        # (end of the failure, seconds it lasted), as the 99.97.0 log keeps them.
        self.failure_log = [
            (start - timedelta(days=40, hours=3), 512),
            (start - timedelta(days=11, minutes=17), 1930),
        ][: min(2, self.long_power_failures + 1)]
        self.mbus = [
            MBusMeter(
                channel=channel,
                device_type=device_type,
                serial=serial,
                capture_period=capture_period,
                register=rng.uniform(300, 6000) if device_type == MBUS_GAS else rng.uniform(5, 900),
            )
            for channel, device_type, serial in mbus
        ]
        for meter in self.mbus:
            meter.captured = meter.register
            meter.captured_at = _floor(self.now, meter.capture_period)
        self.demand = DemandState(block_start=_floor(self.now, QUARTER))
        # The quarter already under way ran at a few hundred watts.
        elapsed = (self.now - self.demand.block_start).total_seconds()
        self.demand.block_import_wh = rng.uniform(150, 450) * elapsed / 3600.0
        self._seed_demand_history()

    # -- derived state ------------------------------------------------------------

    @property
    def tariff(self) -> int:
        """Day tariff on weekdays 07:00-23:00, the other one otherwise."""
        local = self.now
        day = local.weekday() < 5 and 7 <= local.hour < 23
        return self.day_tariff if day else 3 - self.day_tariff

    @property
    def net_total_w(self) -> int:
        return sum(self.net_w)

    def reactive_var(self, phase: int) -> float:
        """Signed reactive power of a phase: inductive loads, the inverter a little back."""
        return 0.2 * self.consumption_w[phase] - 0.05 * self.production_w[phase]

    def current_a(self, phase: int) -> float:
        return abs(self.net_w[phase]) / self.voltage[phase]

    # -- evolution ----------------------------------------------------------------

    def step(self) -> None:
        dt = self.step_seconds
        self.now += timedelta(seconds=dt)
        self._draw_power(dt)
        net = self.net_total_w
        energy_wh = abs(net) * dt / 3600.0
        registers = self.import_wh if net >= 0 else self.export_wh
        registers[self.tariff - 1] += energy_wh
        reactive = sum(self.reactive_var(p) for p in range(self.phases)) * dt / 3600.0
        if reactive >= 0:
            self.reactive_import_varh += reactive
        else:
            self.reactive_export_varh -= reactive
        self._grid_events()
        self._step_mbus(dt)
        self._step_demand(max(net, 0) * dt / 3600.0)

    def _draw_power(self, dt: float) -> None:
        rng = self.rng
        hour = self.now.hour + self.now.minute / 60.0
        daylight = max(0.0, math.sin(math.pi * (hour - 6.0) / 14.0)) if 6 <= hour <= 20 else 0.0
        self._cloud = min(1.0, max(0.2, self._cloud + rng.gauss(0, 0.03)))
        pv_total = self.pv_peak_w * daylight * self._cloud
        for p in range(self.phases):
            self._base[p] = min(400.0, max(40.0, self._base[p] + rng.gauss(0, 4)))
            if self._appliance_left[p] > 0:
                self._appliance_left[p] -= dt
                if self._appliance_left[p] <= 0:
                    self._appliance[p] = 0.0
            elif rng.random() < 0.004 * dt:
                # A kettle, oven or washing machine heater for a few minutes.
                self._appliance[p] = rng.choice((800.0, 1200.0, 2000.0, 2200.0))
                self._appliance_left[p] = rng.uniform(60, 600)
            self.consumption_w[p] = self._base[p] + self._appliance[p]
            self.production_w[p] = pv_total / self.phases
            self.net_w[p] = round(self.consumption_w[p] - self.production_w[p])
            self.voltage[p] = 230.0 + rng.gauss(0, 1.2) - self.net_w[p] * 0.0004

    def _grid_events(self) -> None:
        rng = self.rng
        if rng.random() < 0.0005:
            self.sags[rng.randrange(self.phases)] += 1
        if rng.random() < 0.0002:
            self.swells[rng.randrange(self.phases)] += 1
        if rng.random() < 0.0001:
            self.power_failures += 1

    def _step_mbus(self, dt: float) -> None:
        rng = self.rng
        for meter in self.mbus:
            if meter.device_type == MBUS_WATER:
                # Taps run now and then, at a few litres a minute.
                if meter.rate_per_hour > 0 and rng.random() < 0.02 * dt:
                    meter.rate_per_hour = 0.0
                elif meter.rate_per_hour == 0 and rng.random() < 0.01 * dt:
                    meter.rate_per_hour = rng.uniform(0.2, 0.6)
            else:
                meter.rate_per_hour = min(2.0, max(0.05, meter.rate_per_hour + rng.gauss(0, 0.02)))
            meter.register += meter.rate_per_hour * dt / 3600.0
            boundary = _floor(self.now, meter.capture_period)
            if meter.captured_at is None or boundary > meter.captured_at:
                meter.captured = meter.register
                meter.captured_at = boundary

    def _step_demand(self, import_wh: float) -> None:
        """Book the step's import (drawn at a constant power) on the quarters it spans."""
        demand = self.demand
        step = timedelta(seconds=self.step_seconds)
        since = self.now - step
        while (end := demand.block_start + QUARTER) <= self.now:
            demand.block_import_wh += import_wh * ((end - since) / step)
            since = end
            self._close_quarter(end)
        demand.block_import_wh += import_wh * ((self.now - since) / step)

    def _close_quarter(self, end: datetime) -> None:
        demand = self.demand
        average = demand.block_import_wh * 4.0
        if average > demand.month_peak_w:
            demand.month_peak_w = average
            demand.month_peak_at = demand.block_start
        end = end.astimezone(METER_ZONE)
        if end.month != demand.block_start.month:
            month_start = demand.block_start.replace(
                day=1, hour=0, minute=0, second=0, microsecond=0
            )
            if demand.month_peak_at is not None:
                demand.history.append((month_start, demand.month_peak_at, demand.month_peak_w))
                del demand.history[:-13]
            demand.month_peak_w = 0.0
            demand.month_peak_at = None
        demand.block_start = end
        demand.block_import_wh = 0.0

    def _seed_demand_history(self) -> None:
        rng = self.rng
        month = self.now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        for back in range(13, 0, -1):
            year, mon = divmod(month.month - 1 - back, 12)
            start = month.replace(year=month.year + year, month=mon + 1)
            peak_at = start + timedelta(days=rng.randint(0, 27), minutes=15 * rng.randint(0, 95))
            self.demand.history.append((start, peak_at, round(rng.uniform(2500, 6500))))
        # This month so far: a peak earlier on.
        self.demand.month_peak_w = round(rng.uniform(2500, 4000))
        self.demand.month_peak_at = month + timedelta(hours=19, minutes=15)


def next_month(month_start: datetime) -> datetime:
    """Local midnight on the 1st of the month after `month_start`'s."""
    year, month = divmod(month_start.month, 12)
    return month_start.replace(year=month_start.year + year, month=month + 1, day=1)


def _floor(moment: datetime, period: timedelta) -> datetime:
    """The start of the `period` slot `moment` is in (periods divide a day)."""
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    slots = (moment - midnight) // period
    return midnight + slots * period
