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

import numpy as np
import numpy.typing as npt

from .ct_config import ADC_MAX_CODE, CtConfig, CurrentChannel
from .ct_frame import CurrentReading, Frame, FrameResult, VoltageReading
from .ct_frequency import measured_frequency

Floats = npt.NDArray[np.float64]


def compute_frame(
    frame: Frame, config: CtConfig, *, clamp_voltage: float | None = None
) -> FrameResult:
    """Everything one frame says. `clamp_voltage` is the voltage clamp-only
    channels assume (nominal or external); None leaves their power unknown."""
    every = frame.codes.astype(np.float64)
    frequency: float | None = None
    if config.voltages:
        row = frame.row(config.voltages[0].channel)
        wave = every[row]
        frequency = measured_frequency(frame.times[row], wave - wave.mean(), config.mains_hz)
    mains_hz = config.mains_hz if frequency is None else frequency
    scans, window_s = whole_wave_window(frame.times[0], mains_hz, config.samples_per_wave)
    times = frame.times[:, :scans]
    clipped = np.count_nonzero((frame.codes == 0) | (frame.codes == ADC_MAX_CODE), axis=1)
    raw = every[:, :scans]
    centred = raw - raw.mean(axis=1, keepdims=True)

    scaled: dict[int, Floats] = {}
    for row, channel in enumerate(frame.channels):
        scaled[channel] = centred[row] * config.units_per_code(channel)

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
            v_row = frame.row(current.voltage_channel)
            mean_vi = _mean_vi(
                times[row] + phase_shift_s(current, mains_hz),
                amps,
                times[v_row],
                scaled[current.voltage_channel],
                window_s,
            )
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
        frequency_hz=frequency,
    )


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
