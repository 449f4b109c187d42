"""The MCP3208 twin itself: bit protocol, clock, faults and ground truth."""

from __future__ import annotations

import math

import pytest

from simulators.mcp3208 import Fault, Harmonic, Mcp3208Simulator, Signal


def dc(code: float) -> Signal:
    """A steady input level, in codes."""
    return Signal(harmonics=(), units_per_code=1.0, offset_code=code)


def test_start_bit_anywhere_gives_the_same_code() -> None:
    """The usual framing (start bit at bit 5) and a 4-byte framing with the start
    bit at bit 7, where B11 arrives at bit 14 and B0…B11 follow LSB-first."""
    sim = Mcp3208Simulator({5: dc(2748.7)})
    sim.open(0, 0)
    usual = sim.xfer2([0x06 | (5 >> 2), (5 & 3) << 6, 0])
    assert ((usual[1] & 0x0F) << 8 | usual[2]) == 2748

    reply = sim.xfer2([0x01, 0x80 | (5 << 4), 0x00, 0x00])
    bits = "".join(f"{byte:08b}" for byte in reply)
    assert bits[:14] == "0" * 14  # hi-Z and the null bit
    assert int(bits[14:26], 2) == 2748
    assert bits[26:] == f"{2748:012b}"[-2::-1][:6]  # B1 … B6, LSB-first


def test_differential_and_missing_start_bit() -> None:
    sim = Mcp3208Simulator({2: dc(1500.2), 3: dc(1000.9)})
    sim.open(0, 0)
    # SGL/DIFF = 0, D2 D1 D0 = 010: IN+ = CH2, IN- = CH3.
    reply = sim.xfer2([0x04, 0x80, 0x00])
    assert ((reply[1] & 0x0F) << 8 | reply[2]) == 499
    # 011 swaps the pair: negative difference clips at 0.
    reply = sim.xfer2([0x04, 0xC0, 0x00])
    assert ((reply[1] & 0x0F) << 8 | reply[2]) == 0
    assert sim.xfer2([0x00, 0x00, 0x00]) == [0, 0, 0]


def test_wrong_spi_mode_shifts_the_reply() -> None:
    sim = Mcp3208Simulator({0: dc(2048.0)})
    sim.open(0, 0)
    sim.mode = 1
    reply = sim.xfer2([0x06, 0x00, 0x00])
    assert ((reply[1] & 0x0F) << 8 | reply[2]) == 2048 >> 1


def test_clock_advances_per_transfer() -> None:
    sim = Mcp3208Simulator({0: dc(1.0)}, transfer_overhead_s=10e-6, start_s=5.0)
    sim.open(0, 0)
    sim.max_speed_hz = 1_000_000
    sim.xfer2([0x06, 0x00, 0x00])
    assert sim.now() == pytest.approx(5.0 + 34e-6)
    sim.wait_until(4.0)  # the past: no change
    assert sim.now() == pytest.approx(5.0 + 34e-6)
    sim.wait_until(6.0)
    sim.advance(1.5)
    assert sim.now() == pytest.approx(7.5)
    assert sim.transfers == 1


def test_quantisation_noise_and_clipping() -> None:
    sim = Mcp3208Simulator(
        {
            0: Signal(harmonics=(), units_per_code=1.0, offset_code=-40.0),
            1: Signal(harmonics=(), units_per_code=1.0, offset_code=5000.0),
            2: Signal(harmonics=(), units_per_code=1.0, offset_code=2000.0, noise_codes=3.0),
        },
        seed=11,
    )
    sim.open(0, 0)

    def read(channel: int) -> int:
        reply = sim.xfer2([0x06 | (channel >> 2), (channel & 3) << 6, 0])
        return (reply[1] & 0x0F) << 8 | reply[2]

    assert read(0) == 0
    assert read(1) == 4095
    noisy = [read(2) for _ in range(2000)]
    mean = sum(noisy) / len(noisy)
    spread = math.sqrt(sum((x - mean) ** 2 for x in noisy) / len(noisy))
    assert mean == pytest.approx(1999.5, abs=0.3)  # floor() sits half a code low
    assert spread == pytest.approx(3.0, rel=0.1)


def test_faults() -> None:
    sim = Mcp3208Simulator({0: dc(1234.0)})
    with pytest.raises(OSError, match="Bad file descriptor"):
        sim.xfer2([0x06, 0x00, 0x00])
    sim.open(0, 0)
    sim.fault = Fault.NO_CHIP
    assert sim.xfer2([0x06, 0x00, 0x00]) == [0, 0, 0]
    sim.fault = Fault.IO_ERROR
    with pytest.raises(OSError, match="Input/output error"):
        sim.xfer2([0x06, 0x00, 0x00])


def test_ground_truth_from_the_waveforms() -> None:
    volts = Signal(harmonics=(Harmonic(1, 230.0), Harmonic(3, 10.0, 0.0)), units_per_code=0.2)
    amps = Signal(
        harmonics=(Harmonic(1, 5.0, -60.0), Harmonic(3, 2.0, 0.0), Harmonic(5, 1.0)),
        units_per_code=0.05,
        envelope=((0.0, 1.0), (100.0, 1.0), (200.0, -1.0)),
    )
    sim = Mcp3208Simulator({0: volts, 1: amps})
    assert sim.true_rms(0) == pytest.approx(math.hypot(230.0, 10.0))
    assert sim.true_rms(1) == pytest.approx(math.sqrt(25 + 4 + 1))
    power = 230 * 5 * 0.5 + 10 * 2
    assert sim.true_power(0, 1) == pytest.approx(power)
    assert sim.true_power_factor(0, 1) == pytest.approx(power / sim.true_rms(0) / sim.true_rms(1))
    # 100 s at full power, then a ramp through zero: 50 s more import, 50 s export.
    imported, exported = sim.true_energy_kwh(0, 1, 0.0, 200.0)
    assert imported == pytest.approx(power * 125 / 3.6e6, rel=1e-6)
    assert exported == pytest.approx(power * 25 / 3.6e6, rel=1e-6)


def test_sampled_waveform_follows_its_definition() -> None:
    """The codes an input returns are its waveform at the sample instant."""
    signal = Signal.sine(100.0, units_per_code=0.1, phase_deg=30.0, harmonics=((3, 0.2, 45.0),))
    sim = Mcp3208Simulator({0: signal}, mains_hz=60.0, start_s=0.0, transfer_overhead_s=0.0)
    sim.open(0, 0)
    sim.max_speed_hz = 1_000_000
    for _ in range(50):
        sample_at = sim.now() + 10e-6  # the sample clock is bit 10 of 24
        reply = sim.xfer2([0x06, 0x00, 0x00])
        code = (reply[1] & 0x0F) << 8 | reply[2]
        expected = (
            2048
            + (
                math.sqrt(2) * 100 * math.sin(2 * math.pi * 60 * sample_at + math.radians(30))
                + math.sqrt(2) * 20 * math.sin(2 * math.pi * 180 * sample_at + math.radians(45))
            )
            / 0.1
        )
        assert code == math.floor(expected)
        sim.advance(1e-3)
