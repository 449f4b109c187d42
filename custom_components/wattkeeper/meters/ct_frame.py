"""What passes between the sampler, the maths and the driver for one frame."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """Raw ADC codes of one frame and when each was taken.

    Row r of `codes` and `times` belongs to ADC channel `channels[r]`; column k
    is scan k. Times are seconds on the sampler's monotonic clock, the midpoint
    of each SPI transfer.
    """

    channels: tuple[int, ...]
    codes: npt.NDArray[np.uint16]
    times: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        if self.codes.shape != self.times.shape or self.codes.shape[0] != len(self.channels):
            raise ValueError("codes and times need one row per channel and equal shapes")
        if self.codes.shape[1] < 2:
            raise ValueError("a frame needs at least two scans")

    @property
    def scans(self) -> int:
        return int(self.codes.shape[1])

    def row(self, channel: int) -> int:
        return self.channels.index(channel)

    def as_lists(self) -> tuple[list[list[int]], list[list[float]]]:
        """Plain lists for the pure-Python reference maths."""
        # tolist() of a 2-D array is a list of lists of Python numbers.
        codes = cast(list[list[int]], self.codes.tolist())
        times = cast(list[list[float]], self.times.tolist())
        return codes, times


@dataclass(frozen=True, slots=True, kw_only=True)
class VoltageReading:
    channel: int
    vrms: float
    clipped_samples: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CurrentReading:
    """One current channel over one frame, after the noise floor.

    `real_power` is signed (import positive) when `signed`; in clamp-only mode
    it is the apparent power from the assumed voltage and never negative.
    Power values are None when no voltage is known (external voltage missing);
    `power_factor` is None in clamp-only mode and when no current flows.
    """

    channel: int
    voltage_channel: int | None
    irms: float
    real_power: float | None
    apparent_power: float | None
    power_factor: float | None
    signed: bool
    clipped_samples: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FrameResult:
    currents: dict[int, CurrentReading]
    voltages: dict[int, VoltageReading]
    # Centre of the samples used, on the sampler's clock (energy integration).
    mid_time: float
    # Scans used after trimming to whole mains waves, and their rate.
    scans_used: int
    scan_rate_hz: float
    # The mains frequency measured on the first voltage input; None without one
    # (or without a waveform on it): the window then counts nominal waves.
    frequency_hz: float | None = None

    def clipped_channels(self) -> tuple[int, ...]:
        clipped = [c.channel for c in self.currents.values() if c.clipped_samples]
        clipped += [v.channel for v in self.voltages.values() if v.clipped_samples]
        return tuple(sorted(clipped))

    def power_trusted(self, channel: int) -> bool:
        """False when clipping on the current or its voltage input makes power wrong."""
        reading = self.currents[channel]
        if reading.clipped_samples:
            return False
        return reading.voltage_channel is None or not (
            self.voltages[reading.voltage_channel].clipped_samples
        )
