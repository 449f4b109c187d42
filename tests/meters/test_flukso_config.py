"""Fluksometer discovery from config payloads, and reading payloads into units."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from custom_components.wattkeeper.meters.flukso_config import (
    MODEL_FLM02,
    MODEL_FLM03,
    FluksoConfigError,
    SensorType,
    decode_json_object,
    parse_device,
    sensor_names,
)
from custom_components.wattkeeper.meters.flukso_readings import (
    Kind,
    RawReading,
    ReadingError,
    UnitError,
    decode_payload,
    interpret,
)
from custom_components.wattkeeper.meters.model import Quantity

FIXTURES = Path(__file__).parents[1] / "fixtures" / "flukso"
DEVICE = "feedfacefeedfacefeedfacefeedface"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def test_flm02_discovery_reads_uci_strings() -> None:
    device = parse_device(DEVICE, load("flm02_config_sensor.json"))

    assert device.model == MODEL_FLM02
    assert device.phase_mode == "1p"
    # The uart slot has no type and is not a sensor; "main" is not a sensor.
    assert [s.function for s in device.sensors.values()] == [
        "main",
        "solar",
        "unused",
        "water",
        "gas",
    ]
    main = device.sensors["0123456789abcdef0123456789abcdef"]
    assert (main.type, main.port, main.phase, main.enabled, main.sensor_class) == (
        SensorType.ELECTRICITY,
        1,
        None,
        True,
        "analog",
    )
    assert main.subtype is None
    assert main.direction == 1
    assert device.sensors["2123456789abcdef0123456789abcdef"].enabled is False
    assert device.sensors["3123456789abcdef0123456789abcdef"].type is SensorType.WATER
    assert device.sensors["4123456789abcdef0123456789abcdef"].type is SensorType.GAS
    assert len(device.enabled_sensors) == 4


def test_flm03_discovery_takes_names_and_phases_from_flx() -> None:
    device = parse_device(DEVICE, load("flm03_config_sensor.json"), load("flm03_config_flx.json"))

    assert device.model == MODEL_FLM03
    assert device.phase_mode == "3p+n"
    # 3 ports × 6 subtypes + 2 on port 4 + water; the kube temperature sensor
    # and the id-only slot are skipped.
    assert len(device.sensors) == 21
    by_port_subtype = {(s.port, s.subtype): s for s in device.sensors.values()}
    for port in (1, 2, 3):
        pplus = by_port_subtype[(port, "pplus")]
        assert pplus.phase == port
        assert pplus.function == f"Grid L{port}"
        assert pplus.direction == 1
        assert by_port_subtype[(port, "pminus")].direction == -1
        assert by_port_subtype[(port, "vrms")].active_power is False
    spare = by_port_subtype[(4, "pplus")]
    assert (spare.phase, spare.enabled, spare.function) == (None, False, "Spare")
    water = by_port_subtype[(5, None)]
    assert (water.type, water.function, water.sensor_class) == (
        SensorType.WATER,
        "Water meter",
        "pulse",
    )


def test_flm03_without_flx_is_still_an_flm03_without_phases() -> None:
    device = parse_device(DEVICE, load("flm03_config_sensor.json"))

    assert device.model == MODEL_FLM03
    assert all(sensor.phase is None for sensor in device.sensors.values())


@pytest.mark.parametrize(
    "payload",
    [b"{not json", b"[1, 2]", b"\xff\xfe", b'"text"'],
)
def test_unreadable_config_payloads_raise(payload: bytes) -> None:
    with pytest.raises(FluksoConfigError):
        decode_json_object(payload)


def test_config_without_sensors_raises() -> None:
    with pytest.raises(FluksoConfigError):
        parse_device(DEVICE, {"main": {"phase": "1p"}, "1": {"id": "ab"}})


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b'[1700000000, 230, "W"]', RawReading(1700000000, 230.0, "W")),
        (b'[1700000000.0, 12.5, "L/min"]', RawReading(1700000000, 12.5, "L/min")),
        (b"[1700000000, 0.95]", RawReading(1700000000, 0.95, "")),
    ],
)
def test_decode_payload(payload: bytes, expected: RawReading) -> None:
    assert decode_payload(payload) == expected


@pytest.mark.parametrize(
    "payload",
    [
        b"garbage",
        b'{"value": 1}',
        b"[1700000000]",
        b'[1700000000, "230", "W"]',
        b"[1700000000, 230, 5]",
        b'[1700000000, NaN, "W"]',
        b'[1700000000, true, "W"]',
        b'[12, 230, "W"]',  # the meter's clock was not set yet
        b'["now", 230, "W"]',
    ],
)
def test_decode_payload_rejects_garbage(payload: bytes) -> None:
    with pytest.raises(ReadingError):
        decode_payload(payload)


def test_interpret_converts_to_canonical_units() -> None:
    flm02 = parse_device(DEVICE, load("flm02_config_sensor.json"))
    main = flm02.sensors["0123456789abcdef0123456789abcdef"]
    water = flm02.sensors["3123456789abcdef0123456789abcdef"]
    gas = flm02.sensors["4123456789abcdef0123456789abcdef"]
    ts = 1700000000

    power = interpret(main, Kind.GAUGE, RawReading(ts, 230, "W"))
    energy = interpret(main, Kind.COUNTER, RawReading(ts, 12345, "Wh"))
    flow = interpret(water, Kind.GAUGE, RawReading(ts, 6, "L/min"))
    volume = interpret(water, Kind.COUNTER, RawReading(ts, 1500, "L"))
    gas_volume = interpret(gas, Kind.COUNTER, RawReading(ts, 250, "L"))

    assert power is not None
    assert (power.quantity, power.value) == (Quantity.POWER, 230)
    assert energy is not None
    assert energy.quantity is Quantity.ENERGY_IMPORT
    assert energy.value == pytest.approx(12.345)
    assert flow is not None
    assert (flow.quantity, flow.value) == (Quantity.WATER_FLOW, 6)
    assert volume is not None
    assert volume.quantity is Quantity.WATER
    assert volume.value == pytest.approx(1.5)
    assert gas_volume is not None
    assert gas_volume.quantity is Quantity.GAS
    assert gas_volume.value == pytest.approx(0.25)
    # Gas flow has no canonical quantity: checked, then not kept.
    assert interpret(gas, Kind.GAUGE, RawReading(ts, 2, "L/min")) is None


def test_interpret_flm03_subtypes() -> None:
    flm03 = parse_device(DEVICE, load("flm03_config_sensor.json"), load("flm03_config_flx.json"))
    by_subtype = {s.subtype: s for s in flm03.sensors.values() if s.port == 1}
    ts = 1700000000

    pminus = interpret(by_subtype["pminus"], Kind.COUNTER, RawReading(ts, 2000, "Wh"))
    vrms = interpret(by_subtype["vrms"], Kind.GAUGE, RawReading(ts, 231.5, "V"))
    pf = interpret(by_subtype["pf"], Kind.GAUGE, RawReading(ts, 0.93, ""))
    q1 = interpret(by_subtype["q1"], Kind.GAUGE, RawReading(ts, 40, "VAR"))

    assert pminus is not None
    assert (pminus.quantity, pminus.value) == (Quantity.ENERGY_EXPORT, 2.0)
    assert vrms is not None
    assert vrms.quantity is Quantity.VOLTAGE
    assert pf is not None
    assert pf.quantity is Quantity.POWER_FACTOR
    assert q1 is not None
    assert q1.quantity is Quantity.REACTIVE_POWER
    assert interpret(by_subtype["q1"], Kind.COUNTER, RawReading(ts, 3, "VARh")) is None


@pytest.mark.parametrize(
    ("kind", "unit"),
    [(Kind.GAUGE, "Wh"), (Kind.GAUGE, "kW"), (Kind.COUNTER, "W"), (Kind.COUNTER, "kWh")],
)
def test_interpret_rejects_wrong_units(kind: Kind, unit: str) -> None:
    flm02 = parse_device(DEVICE, load("flm02_config_sensor.json"))
    main = flm02.sensors["0123456789abcdef0123456789abcdef"]

    with pytest.raises(UnitError):
        interpret(main, kind, RawReading(1700000000, 1, unit))


def test_sensor_names_are_function_names_told_apart_by_subtype() -> None:
    device = parse_device(DEVICE, load("flm03_config_sensor.json"), load("flm03_config_flx.json"))
    names = sensor_names(device)
    by_port_subtype = {(s.port, s.subtype): s.id for s in device.sensors.values()}

    assert names[by_port_subtype[(1, "pplus")]] == "Grid L1 pplus"
    assert names[by_port_subtype[(1, "pminus")]] == "Grid L1 pminus"
    assert names[by_port_subtype[(5, None)]] == "Water meter"
    assert len(set(names.values())) == len(names)


def test_sensor_names_without_function_or_shared_take_port_then_id() -> None:
    def electricity(sensor_id: str, function: str | None, port: int | None) -> dict[str, Any]:
        entry: dict[str, Any] = {"id": sensor_id, "type": "electricity", "enable": "1"}
        if function is not None:
            entry["function"] = function
        if port is not None:
            entry["port"] = [str(port)]
        return entry

    a, b, c, d, e = (f"{n}" * 32 for n in "abcde")
    device = parse_device(
        DEVICE,
        {
            "1": electricity(a, "Solar", 1),
            "2": electricity(b, "Solar", 2),
            "3": electricity(c, None, 3),
            "4": electricity(d, "Main", None),
            "5": electricity(e, "Main", None),
        },
    )
    assert sensor_names(device) == {
        a: "Solar (port 1)",
        b: "Solar (port 2)",
        c: "port 3",
        d: f"Main {d[:8]}",
        e: f"Main {e[:8]}",
    }
