"""A CT clamp entry's stored settings and the CtConfig built from them.

`entry.data` holds the link, which never changes for a board: kind, device id,
SPI bus, chip select, clock and mains frequency. `entry.options` holds what the
options flow and the calibration action change: the ADC reference voltage, the
channels, the voltage of clamp-only channels, the noise floor and the polling
interval. Everything is plain JSON; channel numbers are string keys. Settings
added in later versions are absent from older entries: their defaults apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Final

from .const import CONF_SCAN_INTERVAL
from .meters.ct_config import ClampVoltage, CtConfig, CurrentChannel, VoltageChannel

# entry.data
CONF_DEVICE_ID: Final = "device_id"
CONF_SPI_BUS: Final = "spi_bus"
CONF_SPI_DEVICE: Final = "spi_device"
CONF_SPI_HZ: Final = "spi_hz"
CONF_MAINS_HZ: Final = "mains_hz"

# entry.options
CONF_VREF: Final = "vref"
CONF_CHANNELS: Final = "channels"
CONF_ROLE: Final = "role"
CONF_RATING_A: Final = "rating_a"
CONF_SECONDARY_A: Final = "secondary_a"
CONF_BURDEN_OHM: Final = "burden_ohm"
CONF_CALIBRATION: Final = "calibration"
CONF_PHASE_OFFSET_DEG: Final = "phase_offset_deg"
CONF_INVERT: Final = "invert"
CONF_VOLTAGE_CHANNEL: Final = "voltage_channel"
CONF_TRANSFORMER_RATIO: Final = "transformer_ratio"
CONF_DIVIDER_RATIO: Final = "divider_ratio"
CONF_CLAMP_VOLTAGE: Final = "clamp_voltage"
CONF_NOMINAL_VOLTAGE: Final = "nominal_voltage"
CONF_VOLTAGE_ENTITY: Final = "voltage_entity"
CONF_NOISE_FLOOR_W: Final = "noise_floor_w"
CONF_NOISE_FLOOR_A: Final = "noise_floor_a"

DEFAULT_SPI_HZ: Final = 1_000_000
DEFAULT_MAINS_HZ: Final = 50
# One frame (50 waves at 50 Hz) takes a second, so polling faster gains nothing.
DEFAULT_CT_SCAN_INTERVAL: Final = 1

_CURRENT_DEFAULTS = CurrentChannel(channel=0)
_VOLTAGE_DEFAULTS = VoltageChannel(channel=0)
_CONFIG_DEFAULTS = CtConfig(device_id="defaults", voltages=(_VOLTAGE_DEFAULTS,))


class Role(StrEnum):
    """What is wired to one ADC input."""

    UNUSED = "unused"
    CURRENT = "current"
    VOLTAGE = "voltage"


def current_defaults() -> dict[str, Any]:
    return {
        CONF_ROLE: Role.CURRENT.value,
        CONF_RATING_A: _CURRENT_DEFAULTS.rating_a,
        CONF_SECONDARY_A: _CURRENT_DEFAULTS.secondary_a,
        CONF_BURDEN_OHM: _CURRENT_DEFAULTS.burden_ohm,
        CONF_CALIBRATION: 1.0,
        CONF_PHASE_OFFSET_DEG: _CURRENT_DEFAULTS.phase_offset_deg,
        CONF_INVERT: False,
        CONF_VOLTAGE_CHANNEL: None,
    }


def voltage_defaults() -> dict[str, Any]:
    return {
        CONF_ROLE: Role.VOLTAGE.value,
        CONF_CALIBRATION: 1.0,
        CONF_TRANSFORMER_RATIO: round(_VOLTAGE_DEFAULTS.transformer_ratio, 2),
        CONF_DIVIDER_RATIO: _VOLTAGE_DEFAULTS.divider_ratio,
    }


def readings_defaults() -> dict[str, Any]:
    return {
        CONF_VREF: _CONFIG_DEFAULTS.vref,
        CONF_CLAMP_VOLTAGE: ClampVoltage.NOMINAL.value,
        CONF_NOMINAL_VOLTAGE: _CONFIG_DEFAULTS.nominal_voltage,
        CONF_NOISE_FLOOR_W: _CONFIG_DEFAULTS.noise_floor_w,
        CONF_NOISE_FLOOR_A: _CONFIG_DEFAULTS.noise_floor_a,
        CONF_SCAN_INTERVAL: DEFAULT_CT_SCAN_INTERVAL,
    }


def channel_settings(options: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    """The used channels of an entry's options, by channel number, with the defaults
    of settings an older version did not store."""
    channels: dict[int, dict[str, Any]] = {}
    for number, spec in options.get(CONF_CHANNELS, {}).items():
        defaults = current_defaults() if spec[CONF_ROLE] == Role.CURRENT else voltage_defaults()
        channels[int(number)] = {**defaults, **spec}
    return channels


def build_config(data: Mapping[str, Any], options: Mapping[str, Any], name: str) -> CtConfig:
    """The driver's configuration; raises ValueError for settings that cannot work."""
    currents: list[CurrentChannel] = []
    voltages: list[VoltageChannel] = []
    for channel, spec in sorted(channel_settings(options).items()):
        if spec[CONF_ROLE] == Role.CURRENT:
            paired = spec.get(CONF_VOLTAGE_CHANNEL)
            currents.append(
                CurrentChannel(
                    channel=channel,
                    rating_a=float(spec[CONF_RATING_A]),
                    secondary_a=float(spec[CONF_SECONDARY_A]),
                    burden_ohm=float(spec[CONF_BURDEN_OHM]),
                    calibration=float(spec[CONF_CALIBRATION]),
                    phase_offset_deg=float(spec[CONF_PHASE_OFFSET_DEG]),
                    invert=bool(spec[CONF_INVERT]),
                    voltage_channel=None if paired is None else int(paired),
                )
            )
        elif spec[CONF_ROLE] == Role.VOLTAGE:
            voltages.append(
                VoltageChannel(
                    channel=channel,
                    calibration=float(spec[CONF_CALIBRATION]),
                    transformer_ratio=float(spec[CONF_TRANSFORMER_RATIO]),
                    divider_ratio=float(spec[CONF_DIVIDER_RATIO]),
                )
            )
    readings = {**readings_defaults(), **options}
    return CtConfig(
        device_id=data[CONF_DEVICE_ID],
        spi_bus=int(data[CONF_SPI_BUS]),
        spi_device=int(data[CONF_SPI_DEVICE]),
        spi_hz=int(data[CONF_SPI_HZ]),
        vref=float(readings[CONF_VREF]),
        mains_hz=float(data[CONF_MAINS_HZ]),
        currents=tuple(currents),
        voltages=tuple(voltages),
        clamp_voltage=ClampVoltage(readings[CONF_CLAMP_VOLTAGE]),
        nominal_voltage=float(readings[CONF_NOMINAL_VOLTAGE]),
        noise_floor_w=float(readings[CONF_NOISE_FLOOR_W]),
        noise_floor_a=float(readings[CONF_NOISE_FLOOR_A]),
        name=name,
    )


def with_calibration(options: Mapping[str, Any], channel: int, factor: float) -> dict[str, Any]:
    """A copy of the options with a new calibration factor on one used channel."""
    return _with_channel_setting(options, channel, CONF_CALIBRATION, factor)


def with_phase_offset(options: Mapping[str, Any], channel: int, degrees: float) -> dict[str, Any]:
    """A copy of the options with a new phase offset on one current channel."""
    return _with_channel_setting(options, channel, CONF_PHASE_OFFSET_DEG, degrees)


def _with_channel_setting(
    options: Mapping[str, Any], channel: int, key: str, value: float
) -> dict[str, Any]:
    channels = {number: dict(spec) for number, spec in options[CONF_CHANNELS].items()}
    channels[str(channel)][key] = value
    return {**options, CONF_CHANNELS: channels}
