"""Every register of the driver's map against Huawei's interface definition, written out by hand.

The table below is transcribed from Huawei's public "Solar Inverter Modbus
Interface Definitions" (address, number of registers, type, unit and gain as
the document lists them, in its units: power in kW with gain 1000), not from
the driver's map, so a typo in either shows up here. The driver keeps
Wattkeeper's units (W, var), so its gain is Huawei's divided by the unit
change.
"""

from __future__ import annotations

from typing import Final

import pytest

from custom_components.wattkeeper.meters.sun2000_registers import (
    ALARMS,
    DISCOVERY,
    IDENTITY,
    RUNTIME,
    DataType,
    Register,
)

# name: (address, registers, type, unit, gain) as Huawei lists them; "-" = no unit.
HUAWEI: Final[dict[str, tuple[int, int, str, str, int]]] = {
    # Device information.
    "model": (30000, 15, "STR", "-", 1),
    "serial": (30015, 10, "STR", "-", 1),
    "pn": (30025, 10, "STR", "-", 1),
    "firmware": (30035, 15, "STR", "-", 1),
    "software": (30050, 15, "STR", "-", 1),
    "model_id": (30070, 1, "U16", "-", 1),
    "pv_strings": (30071, 1, "U16", "-", 1),
    "mppt_count": (30072, 1, "U16", "-", 1),
    "rated_power": (30073, 2, "U32", "kW", 1000),
    # Alarm 1, 2 and 3: one bit field register each.
    "alarms": (32008, 3, "Bitfield16", "-", 1),
    # PV1 to PV24: voltage and current.
    "pv1_voltage": (32016, 1, "I16", "V", 10),
    "pv1_current": (32017, 1, "I16", "A", 100),
    "pv2_voltage": (32018, 1, "I16", "V", 10),
    "pv2_current": (32019, 1, "I16", "A", 100),
    "pv3_voltage": (32020, 1, "I16", "V", 10),
    "pv3_current": (32021, 1, "I16", "A", 100),
    "pv4_voltage": (32022, 1, "I16", "V", 10),
    "pv4_current": (32023, 1, "I16", "A", 100),
    "pv5_voltage": (32024, 1, "I16", "V", 10),
    "pv5_current": (32025, 1, "I16", "A", 100),
    "pv6_voltage": (32026, 1, "I16", "V", 10),
    "pv6_current": (32027, 1, "I16", "A", 100),
    "pv7_voltage": (32028, 1, "I16", "V", 10),
    "pv7_current": (32029, 1, "I16", "A", 100),
    "pv8_voltage": (32030, 1, "I16", "V", 10),
    "pv8_current": (32031, 1, "I16", "A", 100),
    "pv9_voltage": (32032, 1, "I16", "V", 10),
    "pv9_current": (32033, 1, "I16", "A", 100),
    "pv10_voltage": (32034, 1, "I16", "V", 10),
    "pv10_current": (32035, 1, "I16", "A", 100),
    "pv11_voltage": (32036, 1, "I16", "V", 10),
    "pv11_current": (32037, 1, "I16", "A", 100),
    "pv12_voltage": (32038, 1, "I16", "V", 10),
    "pv12_current": (32039, 1, "I16", "A", 100),
    "pv13_voltage": (32040, 1, "I16", "V", 10),
    "pv13_current": (32041, 1, "I16", "A", 100),
    "pv14_voltage": (32042, 1, "I16", "V", 10),
    "pv14_current": (32043, 1, "I16", "A", 100),
    "pv15_voltage": (32044, 1, "I16", "V", 10),
    "pv15_current": (32045, 1, "I16", "A", 100),
    "pv16_voltage": (32046, 1, "I16", "V", 10),
    "pv16_current": (32047, 1, "I16", "A", 100),
    "pv17_voltage": (32048, 1, "I16", "V", 10),
    "pv17_current": (32049, 1, "I16", "A", 100),
    "pv18_voltage": (32050, 1, "I16", "V", 10),
    "pv18_current": (32051, 1, "I16", "A", 100),
    "pv19_voltage": (32052, 1, "I16", "V", 10),
    "pv19_current": (32053, 1, "I16", "A", 100),
    "pv20_voltage": (32054, 1, "I16", "V", 10),
    "pv20_current": (32055, 1, "I16", "A", 100),
    "pv21_voltage": (32056, 1, "I16", "V", 10),
    "pv21_current": (32057, 1, "I16", "A", 100),
    "pv22_voltage": (32058, 1, "I16", "V", 10),
    "pv22_current": (32059, 1, "I16", "A", 100),
    "pv23_voltage": (32060, 1, "I16", "V", 10),
    "pv23_current": (32061, 1, "I16", "A", 100),
    "pv24_voltage": (32062, 1, "I16", "V", 10),
    "pv24_current": (32063, 1, "I16", "A", 100),
    "input_power": (32064, 2, "I32", "kW", 1000),
    "grid_voltage_l1": (32069, 1, "U16", "V", 10),
    "grid_voltage_l2": (32070, 1, "U16", "V", 10),
    "grid_voltage_l3": (32071, 1, "U16", "V", 10),
    "grid_current_l1": (32072, 2, "I32", "A", 1000),
    "grid_current_l2": (32074, 2, "I32", "A", 1000),
    "grid_current_l3": (32076, 2, "I32", "A", 1000),
    "active_power": (32080, 2, "I32", "kW", 1000),
    "reactive_power": (32082, 2, "I32", "kvar", 1000),
    "power_factor": (32084, 1, "I16", "-", 1000),
    "grid_frequency": (32085, 1, "U16", "Hz", 100),
    "efficiency": (32086, 1, "U16", "%", 100),
    "internal_temperature": (32087, 1, "I16", "°C", 10),
    "device_status": (32089, 1, "U16", "-", 1),
    "accumulated_yield": (32106, 2, "U32", "kWh", 100),
    "daily_yield": (32114, 2, "U32", "kWh", 100),
    # Power meter.
    "meter_status": (37100, 1, "U16", "-", 1),
    "meter_voltage_l1": (37101, 2, "I32", "V", 10),
    "meter_voltage_l2": (37103, 2, "I32", "V", 10),
    "meter_voltage_l3": (37105, 2, "I32", "V", 10),
    "meter_current_l1": (37107, 2, "I32", "A", 100),
    "meter_current_l2": (37109, 2, "I32", "A", 100),
    "meter_current_l3": (37111, 2, "I32", "A", 100),
    "meter_active_power": (37113, 2, "I32", "W", 1),
    "meter_reactive_power": (37115, 2, "I32", "var", 1),
    "meter_power_factor": (37117, 1, "I16", "-", 1000),
    "meter_frequency": (37118, 1, "I16", "Hz", 100),
    "meter_exported_energy": (37119, 2, "I32", "kWh", 100),  # "positive active electricity"
    "meter_imported_energy": (37121, 2, "I32", "kWh", 100),  # "reverse active power"
    "meter_type": (37125, 1, "U16", "-", 1),
    "meter_power_l1": (37132, 2, "I32", "W", 1),
    "meter_power_l2": (37134, 2, "I32", "W", 1),
    "meter_power_l3": (37136, 2, "I32", "W", 1),
    # Energy storage.
    "battery_serial": (37052, 10, "STR", "-", 1),  # energy storage unit 1 SN
    "battery_capacity": (37758, 2, "U32", "Wh", 1),
    "battery_soc": (37760, 1, "U16", "%", 10),
    "battery_status": (37762, 1, "U16", "-", 1),
    "battery_bus_voltage": (37763, 1, "U16", "V", 10),
    "battery_bus_current": (37764, 1, "I16", "A", 10),
    "battery_power": (37765, 2, "I32", "W", 1),
    "battery_total_charge": (37780, 2, "U32", "kWh", 100),
    "battery_total_discharge": (37782, 2, "U32", "kWh", 100),
    "battery_day_charge": (37784, 2, "U32", "kWh", 100),
    "battery_day_discharge": (37786, 2, "U32", "kWh", 100),
}

# Huawei's unit → Wattkeeper's, and how many of Wattkeeper's make one of Huawei's.
UNITS: Final = {
    "kW": ("W", 1000),
    "kvar": ("var", 1000),
    "W": ("W", 1),
    "var": ("var", 1),
    "kWh": ("kWh", 1),
    "Wh": ("Wh", 1),
    "V": ("V", 1),
    "A": ("A", 1),
    "Hz": ("Hz", 1),
    "%": ("%", 1),
    "°C": ("°C", 1),
    "-": (None, 1),
}
TYPES: Final = {
    "U16": DataType.U16,
    "I16": DataType.I16,
    "U32": DataType.U32,
    "I32": DataType.I32,
    "STR": DataType.STR,
    "Bitfield16": DataType.BITS,
}
MAP: Final[dict[str, Register]] = {r.name: r for r in (*IDENTITY, *DISCOVERY, *RUNTIME)}


def test_the_map_reads_exactly_the_documented_registers() -> None:
    assert sorted(MAP) == sorted(HUAWEI)


@pytest.mark.parametrize("name", sorted(HUAWEI))
def test_register_matches_the_definition(name: str) -> None:
    address, count, kind, unit, gain = HUAWEI[name]
    register = MAP[name]
    ours, factor = UNITS[unit]
    assert (register.address, register.count, register.dtype) == (address, count, TYPES[kind])
    assert register.gain * factor == gain
    if register.dtype not in (DataType.STR, DataType.BITS) and not register.labels:
        assert register.unit == ours


def test_every_alarm_bit_is_in_one_of_the_three_alarm_registers() -> None:
    assert sorted((word, bit) for word, bit, _ in ALARMS) == [
        (word, bit) for word in range(3) for bit in range(16)
    ]
