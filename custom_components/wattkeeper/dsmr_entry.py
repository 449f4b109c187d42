"""A DSMR P1 config entry: what its data and options hold, and the driver built from them.

Entry data: the transport, "serial" with a `device` path or "tcp" with `host`
and `port`; the protocol version (when the user asked for auto-detect, the
version it found, so a restart does not detect again); and for Luxembourg
Smarty meters the decryption key. The unique id is the electricity meter's
equipment id. Options: the state-write throttle (write_throttle.py); a new
entry writes power on every telegram and counters at most every 10 seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

# pyserial ships no type information; ListPortInfo's fields are plain strings.
import serial.tools.list_ports  # type: ignore[import-untyped]
from homeassistant.components import usb
from homeassistant.const import CONF_DEVICE, CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant

from .coordinator import WattkeeperConfigEntry
from .meters.dsmr import AUTO, DEFAULT_DETECT_TIMEOUT, DsmrMeter
from .write_throttle import CONF_COUNTER_WRITE_INTERVAL, CONF_MEASUREMENT_WRITE_INTERVAL

CONF_TRANSPORT: Final = "transport"
CONF_DSMR_VERSION: Final = "dsmr_version"
CONF_DECRYPTION_KEY: Final = "decryption_key"
TRANSPORT_SERIAL: Final = "serial"
TRANSPORT_TCP: Final = "tcp"
VERSION_AUTO: Final = AUTO

# ser2net's customary port; bridges differ, so the form says which.
DEFAULT_TCP_PORT: Final = 2001
DEFAULT_OPTIONS: Final[Mapping[str, int]] = {
    CONF_MEASUREMENT_WRITE_INTERVAL: 0,
    CONF_COUNTER_WRITE_INTERVAL: 10,
}

# How long the config flow listens for a readable telegram: two telegrams of
# a meter that sends every 10 seconds, whatever the phase.
PROBE_TIMEOUT: float = DEFAULT_DETECT_TIMEOUT


@dataclass(frozen=True, slots=True)
class SerialPort:
    """A serial port the flow offers: its stable path and what the user sees."""

    device: str
    label: str


def create_dsmr_meter(hass: HomeAssistant, entry: WattkeeperConfigEntry) -> DsmrMeter:
    return meter_from_data(entry.data)


def meter_from_data(data: Mapping[str, Any], *, detect_timeout: float | None = None) -> DsmrMeter:
    """A driver for the link that `data` (entry data or a flow's input) describes."""
    version = data.get(CONF_DSMR_VERSION, VERSION_AUTO)
    extra: dict[str, Any] = {}
    if detect_timeout is not None:
        extra["detect_timeout"] = detect_timeout
    if data[CONF_TRANSPORT] == TRANSPORT_SERIAL:
        extra["device"] = data[CONF_DEVICE]
    else:
        extra["host"] = data[CONF_HOST]
        extra["port"] = int(data[CONF_PORT])
    return DsmrMeter(
        version=None if version == VERSION_AUTO else version,
        decryption_key=data.get(CONF_DECRYPTION_KEY) or None,
        **extra,
    )


def link_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """Only the keys that say where the meter is (the rest is version and key)."""
    if data[CONF_TRANSPORT] == TRANSPORT_SERIAL:
        return {CONF_TRANSPORT: TRANSPORT_SERIAL, CONF_DEVICE: data[CONF_DEVICE]}
    return {CONF_TRANSPORT: TRANSPORT_TCP, CONF_HOST: data[CONF_HOST], CONF_PORT: data[CONF_PORT]}


def list_serial_ports() -> list[SerialPort]:
    """The machine's serial ports, named by their stable /dev/serial/by-id path.

    Blocking (it reads sysfs): run it in the executor.
    """
    ports: list[SerialPort] = []
    for port in serial.tools.list_ports.comports():
        device = usb.get_serial_by_id(port.device)
        label = usb.human_readable_device_name(
            port.device,
            port.serial_number,
            port.manufacturer,
            port.description,
            f"{port.vid:04X}" if port.vid is not None else None,
            f"{port.pid:04X}" if port.pid is not None else None,
        )
        ports.append(SerialPort(device=device, label=label))
    return ports
