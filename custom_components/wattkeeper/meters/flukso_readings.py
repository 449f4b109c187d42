"""Fluksometer reading payloads: `[timestamp, value, unit]` into canonical quantities.

`/sensor/<id>/gauge` carries an instantaneous value and `/sensor/<id>/counter`
a running total, both as a JSON array `[<unix seconds>, <number>, "<unit>"]`
stamped by the meter. Only the units the firmware publishes are accepted;
anything else is a wrong unit, never silently rescaled.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from .flukso_config import FluksoSensor, SensorType
from .model import Quantity

# tmpod refuses timestamps before this (the meter's clock is not set yet).
TIMESTAMP_MIN: Final = 1_234_567_890


class Kind(StrEnum):
    """Which topic a reading came from."""

    GAUGE = "gauge"
    COUNTER = "counter"


class ReadingError(ValueError):
    """A payload that is not `[timestamp, number, unit]`."""


class UnitError(ValueError):
    """A well-formed reading in a unit this sensor never publishes."""


@dataclass(frozen=True, slots=True)
class RawReading:
    """A decoded payload, before the sensor's type gives it meaning."""

    timestamp: int
    value: float
    unit: str


@dataclass(frozen=True, slots=True)
class Reading:
    """A reading in the canonical unit of its quantity."""

    timestamp: int
    quantity: Quantity
    value: float


# (sensor type, subtype or None, kind) → (quantity or None when we keep no
# series for it, {unit: factor to the canonical unit}).
type _Rule = tuple[Quantity | None, dict[str, float]]
_POWER: Final[_Rule] = (Quantity.POWER, {"W": 1.0})
_REACTIVE: Final[_Rule] = (Quantity.REACTIVE_POWER, {"VAR": 1.0, "var": 1.0})
_REACTIVE_ENERGY: Final[_Rule] = (None, {"VARh": 1.0, "varh": 1.0})
_RULES: Final[dict[tuple[SensorType, str | None, Kind], _Rule]] = {
    (SensorType.ELECTRICITY, None, Kind.GAUGE): _POWER,
    (SensorType.ELECTRICITY, "pplus", Kind.GAUGE): _POWER,
    (SensorType.ELECTRICITY, "pminus", Kind.GAUGE): _POWER,
    (SensorType.ELECTRICITY, "vrms", Kind.GAUGE): (Quantity.VOLTAGE, {"V": 1.0}),
    (SensorType.ELECTRICITY, "irms", Kind.GAUGE): (Quantity.CURRENT, {"A": 1.0}),
    (SensorType.ELECTRICITY, "pf", Kind.GAUGE): (Quantity.POWER_FACTOR, {"": 1.0}),
    **{(SensorType.ELECTRICITY, f"q{n}", Kind.GAUGE): _REACTIVE for n in range(1, 5)},
    **{(SensorType.ELECTRICITY, f"q{n}", Kind.COUNTER): _REACTIVE_ENERGY for n in range(1, 5)},
    (SensorType.WATER, None, Kind.GAUGE): (Quantity.WATER_FLOW, {"L/min": 1.0, "l/min": 1.0}),
    (SensorType.WATER, None, Kind.COUNTER): (Quantity.WATER, {"L": 0.001, "l": 0.001}),
    # No canonical gas flow quantity exists; the unit is still checked.
    (SensorType.GAS, None, Kind.GAUGE): (None, {"L/min": 1.0, "l/min": 1.0}),
    (SensorType.GAS, None, Kind.COUNTER): (Quantity.GAS, {"L": 0.001, "l": 0.001}),
}
_ENERGY_UNITS: Final = {"Wh": 0.001}


def decode_payload(payload: bytes | str) -> RawReading:
    """Decode `[timestamp, value, unit]`; a missing unit reads as ""."""
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as err:
        raise ReadingError("payload is not JSON") from err
    if not isinstance(data, list) or len(data) not in (2, 3):
        raise ReadingError("payload is not [timestamp, value, unit]")
    timestamp, value = data[0], data[1]
    unit = data[2] if len(data) == 3 else ""
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
        raise ReadingError("timestamp is not a number")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ReadingError("value is not a number")
    if not isinstance(unit, str):
        raise ReadingError("unit is not text")
    if not math.isfinite(value) or not math.isfinite(timestamp):
        raise ReadingError("value or timestamp is not finite")
    if timestamp < TIMESTAMP_MIN:
        raise ReadingError("timestamp before the meter's clock was set")
    return RawReading(int(timestamp), float(value), unit)


def interpret(sensor: FluksoSensor, kind: Kind, raw: RawReading) -> Reading | None:
    """Give a raw reading its quantity and canonical unit.

    Returns None for readings we check but keep no series for (reactive energy,
    gas flow, harmonic distortion); raises UnitError for a unit the sensor
    never publishes.
    """
    # Pulse ports meter gas and water whatever subtype a config might add.
    subtype = sensor.subtype if sensor.type is SensorType.ELECTRICITY else None
    if sensor.type is SensorType.ELECTRICITY and kind is Kind.COUNTER and sensor.active_power:
        factors = _ENERGY_UNITS
        quantity: Quantity | None = (
            Quantity.ENERGY_IMPORT if sensor.direction > 0 else Quantity.ENERGY_EXPORT
        )
    else:
        rule = _RULES.get((sensor.type, subtype, kind))
        if rule is None:
            return None  # vthd, ithd, alpha: no canonical quantity, any unit
        quantity, factors = rule
    factor = factors.get(raw.unit)
    if factor is None:
        raise UnitError(f"unit {raw.unit!r} on a {sensor.type} {kind}")
    if quantity is None:
        return None
    return Reading(raw.timestamp, quantity, raw.value * factor)
