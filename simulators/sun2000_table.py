"""The SUN2000 twin's own register table and encoder, written from Huawei's interface definition.

Deliberately independent of the driver's map (`sun2000_registers`) and codec:
the twin writes what Huawei's "Solar Inverter Modbus Interface Definitions"
lists (address, type, gain, Huawei's sign), so a wrong address, gain or word
order in the driver shows up as a wrong value instead of being encoded and
decoded the same wrong way. Each runtime register also names the driver field
(`inverter.pv_power`, ...) its value is the ground truth for.

Values go in as the twin's physics computes them: W, var, V, A, kWh, Wh, %,
Hz and °C. `scale` is how many raw units make one of those: Huawei lists
power in kW with gain 1000, which is 1 raw unit per W.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final

# Huawei's "no value" marker per type: the type's largest positive number.
NO_VALUE: Final[Mapping[str, int]] = {
    "u16": 0xFFFF,
    "i16": 0x7FFF,
    "u32": 0xFFFFFFFF,
    "i32": 0x7FFFFFFF,
}
_WORDS: Final = {"u16": 1, "i16": 1, "u32": 2, "i32": 2}


@dataclass(frozen=True, slots=True)
class SimRegister:
    """One register as the device serves it."""

    address: int
    kind: str  # u16, i16, u32, i32 or str
    scale: int = 1
    words: int = 0  # strings only; numbers take their type's width
    field: str | None = None  # the driver field this is the ground truth of
    # Huawei reports the power meter from the grid's side: power fed in is positive.
    export_positive: bool = False

    @property
    def count(self) -> int:
        return self.words or _WORDS[self.kind]


def _runtime() -> Iterator[tuple[str, SimRegister]]:
    reg = SimRegister
    for n in range(1, 25):
        yield f"pv{n}_voltage", reg(32014 + 2 * n, "i16", 10, field=f"inverter.pv_voltage_c{n}")
        yield f"pv{n}_current", reg(32015 + 2 * n, "i16", 100, field=f"inverter.pv_current_c{n}")
    for p in (1, 2, 3):
        yield f"grid_voltage_l{p}", reg(32068 + p, "u16", 10, field=f"inverter.voltage_l{p}")
        yield f"grid_current_l{p}", reg(32070 + 2 * p, "i32", 1000, field=f"inverter.current_l{p}")
        yield f"meter_voltage_l{p}", reg(37099 + 2 * p, "i32", 10, field=f"meter.voltage_l{p}")
        yield (
            f"meter_current_l{p}",
            reg(37105 + 2 * p, "i32", 100, field=f"meter.current_l{p}", export_positive=True),
        )
        yield (
            f"meter_power_l{p}",
            reg(37130 + 2 * p, "i32", 1, field=f"meter.power_l{p}", export_positive=True),
        )


REGISTERS: Final[Mapping[str, SimRegister]] = {
    # Identity.
    "model": SimRegister(30000, "str", words=15),
    "serial": SimRegister(30015, "str", words=10),
    "pn": SimRegister(30025, "str", words=10),
    "firmware": SimRegister(30035, "str", words=15),
    "software": SimRegister(30050, "str", words=15),
    "model_id": SimRegister(30070, "u16"),
    "pv_strings": SimRegister(30071, "u16"),
    "mppt_count": SimRegister(30072, "u16"),
    "rated_power": SimRegister(30073, "u32"),  # kW, gain 1000
    # Inverter.
    "alarm_1": SimRegister(32008, "u16"),
    "alarm_2": SimRegister(32009, "u16"),
    "alarm_3": SimRegister(32010, "u16"),
    "input_power": SimRegister(32064, "i32", field="inverter.pv_power"),  # kW, gain 1000
    "active_power": SimRegister(32080, "i32", field="inverter.power_production"),
    "reactive_power": SimRegister(32082, "i32", field="inverter.reactive_power"),  # kvar, 1000
    "power_factor": SimRegister(32084, "i16", 1000, field="inverter.power_factor"),
    "grid_frequency": SimRegister(32085, "u16", 100, field="inverter.frequency"),
    "efficiency": SimRegister(32086, "u16", 100, field="inverter.inverter_efficiency"),
    "internal_temperature": SimRegister(32087, "i16", 10, field="inverter.temperature"),
    "device_status": SimRegister(32089, "u16"),
    "accumulated_yield": SimRegister(32106, "u32", 100, field="inverter.pv_energy"),
    "daily_yield": SimRegister(32114, "u32", 100, field="inverter.pv_energy_daily"),
    # Power meter.
    "meter_status": SimRegister(37100, "u16"),
    "meter_active_power": SimRegister(37113, "i32", field="meter.power", export_positive=True),
    "meter_reactive_power": SimRegister(
        37115, "i32", field="meter.reactive_power", export_positive=True
    ),
    "meter_power_factor": SimRegister(37117, "i16", 1000, field="meter.power_factor"),
    "meter_frequency": SimRegister(37118, "i16", 100, field="meter.frequency"),
    # Huawei: "positive active energy" is what went into the grid, "reverse" what came from it.
    "meter_exported_energy": SimRegister(37119, "i32", 100, field="meter.energy_export"),
    "meter_imported_energy": SimRegister(37121, "i32", 100, field="meter.energy_import"),
    "meter_type": SimRegister(37125, "u16"),
    # Battery (energy storage unit 1 and the totals of all units).
    "battery_serial": SimRegister(37052, "str", words=10),
    "battery_capacity": SimRegister(37758, "u32"),  # Wh
    "battery_soc": SimRegister(37760, "u16", 10, field="battery.battery_soc"),
    "battery_status": SimRegister(37762, "u16"),
    "battery_bus_voltage": SimRegister(37763, "u16", 10, field="battery.voltage"),
    "battery_bus_current": SimRegister(37764, "i16", 10, field="battery.current"),
    "battery_power": SimRegister(37765, "i32", field="battery.battery_power"),  # charging > 0
    "battery_total_charge": SimRegister(37780, "u32", 100, field="battery.battery_charge_energy"),
    "battery_total_discharge": SimRegister(
        37782, "u32", 100, field="battery.battery_discharge_energy"
    ),
    "battery_day_charge": SimRegister(
        37784, "u32", 100, field="battery.battery_charge_energy_daily"
    ),
    "battery_day_discharge": SimRegister(
        37786, "u32", 100, field="battery.battery_discharge_energy_daily"
    ),
    **dict(_runtime()),
}

# Addresses this twin answers ILLEGAL DATA ADDRESS for inside otherwise readable
# blocks, as a LUNA2000 does between its power and its energy counters.
UNDOCUMENTED: Final = range(37767, 37780)

# Status codes the twin uses, with the driver's names for them.
DEVICE_STATUS: Final[Mapping[int, str]] = {0x0200: "on_grid", 0xA000: "standby_no_irradiation"}
BATTERY_STATUS: Final[Mapping[int, str]] = {0: "offline", 2: "running"}
METER_STATUS: Final[Mapping[int, str]] = {0: "offline", 1: "normal"}

# Alarm 1-3 (32008-32010): (register, bit) → the alarm's name with Huawei's alarm ID.
ALARM_NAMES: Final[Mapping[tuple[int, int], str]] = {
    (0, 0): "High string input voltage (2001)",
    (0, 1): "DC arc fault (2002)",
    (0, 2): "String reverse connection (2011)",
    (0, 3): "String current backfeed (2012)",
    (0, 4): "Abnormal string power (2013)",
    (0, 5): "AFCI self-check fail (2021)",
    (0, 6): "Phase wire short-circuited to PE (2031)",
    (0, 7): "Grid loss (2032)",
    (0, 8): "Grid undervoltage (2033)",
    (0, 9): "Grid overvoltage (2034)",
    (0, 10): "Grid voltage imbalance (2035)",
    (0, 11): "Grid overfrequency (2036)",
    (0, 12): "Grid underfrequency (2037)",
    (0, 13): "Unstable grid frequency (2038)",
    (0, 14): "Output overcurrent (2039)",
    (0, 15): "Output DC component overhigh (2040)",
    (1, 0): "Abnormal residual current (2051)",
    (1, 1): "Abnormal grounding (2061)",
    (1, 2): "Low insulation resistance (2062)",
    (1, 3): "Overtemperature (2063)",
    (1, 4): "Device fault (2064)",
    (1, 5): "Upgrade failed or version mismatch (2065)",
    (1, 6): "License expired (2066)",
    (1, 7): "Faulty monitoring unit (61440)",
    (1, 8): "Faulty power collector (2067)",
    (1, 9): "Battery abnormal (2068)",
    (1, 10): "Active islanding (2070)",
    (1, 11): "Passive islanding (2071)",
    (1, 12): "Transient AC overvoltage (2072)",
    (1, 13): "Peripheral port short circuit (2075)",
    (1, 14): "Churn output overload (2077)",
    (1, 15): "Abnormal PV module configuration (2080)",
    (2, 0): "Optimizer fault (2081)",
    (2, 1): "Built-in PID operation abnormal (2085)",
    (2, 2): "High input string voltage to ground (2014)",
    (2, 3): "External fan abnormal (2086)",
    (2, 4): "Battery reverse connection (2069)",
    (2, 5): "On-grid/off-grid controller abnormal (2082)",
    (2, 6): "PV string loss (2015)",
    (2, 7): "Internal fan abnormal (2087)",
    (2, 8): "DC protection unit abnormal (2088)",
    (2, 9): "EL unit abnormal (2089)",
    (2, 10): "Active adjustment instruction abnormal (2090)",
    (2, 11): "Reactive adjustment instruction abnormal (2091)",
    (2, 12): "CT wiring abnormal (2092)",
    (2, 13): "DC arc fault, clear manually (2003)",
    (2, 14): "DC switch abnormal (2093)",
    (2, 15): "Low battery discharge capacity (2094)",
}


def quantize(name: str, value: float) -> float:
    """`value` rounded to what the register carries: exactly what a correct decoder reads."""
    scale = REGISTERS[name].scale
    return round(value * scale) / scale


def encode(name: str, value: float | str | None) -> list[int]:
    """The words the device serves for `value` (None: Huawei's "no value")."""
    register = REGISTERS[name]
    if register.kind == "str":
        data = str(value or "").encode("ascii").ljust(2 * register.count, b"\0")
        return [int.from_bytes(data[i : i + 2], "big") for i in range(0, 2 * register.count, 2)]
    if value is None:
        raw = NO_VALUE[register.kind]
    else:
        number = -float(value) if register.export_positive else float(value)
        raw = round(number * register.scale)
    data = raw.to_bytes(2 * register.count, "big", signed=register.kind.startswith("i"))
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def alarm_text(words: tuple[int, int, int]) -> str:
    """The alarms the driver should report for these three alarm registers."""
    names = [name for (word, bit), name in ALARM_NAMES.items() if words[word] >> bit & 1]
    return "; ".join(names) if names else "none"
