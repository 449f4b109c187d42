"""The shared quantity model every meter driver maps its data onto.

Each quantity has one canonical unit; drivers convert to it, so the entity
table, the recorder and the quality checks never see a meter's own units.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final


class MeterKind(StrEnum):
    """The meter families Wattkeeper speaks to."""

    HOMEWIZARD = "homewizard"
    DSMR = "dsmr"
    SUN2000 = "sun2000"
    FLUKSO = "flukso"
    CT_CLAMP = "ct_clamp"


class Quantity(StrEnum):
    """Canonical quantities; the value in a snapshot is in `UNITS[quantity]`."""

    # Electricity: power. POWER is the net active power, import positive.
    POWER = "power"
    POWER_IMPORT = "power_import"
    POWER_EXPORT = "power_export"
    REACTIVE_POWER = "reactive_power"
    APPARENT_POWER = "apparent_power"
    POWER_FACTOR = "power_factor"
    VOLTAGE = "voltage"
    CURRENT = "current"
    FREQUENCY = "frequency"
    # Electricity: counters.
    ENERGY_IMPORT = "energy_import"
    ENERGY_EXPORT = "energy_export"
    ENERGY_CONSUMPTION = "energy_consumption"
    ENERGY_PRODUCTION = "energy_production"
    # Power derived per role (Fluksometer, CT clamps).
    POWER_CONSUMPTION = "power_consumption"
    POWER_PRODUCTION = "power_production"
    # Tariff and grid events.
    TARIFF = "tariff"
    VOLTAGE_SAGS = "voltage_sags"
    VOLTAGE_SWELLS = "voltage_swells"
    POWER_FAILURES = "power_failures"
    LONG_POWER_FAILURES = "long_power_failures"
    # Capacity tariff (Belgium): 15-minute average demand and monthly peak.
    AVERAGE_DEMAND = "average_demand"
    MONTHLY_PEAK = "monthly_peak"
    # Other utilities.
    GAS = "gas"
    WATER = "water"
    WATER_FLOW = "water_flow"
    HEAT = "heat"
    # Solar and storage.
    PV_POWER = "pv_power"
    PV_VOLTAGE = "pv_voltage"
    PV_CURRENT = "pv_current"
    PV_ENERGY = "pv_energy"
    PV_ENERGY_DAILY = "pv_energy_daily"
    INVERTER_EFFICIENCY = "inverter_efficiency"
    BATTERY_SOC = "battery_soc"
    BATTERY_POWER = "battery_power"  # positive while charging
    BATTERY_CHARGE_ENERGY = "battery_charge_energy"
    BATTERY_DISCHARGE_ENERGY = "battery_discharge_energy"
    BATTERY_CHARGE_ENERGY_DAILY = "battery_charge_energy_daily"
    BATTERY_DISCHARGE_ENERGY_DAILY = "battery_discharge_energy_daily"
    TEMPERATURE = "temperature"
    # Device health.
    WIFI_STRENGTH = "wifi_strength"
    UPTIME = "uptime"


UNITS: Mapping[Quantity, str | None] = {
    Quantity.POWER: "W",
    Quantity.POWER_IMPORT: "W",
    Quantity.POWER_EXPORT: "W",
    Quantity.REACTIVE_POWER: "var",
    Quantity.APPARENT_POWER: "VA",
    Quantity.POWER_FACTOR: None,
    Quantity.VOLTAGE: "V",
    Quantity.CURRENT: "A",
    Quantity.FREQUENCY: "Hz",
    Quantity.ENERGY_IMPORT: "kWh",
    Quantity.ENERGY_EXPORT: "kWh",
    Quantity.ENERGY_CONSUMPTION: "kWh",
    Quantity.ENERGY_PRODUCTION: "kWh",
    Quantity.POWER_CONSUMPTION: "W",
    Quantity.POWER_PRODUCTION: "W",
    Quantity.TARIFF: None,
    Quantity.VOLTAGE_SAGS: None,
    Quantity.VOLTAGE_SWELLS: None,
    Quantity.POWER_FAILURES: None,
    Quantity.LONG_POWER_FAILURES: None,
    Quantity.AVERAGE_DEMAND: "W",
    Quantity.MONTHLY_PEAK: "W",
    Quantity.GAS: "m³",
    Quantity.WATER: "m³",
    Quantity.WATER_FLOW: "L/min",
    Quantity.HEAT: "GJ",
    Quantity.PV_POWER: "W",
    Quantity.PV_VOLTAGE: "V",
    Quantity.PV_CURRENT: "A",
    Quantity.PV_ENERGY: "kWh",
    Quantity.PV_ENERGY_DAILY: "kWh",
    Quantity.INVERTER_EFFICIENCY: "%",
    Quantity.BATTERY_SOC: "%",
    Quantity.BATTERY_POWER: "W",
    Quantity.BATTERY_CHARGE_ENERGY: "kWh",
    Quantity.BATTERY_DISCHARGE_ENERGY: "kWh",
    Quantity.BATTERY_CHARGE_ENERGY_DAILY: "kWh",
    Quantity.BATTERY_DISCHARGE_ENERGY_DAILY: "kWh",
    Quantity.TEMPERATURE: "°C",
    Quantity.WIFI_STRENGTH: "%",
    Quantity.UPTIME: "s",
}

# Quantities that only ever grow (until a meter reset): the recorder rolls them
# up as deltas and the quality checks watch them for going backwards.
COUNTERS: frozenset[Quantity] = frozenset(
    {
        Quantity.ENERGY_IMPORT,
        Quantity.ENERGY_EXPORT,
        Quantity.ENERGY_CONSUMPTION,
        Quantity.ENERGY_PRODUCTION,
        Quantity.VOLTAGE_SAGS,
        Quantity.VOLTAGE_SWELLS,
        Quantity.POWER_FAILURES,
        Quantity.LONG_POWER_FAILURES,
        Quantity.GAS,
        Quantity.WATER,
        Quantity.HEAT,
        Quantity.PV_ENERGY,
        Quantity.BATTERY_CHARGE_ENERGY,
        Quantity.BATTERY_DISCHARGE_ENERGY,
    }
)


# Text readings every driver names the same way.
TEXT_MONTHLY_PEAK_AT: Final = "monthly_peak_at"  # ISO 8601 time of this month's peak


@dataclass(frozen=True, slots=True)
class QuantityKey:
    """One series of a meter: a quantity, optionally per tariff, phase or channel.

    `channel` names a sub-series that is neither a tariff nor a phase: a PV
    string, a CT input, a Fluksometer sensor.
    """

    quantity: Quantity
    tariff: int | None = None
    phase: int | None = None
    channel: str | None = None

    @property
    def id(self) -> str:
        """Stable text id, used in unique ids and recorder series names."""
        parts = [self.quantity.value]
        if self.tariff is not None:
            parts.append(f"t{self.tariff}")
        if self.phase is not None:
            parts.append(f"l{self.phase}")
        if self.channel is not None:
            parts.append(f"c{self.channel}")
        return "_".join(parts)

    def __lt__(self, other: QuantityKey) -> bool:
        # Sort by the text id: qualifiers may be None in one key and set in another.
        return self.id < other.id

    @property
    def unit(self) -> str | None:
        return UNITS[self.quantity]

    @property
    def is_counter(self) -> bool:
        return self.quantity in COUNTERS


@dataclass(frozen=True, slots=True, kw_only=True)
class MeterIdentity:
    """Who a meter is. `serial` is stable across IP changes and makes unique ids."""

    kind: MeterKind
    serial: str
    model: str
    manufacturer: str
    name: str
    firmware: str | None = None
    # Where the driver reaches it; shown in diagnostics (redacted), never an id.
    address: str | None = None
    # The serial on the device's label. It is `serial` unless that is an id made up
    # for a part that reports none (a SUN2000's power meter is "<inverter>-meter"):
    # then whatever the part reports of its own, or None.
    label_serial: str | None = None
    serial_is_made_up: bool = False

    @property
    def serial_number(self) -> str | None:
        return self.label_serial if self.serial_is_made_up else self.serial


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """Everything one meter reported at one moment.

    `sub_meters` are devices that report through this one (gas, water or heat
    meters on a P1 port's M-Bus, a power meter behind an inverter) and become
    their own Home Assistant devices.
    """

    identity: MeterIdentity
    measured_at: datetime
    values: Mapping[QuantityKey, float] = field(default_factory=dict)
    # Text readings (status, alarms) that are not numeric series.
    texts: Mapping[str, str] = field(default_factory=dict)
    # On/off state of a relay the meter can switch (energy socket).
    switch_on: bool | None = None
    sub_meters: tuple[Snapshot, ...] = ()

    def all_meters(self) -> tuple[Snapshot, ...]:
        """This snapshot followed by its sub-meters, flattened."""
        result: list[Snapshot] = [self]
        for sub in self.sub_meters:
            result.extend(sub.all_meters())
        return tuple(result)
