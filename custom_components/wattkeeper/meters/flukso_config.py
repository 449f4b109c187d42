"""Fluksometer sensor discovery from the retained configuration topics.

Payload shapes we assume (from the public Flukso firmware and the community
write-ups of the FLM03 topics; values may be JSON numbers or, as UCI stores
them, strings of digits — both are accepted):

FLM02, topic `/device/<device>/config/sensor`, one entry per sensor index::

    {"1": {"id": "<32 hex>", "class": "analog" | "pulse" | "uart",
           "type": "electricity" | "gas" | "water", "function": "<user name>",
           "enable": 1 | 0, "port": [1], "voltage": 230, "current": 50,
           "constant": 1},
     ...,
     "main": {"phase": "1p" | "3p", ...}}          # optional; other keys ignored

    The FLM02 cannot tell phases apart, so its sensors have no phase unless an
    entry carries an explicit numeric "phase".

FLM03, the same topic with more sensors per port (12 per current clamp)::

    {"1": {"id": "<32 hex>", "type": "electricity", "subtype": "pplus" |
           "pminus" | "q1".."q4" | "vrms" | "irms" | "pf" | "vthd" | "ithd" |
           "alpha", "enable": 1, "rid": 0, "port": [1],
           "data_type": "counter" | "gauge"},
     "40": {"id": "<32 hex>"},                      # unassigned: id only, skipped
     "tmpo": {...}, "mqtt": {...}, "daemon": {...}}  # non-sensor sections, ignored

  plus `/device/<device>/config/flx`, one entry per port and a "main" entry::

    {"1": {"enable": 1, "class": "ct" | "pulse" | "uart", "name": "<user name>",
           "current": 50, "constant": 1, ...},
     "main": {"phase": "1p" | "3p+n" | "3p-n", "led_mode": 255, "theta": 130}}

  An FLM03 sensor's function name is its port's flx "name". In the three-phase
  modes, current-clamp ports 1-3 measure lines L1-L3.

An entry whose type is not electricity, gas or water (FluksoKube sensors) is
skipped. A config we cannot read raises FluksoConfigError.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from .errors import MeterDataError

MODEL_FLM02: Final = "FLM02"
MODEL_FLM03: Final = "FLM03"

# FLM03 electricity subtypes that carry active power/energy; "pminus" counts
# the flow opposite to the clamp's arrow.
SUBTYPE_PPLUS: Final = "pplus"
SUBTYPE_PMINUS: Final = "pminus"

_THREE_PHASE_MODES: Final = frozenset({"3p+n", "3p-n"})


class FluksoConfigError(MeterDataError):
    """A configuration topic carried something we cannot read."""


class SensorType(StrEnum):
    """What a Fluksometer sensor meters."""

    ELECTRICITY = "electricity"
    GAS = "gas"
    WATER = "water"


@dataclass(frozen=True, slots=True, kw_only=True)
class FluksoSensor:
    """One sensor as the Fluksometer's configuration describes it."""

    id: str
    type: SensorType
    function: str | None
    phase: int | None
    enabled: bool
    port: int | None
    # FLM03 only: which electrical value this sensor carries (pplus, vrms …).
    subtype: str | None = None
    sensor_class: str | None = None

    @property
    def direction(self) -> int:
        """+1 when the sensor counts along the clamp's arrow, -1 for FLM03 pminus."""
        return -1 if self.subtype == SUBTYPE_PMINUS else 1

    @property
    def active_power(self) -> bool:
        """Whether this sensor measures active power/energy (used by the role sums)."""
        return self.type is SensorType.ELECTRICITY and self.subtype in (
            None,
            SUBTYPE_PPLUS,
            SUBTYPE_PMINUS,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class FluksoDevice:
    """A Fluksometer and the sensors its configuration lists."""

    device_id: str
    model: str
    sensors: Mapping[str, FluksoSensor]
    # "1p", "3p", "3p+n" or "3p-n" as configured; None when not published.
    phase_mode: str | None = None

    @property
    def enabled_sensors(self) -> tuple[FluksoSensor, ...]:
        return tuple(sensor for sensor in self.sensors.values() if sensor.enabled)


def sensor_names(device: FluksoDevice) -> dict[str, str]:
    """A readable name per sensor, unique within the device.

    The function name the user gave it on the Fluksometer (on an FLM03 its
    port's name, so the subtype tells a port's sensors apart: "Grid L1
    pminus"); without one, its port. Two sensors that would share a name get
    their port, then their id's first digits, added.
    """
    names: dict[str, str] = {}
    for sensor in device.sensors.values():
        name = sensor.function or (f"port {sensor.port}" if sensor.port is not None else None)
        name = name or sensor.id[:8]
        if sensor.subtype is not None and sensor.type is SensorType.ELECTRICITY:
            name = f"{name} {sensor.subtype}"
        names[sensor.id] = name
    for qualify in (_with_port, _with_id):
        counts = Counter(names.values())
        for sensor in device.sensors.values():
            if counts[names[sensor.id]] > 1:
                names[sensor.id] = qualify(names[sensor.id], sensor)
    return names


def _with_port(name: str, sensor: FluksoSensor) -> str:
    return f"{name} (port {sensor.port})" if sensor.port is not None else name


def _with_id(name: str, sensor: FluksoSensor) -> str:
    return f"{name} {sensor.id[:8]}"


def decode_json_object(payload: bytes | str) -> dict[str, Any]:
    """Decode a config payload into a JSON object, or raise FluksoConfigError."""
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as err:
        raise FluksoConfigError(f"config payload is not JSON: {err}") from err
    if not isinstance(data, dict):
        raise FluksoConfigError("config payload is not a JSON object")
    return data


def is_flm03(sensor_config: Mapping[str, Any]) -> bool:
    """FLM03 configs name a subtype or data type per sensor; FLM02 configs never do."""
    return any(
        isinstance(entry, dict) and ("subtype" in entry or "data_type" in entry)
        for entry in sensor_config.values()
    )


def parse_device(
    device_id: str,
    sensor_config: Mapping[str, Any],
    flx_config: Mapping[str, Any] | None = None,
) -> FluksoDevice:
    """Build the device from its decoded config/sensor (and FLM03 config/flx) objects."""
    flm03 = flx_config is not None or is_flm03(sensor_config)
    if flm03:
        flx = flx_config or {}
        phase_mode = _text(_entry(flx, "main").get("phase"))
    else:
        flx = {}
        phase_mode = _text(_entry(sensor_config, "main").get("phase"))
    sensors: dict[str, FluksoSensor] = {}
    for key in sorted(sensor_config, key=_index_order):
        entry = sensor_config[key]
        if not key.isdigit() or not isinstance(entry, dict):
            continue  # "main", "tmpo", "mqtt", "daemon" … are not sensors
        sensor = _parse_sensor(entry, flx, phase_mode if flm03 else None)
        if sensor is not None:
            sensors[sensor.id] = sensor
    if not sensors:
        raise FluksoConfigError(f"device {device_id} lists no electricity, gas or water sensor")
    return FluksoDevice(
        device_id=device_id,
        model=MODEL_FLM03 if flm03 else MODEL_FLM02,
        sensors=sensors,
        phase_mode=phase_mode,
    )


def _parse_sensor(
    entry: Mapping[str, Any], flx: Mapping[str, Any], flm03_phase_mode: str | None
) -> FluksoSensor | None:
    sensor_id = _text(entry.get("id"))
    raw_type = _text(entry.get("type"))
    if sensor_id is None or raw_type is None:
        return None  # FLM03 lists unassigned sensor slots with an id only
    try:
        sensor_type = SensorType(raw_type.lower())
    except ValueError:
        return None  # FluksoKube temperature, light … sensors
    port = _first_port(entry.get("port"))
    port_config = _entry(flx, str(port)) if port is not None else {}
    function = _text(entry.get("function")) or _text(port_config.get("name"))
    sensor_class = _text(entry.get("class")) or _text(port_config.get("class"))
    return FluksoSensor(
        id=sensor_id.lower(),
        type=sensor_type,
        function=function,
        phase=_phase(entry, port, flm03_phase_mode),
        enabled=_flag(entry.get("enable")),
        port=port,
        subtype=_text(entry.get("subtype")),
        sensor_class=sensor_class,
    )


def _phase(entry: Mapping[str, Any], port: int | None, flm03_phase_mode: str | None) -> int | None:
    explicit = _int(entry.get("phase"))
    if explicit is not None and 1 <= explicit <= 3:
        return explicit
    if flm03_phase_mode in _THREE_PHASE_MODES and port is not None and 1 <= port <= 3:
        return port
    return None


def _entry(config: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = config.get(key)
    return value if isinstance(value, dict) else {}


def _index_order(key: str) -> tuple[int, str]:
    return (int(key), "") if key.isdigit() else (1 << 30, key)


def _first_port(value: Any) -> int | None:
    if isinstance(value, list):
        return _int(value[0]) if value else None
    return _int(value)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return _int(value) == 1


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None
