"""Where the CT clamp glue gets its SPI bus: spidev on a Pi, or a twin in tests and the demo.

The seam is one module-level factory, `None` in production. Only Python code
running inside the Home Assistant process can install one (the test suite, or
a demo launcher that starts Home Assistant itself); nothing in a config entry,
an option or the UI can select a simulator, so a user cannot reach it by
accident. The factory is asked per SPI address, which is also how a demo tells
two simulated boards apart: entries stay exactly what a real board would store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .meters.ct_sampler import Timebase
from .meters.ct_spi import SpiOpener, open_spidev


@dataclass(frozen=True, slots=True)
class CtBus:
    """How to open one SPI address, and the clock its samples are timed on
    (None: the host's performance counter)."""

    opener: SpiOpener
    timebase: Timebase | None = None


# (spi_bus, spi_device) → the bus to use there.
type BusFactory = Callable[[int, int], CtBus]

_factory: BusFactory | None = None


def install_bus_factory(factory: BusFactory | None) -> None:
    """Route every CT clamp entry to `factory` (tests, demo); None restores spidev."""
    global _factory  # noqa: PLW0603  (the seam is deliberately process-wide)
    _factory = factory


def bus_for(spi_bus: int, spi_device: int) -> CtBus:
    if _factory is not None:
        return _factory(spi_bus, spi_device)
    return CtBus(opener=open_spidev)
