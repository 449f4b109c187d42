"""CT clamps and voltage inputs on an MCP3208: the PolledMeter driver.

read() samples one frame and computes it in the driver's own worker thread,
never on the event loop; energy is integrated on the loop afterwards. Clipped
channels are left out of the snapshot (their values would be too low) and
named in texts["clipped_channels"] so the glue can say what is wrong.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Final

from .ct_calibration import (
    CalibrationError,
    CalibrationTarget,
    measured_for,
    new_factor,
    new_phase_offset,
)
from .ct_compute import compute_frame, phase_lag_deg
from .ct_config import ClampVoltage, CtConfig
from .ct_energy import EnergyIntegrator, EnergyTotals
from .ct_frame import Frame, FrameResult
from .ct_sampler import Mcp3208Sampler, MonotonicTimebase, Timebase
from .ct_spi import SpiDevice, SpiOpener, open_spidev
from .model import MeterIdentity, MeterKind, Quantity, QuantityKey, Snapshot

MODEL: Final = "MCP3208 CT clamp board"
MANUFACTURER: Final = "Microchip (MCP3208)"
CLIPPED_CHANNELS: Final = "clipped_channels"


class CtClampMeter:
    """One MCP3208 on one SPI chip select.

    `opener` and `timebase` default to the real spidev and the host clock; tests
    pass the simulator for both.
    """

    def __init__(
        self,
        config: CtConfig,
        *,
        opener: SpiOpener | None = None,
        timebase: Timebase | None = None,
        wall_clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._config = config
        self._timebase = timebase or MonotonicTimebase()
        self._sampler = Mcp3208Sampler(
            config, opener or partial(_open_real, config.dev_dir), self._timebase
        )
        self._wall_clock = wall_clock or partial(datetime.now, UTC)
        # One worker: the SPI handle lives there and frames never overlap.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wattkeeper-ct")
        self._stop = threading.Event()
        self._energy = {
            c.channel: EnergyIntegrator(max_gap_s=config.energy_max_gap_s) for c in config.currents
        }
        self._last: FrameResult | None = None
        # The samples behind `_last`, kept for a phase calibration.
        self._last_frame: Frame | None = None
        self._identity = MeterIdentity(
            kind=MeterKind.CT_CLAMP,
            serial=config.device_id,
            model=MODEL,
            manufacturer=MANUFACTURER,
            name=config.name,
            address=config.address,
        )

    @property
    def config(self) -> CtConfig:
        return self._config

    @property
    def last_result(self) -> FrameResult | None:
        return self._last

    async def identify(self) -> MeterIdentity:
        """Open the bus and check an ADC answers; raises a MeterError if not."""
        await self._in_worker(self._sampler.probe)
        return self._identity

    async def read(self, *, external_voltage: float | None = None) -> Snapshot:
        """Sample and compute one frame. `external_voltage` is the voltage the
        glue read from another entity, used when clamp_voltage is EXTERNAL."""
        clamp_voltage = self._clamp_voltage(external_voltage)
        frame, result, lag_s = await self._in_worker(partial(self._frame, clamp_voltage))
        self._last, self._last_frame = result, frame
        for channel, integrator in self._energy.items():
            power = result.currents[channel].real_power
            if power is None or not result.power_trusted(channel):
                integrator.interrupt()
            else:
                integrator.add(power, result.mid_time)
        return Snapshot(
            identity=self._identity,
            measured_at=self._wall_clock() - timedelta(seconds=lag_s),
            values=self._values(result),
            texts={CLIPPED_CHANNELS: ",".join(str(c) for c in result.clipped_channels())},
        )

    async def close(self) -> None:
        self._stop.set()
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._sampler.close)
        finally:
            # Joined off the loop: a frame in flight ends at its next scan.
            await asyncio.to_thread(self._executor.shutdown, wait=True)

    def energy(self, channel: int) -> EnergyTotals:
        return self._energy[channel].totals

    def restore_energy(self, channel: int, totals: EnergyTotals) -> None:
        """Set the totals saved before a restart; this session's energy adds on top."""
        self._energy[channel].restore(totals)

    def calibrate(self, channel: int, target: CalibrationTarget, reference: float) -> float:
        """The calibration factor for `channel` that makes the last frame read `reference`;
        for PHASE, the phase offset that makes it read a power factor of `reference`."""
        if self._last is None or self._last_frame is None:
            raise CalibrationError("no_measurement", "no frame measured yet")
        measured = measured_for(self._last, channel, target)
        if target is CalibrationTarget.PHASE:
            return new_phase_offset(
                offset_deg=self._config.current(channel).phase_offset_deg,
                measured_lag_deg=phase_lag_deg(self._last_frame, self._config, channel),
                power_factor=reference,
            )
        if target is CalibrationTarget.VOLTAGE:
            factor = self._config.voltage(channel).calibration
        else:
            factor = self._config.current(channel).calibration
        return new_factor(factor=factor, reference=reference, measured=measured)

    def _clamp_voltage(self, external: float | None) -> float | None:
        if self._config.clamp_voltage is ClampVoltage.NOMINAL:
            return self._config.nominal_voltage
        if external is None or not math.isfinite(external) or external <= 0:
            return None
        return external

    def _frame(self, clamp_voltage: float | None) -> tuple[Frame, FrameResult, float]:
        frame = self._sampler.sample(self._stop)
        result = compute_frame(frame, self._config, clamp_voltage=clamp_voltage)
        return frame, result, self._timebase.now() - result.mid_time

    async def _in_worker[T](self, job: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, job)

    def _values(self, result: FrameResult) -> dict[QuantityKey, float]:
        values: dict[QuantityKey, float] = {}
        if result.frequency_hz is not None:
            values[QuantityKey(Quantity.FREQUENCY)] = result.frequency_hz
        for voltage in result.voltages.values():
            if not voltage.clipped_samples:
                values[_key(Quantity.VOLTAGE, voltage.channel)] = voltage.vrms
        for reading in result.currents.values():
            channel = reading.channel
            if not reading.clipped_samples:
                values[_key(Quantity.CURRENT, channel)] = reading.irms
            if result.power_trusted(channel) and reading.real_power is not None:
                values[_key(Quantity.POWER, channel)] = reading.real_power
                if reading.apparent_power is not None:
                    values[_key(Quantity.APPARENT_POWER, channel)] = reading.apparent_power
                if reading.power_factor is not None:
                    values[_key(Quantity.POWER_FACTOR, channel)] = reading.power_factor
            totals = self._energy[channel].totals
            values[_key(Quantity.ENERGY_IMPORT, channel)] = totals.import_kwh
            if reading.signed:
                values[_key(Quantity.ENERGY_EXPORT, channel)] = totals.export_kwh
        return values


def _key(quantity: Quantity, channel: int) -> QuantityKey:
    return QuantityKey(quantity, channel=str(channel))


def _open_real(dev_dir: str, bus: int, device: int) -> SpiDevice:
    return open_spidev(bus, device, dev_dir=dev_dir)
