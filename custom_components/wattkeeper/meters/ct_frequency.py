"""The mains frequency of one frame, from the voltage's rising zero crossings.

The grid drifts around its nominal frequency (49.8–50.2 Hz is common); a window
of whole waves counted at the nominal frequency then ends a fifth of a wave
early or late, which costs about 0.5 % of real power. Crossings are found with
hysteresis (the signal must go below -h, then above +h, h a tenth of its
peak), so noise near zero never counts twice, and each is placed by linear
interpolation between the samples around it; the period is the least-squares
slope of crossing time over wave number. Crossings missed while the host
stalled only skip wave numbers; anything less regular is not a mains wave and
gives no frequency.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]

HYSTERESIS: Final = 0.1  # of the signal's peak
# Below this peak (ADC codes from the mean) nothing is connected: no frequency.
MIN_PEAK_CODES: Final = 20.0
# Each crossing must lie this close to a whole number of waves after the first.
INTERVAL_TOLERANCE: Final = 0.1  # of one wave
# Estimates further than this from the nominal frequency are not believed.
MAX_DEVIATION: Final = 0.1  # of the nominal frequency


def rising_crossings(times: Floats, centred: Floats) -> Floats:
    """Moments the signal (mean removed, in codes) crosses zero going up."""
    peak = float(np.max(np.abs(centred)))
    if peak < MIN_PEAK_CODES:
        return np.empty(0)
    band = HYSTERESIS * peak
    state = np.zeros(len(centred), dtype=np.int8)
    state[centred > band] = 1
    state[centred < -band] = -1
    marked = np.flatnonzero(state)
    levels = state[marked]
    # The first sample above +band after one below -band; samples within the band are skipped.
    rising = marked[1:][(levels[:-1] == -1) & (levels[1:] == 1)]
    negative = np.flatnonzero(centred < 0)
    # The crossing lies between the last negative sample before it and the next one.
    before = negative[np.searchsorted(negative, rising) - 1]
    v0, v1 = centred[before], centred[before + 1]
    t0, t1 = times[before], times[before + 1]
    result: Floats = t0 + (t1 - t0) * (-v0 / (v1 - v0))
    return result


def frequency_from_crossings(crossings: Floats, nominal_hz: float) -> float | None:
    """The least-squares wave period through the crossings, as a frequency; None when
    they are too few or too irregular to be the mains."""
    if len(crossings) < 3:
        return None
    wave = float(np.median(np.diff(crossings)))
    if wave <= 0:
        return None
    in_waves = (crossings - crossings[0]) / wave
    index = np.round(in_waves)
    if np.any(np.abs(in_waves - index) > INTERVAL_TOLERANCE) or np.any(np.diff(index) < 1):
        return None
    # Crossing k sits at start + period · index_k; noise on each crossing averages out.
    spread = index - index.mean()
    period = float(np.dot(spread, crossings - crossings.mean()) / np.dot(spread, spread))
    frequency = 1 / period
    if abs(frequency / nominal_hz - 1) > MAX_DEVIATION:
        return None
    return frequency


def measured_frequency(times: Floats, centred: Floats, nominal_hz: float) -> float | None:
    return frequency_from_crossings(rising_crossings(times, centred), nominal_hz)
