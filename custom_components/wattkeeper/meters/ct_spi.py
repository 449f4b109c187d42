"""Opening the SPI bus for the MCP3208, and the errors when a host cannot.

spidev exists only on Linux boards with an SPI controller, so it is imported
when the bus is opened, never at module import. Each way opening can fail gets
its own MeterError subclass with a `reason` the glue turns into a translated
config-flow error or repair issue.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Protocol

from .errors import MeterConnectionError, MeterDisabledError, MeterUnsupportedError

# SPI mode 0 (CPOL=0, CPHA=0); the MCP3208 also accepts mode 3.
SPI_MODE = 0


class SpiDevice(Protocol):
    """The part of spidev.SpiDev the sampler uses; the simulator has the same."""

    max_speed_hz: int
    mode: int

    def open(self, bus: int, device: int) -> None: ...

    def xfer2(self, data: list[int], /) -> list[int]: ...

    def close(self) -> None: ...


# (bus, device) → an SpiDevice that is already open; injectable for simulators.
SpiOpener = Callable[[int, int], SpiDevice]


class SpiNotAvailableError(MeterUnsupportedError):
    """No spidev module: not a Raspberry Pi (or spidev is not installed)."""

    reason: ClassVar[str] = "not_a_pi"


class SpiDisabledError(MeterDisabledError):
    """The /dev/spidevB.D node is missing: SPI is switched off on this host."""

    reason: ClassVar[str] = "spi_disabled"


class SpiPermissionError(MeterDisabledError):
    """The node exists but this user may not open it."""

    reason: ClassVar[str] = "spi_permission"


def device_path(dev_dir: str, bus: int, device: int) -> Path:
    return Path(dev_dir) / f"spidev{bus}.{device}"


def open_spidev(bus: int, device: int, *, dev_dir: str = "/dev") -> SpiDevice:
    """Open the real bus through spidev; raises one of the errors above."""
    try:
        spidev = importlib.import_module("spidev")
    except ImportError as err:
        raise SpiNotAvailableError(
            "The spidev module is not available: this is not a Raspberry Pi, or spidev "
            "is not installed"
        ) from err
    path = device_path(dev_dir, bus, device)
    if not path.exists():
        raise SpiDisabledError(
            f"{path} does not exist: SPI is disabled; enable it (raspi-config → Interface "
            "Options → SPI, or dtparam=spi=on) and reboot"
        )
    if not os.access(path, os.R_OK | os.W_OK):
        raise _permission_error(path)
    spi: SpiDevice = spidev.SpiDev()
    try:
        spi.open(bus, device)
    except FileNotFoundError as err:
        raise SpiDisabledError(f"{path} vanished while opening it: SPI is disabled") from err
    except PermissionError as err:
        raise _permission_error(path) from err
    except OSError as err:
        raise MeterConnectionError(f"Cannot open {path}: {err}") from err
    return spi


def _permission_error(path: Path) -> SpiPermissionError:
    return SpiPermissionError(
        f"Permission denied on {path}: add the user running Home Assistant to the "
        "'spi' group (or run the container with the device mapped)"
    )


def mcp3208_command(channel: int) -> list[int]:
    """The 3-byte single-ended read of one channel.

    Start bit and SGL/DIFF=1 in the first byte with D2, D1 D0 at the top of the
    second; the 12-bit result comes back in the low nibble of byte 1 and byte 2
    (the sampler decodes it inline, in its hot loop). spidev's xfer2 overwrites
    the list it is given, so send a copy.
    """
    return [0x06 | (channel >> 2), (channel & 0x03) << 6, 0x00]
