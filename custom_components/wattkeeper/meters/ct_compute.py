"""Per-frame power maths with numpy: RMS, real and apparent power, power factor.

Steps, shared with the pure-Python oracle in ct_reference.py:
1. Measure the mains frequency from the first voltage input's zero crossings
   (ct_frequency.py; the nominal frequency without a voltage input), then keep
   the scans that cover a whole number of its waves, so RMS and mean power
   carry no partial-wave error when the grid drifts off 50/60 Hz or the bus
   could not keep pace.
2. Remove each channel's DC offset (its mean over the window), scale to A or V.
3. Evaluate the voltage at each current sample's own time (linear
   interpolation, shifted by the channel's phase offset): this corrects the
   skew of scanning channels one after another. The window holds whole waves,
   so times past its end wrap to its start: every current sample is used and
   the mean of v·i stays a whole-wave mean.
4. Real power is the mean of v·i; apparent power Vrms·Irms; then the noise floor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .ct_config import ADC_MAX_CODE, CtConfig, CurrentChannel
from .ct_frame import CurrentReading, Frame, FrameResult, VoltageReading
from .ct_frequency import measured_frequency

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class _Window:
    """Steps 1 and 2: the scans kept, centred and scaled per channel."""

    times: Floats  # rows as in the frame, kept scans only
    scaled: dict[int, Floats]
    scans: int
    window_s: float
    mains_hz: float
    frequency: float | None


def _window(frame: Frame, config: CtConfig) -> _Window:
    every = frame.codes.astype(np.float64)
    frequency: float | None = None
    if config.voltages:
        row = frame.row(config.voltages[0].channel)
        wave = every[row]
        frequency = measured_frequency(frame.times[row], wave - wave.mean(), config.mains_hz)
    mains_hz = config.mains_hz if frequency is None else frequency
    scans, window_s = whole_wave_window(frame.times[0], mains_hz, config.samples_per_wave)
    raw = every[:, :scans]
    centred = raw - raw.mean(axis=1, keepdims=True)
    scaled = {
        channel: centred[row] * config.units_per_code(channel)
        for row, channel in enumerate(frame.channels)
    }
    return _Window(frame.times[:, :scans], scaled, scans, window_s, mains_hz, frequency)


def compute_frame(
    frame: Frame, config: CtConfig, *, clamp_voltage: float | None = None
) -> FrameResult:
    """Everything one frame says. `clamp_voltage` is the voltage clamp-only
    channels assume (nominal or external); None leaves their power unknown."""
    window = _window(frame, config)
    times, scaled, scans = window.times, window.scaled, window.scans
    clipped = np.count_nonzero((frame.codes == 0) | (frame.codes == ADC_MAX_CODE), axis=1)

    voltages: dict[int, VoltageReading] = {}
    for voltage in config.voltages:
        row = frame.row(voltage.channel)
        values = scaled[voltage.channel]
        voltages[voltage.channel] = VoltageReading(
            channel=voltage.channel,
            vrms=math.sqrt(float(np.dot(values, values)) / scans),
            clipped_samples=int(clipped[row]),
        )

    currents: dict[int, CurrentReading] = {}
    for current in config.currents:
        row = frame.row(current.channel)
        amps = scaled[current.channel]
        irms = math.sqrt(float(np.dot(amps, amps)) / scans)
        mean_vi: float | None = None
        vrms: float | None = None
        if current.voltage_channel is not None:
            vrms = voltages[current.voltage_channel].vrms
            mean_vi = _mean_vi_of(frame, window, current, 0.0)
        currents[current.channel] = finish_current(
            current,
            config,
            irms=irms,
            mean_vi=mean_vi,
            vrms=vrms,
            clamp_voltage=clamp_voltage,
            clipped_samples=int(clipped[row]),
        )

    return FrameResult(
        currents=currents,
        voltages=voltages,
        mid_time=float(times.mean()),
        scans_used=scans,
        scan_rate_hz=_scan_rate(frame.times[0]),
        frequency_hz=window.frequency,
    )


def phase_lag_deg(frame: Frame, config: CtConfig, channel: int) -> float:
    """How far a paired clamp's current lags its voltage in this frame, in degrees
    (negative: it leads), as measured with the channel's present phase offset.

    v(t + s)·i(t) averages to S·cos(e) and, with the voltage a quarter wave
    later, to -S·sin(e), e being the lag; the clamp's own sign is undone first.
    """
    current = config.current(channel)
    if current.voltage_channel is None:
        raise ValueError(f"channel {channel} has no voltage input")
    window = _window(frame, config)
    in_phase = _mean_vi_of(frame, window, current, 0.0)
    quadrature = _mean_vi_of(frame, window, current, 0.25 / window.mains_hz)
    sign = -1.0 if current.invert else 1.0
    return math.degrees(math.atan2(-sign * quadrature, sign * in_phase))


def whole_wave_window(
    first_row_times: Floats, mains_hz: float, samples_per_wave: int
) -> tuple[int, float]:
    """How many leading scans cover a whole number of mains waves, and how long
    those waves last (the period for wrapping times)."""
    count = len(first_row_times)
    start = float(first_row_times[0])
    period = (float(first_row_times[-1]) - start) / (count - 1)
    waves = wave_count(period * count, mains_hz, samples_per_wave)
    if waves < 1:
        return count, period * count
    limit = waves / mains_hz - 0.5 * period
    return int(np.searchsorted(first_row_times - start, limit, side="left")), waves / mains_hz


def wave_count(span_s: float, mains_hz: float, samples_per_wave: int) -> int:
    # Half a scan of slack so timing jitter does not drop a whole wave.
    return math.floor(span_s * mains_hz + 0.5 / samples_per_wave)


def phase_shift_s(current: CurrentChannel, mains_hz: float) -> float:
    return current.phase_offset_deg / 360.0 / mains_hz


def finish_current(
    current: CurrentChannel,
    config: CtConfig,
    *,
    irms: float,
    mean_vi: float | None,
    vrms: float | None,
    clamp_voltage: float | None,
    clipped_samples: int,
) -> CurrentReading:
    """Sign, apparent power, noise floor and power factor for one channel."""
    signed = current.voltage_channel is not None
    real: float | None
    apparent: float | None
    if signed:
        real = None if mean_vi is None else (-mean_vi if current.invert else mean_vi)
        apparent = None if vrms is None else vrms * irms
    elif clamp_voltage is None:
        real = apparent = None
    else:
        apparent = clamp_voltage * irms
        real = apparent

    factor: float | None = None
    if irms < config.noise_floor_a:
        irms = 0.0
        real = None if real is None else 0.0
        apparent = None if apparent is None else 0.0
    else:
        if real is not None and abs(real) < config.noise_floor_w:
            real = 0.0
        if signed and real is not None and apparent:
            factor = max(-1.0, min(1.0, real / apparent))
    return CurrentReading(
        channel=current.channel,
        voltage_channel=current.voltage_channel,
        irms=irms,
        real_power=real,
        apparent_power=apparent,
        power_factor=factor,
        signed=signed,
        clipped_samples=clipped_samples,
    )


def _mean_vi_of(frame: Frame, window: _Window, current: CurrentChannel, delay_s: float) -> float:
    """Mean of v·i for a paired clamp, the voltage taken `delay_s` later than its offset says."""
    assert current.voltage_channel is not None
    shift = phase_shift_s(current, window.mains_hz) + delay_s
    return _mean_vi(
        window.times[frame.row(current.channel)] + shift,
        window.scaled[current.channel],
        window.times[frame.row(current.voltage_channel)],
        window.scaled[current.voltage_channel],
        window.window_s,
    )


def _mean_vi(
    current_times: Floats,
    amps: Floats,
    voltage_times: Floats,
    volts: Floats,
    window_s: float,
) -> float:
    start = float(voltage_times[0])
    wrapped = start + np.mod(current_times - start, window_s)
    # One more point closes the loop: the first sample again, a window later.
    loop_times = np.append(voltage_times, start + window_s)
    loop_volts = np.append(volts, volts[0])
    at_current = np.interp(wrapped, loop_times, loop_volts)
    return float(np.dot(at_current, amps)) / len(amps)


def _scan_rate(first_row_times: Floats) -> float:
    span = float(first_row_times[-1] - first_row_times[0])
    return (len(first_row_times) - 1) / span if span > 0 else 0.0
