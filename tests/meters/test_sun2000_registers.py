"""The SUN2000 register map is consistent, and words decode exactly (scale, sign, word order)."""

from __future__ import annotations

import itertools

import pytest

from custom_components.wattkeeper.meters import sun2000_codec as codec
from custom_components.wattkeeper.meters.model import UNITS, Quantity, QuantityKey
from custom_components.wattkeeper.meters.sun2000_planner import touches_forbidden
from custom_components.wattkeeper.meters.sun2000_registers import (
    DISCOVERY,
    IDENTITY,
    PRODUCTS,
    REGISTERS_BY_NAME,
    RUNTIME,
    WORDS,
    DataType,
    Part,
    Register,
    available_fields,
    registers_for,
)


def test_runtime_registers_do_not_overlap() -> None:
    ordered = sorted(RUNTIME, key=lambda r: r.address)
    for left, right in itertools.pairwise(ordered):
        assert left.end <= right.address, (left.name, right.name)


def test_counts_match_data_types_and_no_register_is_forbidden() -> None:
    for register in (*IDENTITY, *DISCOVERY, *RUNTIME):
        if register.dtype in WORDS:
            assert register.count == WORDS[register.dtype], register.name
        assert not touches_forbidden(register.address, register.end), register.name


def test_units_are_the_canonical_ones_and_fields_are_unique() -> None:
    fields = [r.field for r in RUNTIME] + [p.field for p in PRODUCTS]
    assert len(fields) == len(set(fields))
    for register in RUNTIME:
        assert (register.key is None) != (register.text is None), register.name
        if register.key is not None:
            assert register.unit == UNITS[register.key.quantity], register.name


@pytest.mark.parametrize(
    ("name", "address", "dtype", "gain", "key"),
    [
        ("input_power", 32064, DataType.I32, 1, QuantityKey(Quantity.PV_POWER)),
        ("active_power", 32080, DataType.I32, 1, QuantityKey(Quantity.POWER_PRODUCTION)),
        ("reactive_power", 32082, DataType.I32, 1, QuantityKey(Quantity.REACTIVE_POWER)),
        ("accumulated_yield", 32106, DataType.U32, 100, QuantityKey(Quantity.PV_ENERGY)),
        ("daily_yield", 32114, DataType.U32, 100, QuantityKey(Quantity.PV_ENERGY_DAILY)),
        ("meter_exported_energy", 37119, DataType.I32, 100, QuantityKey(Quantity.ENERGY_EXPORT)),
        ("meter_imported_energy", 37121, DataType.I32, 100, QuantityKey(Quantity.ENERGY_IMPORT)),
        ("battery_soc", 37760, DataType.U16, 10, QuantityKey(Quantity.BATTERY_SOC)),
        ("battery_power", 37765, DataType.I32, 1, QuantityKey(Quantity.BATTERY_POWER)),
        ("pv2_voltage", 32018, DataType.I16, 10, QuantityKey(Quantity.PV_VOLTAGE, channel="2")),
        ("pv2_current", 32019, DataType.I16, 100, QuantityKey(Quantity.PV_CURRENT, channel="2")),
    ],
)
def test_documented_addresses(
    name: str, address: int, dtype: DataType, gain: int, key: QuantityKey
) -> None:
    register = REGISTERS_BY_NAME[name]
    assert (register.address, register.dtype, register.gain, register.key) == (
        address,
        dtype,
        gain,
        key,
    )


def test_meter_flows_turn_import_positive_and_battery_keeps_charge_positive() -> None:
    negated = {r.name for r in RUNTIME if r.sign == -1}
    assert negated == {
        "meter_active_power",
        "meter_reactive_power",
        *(f"meter_power_l{p}" for p in (1, 2, 3)),
        *(f"meter_current_l{p}" for p in (1, 2, 3)),
    }


def _register(dtype: DataType, *, gain: int = 1, sign: int = 1, count: int = 0) -> Register:
    return Register(
        name="x",
        address=40000,
        count=count or WORDS[dtype],
        dtype=dtype,
        part=Part.INVERTER,
        gain=gain,
        sign=sign,
        key=QuantityKey(Quantity.POWER),
    )


@pytest.mark.parametrize(
    ("dtype", "words", "gain", "sign", "expected"),
    [
        (DataType.U16, [2305], 10, 1, 230.5),
        (DataType.I16, [0xFFF6], 10, 1, -1.0),  # -10 / 10
        (DataType.I16, [0x8000], 1, 1, -32768.0),
        (DataType.U32, [0x0001, 0x0000], 1, 1, 65536.0),  # high word first
        (DataType.U32, [0x0012, 0xD687], 100, 1, 12345.67),
        (DataType.I32, [0xFFFF, 0xFC18], 1, 1, -1000.0),
        (DataType.I32, [0xFFFF, 0xFC18], 1, -1, 1000.0),  # export-positive → import-positive
        (DataType.I32, [0x0000, 0x1A0B], 1000, 1, 6.667),
    ],
)
def test_numbers_decode_with_scale_sign_and_word_order(
    dtype: DataType, words: list[int], gain: int, sign: int, expected: float
) -> None:
    assert codec.number(_register(dtype, gain=gain, sign=sign), words) == expected


@pytest.mark.parametrize(
    ("dtype", "words"),
    [
        (DataType.U16, [0xFFFF]),
        (DataType.I16, [0x7FFF]),
        (DataType.U32, [0xFFFF, 0xFFFF]),
        (DataType.I32, [0x7FFF, 0xFFFF]),
    ],
)
def test_huawei_no_value_markers_decode_to_none(dtype: DataType, words: list[int]) -> None:
    assert codec.number(_register(dtype), words) is None


@pytest.mark.parametrize("register", [r for r in RUNTIME if r.dtype in WORDS])
def test_encode_then_decode_round_trips(register: Register) -> None:
    signed = register.dtype in (DataType.I16, DataType.I32)
    top = (1 << (16 * register.count - (1 if signed else 0))) - 2
    for raw in {0, 1, top, -top if signed else top // 2}:
        words = codec.encode_int(register, raw)
        assert codec.raw_int(register, words) == raw
        assert codec.number(register, words) == register.sign * raw / register.gain


def test_texts_decode() -> None:
    model = REGISTERS_BY_NAME["model"]
    assert codec.text(model, codec.encode_text(model, "SUN2000-6KTL-M1")) == "SUN2000-6KTL-M1"
    status = REGISTERS_BY_NAME["device_status"]
    assert codec.text(status, [0x0200]) == "on_grid"
    assert codec.text(status, [0xA000]) == "standby_no_irradiation"
    assert codec.text(status, [0x1234]) == "unknown (0x1234)"
    alarms = REGISTERS_BY_NAME["alarms"]
    assert codec.text(alarms, [0, 0, 0]) == "none"
    assert codec.text(alarms, [1 << 7, 0, 1]) == "Grid loss (2032); Optimizer fault (2081)"


def test_wrong_word_count_is_an_error() -> None:
    with pytest.raises(ValueError, match="expected 2 words"):
        codec.number(REGISTERS_BY_NAME["active_power"], [1])


def test_available_fields_follow_strings_phases_and_parts() -> None:
    fields = available_fields(pv_strings=2, parts={Part.INVERTER}, phases=1)
    assert "inverter.pv_voltage_c2" in fields
    assert "inverter.pv_power_c2" in fields
    assert "inverter.pv_voltage_c3" not in fields
    assert "inverter.voltage_l1" in fields
    assert "inverter.voltage_l2" not in fields
    assert not [f for f in fields if not f.startswith("inverter.")]
    with_meter = available_fields(pv_strings=2, parts={Part.INVERTER, Part.METER}, phases=1)
    assert "meter.power_l3" in with_meter


def test_registers_for_adds_product_factors_and_meter_status() -> None:
    registers, products = registers_for(["inverter.pv_power_c1", "meter.power"])
    assert {r.name for r in registers} == {
        "pv1_voltage",
        "pv1_current",
        "meter_active_power",
        "meter_status",
    }
    assert [p.field for p in products] == ["inverter.pv_power_c1"]
    with pytest.raises(ValueError, match="unknown SUN2000 field"):
        registers_for(["inverter.nonsense"])
