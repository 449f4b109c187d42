"""Declarative Modbus register map of a Huawei SUN2000 inverter, its power meter and battery.

The map follows Huawei's public "Solar Inverter Modbus Interface Definitions"
(issue 5, the edition for SUN2000-(2KTL-6KTL)-L1, -(3KTL-10KTL)-M1 and the
LUNA2000 / DTSU666-H accessories). Addresses, data types and gains were taken
from that document as the author knows it, and tests/meters/
test_sun2000_register_table.py checks each against a separate transcription;
a register found wrong on a real device should be fixed here (and there).

Everything the driver and the batch planner know about the device's
registers lives in this module as data (the simulator keeps its own table):

- `Register`: address, count, data type, gain, unit, the device part it
  belongs to and what it becomes (a `QuantityKey` or a text key).
- `Product`: a value computed from two registers (PV string power = V × I).
- `FORBIDDEN_GAPS`: address ranges a single read must never touch.
- `IDENTITY` / `DISCOVERY`: registers read once, when the device is identified.

Every meter register is turned to Wattkeeper's import-positive viewpoint
(`sign=-1`): the DTSU666-H as read through the inverter reports power fed into
the grid as positive. Battery power keeps Huawei's sign: positive while charging.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from .model import Quantity, QuantityKey


class DataType(StrEnum):
    """How a register's words become a raw value (big-endian words, high word first)."""

    U16 = "u16"
    I16 = "i16"
    U32 = "u32"
    I32 = "i32"
    STR = "str"  # ASCII, NUL padded
    BITS = "bits"  # one 16-bit flag word per register, decoded into labels


WORDS: Final[Mapping[DataType, int]] = {
    DataType.U16: 1,
    DataType.I16: 1,
    DataType.U32: 2,
    DataType.I32: 2,
}


class Part(StrEnum):
    """Which device a register describes; meter and battery become sub-meters."""

    INVERTER = "inverter"
    METER = "meter"
    BATTERY = "battery"


@dataclass(frozen=True, slots=True, kw_only=True)
class Register:
    """One value in the device's holding registers.

    The value in Wattkeeper's unit is `sign * raw / gain`. Exactly one of `key`
    (a numeric series) and `text` (a text reading) is set for runtime
    registers; identity registers carry only `text`, naming the field.
    """

    name: str
    address: int
    count: int
    dtype: DataType
    part: Part
    gain: int = 1
    unit: str | None = None
    sign: int = 1
    key: QuantityKey | None = None
    text: str | None = None
    # Enumerations: raw value → label. Bit fields: (word index, bit) → label.
    labels: tuple[tuple[int, str], ...] = ()
    bits: tuple[tuple[int, int, str], ...] = ()

    @property
    def end(self) -> int:
        """First address after this register."""
        return self.address + self.count

    @property
    def field(self) -> str:
        """The id the driver's callers use to enable this reading."""
        return field_id(self.part, self.key, self.text)


@dataclass(frozen=True, slots=True, kw_only=True)
class Product:
    """A value computed as the product of two registers' values."""

    key: QuantityKey
    part: Part
    factors: tuple[str, str]

    @property
    def field(self) -> str:
        return field_id(self.part, self.key, None)


def field_id(part: Part, key: QuantityKey | None, text: str | None) -> str:
    """`<part>.<quantity key id>` or `<part>.<text key>`, e.g. `meter.power_l1`."""
    if key is not None:
        return f"{part.value}.{key.id}"
    if text is None:
        raise ValueError("a field needs a quantity key or a text key")
    return f"{part.value}.{text}"


def _num(
    name: str,
    address: int,
    dtype: DataType,
    part: Part,
    key: QuantityKey,
    *,
    gain: int = 1,
    sign: int = 1,
) -> Register:
    return Register(
        name=name,
        address=address,
        count=WORDS[dtype],
        dtype=dtype,
        part=part,
        gain=gain,
        unit=key.unit,
        sign=sign,
        key=key,
    )


def _enum(name: str, address: int, part: Part, text: str, labels: Mapping[int, str]) -> Register:
    return Register(
        name=name,
        address=address,
        count=1,
        dtype=DataType.U16,
        part=part,
        text=text,
        labels=tuple(labels.items()),
    )


def _info(
    name: str, address: int, dtype: DataType, *, count: int = 0, unit: str | None = None
) -> Register:
    return Register(
        name=name,
        address=address,
        count=count or WORDS[dtype],
        dtype=dtype,
        part=Part.INVERTER,
        unit=unit,
        text=name,
    )


def _key(
    quantity: Quantity, *, phase: int | None = None, channel: str | None = None
) -> QuantityKey:
    return QuantityKey(quantity, phase=phase, channel=channel)


# The most PV strings any SUN2000 model in the document has; a device reports
# its own number in `pv_strings` and the driver reads only those.
MAX_PV_STRINGS: Final = 24

# Identity, read once. All of it sits in 30000-30074, two requests.
IDENTITY: Final[tuple[Register, ...]] = (
    _info("model", 30000, DataType.STR, count=15),
    _info("serial", 30015, DataType.STR, count=10),
    _info("pn", 30025, DataType.STR, count=10),
    _info("firmware", 30035, DataType.STR, count=15),
    _info("software", 30050, DataType.STR, count=15),
    _info("model_id", 30070, DataType.U16),
    _info("pv_strings", 30071, DataType.U16),
    _info("mppt_count", 30072, DataType.U16),
    _info("rated_power", 30073, DataType.U32, unit="W"),
)

# What a quick probe needs: model, serial, PN and firmware, one request.
PROBE_IDENTITY: Final = tuple(r for r in IDENTITY if r.address < 30050)

# Device status (32089) → state key; the names are translations (i18n/*/sun2000.json).
DEVICE_STATUS: Final[Mapping[int, str]] = {
    0x0000: "standby_initializing",
    0x0001: "standby_insulation_resistance",
    0x0002: "standby_irradiation",
    0x0003: "standby_grid_detecting",
    0x0100: "starting",
    0x0200: "on_grid",
    0x0201: "on_grid_power_limited",
    0x0202: "on_grid_self_derating",
    0x0203: "off_grid",
    0x0300: "shutdown_fault",
    0x0301: "shutdown_command",
    0x0302: "shutdown_ovgr",
    0x0303: "shutdown_communication",
    0x0304: "shutdown_power_limited",
    0x0305: "shutdown_manual_startup",
    0x0306: "shutdown_dc_switches",
    0x0307: "shutdown_rapid_cutoff",
    0x0308: "shutdown_input_underpower",
    0x0401: "grid_scheduling_cosphi_p",
    0x0402: "grid_scheduling_q_u",
    0x0403: "grid_scheduling_pf_u",
    0x0404: "grid_scheduling_dry_contact",
    0x0405: "grid_scheduling_q_p",
    0x0500: "spot_check_ready",
    0x0501: "spot_checking",
    0x0600: "inspecting",
    0x0700: "afci_self_check",
    0x0800: "iv_scanning",
    0x0900: "dc_input_detection",
    0x0A00: "off_grid_charging",
    0xA000: "standby_no_irradiation",
}

# Alarm 1, 2 and 3 (32008-32010): (word, bit) → alarm name with Huawei's alarm ID.
ALARMS: Final[tuple[tuple[int, int, str], ...]] = (
    (0, 0, "High string input voltage (2001)"),
    (0, 1, "DC arc fault (2002)"),
    (0, 2, "String reverse connection (2011)"),
    (0, 3, "String current backfeed (2012)"),
    (0, 4, "Abnormal string power (2013)"),
    (0, 5, "AFCI self-check fail (2021)"),
    (0, 6, "Phase wire short-circuited to PE (2031)"),
    (0, 7, "Grid loss (2032)"),
    (0, 8, "Grid undervoltage (2033)"),
    (0, 9, "Grid overvoltage (2034)"),
    (0, 10, "Grid voltage imbalance (2035)"),
    (0, 11, "Grid overfrequency (2036)"),
    (0, 12, "Grid underfrequency (2037)"),
    (0, 13, "Unstable grid frequency (2038)"),
    (0, 14, "Output overcurrent (2039)"),
    (0, 15, "Output DC component overhigh (2040)"),
    (1, 0, "Abnormal residual current (2051)"),
    (1, 1, "Abnormal grounding (2061)"),
    (1, 2, "Low insulation resistance (2062)"),
    (1, 3, "Overtemperature (2063)"),
    (1, 4, "Device fault (2064)"),
    (1, 5, "Upgrade failed or version mismatch (2065)"),
    (1, 6, "License expired (2066)"),
    (1, 7, "Faulty monitoring unit (61440)"),
    (1, 8, "Faulty power collector (2067)"),
    (1, 9, "Battery abnormal (2068)"),
    (1, 10, "Active islanding (2070)"),
    (1, 11, "Passive islanding (2071)"),
    (1, 12, "Transient AC overvoltage (2072)"),
    (1, 13, "Peripheral port short circuit (2075)"),
    (1, 14, "Churn output overload (2077)"),
    (1, 15, "Abnormal PV module configuration (2080)"),
    (2, 0, "Optimizer fault (2081)"),
    (2, 1, "Built-in PID operation abnormal (2085)"),
    (2, 2, "High input string voltage to ground (2014)"),
    (2, 3, "External fan abnormal (2086)"),
    (2, 4, "Battery reverse connection (2069)"),
    (2, 5, "On-grid/off-grid controller abnormal (2082)"),
    (2, 6, "PV string loss (2015)"),
    (2, 7, "Internal fan abnormal (2087)"),
    (2, 8, "DC protection unit abnormal (2088)"),
    (2, 9, "EL unit abnormal (2089)"),
    (2, 10, "Active adjustment instruction abnormal (2090)"),
    (2, 11, "Reactive adjustment instruction abnormal (2091)"),
    (2, 12, "CT wiring abnormal (2092)"),
    (2, 13, "DC arc fault, clear manually (2003)"),
    (2, 14, "DC switch abnormal (2093)"),
    (2, 15, "Low battery discharge capacity (2094)"),
)

METER_STATUS: Final[Mapping[int, str]] = {0: "offline", 1: "normal"}
METER_TYPE: Final[Mapping[int, str]] = {0: "single_phase", 1: "three_phase"}
# Running status of the energy storage (37762) → state key, translated like DEVICE_STATUS.
BATTERY_STATUS: Final[Mapping[int, str]] = {
    0: "offline",
    1: "standby",
    2: "running",
    3: "fault",
    4: "sleep_mode",
}

_INV = Part.INVERTER
_MET = Part.METER
_BAT = Part.BATTERY
_U16, _I16, _U32, _I32 = DataType.U16, DataType.I16, DataType.U32, DataType.I32


def _pv_strings() -> Iterable[Register]:
    for n in range(1, MAX_PV_STRINGS + 1):
        base = 32016 + 2 * (n - 1)
        ch = str(n)
        yield _num(
            f"pv{n}_voltage", base, _I16, _INV, _key(Quantity.PV_VOLTAGE, channel=ch), gain=10
        )
        yield _num(
            f"pv{n}_current", base + 1, _I16, _INV, _key(Quantity.PV_CURRENT, channel=ch), gain=100
        )


def _phases(
    prefix: str,
    first: int,
    dtype: DataType,
    part: Part,
    quantity: Quantity,
    *,
    step: int,
    gain: int,
    sign: int = 1,
) -> Iterable[Register]:
    for phase in (1, 2, 3):
        yield _num(
            f"{prefix}_l{phase}",
            first + step * (phase - 1),
            dtype,
            part,
            _key(quantity, phase=phase),
            gain=gain,
            sign=sign,
        )


RUNTIME: Final[tuple[Register, ...]] = (
    # Inverter.
    Register(
        name="alarms",
        address=32008,
        count=3,
        dtype=DataType.BITS,
        part=_INV,
        text="alarms",
        bits=ALARMS,
    ),
    *_pv_strings(),
    _num("input_power", 32064, _I32, _INV, _key(Quantity.PV_POWER)),
    *_phases("grid_voltage", 32069, _U16, _INV, Quantity.VOLTAGE, step=1, gain=10),
    *_phases("grid_current", 32072, _I32, _INV, Quantity.CURRENT, step=2, gain=1000),
    _num("active_power", 32080, _I32, _INV, _key(Quantity.POWER_PRODUCTION)),
    _num("reactive_power", 32082, _I32, _INV, _key(Quantity.REACTIVE_POWER)),
    _num("power_factor", 32084, _I16, _INV, _key(Quantity.POWER_FACTOR), gain=1000),
    _num("grid_frequency", 32085, _U16, _INV, _key(Quantity.FREQUENCY), gain=100),
    _num("efficiency", 32086, _U16, _INV, _key(Quantity.INVERTER_EFFICIENCY), gain=100),
    _num("internal_temperature", 32087, _I16, _INV, _key(Quantity.TEMPERATURE), gain=10),
    _enum("device_status", 32089, _INV, "device_status", DEVICE_STATUS),
    _num("accumulated_yield", 32106, _U32, _INV, _key(Quantity.PV_ENERGY), gain=100),
    _num("daily_yield", 32114, _U32, _INV, _key(Quantity.PV_ENERGY_DAILY), gain=100),
    # Power meter (DTSU666-H / DDSU666-H) as the inverter reports it.
    _enum("meter_status", 37100, _MET, "meter_status", METER_STATUS),
    *_phases("meter_voltage", 37101, _I32, _MET, Quantity.VOLTAGE, step=2, gain=10),
    *_phases("meter_current", 37107, _I32, _MET, Quantity.CURRENT, step=2, gain=100, sign=-1),
    _num("meter_active_power", 37113, _I32, _MET, _key(Quantity.POWER), sign=-1),
    _num("meter_reactive_power", 37115, _I32, _MET, _key(Quantity.REACTIVE_POWER), sign=-1),
    _num("meter_power_factor", 37117, _I16, _MET, _key(Quantity.POWER_FACTOR), gain=1000),
    _num("meter_frequency", 37118, _I16, _MET, _key(Quantity.FREQUENCY), gain=100),
    # "Positive active energy" is what went into the grid, "reverse" what came from it.
    _num("meter_exported_energy", 37119, _I32, _MET, _key(Quantity.ENERGY_EXPORT), gain=100),
    _num("meter_imported_energy", 37121, _I32, _MET, _key(Quantity.ENERGY_IMPORT), gain=100),
    *_phases("meter_power", 37132, _I32, _MET, Quantity.POWER, step=2, gain=1, sign=-1),
    # LUNA2000 battery, all storage units together.
    _num("battery_soc", 37760, _U16, _BAT, _key(Quantity.BATTERY_SOC), gain=10),
    _enum("battery_status", 37762, _BAT, "battery_status", BATTERY_STATUS),
    _num("battery_bus_voltage", 37763, _U16, _BAT, _key(Quantity.VOLTAGE), gain=10),
    _num("battery_bus_current", 37764, _I16, _BAT, _key(Quantity.CURRENT), gain=10),
    _num("battery_power", 37765, _I32, _BAT, _key(Quantity.BATTERY_POWER)),
    _num("battery_total_charge", 37780, _U32, _BAT, _key(Quantity.BATTERY_CHARGE_ENERGY), gain=100),
    _num(
        "battery_total_discharge",
        37782,
        _U32,
        _BAT,
        _key(Quantity.BATTERY_DISCHARGE_ENERGY),
        gain=100,
    ),
    _num(
        "battery_day_charge",
        37784,
        _U32,
        _BAT,
        _key(Quantity.BATTERY_CHARGE_ENERGY_DAILY),
        gain=100,
    ),
    _num(
        "battery_day_discharge",
        37786,
        _U32,
        _BAT,
        _key(Quantity.BATTERY_DISCHARGE_ENERGY_DAILY),
        gain=100,
    ),
)

PRODUCTS: Final[tuple[Product, ...]] = tuple(
    Product(
        key=_key(Quantity.PV_POWER, channel=str(n)),
        part=_INV,
        factors=(f"pv{n}_voltage", f"pv{n}_current"),
    )
    for n in range(1, MAX_PV_STRINGS + 1)
)

# Read once to learn which parts exist: meter status and type, battery capacity,
# and phase B's voltage, which a single-phase inverter reports as "no value".
DISCOVERY: Final[tuple[Register, ...]] = (
    _num("grid_voltage_l2", 32070, _U16, _INV, _key(Quantity.VOLTAGE, phase=2), gain=10),
    _enum("meter_status", 37100, _MET, "meter_status", METER_STATUS),
    _enum("meter_type", 37125, _MET, "meter_type", METER_TYPE),
    Register(
        name="battery_serial",
        address=37052,
        count=10,
        dtype=DataType.STR,
        part=_BAT,
        text="battery_serial",
    ),
    Register(
        name="battery_capacity",
        address=37758,
        count=2,
        dtype=_U32,
        part=_BAT,
        unit="Wh",
        text="battery_capacity",
    ),
)

# Undocumented addresses inside blocks we read. A LUNA2000 was reported to
# answer ILLEGAL DATA ADDRESS to one read of 37760-37787 (huawei_solar issue
# 35); the hole between charge/discharge power and the energy counters is the
# only part of that span the document lists nothing for, so no read crosses it.
# Ranges are inclusive of both ends.
FORBIDDEN_GAPS: Final[tuple[tuple[int, int], ...]] = ((37767, 37779),)

# Requests a SDongle accepts; the inverter's own Wi-Fi takes up to 125.
DEFAULT_MAX_REGISTERS: Final = 64

_PV_QUANTITIES: Final = frozenset({Quantity.PV_VOLTAGE, Quantity.PV_CURRENT, Quantity.PV_POWER})

REGISTERS_BY_NAME: Final[Mapping[str, Register]] = {
    r.name: r for r in (*IDENTITY, *DISCOVERY, *RUNTIME)
}
RUNTIME_BY_FIELD: Final[Mapping[str, Register]] = {r.field: r for r in RUNTIME}
PRODUCTS_BY_FIELD: Final[Mapping[str, Product]] = {p.field: p for p in PRODUCTS}


def available_fields(
    *, pv_strings: int, parts: Collection[Part], phases: int = 3, meter_phases: int = 3
) -> tuple[str, ...]:
    """Every field a device with these strings, phases and parts can report."""

    def fits(part: Part, key: QuantityKey | None) -> bool:
        if part not in parts:
            return False
        if key is None:
            return True
        if key.channel is not None and key.quantity in _PV_QUANTITIES:
            return int(key.channel) <= pv_strings
        limit = meter_phases if part is Part.METER else phases
        return key.phase is None or key.phase <= limit

    fields = [r.field for r in RUNTIME if fits(r.part, r.key)]
    fields += [p.field for p in PRODUCTS if fits(p.part, p.key)]
    return tuple(fields)


def registers_for(fields: Iterable[str]) -> tuple[tuple[Register, ...], tuple[Product, ...]]:
    """The registers to read, and the products to compute, for the given fields.

    A meter field always brings the meter's status along: an offline meter
    reports stale numbers that must not be passed on.
    """
    registers: dict[str, Register] = {}
    products: dict[str, Product] = {}
    for field in fields:
        if (register := RUNTIME_BY_FIELD.get(field)) is not None:
            registers[register.name] = register
        elif (product := PRODUCTS_BY_FIELD.get(field)) is not None:
            products[product.field] = product
            for name in product.factors:
                registers[name] = REGISTERS_BY_NAME[name]
        else:
            raise ValueError(f"unknown SUN2000 field {field!r}")
    if any(r.part is Part.METER for r in registers.values()):
        status = REGISTERS_BY_NAME["meter_status"]
        registers[status.name] = status
    return tuple(registers.values()), tuple(products.values())
