"""The MCP3208 twin behind Home Assistant: entries, loads with a known truth, SPI faults."""

from __future__ import annotations

import errno
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.requirements import RequirementsNotFound
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.wattkeeper import ct_bus, on_demand
from custom_components.wattkeeper.const import CONF_KIND, CONF_SCAN_INTERVAL, DOMAIN
from custom_components.wattkeeper.ct_settings import (
    CONF_BURDEN_OHM,
    CONF_CALIBRATION,
    CONF_CHANNELS,
    CONF_CLAMP_VOLTAGE,
    CONF_DEVICE_ID,
    CONF_DIVIDER_RATIO,
    CONF_INVERT,
    CONF_MAINS_HZ,
    CONF_NOISE_FLOOR_A,
    CONF_NOISE_FLOOR_W,
    CONF_NOMINAL_VOLTAGE,
    CONF_PHASE_OFFSET_DEG,
    CONF_RATING_A,
    CONF_ROLE,
    CONF_SECONDARY_A,
    CONF_SPI_BUS,
    CONF_SPI_DEVICE,
    CONF_SPI_HZ,
    CONF_TRANSFORMER_RATIO,
    CONF_VOLTAGE_CHANNEL,
    CONF_VREF,
    build_config,
)
from custom_components.wattkeeper.meters.ct_config import CtConfig
from custom_components.wattkeeper.meters.ct_spi import SpiDevice, open_spidev
from custom_components.wattkeeper.meters.model import Quantity, QuantityKey
from simulators.mcp3208 import Mcp3208Simulator, Signal

DEVICE_ID = "raspberrypi-spi0.0"
TITLE = "CT clamps spi0.0"
ENTRY_ID = "ct0123456789"

DATA: dict[str, Any] = {
    CONF_KIND: "ct_clamp",
    CONF_DEVICE_ID: DEVICE_ID,
    CONF_SPI_BUS: 0,
    CONF_SPI_DEVICE: 0,
    CONF_SPI_HZ: 1_000_000,
    CONF_MAINS_HZ: 50,
}


def current(
    voltage_channel: int | None, calibration: float = 1.0, phase_offset_deg: float = 0.0
) -> dict[str, Any]:
    return {
        CONF_ROLE: "current",
        CONF_RATING_A: 100.0,
        CONF_SECONDARY_A: 0.05,
        CONF_BURDEN_OHM: 22.0,
        CONF_CALIBRATION: calibration,
        CONF_PHASE_OFFSET_DEG: phase_offset_deg,
        CONF_INVERT: False,
        CONF_VOLTAGE_CHANNEL: voltage_channel,
    }


def voltage(calibration: float = 1.0) -> dict[str, Any]:
    return {
        CONF_ROLE: "voltage",
        CONF_CALIBRATION: calibration,
        CONF_TRANSFORMER_RATIO: 25.56,
        CONF_DIVIDER_RATIO: 11.0,
    }


def options(
    *, voltage_calibration: float = 1.0, house_calibration: float = 1.0, **extra: Any
) -> dict[str, Any]:
    """Mains on CH0; a house circuit (CH1) and solar (CH2) paired with it; CH3 clamp-only."""
    return {
        CONF_VREF: 3.3,
        CONF_CHANNELS: {
            "0": voltage(voltage_calibration),
            "1": current(0, house_calibration),
            "2": current(0),
            "3": current(None),
        },
        CONF_CLAMP_VOLTAGE: "nominal",
        CONF_NOMINAL_VOLTAGE: 230.0,
        CONF_NOISE_FLOOR_W: 2.0,
        CONF_NOISE_FLOOR_A: 0.05,
        CONF_SCAN_INTERVAL: 1,
        **extra,
    }


def wired_config() -> CtConfig:
    """The installation as it really is: every factor exactly 1, and a spare clamp
    on CH4 that the entries leave unused until an options test adds it."""
    wired = options()
    wired[CONF_CHANNELS]["4"] = current(0)
    return build_config(DATA, wired, TITLE)


def make_twin(config: CtConfig) -> Mcp3208Simulator:
    """Known loads on the inputs of `config`, scaled by its front end.

    CH1 is inductive (PF 0.8) with a 20 % third harmonic, CH2 feeds 6 A back
    (solar), CH3 draws 7 A with no voltage input of its own, CH4 3 A.
    """
    loads: dict[int, tuple[float, float, tuple[tuple[int, float, float], ...]]] = {
        0: (230.0, 0.0, ()),
        1: (10.0, -36.87, ((3, 0.2, 30.0),)),
        2: (6.0, 180.0, ()),
        3: (7.0, -40.0, ()),
        4: (3.0, 0.0, ()),
    }
    signals = {
        channel: Signal.sine(
            rms,
            units_per_code=config.units_per_code(channel),
            phase_deg=phase,
            harmonics=harmonics,
            noise_codes=0.5,
        )
        for channel, (rms, phase, harmonics) in loads.items()
    }
    return Mcp3208Simulator(signals, mains_hz=config.mains_hz, seed=11)


class TwinBus:
    """Stands in for /dev/spidevB.D: the twin, or the real spidev path when `broken`."""

    def __init__(self, sim: Mcp3208Simulator, dev_dir: Path) -> None:
        self.sim = sim
        self.dev_dir = dev_dir
        self.broken = False
        self.opened: list[tuple[int, int]] = []

    def opener(self, spi_bus: int, spi_device: int) -> SpiDevice:
        if self.broken:
            return open_spidev(spi_bus, spi_device, dev_dir=str(self.dev_dir))
        self.opened.append((spi_bus, spi_device))
        return self.sim.opener(spi_bus, spi_device)

    def bus(self, spi_bus: int, spi_device: int) -> ct_bus.CtBus:
        return ct_bus.CtBus(opener=self.opener, timebase=self.sim)


@contextmanager
def installed_twin(dev_dir: Path) -> Iterator[TwinBus]:
    """The twin as every CT entry's SPI bus while the block runs."""
    bus = TwinBus(make_twin(wired_config()), dev_dir)
    ct_bus.install_bus_factory(bus.bus)
    try:
        yield bus
    finally:
        ct_bus.install_bus_factory(None)


class _NoAccessSpiDev:
    """spidev.SpiDev on a node the user may not open."""

    def open(self, spi_bus: int, spi_device: int) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    def close(self) -> None:
        """Nothing was opened."""


def break_spi(monkeypatch: pytest.MonkeyPatch, dev_dir: Path, reason: str) -> None:
    """Make the real spidev path fail the way a host without working SPI does."""
    if reason == "not_a_pi":
        monkeypatch.setitem(sys.modules, "spidev", None)  # import spidev → ImportError
        return
    module = types.ModuleType("spidev")
    module.SpiDev = _NoAccessSpiDev  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "spidev", module)
    node = dev_dir / "spidev0.0"
    if reason == "spi_permission":
        node.touch()
    else:
        node.unlink(missing_ok=True)


class FakeRequirements:
    """Home Assistant's requirements manager as the CT glue meets it, without pip.

    The real one would pip-install spidev into the test environment; this one
    records what was asked and fails on demand, like a Pi without a compiler.
    """

    def __init__(self) -> None:
        self.asked: list[tuple[str, list[str]]] = []
        self.fail = False

    async def __call__(self, hass: HomeAssistant, name: str, requirements: list[str]) -> None:
        self.asked.append((name, list(requirements)))
        if self.fail:
            raise RequirementsNotFound(name, list(requirements))


def fake_requirements(monkeypatch: pytest.MonkeyPatch) -> FakeRequirements:
    fake = FakeRequirements()
    monkeypatch.setattr(on_demand, "async_process_requirements", fake)
    return fake


def mock_entry(**option_overrides: Any) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        entry_id=ENTRY_ID,
        unique_id=DEVICE_ID,
        title=TITLE,
        data=DATA,
        options=options(**option_overrides),
    )


def entity_id(
    hass: HomeAssistant, quantity: Quantity, channel: int, device_id: str = DEVICE_ID
) -> str:
    key = QuantityKey(quantity, channel=str(channel))
    found = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"{device_id}_{key.id}")
    assert found is not None, f"no entity for {key.id}"
    return found


def value(
    hass: HomeAssistant, quantity: Quantity, channel: int, device_id: str = DEVICE_ID
) -> float:
    state = hass.states.get(entity_id(hass, quantity, channel, device_id))
    assert state is not None
    return float(state.state)


def state(hass: HomeAssistant, quantity: Quantity, channel: int) -> str:
    found = hass.states.get(entity_id(hass, quantity, channel))
    assert found is not None
    return found.state
