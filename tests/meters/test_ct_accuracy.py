"""CT clamp maths against the MCP3208 twin's ground truth, one sampled frame each.

Seven inputs in use (one voltage, six clamps) so each clamp sits at a different
delay after the voltage sample within a scan, with noise and timing jitter.
"""

from __future__ import annotations

import math

import pytest

from custom_components.wattkeeper.meters.ct_compute import compute_frame
from custom_components.wattkeeper.meters.ct_config import CtConfig, CurrentChannel, VoltageChannel
from custom_components.wattkeeper.meters.ct_reference import compute_frame_reference
from custom_components.wattkeeper.meters.ct_sampler import Mcp3208Sampler
from simulators.mcp3208 import Mcp3208Simulator, Signal

CLAMPS = range(1, 7)
# A flat-topped grid voltage: a little 3rd and 5th harmonic.
GRID_HARMONICS = ((3, 0.03, 0.0), (5, 0.02, 180.0))
# A switch-mode supply's current: strong odd harmonics.
SMPS_HARMONICS = ((3, 0.6, 10.0), (5, 0.4, 20.0), (7, 0.25, 30.0), (9, 0.1, 40.0))
LOADS = {
    # (current RMS A, current lag in degrees, harmonics)
    "resistive": (12.0, 0.0, ()),
    "inductive_pf_0.7": (8.0, math.degrees(math.acos(0.7)), ()),
    "harmonic_rich": (3.0, 15.0, SMPS_HARMONICS),
}


def config(mains_hz: float) -> CtConfig:
    return CtConfig(
        device_id="test-spi0.0",
        mains_hz=mains_hz,
        voltages=(VoltageChannel(channel=0),),
        currents=tuple(CurrentChannel(channel=c, voltage_channel=0) for c in CLAMPS),
    )


def twin(
    cfg: CtConfig, load: str, *, seed: int = 1, grid_hz: float | None = None
) -> Mcp3208Simulator:
    """The grid at `grid_hz` (the configured nominal frequency by default)."""
    amps, lag, harmonics = LOADS[load]
    signals = {
        0: Signal.sine(
            230.0,
            units_per_code=cfg.units_per_code(0),
            harmonics=GRID_HARMONICS,
            noise_codes=0.7,
        )
    }
    for channel in CLAMPS:
        signals[channel] = Signal.sine(
            amps,
            units_per_code=cfg.units_per_code(channel),
            phase_deg=-lag,
            harmonics=harmonics,
            noise_codes=0.7,
        )
    return Mcp3208Simulator(signals, mains_hz=grid_hz or cfg.mains_hz, jitter_s=5e-6, seed=seed)


@pytest.mark.parametrize(
    ("mains_hz", "grid_hz"),
    [
        (50.0, 50.0),
        (50.0, 49.8),
        (50.0, 49.9),
        (50.0, 50.2),
        (60.0, 60.0),
        (60.0, 59.8),
        (60.0, 60.2),
    ],
)
@pytest.mark.parametrize("load", list(LOADS))
def test_frame_matches_ground_truth(mains_hz: float, grid_hz: float, load: str) -> None:
    """Nominal and drifting grids: the window follows the grid's own frequency."""
    cfg = config(mains_hz)
    sim = twin(cfg, load, grid_hz=grid_hz)
    frame = Mcp3208Sampler(cfg, sim.opener, sim).sample()
    result = compute_frame(frame, cfg)

    assert result.scan_rate_hz == pytest.approx(cfg.samples_per_wave * mains_hz, rel=1e-3)
    assert result.frequency_hz == pytest.approx(grid_hz, abs=0.002)
    # The scans kept hold whole waves of the grid, to within one scan.
    kept_waves = result.scans_used * grid_hz / result.scan_rate_hz
    assert abs(kept_waves - round(kept_waves)) <= grid_hz / result.scan_rate_hz
    assert round(kept_waves) >= cfg.waves - 1
    if grid_hz == mains_hz:
        assert result.scans_used == cfg.scans_per_frame
    assert result.voltages[0].vrms == pytest.approx(sim.true_rms(0), rel=0.005)
    for channel in CLAMPS:
        reading = result.currents[channel]
        assert reading.signed
        assert reading.clipped_samples == 0
        assert reading.irms == pytest.approx(sim.true_rms(channel), rel=0.005)
        assert reading.real_power == pytest.approx(sim.true_power(0, channel), rel=0.005)
        assert reading.apparent_power == pytest.approx(
            sim.true_rms(0) * sim.true_rms(channel), rel=0.005
        )
        assert reading.power_factor == pytest.approx(sim.true_power_factor(0, channel), abs=0.01)


def test_inductive_load_really_has_pf_0_7() -> None:
    """The twin's truth is what the load names claim, so the test above means something."""
    # The grid's own harmonics carry no power with a sinusoidal current, so they
    # lower the PF by the voltage's distortion factor.
    distortion = 1 / math.sqrt(1 + 0.03**2 + 0.02**2)
    sim = twin(config(50.0), "inductive_pf_0.7")
    assert sim.true_power_factor(0, 1) == pytest.approx(0.7 * distortion, abs=1e-9)
    resistive = twin(config(50.0), "resistive")
    assert resistive.true_power_factor(0, 1) == pytest.approx(distortion, abs=1e-9)


def test_phase_offset_corrects_a_lagging_clamp() -> None:
    """A clamp whose output lags 3° reads PF 0.7 loads wrong until its offset is set."""
    cfg = config(50.0)
    sim = twin(cfg, "inductive_pf_0.7")
    truth = sim.true_power(0, 1)
    # Delay the clamp's waveform by 3° as a real CT with phase error would.
    shifted = Signal.sine(
        8.0,
        units_per_code=cfg.units_per_code(1),
        phase_deg=-math.degrees(math.acos(0.7)) - 3.0,
        noise_codes=0.7,
    )
    sim.signals[1] = shifted
    sim = Mcp3208Simulator(sim.signals, mains_hz=50.0, jitter_s=5e-6, seed=3)
    frame = Mcp3208Sampler(cfg, sim.opener, sim).sample()
    uncorrected = compute_frame(frame, cfg).currents[1].real_power
    assert uncorrected is not None
    assert abs(uncorrected / truth - 1) > 0.04

    fixed = CtConfig(
        device_id=cfg.device_id,
        voltages=cfg.voltages,
        currents=(
            CurrentChannel(channel=1, voltage_channel=0, phase_offset_deg=-3.0),
            *cfg.currents[1:],
        ),
    )
    assert compute_frame(frame, fixed).currents[1].real_power == pytest.approx(truth, rel=0.005)


def test_skew_correction_matters() -> None:
    """Without using the sample times (all V samples taken as simultaneous with
    I), the last slot in the scan is visibly off at PF 0.7; with them it is not."""
    cfg = config(50.0)
    sim = twin(cfg, "inductive_pf_0.7")
    frame = Mcp3208Sampler(cfg, sim.opener, sim).sample()
    flattened = type(frame)(
        channels=frame.channels, codes=frame.codes, times=frame.times[[0] * 7].copy()
    )
    naive = compute_frame(flattened, cfg).currents[6].real_power
    corrected = compute_frame(frame, cfg).currents[6].real_power
    truth = sim.true_power(0, 6)
    assert naive is not None
    assert abs(naive / truth - 1) > 0.01
    assert corrected == pytest.approx(truth, rel=0.005)


@pytest.mark.parametrize("load", list(LOADS))
def test_reference_maths_agrees_with_numpy(load: str) -> None:
    cfg = config(60.0)
    sim = twin(cfg, load, seed=7, grid_hz=59.9)
    frame = Mcp3208Sampler(cfg, sim.opener, sim).sample()
    fast = compute_frame(frame, cfg)
    slow = compute_frame_reference(frame.channels, *frame.as_lists(), cfg)
    assert slow.scans_used == fast.scans_used
    assert slow.frequency_hz == pytest.approx(fast.frequency_hz, rel=1e-12)
    assert slow.mid_time == pytest.approx(fast.mid_time, rel=1e-12)
    assert slow.voltages[0].vrms == pytest.approx(fast.voltages[0].vrms, rel=1e-9)
    for channel in CLAMPS:
        a, b = fast.currents[channel], slow.currents[channel]
        assert b.irms == pytest.approx(a.irms, rel=1e-9)
        assert b.real_power == pytest.approx(a.real_power, rel=1e-9)
        assert b.apparent_power == pytest.approx(a.apparent_power, rel=1e-9)
        assert b.power_factor == pytest.approx(a.power_factor, rel=1e-9)


def test_slow_bus_is_trimmed_to_whole_waves() -> None:
    """At 20 kHz the scans cannot keep pace; the window is cut to whole mains
    waves so RMS stays right even though the frame ran long."""
    cfg = CtConfig(
        device_id="slow",
        spi_hz=20_000,
        samples_per_wave=20,
        waves=3,
        voltages=(VoltageChannel(channel=0),),
        currents=(CurrentChannel(channel=1, voltage_channel=0),),
    )
    sim = Mcp3208Simulator(
        {
            0: Signal.sine(230.0, units_per_code=cfg.units_per_code(0)),
            1: Signal.sine(10.0, units_per_code=cfg.units_per_code(1), phase_deg=-20.0),
        }
    )
    frame = Mcp3208Sampler(cfg, sim.opener, sim).sample()
    result = compute_frame(frame, cfg)
    span = frame.times[0, -1] - frame.times[0, 0]
    assert span > 2 * cfg.waves / cfg.mains_hz  # it really fell behind
    assert result.scans_used < frame.scans
    # The scans kept span a whole number of waves, to within one scan.
    kept_waves = (frame.times[0, result.scans_used] - frame.times[0, 0]) * cfg.mains_hz
    one_scan = cfg.mains_hz / result.scan_rate_hz
    assert abs(kept_waves - round(kept_waves)) < one_scan
    assert result.scan_rate_hz < cfg.samples_per_wave * cfg.mains_hz
    assert result.voltages[0].vrms == pytest.approx(230.0, rel=0.005)
    assert result.currents[1].irms == pytest.approx(10.0, rel=0.005)
