"""Calibration factors from a reference reading ("this circuit draws 1500 W now").

Every reading scales linearly with its channel's calibration factor, so the new
factor is the old one times reference over measured. Power scales with both
the current and the voltage factor; a power reference adjusts the current
channel's factor, so calibrate the voltage first when both are wanted.

The phase offset of a clamp (its CT and the voltage adapter shift the waves
by a few degrees each, which matters at low power factors) comes from a load
of known power factor, best a resistive one (a kettle, a heater: PF 1): the
offset moves by the difference between the lag measured and the load's.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Final

from .ct_config import MAX_PHASE_OFFSET_DEG
from .ct_frame import FrameResult

# A clamp or adapter is off by a few percent; a larger change is a typo (W for kW).
MAX_CHANGE: Final = 2.0


class CalibrationTarget(StrEnum):
    VOLTAGE = "voltage"  # reference in V, adjusts a voltage channel
    CURRENT = "current"  # reference in A, adjusts a current channel
    POWER = "power"  # reference in W, adjusts a current channel
    PHASE = "phase"  # reference: the load's power factor (lagging), adjusts a phase offset


class CalibrationError(ValueError):
    """The reference cannot be used; `reason` names it for a translated message."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def new_factor(*, factor: float, reference: float, measured: float) -> float:
    """The factor that would have made `measured` read `reference`."""
    if not math.isfinite(reference) or reference <= 0:
        raise CalibrationError("bad_reference", f"reference must be positive, got {reference}")
    if not math.isfinite(measured) or measured == 0:
        raise CalibrationError(
            "no_signal", "nothing measurable on this channel now; switch a known load on"
        )
    ratio = reference / abs(measured)
    if not 1 / MAX_CHANGE <= ratio <= MAX_CHANGE:
        raise CalibrationError(
            "out_of_range",
            f"reference {reference:g} is {ratio:.2f}× the measured {abs(measured):g}; "
            "check the unit and the channel",
        )
    return factor * ratio


def new_phase_offset(*, offset_deg: float, measured_lag_deg: float, power_factor: float) -> float:
    """The phase offset that would have made the measured lag that of a load with
    this power factor (taken as lagging: inductive, or 1 for a resistive load)."""
    if not math.isfinite(power_factor) or not 0 < power_factor <= 1:
        raise CalibrationError(
            "bad_power_factor", f"a phase reference is a power factor in (0, 1], got {power_factor}"
        )
    offset = offset_deg + math.degrees(math.acos(power_factor)) - measured_lag_deg
    if not math.isfinite(offset) or abs(offset) > MAX_PHASE_OFFSET_DEG:
        raise CalibrationError(
            "out_of_range",
            f"the current lags {measured_lag_deg:.1f}° where a load of PF {power_factor:g} "
            f"lags {math.degrees(math.acos(power_factor)):.1f}°; an offset of {offset:.1f}° "
            "is no calibration: check the clamp's direction and its voltage input",
        )
    return offset


def measured_for(result: FrameResult, channel: int, target: CalibrationTarget) -> float:
    """The value of the last frame a reference of `target` is compared with."""
    if target is CalibrationTarget.VOLTAGE:
        voltage = result.voltages.get(channel)
        if voltage is None:
            raise CalibrationError("wrong_channel", f"channel {channel} is not a voltage input")
        if voltage.clipped_samples:
            raise CalibrationError("clipped", f"channel {channel} is clipping")
        return voltage.vrms
    current = result.currents.get(channel)
    if current is None:
        raise CalibrationError("wrong_channel", f"channel {channel} is not a current input")
    if not result.power_trusted(channel):
        raise CalibrationError("clipped", f"channel {channel} or its voltage is clipping")
    if target is CalibrationTarget.CURRENT:
        return current.irms
    if target is CalibrationTarget.PHASE:
        if current.voltage_channel is None:
            raise CalibrationError(
                "phase_needs_voltage", f"channel {channel} has no voltage input to compare with"
            )
        # The power factor, whose size says whether there is a load to measure.
        if not current.irms or current.real_power is None or not current.apparent_power:
            raise CalibrationError(
                "no_signal", "nothing measurable on this channel now; switch a known load on"
            )
        return current.real_power / current.apparent_power
    if current.real_power is None:
        raise CalibrationError("no_voltage", f"no voltage known for channel {channel}")
    return current.real_power
