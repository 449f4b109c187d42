"""Configuration of CT clamps and voltage inputs on an MCP3208 ADC.

Plain frozen dataclasses, validated on construction so the sampler and the maths
never meet an impossible setup. The glue builds them from the config entry.
"""

from __future__ import annotations

import math
import socket
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Final

ADC_CHANNELS: Final = 8
ADC_LEVELS: Final = 4096  # 12 bits
ADC_MAX_CODE: Final = ADC_LEVELS - 1
# The MCP3208 is rated for 2 MHz at 5 V and 1 MHz at 2.7 V.
MAX_SPI_HZ: Final = 2_000_000
MIN_SPI_HZ: Final = 10_000
# A CT or adapter that needs more phase correction than this is miswired or broken.
MAX_PHASE_OFFSET_DEG: Final = 45.0


class ClampVoltage(StrEnum):
    """Where clamp-only channels take their voltage from."""

    NOMINAL = "nominal"
    # A value the glue passes in on every read (another Home Assistant entity).
    EXTERNAL = "external"


@dataclass(frozen=True, slots=True, kw_only=True)
class CurrentChannel:
    """A current transformer with a burden resistor on one ADC input.

    `voltage_channel` names the voltage input it pairs with for real power and
    direction; None means clamp-only (apparent power from an assumed voltage).
    `phase_offset_deg` is how far the measured current leads the measured
    voltage beyond the true phase (CT lead minus voltage-transformer lead); the
    voltage is evaluated that much later, like emonLib's PHASECAL.
    `invert` flips the sign for a clamp mounted the other way round.
    """

    channel: int
    rating_a: float = 100.0
    secondary_a: float = 0.05
    burden_ohm: float = 22.0
    calibration: float = 1.0
    voltage_channel: int | None = None
    phase_offset_deg: float = 0.0
    invert: bool = False

    def __post_init__(self) -> None:
        _check_channel(self.channel)
        for name in ("rating_a", "secondary_a", "burden_ohm", "calibration"):
            _check_positive(name, getattr(self, name))
        if self.voltage_channel is not None:
            _check_channel(self.voltage_channel)
        if (
            not math.isfinite(self.phase_offset_deg)
            or abs(self.phase_offset_deg) > MAX_PHASE_OFFSET_DEG
        ):
            raise ValueError(
                f"phase_offset_deg must be within ±{MAX_PHASE_OFFSET_DEG:g}°, "
                f"got {self.phase_offset_deg}"
            )

    def units_per_code(self, vref: float) -> float:
        """Primary amperes per ADC code step."""
        turns = self.rating_a / self.secondary_a
        return vref / ADC_LEVELS / self.burden_ohm * turns * self.calibration


@dataclass(frozen=True, slots=True, kw_only=True)
class VoltageChannel:
    """An AC-AC adapter and resistor divider on one ADC input.

    `transformer_ratio` is mains volts per adapter volt (230 V : 9 V ≈ 25.6);
    `divider_ratio` is adapter volts per ADC-pin volt (100 kΩ over 10 kΩ = 11).
    """

    channel: int
    transformer_ratio: float = 230.0 / 9.0
    divider_ratio: float = 11.0
    calibration: float = 1.0

    def __post_init__(self) -> None:
        _check_channel(self.channel)
        for name in ("transformer_ratio", "divider_ratio", "calibration"):
            _check_positive(name, getattr(self, name))

    def units_per_code(self, vref: float) -> float:
        """Mains volts per ADC code step."""
        return vref / ADC_LEVELS * self.divider_ratio * self.transformer_ratio * self.calibration


@dataclass(frozen=True, slots=True, kw_only=True)
class CtConfig:
    """One MCP3208 on one SPI chip select, and what is wired to its inputs."""

    device_id: str
    spi_bus: int = 0
    spi_device: int = 0
    spi_hz: int = 1_000_000
    vref: float = 3.3
    mains_hz: float = 50.0
    samples_per_wave: int = 60
    waves: int = 50
    currents: tuple[CurrentChannel, ...] = ()
    voltages: tuple[VoltageChannel, ...] = ()
    clamp_voltage: ClampVoltage = ClampVoltage.NOMINAL
    nominal_voltage: float = 230.0
    noise_floor_w: float = 2.0
    noise_floor_a: float = 0.05
    # Frames further apart than this (restart, outage) are not integrated across.
    energy_max_gap_s: float = 120.0
    name: str = "CT clamps"
    # Where /dev/spidevB.D lives; tests point it elsewhere.
    dev_dir: str = field(default="/dev", compare=False)

    def __post_init__(self) -> None:
        if not self.device_id:
            raise ValueError("device_id must not be empty")
        if self.spi_bus < 0 or self.spi_device < 0:
            raise ValueError("spi_bus and spi_device must not be negative")
        if not MIN_SPI_HZ <= self.spi_hz <= MAX_SPI_HZ:
            raise ValueError(f"spi_hz must be within {MIN_SPI_HZ}–{MAX_SPI_HZ}, got {self.spi_hz}")
        _check_positive("vref", self.vref)
        if self.mains_hz not in (50.0, 60.0):
            raise ValueError(f"mains_hz must be 50 or 60, got {self.mains_hz}")
        if self.samples_per_wave < 8:
            raise ValueError("samples_per_wave must be at least 8")
        if self.waves < 1:
            raise ValueError("waves must be at least 1")
        if not self.currents and not self.voltages:
            raise ValueError("configure at least one channel")
        used = [c.channel for c in self.currents] + [v.channel for v in self.voltages]
        if len(used) != len(set(used)):
            raise ValueError(f"each ADC channel may be used once, got {sorted(used)}")
        voltage_inputs = {v.channel for v in self.voltages}
        for current in self.currents:
            if (
                current.voltage_channel is not None
                and current.voltage_channel not in voltage_inputs
            ):
                raise ValueError(
                    f"current channel {current.channel} pairs with channel "
                    f"{current.voltage_channel}, which is not a voltage channel"
                )
        # Accept the plain string a config entry stores; reject unknown modes.
        object.__setattr__(self, "clamp_voltage", ClampVoltage(self.clamp_voltage))
        _check_positive("nominal_voltage", self.nominal_voltage)
        for name in ("noise_floor_w", "noise_floor_a"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be zero or positive, got {value}")
        _check_positive("energy_max_gap_s", self.energy_max_gap_s)

    @property
    def scan_order(self) -> tuple[int, ...]:
        """ADC channels in the order one scan reads them: each voltage input
        first, so every current sample sits shortly after a voltage sample."""
        return tuple(v.channel for v in self.voltages) + tuple(c.channel for c in self.currents)

    @property
    def scans_per_frame(self) -> int:
        return self.samples_per_wave * self.waves

    @property
    def scan_period_s(self) -> float:
        return 1.0 / (self.samples_per_wave * self.mains_hz)

    @property
    def address(self) -> str:
        return f"spi{self.spi_bus}.{self.spi_device}"

    def voltage(self, channel: int) -> VoltageChannel:
        for candidate in self.voltages:
            if candidate.channel == channel:
                return candidate
        raise KeyError(channel)

    def current(self, channel: int) -> CurrentChannel:
        for candidate in self.currents:
            if candidate.channel == channel:
                return candidate
        raise KeyError(channel)

    def with_calibration(self, channel: int, factor: float) -> CtConfig:
        """This configuration with a new calibration factor on one channel."""
        if any(c.channel == channel for c in self.currents):
            currents = tuple(
                replace(c, calibration=factor) if c.channel == channel else c for c in self.currents
            )
            return replace(self, currents=currents)
        self.voltage(channel)  # KeyError for an unused channel
        voltages = tuple(
            replace(v, calibration=factor) if v.channel == channel else v for v in self.voltages
        )
        return replace(self, voltages=voltages)

    def units_per_code(self, channel: int) -> float:
        """Physical units (A or V) per code step of one configured channel."""
        for current in self.currents:
            if current.channel == channel:
                return current.units_per_code(self.vref)
        return self.voltage(channel).units_per_code(self.vref)


def default_device_id(spi_bus: int = 0, spi_device: int = 0) -> str:
    """A stable id for the board on this host, e.g. "raspberrypi-spi0.0"."""
    return f"{socket.gethostname()}-spi{spi_bus}.{spi_device}"


def _check_channel(channel: int) -> None:
    if not 0 <= channel < ADC_CHANNELS:
        raise ValueError(f"ADC channel must be 0–{ADC_CHANNELS - 1}, got {channel}")


def _check_positive(name: str, value: float) -> None:
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value}")
