"""Opening SPI: what a user sees when spidev, the device node or the permission
is missing, and the real spidev path driven end to end with the twin."""

from __future__ import annotations

import errno
import os
import sys
import types
from pathlib import Path

import pytest

from custom_components.wattkeeper.meters.ct_clamp import CtClampMeter
from custom_components.wattkeeper.meters.ct_config import CtConfig, CurrentChannel, VoltageChannel
from custom_components.wattkeeper.meters.ct_sampler import Mcp3208Sampler
from custom_components.wattkeeper.meters.ct_spi import (
    SpiDisabledError,
    SpiNotAvailableError,
    SpiPermissionError,
    mcp3208_command,
    open_spidev,
)
from custom_components.wattkeeper.meters.errors import (
    MeterConnectionError,
    MeterDisabledError,
    MeterUnsupportedError,
)
from custom_components.wattkeeper.meters.model import Quantity, QuantityKey
from simulators.mcp3208 import Mcp3208Simulator, Signal


class _FailingSpiDev:
    """A spidev.SpiDev whose open() fails the way the C extension does."""

    error: OSError

    def open(self, bus: int, device: int) -> None:
        raise self.error

    def close(self) -> None:
        """Nothing was opened."""


def fake_spidev(monkeypatch: pytest.MonkeyPatch, factory: object) -> None:
    module = types.ModuleType("spidev")
    module.SpiDev = factory  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "spidev", module)


@pytest.fixture
def dev_dir(tmp_path: Path) -> Path:
    """A /dev stand-in with spidev0.0 present."""
    (tmp_path / "spidev0.0").touch()
    return tmp_path


def test_not_a_pi(monkeypatch: pytest.MonkeyPatch, dev_dir: Path) -> None:
    monkeypatch.setitem(sys.modules, "spidev", None)  # import spidev → ImportError
    with pytest.raises(SpiNotAvailableError, match="not a Raspberry Pi") as err:
        open_spidev(0, 0, dev_dir=str(dev_dir))
    assert isinstance(err.value, MeterUnsupportedError)
    assert err.value.reason == "not_a_pi"


def test_spi_disabled(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_spidev(monkeypatch, _FailingSpiDev)
    with pytest.raises(
        SpiDisabledError, match=r"spidev0\.1 does not exist: SPI is disabled"
    ) as err:
        open_spidev(0, 1, dev_dir=str(tmp_path))
    assert isinstance(err.value, MeterDisabledError)
    assert err.value.reason == "spi_disabled"


def test_permission_denied_by_the_node(monkeypatch: pytest.MonkeyPatch, dev_dir: Path) -> None:
    fake_spidev(monkeypatch, _FailingSpiDev)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(SpiPermissionError, match="'spi' group") as err:
        open_spidev(0, 0, dev_dir=str(dev_dir))
    assert err.value.reason == "spi_permission"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (PermissionError(errno.EACCES, "Permission denied"), SpiPermissionError),
        (FileNotFoundError(errno.ENOENT, "No such file"), SpiDisabledError),
        (OSError(errno.EIO, "Input/output error"), MeterConnectionError),
    ],
)
def test_open_errors_are_mapped(
    monkeypatch: pytest.MonkeyPatch, dev_dir: Path, error: OSError, expected: type[Exception]
) -> None:
    failing = type("Failing", (_FailingSpiDev,), {"error": error})
    fake_spidev(monkeypatch, failing)
    with pytest.raises(expected):
        open_spidev(0, 0, dev_dir=str(dev_dir))


def board(**overrides: object) -> CtConfig:
    fields: dict[str, object] = {
        "device_id": "host-spi0.0",
        "voltages": (VoltageChannel(channel=0),),
        "currents": (CurrentChannel(channel=1, voltage_channel=0),),
        "waves": 5,
    }
    fields.update(overrides)
    return CtConfig(**fields)  # type: ignore[arg-type]


async def test_driver_reports_missing_spi_from_identify(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The config flow calls identify(): the error arrives there, from the worker."""
    meter = CtClampMeter(board(dev_dir=str(tmp_path)))
    try:
        monkeypatch.setitem(sys.modules, "spidev", None)
        with pytest.raises(SpiNotAvailableError):
            await meter.identify()
        fake_spidev(monkeypatch, _FailingSpiDev)
        with pytest.raises(SpiDisabledError):
            await meter.read()
    finally:
        await meter.close()


async def test_real_spidev_path_with_the_twin(
    monkeypatch: pytest.MonkeyPatch, dev_dir: Path
) -> None:
    """open_spidev → SpiDev() → open(bus, device), then mode, speed and frames."""
    cfg = board(dev_dir=str(dev_dir))
    sim = Mcp3208Simulator(
        {
            0: Signal.sine(230.0, units_per_code=cfg.units_per_code(0)),
            1: Signal.sine(5.0, units_per_code=cfg.units_per_code(1)),
        }
    )
    sim.mode = 2  # whatever a previous user left; the sampler must set mode 0
    fake_spidev(monkeypatch, lambda: sim)
    meter = CtClampMeter(cfg, timebase=sim)
    try:
        await meter.identify()
        snapshot = await meter.read()
    finally:
        await meter.close()
    assert sim.mode == 0
    assert sim.max_speed_hz == 1_000_000
    assert sim.opened is None
    current = snapshot.values[QuantityKey(Quantity.CURRENT, channel="1")]
    assert current == pytest.approx(5.0, rel=0.005)


def test_every_channel_is_read_by_its_own_command() -> None:
    """Each channel's command selects that input and its reply decodes to that
    input's level, scan after scan (xfer2 overwrites what it is sent, so a
    command reused without a copy would read garbage from the second scan on)."""
    cfg = CtConfig(
        device_id="host-spi0.0",
        samples_per_wave=8,
        waves=1,
        currents=tuple(CurrentChannel(channel=c) for c in range(8)),
    )
    sim = Mcp3208Simulator(
        {c: Signal(harmonics=(), units_per_code=1.0, offset_code=100.5 + 500 * c) for c in range(8)}
    )
    frame = Mcp3208Sampler(cfg, sim.opener, sim).sample()
    assert frame.channels == tuple(range(8))
    for row, channel in enumerate(frame.channels):
        assert frame.codes[row].tolist() == [100 + 500 * channel] * 8
    assert mcp3208_command(5) == [0x07, 0x40, 0x00]
