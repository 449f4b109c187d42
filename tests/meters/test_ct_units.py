"""CT clamp building blocks on their own: configuration, energy, calibration maths."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from custom_components.wattkeeper.meters.ct_calibration import CalibrationError, new_factor
from custom_components.wattkeeper.meters.ct_config import (
    ClampVoltage,
    CtConfig,
    CurrentChannel,
    VoltageChannel,
    default_device_id,
)
from custom_components.wattkeeper.meters.ct_energy import (
    EnergyIntegrator,
    EnergyTotals,
    trapezoid_split,
)
from custom_components.wattkeeper.meters.ct_frequency import (
    frequency_from_crossings,
    measured_frequency,
    rising_crossings,
)


def test_scale_factors_from_the_hardware() -> None:
    # 100 A : 50 mA clamp on 22 Ω, 3.3 V reference: 0.8057 mV per code → 36.6 µA
    # in the burden → 73.2 mA primary.
    clamp = CurrentChannel(channel=1, rating_a=100.0, secondary_a=0.05, burden_ohm=22.0)
    assert clamp.units_per_code(3.3) == pytest.approx(3.3 / 4096 / 22 * 2000)
    assert clamp.units_per_code(3.3) == pytest.approx(0.07324, rel=1e-3)
    # 230 V : 9 V adapter, 100 k / 10 k divider, calibrated 2 % up.
    adapter = VoltageChannel(
        channel=0, transformer_ratio=230 / 9, divider_ratio=11, calibration=1.02
    )
    assert adapter.units_per_code(3.3) == pytest.approx(3.3 / 4096 * 11 * 230 / 9 * 1.02)


def test_config_order_lookup_and_recalibration() -> None:
    cfg = CtConfig(
        device_id=default_device_id(0, 1),
        spi_device=1,
        mains_hz=60.0,
        currents=(CurrentChannel(channel=4, voltage_channel=7), CurrentChannel(channel=2)),
        voltages=(VoltageChannel(channel=7),),
    )
    assert cfg.device_id.endswith("-spi0.1")
    assert cfg.scan_order == (7, 4, 2)
    assert cfg.scans_per_frame == 3000
    assert cfg.scan_period_s == pytest.approx(1 / 3600)
    assert cfg.address == "spi0.1"
    # A config entry stores the mode as a plain string.
    stored: dict[str, object] = {"clamp_voltage": "external"}
    from_entry = CtConfig(device_id="x", currents=cfg.currents[1:], **stored)  # type: ignore[arg-type]
    assert from_entry.clamp_voltage is ClampVoltage.EXTERNAL
    updated = cfg.with_calibration(2, 1.1).with_calibration(7, 0.9)
    assert updated.current(2).calibration == 1.1
    assert updated.current(4).calibration == 1.0
    assert updated.voltage(7).calibration == 0.9
    assert cfg.current(2).calibration == 1.0  # frozen: the original is untouched
    with pytest.raises(KeyError):
        cfg.with_calibration(5, 1.0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"currents": (), "voltages": ()}, "at least one channel"),
        ({"voltages": (VoltageChannel(channel=1),)}, "used once"),
        ({"currents": (CurrentChannel(channel=1, voltage_channel=3),)}, "not a voltage channel"),
        ({"mains_hz": 55.0}, "50 or 60"),
        ({"spi_hz": 8_000_000}, "spi_hz"),
        ({"samples_per_wave": 4}, "samples_per_wave"),
        ({"waves": 0}, "waves"),
        ({"noise_floor_w": -1.0}, "noise_floor_w"),
        ({"nominal_voltage": math.nan}, "nominal_voltage"),
        ({"device_id": ""}, "device_id"),
        ({"clamp_voltage": "guess"}, "ClampVoltage"),
    ],
)
def test_config_rejects_impossible_setups(changes: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "device_id": "x",
        "voltages": (VoltageChannel(channel=0),),
        "currents": (CurrentChannel(channel=1, voltage_channel=0),),
    }
    fields.update(changes)
    with pytest.raises(ValueError, match=message):
        CtConfig(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"channel": 8}, "ADC channel"),
        ({"channel": 1, "burden_ohm": 0.0}, "burden_ohm"),
        ({"channel": 1, "phase_offset_deg": 60.0}, "phase_offset_deg"),
    ],
)
def test_channel_rejects_bad_values(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CurrentChannel(**kwargs)  # type: ignore[arg-type]


def test_trapezoid_splits_at_the_zero_crossing() -> None:
    assert trapezoid_split(100.0, 300.0, 10.0) == (2000.0, 0.0)
    assert trapezoid_split(-100.0, -300.0, 10.0) == (0.0, 2000.0)
    # From +100 W to -300 W over 8 s: zero after 2 s.
    imported, exported = trapezoid_split(100.0, -300.0, 8.0)
    assert imported == pytest.approx(100.0)
    assert exported == pytest.approx(900.0)
    imported, exported = trapezoid_split(-300.0, 100.0, 8.0)
    assert imported == pytest.approx(100.0)
    assert exported == pytest.approx(900.0)
    assert trapezoid_split(0.0, 0.0, 5.0) == (0.0, 0.0)


def test_integrator_over_time_gaps_and_interruptions() -> None:
    meter = EnergyIntegrator(max_gap_s=60.0)
    meter.add(3600.0, 10.0)  # first point: nothing yet
    assert meter.totals == EnergyTotals()
    meter.add(3600.0, 11.0)
    assert meter.totals.import_kwh == pytest.approx(0.001)
    meter.add(3600.0, 100.0)  # 89 s later: too long a gap, not integrated
    assert meter.totals.import_kwh == pytest.approx(0.001)
    meter.add(-7200.0, 101.0)  # straight line from +3600 to -7200 W over 1 s
    assert meter.totals.import_kwh == pytest.approx(0.001 + 3600 / 3 / 2 / 3.6e6)
    assert meter.totals.export_kwh == pytest.approx(7200 * 2 / 3 / 2 / 3.6e6)
    meter.interrupt()
    meter.add(-7200.0, 102.0)
    assert meter.totals.export_kwh == pytest.approx(7200 * 2 / 3 / 2 / 3.6e6)
    meter.add(math.nan, 103.0)
    meter.add(-7200.0, 104.0)
    meter.add(-7200.0, 103.5)  # the clock went backwards
    assert meter.totals.export_kwh == pytest.approx(7200 * 2 / 3 / 2 / 3.6e6)


def test_energy_totals_round_trip_and_validation() -> None:
    totals = EnergyTotals(12.5, 0.25)
    assert EnergyTotals.from_dict(totals.to_dict()) == totals
    assert EnergyTotals.from_dict({"import_kwh": "3.5"}) == EnergyTotals(3.5, 0.0)
    for bad in (
        {"import_kwh": -1.0},
        {"export_kwh": "lots"},
        {"import_kwh": None},
        {"export_kwh": math.inf},
        {"import_kwh": True},
    ):
        with pytest.raises(ValueError, match=r"_kwh|could not convert"):
            EnergyTotals.from_dict(bad)


def test_new_calibration_factor() -> None:
    # Reads 1450 W where a reference meter says 1500 W: scale the factor up.
    assert new_factor(factor=1.02, reference=1500.0, measured=1450.0) == pytest.approx(
        1.02 * 1500 / 1450
    )
    # An exporting circuit calibrates on magnitude.
    assert new_factor(factor=1.0, reference=230.1, measured=-228.0) == pytest.approx(230.1 / 228)
    for reference, measured, reason in (
        (1500.0, 0.0, "no_signal"),
        (0.0, 1450.0, "bad_reference"),
        (1.5, 1450.0, "out_of_range"),  # kW typed where W was asked
        (1500.0, math.nan, "no_signal"),
    ):
        with pytest.raises(CalibrationError) as err:
            new_factor(factor=1.0, reference=reference, measured=measured)
        assert err.value.reason == reason


def _sampled(
    hz: float, *, seconds: float = 1.0, rate: float = 3000.0, noise: float = 0.0
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    rng = np.random.default_rng(4)
    times = np.arange(0.0, seconds, 1 / rate) + 12.345
    values = 1400 * np.sin(2 * np.pi * hz * times + 0.3) + rng.normal(0.0, noise, len(times))
    return times, values


def test_crossings_of_a_noisy_sine() -> None:
    times, values = _sampled(50.2, noise=5.0)
    crossings = rising_crossings(times, values)
    # Noise near zero never doubles a crossing; each is within a third of a scan.
    true = (np.arange(600, 700) - 0.3 / (2 * np.pi)) / 50.2
    true = true[(true > times[0]) & (true < times[-1])]
    assert len(crossings) == len(true)
    assert np.max(np.abs(crossings - true)) < 1 / 3000 / 3
    assert measured_frequency(times, values, 50.0) == pytest.approx(50.2, abs=1e-4)


def test_frequency_survives_a_stall_but_not_garbage() -> None:
    times, values = _sampled(59.8)
    crossings = rising_crossings(times, values)
    # The host stalled for two waves: their crossings are missing.
    stalled = np.concatenate([crossings[:10], crossings[12:]])
    assert frequency_from_crossings(stalled, 60.0) == pytest.approx(59.8, abs=1e-4)
    # Irregular, too few, too far from nominal, or no waveform at all: no frequency.
    irregular = crossings.copy()
    irregular[5] += 0.3 / 59.8
    assert frequency_from_crossings(irregular, 60.0) is None
    assert frequency_from_crossings(crossings[:2], 60.0) is None
    assert frequency_from_crossings(crossings, 50.0) is None
    noise = np.random.default_rng(1).normal(0.0, 3.0, len(times))
    assert measured_frequency(times, noise, 50.0) is None
