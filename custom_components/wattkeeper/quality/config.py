"""Tunable limits of the data-quality checks, with defaults that suit a household.

Sign convention (the one every driver maps onto, see meters/model.py): POWER is
the net active power, import positive, and may have either sign. Every other
power or energy quantity is a magnitude of one direction or role (import,
export, consumption, production, PV), so a negative value is impossible: it
means a sensor is wired or configured the wrong way round.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Final

from custom_components.wattkeeper.meters.model import COUNTERS, Quantity

from .errors import QualityConfigError
from .findings import CheckId

# Quantities that keep moving while a meter is alive, and how long one
# identical value may last. Zero is left out on purpose: a main breaker that is
# off or an unused phase legitimately reads 0 for days. Export and PV power are
# not here: an export limit or inverter clipping holds them flat for hours.
DEFAULT_STUCK_AFTER: Final[Mapping[Quantity, timedelta]] = MappingProxyType(
    {
        Quantity.POWER: timedelta(minutes=30),
        Quantity.POWER_IMPORT: timedelta(minutes=30),
        Quantity.POWER_CONSUMPTION: timedelta(minutes=30),
        Quantity.VOLTAGE: timedelta(minutes=30),
    }
)

# Quantities that can never be negative, with the noise a sensor may show
# around zero (CT clamps and inverters read a few watts either way at rest).
_POWER_NOISE_W: Final = 10.0
DEFAULT_NON_NEGATIVE: Final[Mapping[Quantity, float]] = MappingProxyType(
    {
        Quantity.POWER_IMPORT: _POWER_NOISE_W,
        Quantity.POWER_EXPORT: _POWER_NOISE_W,
        Quantity.POWER_CONSUMPTION: _POWER_NOISE_W,
        Quantity.POWER_PRODUCTION: _POWER_NOISE_W,
        Quantity.PV_POWER: _POWER_NOISE_W,
        Quantity.AVERAGE_DEMAND: 0.0,
        Quantity.MONTHLY_PEAK: 0.0,
        Quantity.WATER_FLOW: 0.0,
        **dict.fromkeys(COUNTERS, 0.0),
    }
)

# Series that carry solar production, watched at night.
PV_QUANTITIES: Final = frozenset({Quantity.PV_POWER, Quantity.POWER_PRODUCTION})

# The most a counter can plausibly grow per hour, in its canonical unit. A
# 3 × 80 A, 400 V household connection tops out near 55 kW; a G10 gas meter at
# 16 m³/h; a domestic water meter far below 10 m³/h. Event counters (sags,
# power failures) have no physical rate and are not limited.
DEFAULT_MAX_RATE_PER_HOUR: Final[Mapping[Quantity, float]] = MappingProxyType(
    {
        Quantity.ENERGY_IMPORT: 60.0,
        Quantity.ENERGY_EXPORT: 60.0,
        Quantity.ENERGY_CONSUMPTION: 60.0,
        Quantity.ENERGY_PRODUCTION: 60.0,
        Quantity.PV_ENERGY: 60.0,
        Quantity.BATTERY_CHARGE_ENERGY: 30.0,
        Quantity.BATTERY_DISCHARGE_ENERGY: 30.0,
        Quantity.GAS: 16.0,
        Quantity.WATER: 10.0,
        Quantity.HEAT: 0.2,
    }
)

# The coarsest step of a counter's display, in its canonical unit: a reading
# may be up to one step ahead of the energy behind it. SUN2000 registers count
# 0.01 kWh; P1, HomeWizard and Fluksometer counters 0.001.
DEFAULT_COUNTER_RESOLUTION: Final[Mapping[Quantity, float]] = MappingProxyType(
    {
        **dict.fromkeys(DEFAULT_MAX_RATE_PER_HOUR, 0.01),
        Quantity.GAS: 0.001,
        Quantity.WATER: 0.001,
        Quantity.HEAT: 0.001,
    }
)

# Counters that move in coarse steps whatever the meter's poll rate: M-Bus gas
# and heat meters send a value every 5 min (DSMR 5) or hour (DSMR 4), a
# battery-powered water meter when it wakes up. Their jump limit allows at
# least this much time per step.
DEFAULT_SLOW_COUNTER_WINDOW: Final[Mapping[Quantity, timedelta]] = MappingProxyType(
    {
        Quantity.GAS: timedelta(hours=1),
        Quantity.WATER: timedelta(hours=1),
        Quantity.HEAT: timedelta(hours=1),
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class QualityConfig:
    """Limits for one meter's checks. Durations are wall-clock time."""

    # Gap: how often the meter should report, and how many reports may be missed.
    expected_interval: timedelta = timedelta(seconds=10)
    missed_intervals: int = 5
    stuck_after: Mapping[Quantity, timedelta] = field(default=DEFAULT_STUCK_AFTER)
    non_negative: Mapping[Quantity, float] = field(default=DEFAULT_NON_NEGATIVE)
    # A wrong sign must be seen over this span before it counts (one noisy
    # reading is not a wiring fault).
    sign_confirm: timedelta = timedelta(minutes=1)
    # Atmospheric refraction and twilight light PV panels slightly at 0°, so
    # "night" starts a little below the horizon.
    night_elevation: float = -2.0
    pv_night_min_power: float = 20.0
    pv_night_confirm: timedelta = timedelta(minutes=5)
    max_rate_per_hour: Mapping[Quantity, float] = field(default=DEFAULT_MAX_RATE_PER_HOUR)
    # A counter may grow by its rate over the time since it last changed, plus
    # one expected interval (a reading may be that old when it is taken) and
    # one resolution step. Sub-meters are slow through their expected interval.
    counter_resolution: Mapping[Quantity, float] = field(default=DEFAULT_COUNTER_RESOLUTION)
    slow_counter_window: Mapping[Quantity, timedelta] = field(default=DEFAULT_SLOW_COUNTER_WINDOW)
    # A jump stays reported this long; repeated jumps keep it (and may persist).
    jump_hold: timedelta = timedelta(minutes=15)
    # A counter that drops to at most max(reset_ceiling, reset_fraction × before)
    # was reset or swapped; any other drop is an error.
    reset_ceiling: float = 10.0
    reset_fraction: float = 0.01
    # Drops smaller than this are rounding, not a counter going backwards.
    backwards_tolerance: float = 0.001
    # How long a finding must last before it deserves a repair issue.
    repair_after: timedelta = timedelta(hours=1)
    repair_after_by_check: Mapping[CheckId, timedelta] = field(
        default_factory=lambda: MappingProxyType({CheckId.GAP: timedelta(minutes=30)})
    )

    def __post_init__(self) -> None:
        if self.expected_interval <= timedelta(0):
            raise QualityConfigError("expected_interval must be positive")
        if self.missed_intervals < 1:
            raise QualityConfigError("missed_intervals must be at least 1")

    def repair_delay(self, check_id: CheckId) -> timedelta:
        return self.repair_after_by_check.get(check_id, self.repair_after)
