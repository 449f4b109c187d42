"""Sampling one frame of MCP3208 codes; blocking, so it runs in a worker thread.

A scan reads every configured channel once, voltage inputs first; scans are
paced at samples_per_wave × mains_hz. Each code is stamped with the midpoint of
its SPI transfer, which is what the maths uses to undo the V–I skew.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

import numpy as np

from .ct_config import CtConfig
from .ct_frame import Frame
from .ct_spi import SPI_MODE, SpiDevice, SpiOpener, mcp3208_command
from .errors import MeterConnectionError, MeterError

# Scans read when probing for the chip.
_PROBE_SCANS = 8


class Timebase(Protocol):
    """A monotonic clock in seconds the sampler can wait on (the simulator has one)."""

    def now(self) -> float: ...

    def wait_until(self, deadline: float) -> None: ...


class MonotonicTimebase:
    """The host's performance counter; waits sleep coarse, then spin to the deadline."""

    def now(self) -> float:
        return time.perf_counter()

    def wait_until(self, deadline: float) -> None:
        while (remaining := deadline - time.perf_counter()) > 0:
            # time.sleep overshoots by ~0.1 ms or more; only trust it for the bulk.
            # sleep(0) while spinning hands the GIL to the event loop's thread.
            time.sleep(remaining - 0.001 if remaining > 0.002 else 0)


class SamplingCancelledError(MeterError):
    """The driver was closed while a frame was being sampled."""


class Mcp3208Sampler:
    """Owns the SPI handle; every method blocks and belongs in one worker thread."""

    def __init__(self, config: CtConfig, opener: SpiOpener, timebase: Timebase) -> None:
        self._config = config
        self._opener = opener
        self._timebase = timebase
        self._spi: SpiDevice | None = None

    def open(self) -> None:
        if self._spi is not None:
            return
        config = self._config
        spi = self._opener(config.spi_bus, config.spi_device)
        try:
            spi.mode = SPI_MODE
            spi.max_speed_hz = config.spi_hz
        except OSError as err:
            spi.close()
            raise MeterConnectionError(f"Cannot set up {config.address}: {err}") from err
        self._spi = spi

    def close(self) -> None:
        spi, self._spi = self._spi, None
        if spi is not None:
            spi.close()

    def probe(self) -> None:
        """Raise if no MCP3208 answers: a missing or unpowered chip reads all 0s or 1s."""
        frame = self._sample(_PROBE_SCANS, pace=False, stop=None)
        codes = frame.codes
        if bool(np.all(codes == 0)) or bool(np.all(codes == 0x0FFF)):
            raise MeterConnectionError(
                f"No MCP3208 answers on {self._config.address}: every channel reads "
                f"{int(codes[0, 0])}; check wiring, power and chip select"
            )

    def sample(self, stop: threading.Event | None = None) -> Frame:
        """One frame: samples_per_wave × waves paced scans of every channel."""
        return self._sample(self._config.scans_per_frame, pace=True, stop=stop)

    def _sample(self, scans: int, *, pace: bool, stop: threading.Event | None) -> Frame:
        self.open()
        spi = self._spi
        assert spi is not None
        channels = self._config.scan_order
        width = len(channels)
        commands = [mcp3208_command(ch) for ch in channels]
        codes = [0] * (scans * width)
        stamps = [0.0] * (scans * width)
        now = self._timebase.now
        wait_until = self._timebase.wait_until
        xfer2 = spi.xfer2
        period = self._config.scan_period_s
        index = 0
        try:
            start = now()
            for scan in range(scans):
                if stop is not None and stop.is_set():
                    raise SamplingCancelledError("sampling stopped: the meter is closing")
                if pace:
                    wait_until(start + scan * period)
                for command in commands:
                    before = now()
                    # A copy per transfer: xfer2 overwrites its argument with the reply.
                    reply = xfer2(command.copy())
                    after = now()
                    # The 12-bit result: the low nibble of byte 1, then byte 2. Decoded
                    # inline: a function call here costs 5-10 % of the loop (bench).
                    codes[index] = ((reply[1] & 0x0F) << 8) | reply[2]
                    stamps[index] = (before + after) * 0.5
                    index += 1
        except OSError as err:
            self.close()
            raise MeterConnectionError(
                f"SPI transfer on {self._config.address} failed: {err}"
            ) from err
        except IndexError as err:
            raise MeterConnectionError(
                f"SPI transfer on {self._config.address} returned a short reply"
            ) from err
        return Frame(
            channels=channels,
            codes=np.array(codes, dtype=np.uint16).reshape(scans, width).T.copy(),
            times=np.array(stamps, dtype=np.float64).reshape(scans, width).T.copy(),
        )
