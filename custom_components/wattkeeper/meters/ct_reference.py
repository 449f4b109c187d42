"""The per-frame maths of ct_compute.py as plain Python loops.

A test oracle for the numpy path and the baseline of bench/ct_frame.py: same
steps, no numpy, written for clarity rather than speed.
"""

from __future__ import annotations

import bisect
import itertools
import math
import statistics
from collections.abc import Sequence

from .ct_compute import finish_current, phase_shift_s, wave_count
from .ct_config import ADC_MAX_CODE, CtConfig
from .ct_frame import CurrentReading, FrameResult, VoltageReading
from .ct_frequency import (
    HYSTERESIS,
    INTERVAL_TOLERANCE,
    MAX_DEVIATION,
    MIN_PEAK_CODES,
)


def compute_frame_reference(
    channels: Sequence[int],
    codes: Sequence[Sequence[int]],
    times: Sequence[Sequence[float]],
    config: CtConfig,
    *,
    clamp_voltage: float | None = None,
) -> FrameResult:
    frequency: float | None = None
    if config.voltages:
        row = list(channels).index(config.voltages[0].channel)
        offset = sum(codes[row]) / len(codes[row])
        frequency = _frequency(
            _rising_crossings(times[row], [code - offset for code in codes[row]]),
            config.mains_hz,
        )
    mains_hz = config.mains_hz if frequency is None else frequency
    scans, window_s = _whole_wave_window(times[0], mains_hz, config.samples_per_wave)
    scaled: dict[int, list[float]] = {}
    kept_times: dict[int, list[float]] = {}
    clipped: dict[int, int] = {}
    for row, channel in enumerate(channels):
        clipped[channel] = sum(1 for code in codes[row] if code in (0, ADC_MAX_CODE))
        used = codes[row][:scans]
        offset = sum(used) / scans
        scale = config.units_per_code(channel)
        scaled[channel] = [(code - offset) * scale for code in used]
        kept_times[channel] = list(times[row][:scans])

    voltages: dict[int, VoltageReading] = {}
    for voltage in config.voltages:
        voltages[voltage.channel] = VoltageReading(
            channel=voltage.channel,
            vrms=_rms(scaled[voltage.channel]),
            clipped_samples=clipped[voltage.channel],
        )

    currents: dict[int, CurrentReading] = {}
    for current in config.currents:
        amps = scaled[current.channel]
        mean_vi: float | None = None
        vrms: float | None = None
        if current.voltage_channel is not None:
            vrms = voltages[current.voltage_channel].vrms
            shift = phase_shift_s(current, mains_hz)
            mean_vi = _mean_vi(
                [t + shift for t in kept_times[current.channel]],
                amps,
                kept_times[current.voltage_channel],
                scaled[current.voltage_channel],
                window_s,
            )
        currents[current.channel] = finish_current(
            current,
            config,
            irms=_rms(amps),
            mean_vi=mean_vi,
            vrms=vrms,
            clamp_voltage=clamp_voltage,
            clipped_samples=clipped[current.channel],
        )

    all_times = [t for channel in channels for t in kept_times[channel]]
    first = times[0]
    span = first[-1] - first[0]
    return FrameResult(
        currents=currents,
        voltages=voltages,
        mid_time=sum(all_times) / len(all_times),
        scans_used=scans,
        scan_rate_hz=(len(first) - 1) / span if span > 0 else 0.0,
        frequency_hz=frequency,
    )


def _rising_crossings(times: Sequence[float], centred: Sequence[float]) -> list[float]:
    peak = max(abs(value) for value in centred)
    if peak < MIN_PEAK_CODES:
        return []
    band = HYSTERESIS * peak
    crossings: list[float] = []
    armed = False  # seen a sample below -band since the last crossing
    last_negative = -1
    for k, value in enumerate(centred):
        if value < 0:
            last_negative = k
        if value < -band:
            armed = True
        elif value > band and armed:
            armed = False
            v0, v1 = centred[last_negative], centred[last_negative + 1]
            t0, t1 = times[last_negative], times[last_negative + 1]
            crossings.append(t0 + (t1 - t0) * (-v0 / (v1 - v0)))
    return crossings


def _frequency(crossings: Sequence[float], nominal_hz: float) -> float | None:
    if len(crossings) < 3:
        return None
    wave = statistics.median(b - a for a, b in itertools.pairwise(crossings))
    if wave <= 0:
        return None
    index: list[int] = []
    for crossing in crossings:
        in_waves = (crossing - crossings[0]) / wave
        number = round(in_waves)
        if abs(in_waves - number) > INTERVAL_TOLERANCE or (index and number <= index[-1]):
            return None
        index.append(number)
    mean_index = sum(index) / len(index)
    mean_time = sum(crossings) / len(crossings)
    slope = sum((n - mean_index) * (t - mean_time) for n, t in zip(index, crossings, strict=True))
    period = slope / sum((n - mean_index) ** 2 for n in index)
    frequency = 1 / period
    if abs(frequency / nominal_hz - 1) > MAX_DEVIATION:
        return None
    return frequency


def _whole_wave_window(
    first: Sequence[float], mains_hz: float, samples_per_wave: int
) -> tuple[int, float]:
    count = len(first)
    period = (first[-1] - first[0]) / (count - 1)
    waves = wave_count(period * count, mains_hz, samples_per_wave)
    if waves < 1:
        return count, period * count
    limit = waves / mains_hz - 0.5 * period
    return bisect.bisect_left([t - first[0] for t in first], limit), waves / mains_hz


def _rms(values: Sequence[float]) -> float:
    return math.sqrt(sum(value * value for value in values) / len(values))


def _mean_vi(
    current_times: Sequence[float],
    amps: Sequence[float],
    voltage_times: Sequence[float],
    volts: Sequence[float],
    window_s: float,
) -> float:
    start = voltage_times[0]
    # The voltage record as a loop: the first sample again one window later.
    loop_times = [*voltage_times, start + window_s]
    loop_volts = [*volts, volts[0]]
    total = 0.0
    for t, amp in zip(current_times, amps, strict=True):
        wrapped = start + (t - start) % window_s
        j = min(max(bisect.bisect_right(loop_times, wrapped) - 1, 0), len(loop_times) - 2)
        t0, t1 = loop_times[j], loop_times[j + 1]
        fraction = (wrapped - t0) / (t1 - t0)
        total += (loop_volts[j] + fraction * (loop_volts[j + 1] - loop_volts[j])) * amp
    return total / len(amps)
