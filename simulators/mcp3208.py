"""An MCP3208 12-bit ADC on SPI, with spidev's interface, fed by known waveforms.

Each input carries a mains waveform in physical units (volts or amperes, as
the board's front end would present it) made of harmonics, scaled to codes by
`units_per_code` around a DC bias, plus Gaussian noise; the chip quantises to
12 bits and clips at 0 and 4095. Time is simulated: every transfer advances a
clock by its bits at `max_speed_hz` plus a software overhead (with optional
jitter), so the driver's skew correction meets the same staggered sampling as
on a Pi. The simulator is also the driver's clock (`now`, `wait_until`).
With `realtime=True` it follows the host's performance counter instead (for
the demo and for testing the driver's own clock): a transfer samples at the
moment it is made and time passes by itself.

The bit protocol follows the datasheet: leading zeros, a start bit, SGL/DIFF,
D2 D1 D0, one sample clock, a null bit, B11…B0, then B1…B11 again LSB-first
while clocks continue. Like py-spidev, xfer2 writes the received bytes back
into a list argument.

Ground truth (RMS, real power, power factor, energy) comes from the waveform
definitions, not from the samples.
"""

from __future__ import annotations

import bisect
import errno
import math
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

LEVELS = 4096
MAX_CODE = LEVELS - 1
# Bits after the start bit until the sample is taken (SGL, D2, D1, D0, sample clock).
_SAMPLE_AFTER_START = 5


class Fault(StrEnum):
    """What the twin does wrong, on purpose."""

    NONE = "none"
    NO_CHIP = "no_chip"  # nothing drives MISO: every bit reads 0
    IO_ERROR = "io_error"  # the SPI ioctl fails (EIO)


@dataclass(frozen=True, slots=True)
class Harmonic:
    """One sine component: `order` × mains frequency, RMS in the signal's unit."""

    order: int
    rms: float
    phase_deg: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Signal:
    """What one ADC input sees.

    `envelope` scales the whole waveform over time, linearly between
    (time s, factor) points and constant outside them; empty means 1.
    """

    harmonics: tuple[Harmonic, ...]
    units_per_code: float
    offset_code: float = 2048.0
    noise_codes: float = 0.0
    envelope: tuple[tuple[float, float], ...] = ()

    @classmethod
    def sine(
        cls,
        rms: float,
        *,
        units_per_code: float,
        phase_deg: float = 0.0,
        harmonics: Sequence[tuple[int, float, float]] = (),
        offset_code: float = 2048.0,
        noise_codes: float = 0.0,
        envelope: tuple[tuple[float, float], ...] = (),
    ) -> Signal:
        """A fundamental plus harmonics given as (order, fraction of rms, phase°)."""
        parts = [Harmonic(1, rms, phase_deg)]
        parts += [Harmonic(order, rms * share, phase) for order, share, phase in harmonics]
        return cls(
            harmonics=tuple(parts),
            units_per_code=units_per_code,
            offset_code=offset_code,
            noise_codes=noise_codes,
            envelope=envelope,
        )

    @property
    def rms(self) -> float:
        """True RMS at envelope factor 1."""
        return math.sqrt(sum(h.rms**2 for h in self.harmonics))

    def scale(self, at: float) -> float:
        points = self.envelope
        if not points:
            return 1.0
        times = [p[0] for p in points]
        index = bisect.bisect_right(times, at)
        if index == 0:
            return points[0][1]
        if index == len(points):
            return points[-1][1]
        (t0, f0), (t1, f1) = points[index - 1], points[index]
        return f0 + (f1 - f0) * (at - t0) / (t1 - t0)

    def scale_array(self, times: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        if not self.envelope:
            return np.ones_like(times)
        corners = np.array(self.envelope, dtype=np.float64)
        return np.interp(times, corners[:, 0], corners[:, 1])


class Mcp3208Simulator:
    """spidev.SpiDev look-alike (open, mode, max_speed_hz, xfer2, close) and a clock."""

    def __init__(
        self,
        signals: Mapping[int, Signal],
        *,
        mains_hz: float = 50.0,
        transfer_overhead_s: float = 10e-6,
        jitter_s: float = 0.0,
        seed: int = 0,
        start_s: float = 1000.0,
        realtime: bool = False,
    ) -> None:
        self.signals = dict(signals)
        self.mains_hz = mains_hz
        self.transfer_overhead_s = transfer_overhead_s
        self.jitter_s = jitter_s
        self.fault = Fault.NONE
        self.mode = 0
        self.max_speed_hz = 500_000
        self.bits_per_word = 8
        self.opened: tuple[int, int] | None = None
        self.transfers = 0
        self.realtime = realtime
        self._t = start_s
        self._random = random.Random(seed)
        # Per channel: (peak, angular frequency, phase rad) per harmonic.
        self._terms = {channel: self._terms_of(signal) for channel, signal in self.signals.items()}

    def set_signal(self, channel: int, signal: Signal) -> None:
        """Change what one input sees from the next transfer on (a load switched)."""
        self.signals[channel] = signal
        self._terms[channel] = self._terms_of(signal)

    def _terms_of(self, signal: Signal) -> tuple[tuple[float, float, float], ...]:
        return tuple(
            (math.sqrt(2) * h.rms, 2 * math.pi * h.order * self.mains_hz, math.radians(h.phase_deg))
            for h in signal.harmonics
        )

    # -- spidev interface --------------------------------------------------

    def open(self, bus: int, device: int) -> None:
        self.opened = (bus, device)

    def close(self) -> None:
        self.opened = None

    def opener(self, bus: int, device: int) -> Mcp3208Simulator:
        """Stands in for the driver's SPI opener."""
        self.open(bus, device)
        return self

    def xfer2(
        self,
        data: list[int],
        speed_hz: int = 0,
        delay_usec: int = 0,
        bits_per_word: int = 0,
    ) -> list[int]:
        if self.opened is None:
            raise OSError(errno.EBADF, "Bad file descriptor")
        if self.fault is Fault.IO_ERROR:
            raise OSError(errno.EIO, "Input/output error")
        hz = speed_hz or self.max_speed_hz
        self.transfers += 1
        if self.realtime:
            bits_start = time.perf_counter()
        else:
            half_overhead = self.transfer_overhead_s / 2
            if self.jitter_s:
                half_overhead += self._random.uniform(0.0, self.jitter_s)
            bits_start = self._t + half_overhead
            self._t = bits_start + 8 * len(data) / hz + half_overhead + delay_usec * 1e-6
        reply = self._reply(list(data), bits_start, hz)
        if isinstance(data, list):
            data[:] = reply
        return reply

    xfer = xfer2

    # -- clock the driver uses ---------------------------------------------

    def now(self) -> float:
        return time.perf_counter() if self.realtime else self._t

    def wait_until(self, deadline: float) -> None:
        if self.realtime:
            while time.perf_counter() < deadline:
                time.sleep(0)
        else:
            self._t = max(self._t, deadline)

    def advance(self, seconds: float) -> None:
        """Let time pass without transfers (between polls)."""
        if self.realtime:
            raise RuntimeError("a real-time twin cannot skip time")
        self._t += seconds

    # -- the analogue side -------------------------------------------------

    def level(self, channel: int, at: float) -> float:
        """The input's level in (fractional) code units at a moment, before noise."""
        signal = self.signals.get(channel)
        if signal is None:
            return 0.0  # an unconnected input with its pull-down
        value = sum(
            peak * math.sin(omega * at + phase) for peak, omega, phase in self._terms[channel]
        )
        return signal.offset_code + value * signal.scale(at) / signal.units_per_code

    def _code(self, single: bool, select: int, at: float) -> int:
        if single:
            level = self.level(select, at) + self._noise(select)
        else:
            # Differential pairs: D2 D1 pick the pair, D0 which input is IN+.
            positive = (select & 0b110) | (select & 1)
            negative = (select & 0b110) | (1 - (select & 1))
            level = self.level(positive, at) + self._noise(positive)
            level -= self.level(negative, at) + self._noise(negative)
        return min(MAX_CODE, max(0, math.floor(level)))

    def _noise(self, channel: int) -> float:
        signal = self.signals.get(channel)
        if signal is None or not signal.noise_codes:
            return 0.0
        return self._random.gauss(0.0, signal.noise_codes)

    def _reply(self, data: list[int], bits_start: float, hz: float) -> list[int]:
        size = len(data)
        if self.fault is Fault.NO_CHIP:
            return [0] * size
        if size == 3 and 0x04 <= data[0] <= 0x07 and self.mode in (0, 3):
            # The usual 3-byte command (start bit at bit 5): the same bits, decoded fast.
            select = (data[0] & 1) << 2 | data[1] >> 6
            at = bits_start + (5 + _SAMPLE_AFTER_START) / hz
            code = self._code(bool(data[0] & 0x02), select, at)
            return [0, code >> 8, code & 0xFF]
        bits_in = [(byte >> (7 - b)) & 1 for byte in data for b in range(8)]
        try:
            start = bits_in.index(1)
        except ValueError:
            return [0] * size
        if start + _SAMPLE_AFTER_START >= len(bits_in):
            return [0] * size
        single = bits_in[start + 1] == 1
        select = bits_in[start + 2] << 2 | bits_in[start + 3] << 1 | bits_in[start + 4]
        sampled_at = bits_start + (start + _SAMPLE_AFTER_START) / hz
        code = self._code(single, select, sampled_at)
        # Null bit, B11…B0 MSB-first, then B1…B11 LSB-first, then zeros.
        msb_first = [(code >> (11 - b)) & 1 for b in range(12)]
        stream = [0] * (start + _SAMPLE_AFTER_START + 2) + msb_first + msb_first[-2::-1]
        if self.mode in (1, 2):
            # Sampled on the wrong clock edge: everything arrives a bit late.
            stream = [0, *stream]
        stream = (stream + [0] * len(bits_in))[: len(bits_in)]
        return [
            int("".join(str(bit) for bit in stream[i : i + 8]), 2) for i in range(0, len(stream), 8)
        ]

    # -- ground truth ------------------------------------------------------

    def true_rms(self, channel: int) -> float:
        return self.signals[channel].rms

    def true_power(self, voltage: int, current: int) -> float:
        """Mean of v·i at envelope factor 1: only equal orders contribute."""
        volts = {h.order: h for h in self.signals[voltage].harmonics}
        total = 0.0
        for amp in self.signals[current].harmonics:
            volt = volts.get(amp.order)
            if volt is not None:
                total += volt.rms * amp.rms * math.cos(math.radians(volt.phase_deg - amp.phase_deg))
        return total

    def true_power_factor(self, voltage: int, current: int) -> float:
        apparent = self.true_rms(voltage) * self.true_rms(current)
        return self.true_power(voltage, current) / apparent

    def true_energy_kwh(
        self, voltage: int, current: int, start: float, end: float
    ) -> tuple[float, float]:
        """(import, export) kWh between two moments, following both envelopes.

        The mean power at a moment is the power at factor 1 times both factors;
        it is integrated on a fine grid that includes every envelope corner.
        """
        corners = [t for s in (voltage, current) for t, _ in self.signals[s].envelope]
        grid = np.union1d(np.linspace(start, end, 200_001), [t for t in corners if start < t < end])
        power = (
            self.true_power(voltage, current)
            * self.signals[voltage].scale_array(grid)
            * self.signals[current].scale_array(grid)
        )
        imported = float(np.trapezoid(np.clip(power, 0.0, None), grid))
        exported = float(np.trapezoid(np.clip(-power, 0.0, None), grid))
        return imported / 3.6e6, exported / 3.6e6
