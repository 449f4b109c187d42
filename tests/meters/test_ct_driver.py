"""The CT clamp PolledMeter end to end on the MCP3208 twin: snapshots, energy,
export, noise floor, clipping, clamp-only voltage, calibration, restore."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable

import pytest

from custom_components.wattkeeper.meters.base import PolledMeter
from custom_components.wattkeeper.meters.ct_calibration import (
    CalibrationError,
    CalibrationTarget,
)
from custom_components.wattkeeper.meters.ct_clamp import CLIPPED_CHANNELS, CtClampMeter
from custom_components.wattkeeper.meters.ct_config import (
    ClampVoltage,
    CtConfig,
    CurrentChannel,
    VoltageChannel,
)
from custom_components.wattkeeper.meters.ct_energy import EnergyTotals
from custom_components.wattkeeper.meters.errors import MeterConnectionError
from custom_components.wattkeeper.meters.model import MeterKind, Quantity, QuantityKey
from simulators.mcp3208 import Fault, Mcp3208Simulator, Signal

MakeMeter = Callable[[CtConfig, Mcp3208Simulator], CtClampMeter]


@pytest.fixture
async def make_meter() -> AsyncIterator[MakeMeter]:
    meters: list[CtClampMeter] = []

    def make(config: CtConfig, sim: Mcp3208Simulator) -> CtClampMeter:
        meter = CtClampMeter(config, opener=sim.opener, timebase=sim)
        meters.append(meter)
        return meter

    yield make
    for meter in meters:
        await meter.close()


def key(quantity: Quantity, channel: int) -> QuantityKey:
    return QuantityKey(quantity, channel=str(channel))


def paired(*channels: int, **overrides: object) -> CtConfig:
    """One voltage input on channel 0 and clamps on `channels` paired with it."""
    fields: dict[str, object] = {
        "device_id": "pi-spi0.0",
        "voltages": (VoltageChannel(channel=0),),
        "currents": tuple(CurrentChannel(channel=c, voltage_channel=0) for c in channels),
    }
    fields.update(overrides)
    return CtConfig(**fields)  # type: ignore[arg-type]


def grid(config: CtConfig, volts: float = 230.0, **loads: Signal) -> Mcp3208Simulator:
    signals = {0: Signal.sine(volts, units_per_code=config.units_per_code(0), noise_codes=0.5)}
    signals.update({int(name[1:]): signal for name, signal in loads.items()})
    return Mcp3208Simulator(signals, mains_hz=config.mains_hz, seed=5)


def load(config: CtConfig, channel: int, amps: float, lag_deg: float = 0.0, **kw: object) -> Signal:
    return Signal.sine(
        amps,
        units_per_code=config.units_per_code(channel),
        phase_deg=-lag_deg,
        noise_codes=0.5,
        **kw,  # type: ignore[arg-type]
    )


async def test_snapshot_identity_and_keys(make_meter: MakeMeter) -> None:
    cfg = paired(1, 2)
    sim = grid(cfg, c1=load(cfg, 1, 10.0), c2=load(cfg, 2, 4.0, 30.0))
    meter = make_meter(cfg, sim)
    assert isinstance(meter, PolledMeter)

    identity = await meter.identify()
    assert identity.kind is MeterKind.CT_CLAMP
    assert identity.serial == "pi-spi0.0"
    assert identity.address == "spi0.0"
    assert sim.opened == (0, 0)
    assert sim.max_speed_hz == cfg.spi_hz

    snapshot = await meter.read()
    per_clamp = (
        Quantity.CURRENT,
        Quantity.POWER,
        Quantity.APPARENT_POWER,
        Quantity.POWER_FACTOR,
        Quantity.ENERGY_IMPORT,
        Quantity.ENERGY_EXPORT,
    )
    expected = {key(Quantity.VOLTAGE, 0), QuantityKey(Quantity.FREQUENCY)}
    expected |= {key(q, c) for q in per_clamp for c in (1, 2)}
    assert set(snapshot.values) == expected
    assert snapshot.identity == identity
    assert snapshot.texts == {CLIPPED_CHANNELS: ""}
    assert snapshot.measured_at.tzinfo is not None
    values = snapshot.values
    assert values[key(Quantity.VOLTAGE, 0)] == pytest.approx(230.0, rel=0.005)
    assert values[QuantityKey(Quantity.FREQUENCY)] == pytest.approx(50.0, abs=0.002)
    assert values[key(Quantity.POWER, 1)] == pytest.approx(sim.true_power(0, 1), rel=0.005)
    assert values[key(Quantity.POWER, 2)] == pytest.approx(sim.true_power(0, 2), rel=0.005)
    assert values[key(Quantity.POWER_FACTOR, 2)] == pytest.approx(
        math.cos(math.radians(30)), abs=0.01
    )
    # The first frame has nothing to integrate from.
    assert values[key(Quantity.ENERGY_IMPORT, 1)] == 0.0


async def test_energy_over_a_simulated_hour(make_meter: MakeMeter) -> None:
    """One frame every 10 s for an hour while the load ramps up, down and into
    export; import and export each within 0.5 % of the twin's integral."""
    cfg = paired(1, waves=5)
    start = 1000.0
    envelope = ((start, 1.0), (start + 1200, 2.0), (start + 2400, 0.5), (start + 3600, -0.8))
    sim = grid(cfg, c1=load(cfg, 1, 10.0, 25.0, envelope=envelope))
    meter = make_meter(cfg, sim)

    first_mid: float | None = None
    previous = EnergyTotals()
    while sim.now() < start + 3600:
        frame_start = sim.now()
        await meter.read()
        result = meter.last_result
        assert result is not None
        first_mid = result.mid_time if first_mid is None else first_mid
        totals = meter.energy(1)
        assert totals.import_kwh >= previous.import_kwh
        assert totals.export_kwh >= previous.export_kwh
        previous = totals
        sim.advance(10.0 - (sim.now() - frame_start))
    assert first_mid is not None
    assert result is not None
    assert result.mid_time - first_mid > 3590

    true_import, true_export = sim.true_energy_kwh(0, 1, first_mid, result.mid_time)
    assert true_export > 0.1
    assert previous.import_kwh == pytest.approx(true_import, rel=0.005)
    assert previous.export_kwh == pytest.approx(true_export, rel=0.005)


async def test_export_flow_is_negative(make_meter: MakeMeter) -> None:
    cfg = paired(
        1,
        2,
        currents=(
            CurrentChannel(channel=1, voltage_channel=0),
            CurrentChannel(channel=2, voltage_channel=0, invert=True),
        ),
    )
    # Solar feeding back: current in antiphase with the voltage on both clamps;
    # clamp 2 is mounted the other way round.
    sim = grid(cfg, c1=load(cfg, 1, 6.0, 180.0), c2=load(cfg, 2, 6.0, 180.0))
    meter = make_meter(cfg, sim)
    for _ in range(3):
        snapshot = await meter.read()
    values = snapshot.values
    assert values[key(Quantity.POWER, 1)] == pytest.approx(-230.0 * 6.0, rel=0.005)
    assert values[key(Quantity.POWER_FACTOR, 1)] == pytest.approx(-1.0, abs=0.01)
    assert values[key(Quantity.ENERGY_IMPORT, 1)] == 0.0
    assert values[key(Quantity.ENERGY_EXPORT, 1)] > 0.0
    assert values[key(Quantity.POWER, 2)] == pytest.approx(230.0 * 6.0, rel=0.005)
    assert values[key(Quantity.ENERGY_EXPORT, 2)] == 0.0
    assert values[key(Quantity.ENERGY_IMPORT, 2)] > 0.0


async def test_noise_floor_reads_zero(make_meter: MakeMeter) -> None:
    cfg = paired(1, 2, noise_floor_a=0.05, noise_floor_w=2.0)
    sim = grid(
        cfg,
        # Nothing on clamp 1 but ADC noise (about 0.04 A of it).
        c1=load(cfg, 1, 0.0),
        # A tiny capacitive load on clamp 2: current above the floor, power not.
        c2=load(cfg, 2, 0.2, -89.0),
    )
    meter = make_meter(cfg, sim)
    for _ in range(4):
        snapshot = await meter.read()
    values = snapshot.values
    assert values[key(Quantity.CURRENT, 1)] == 0.0
    assert values[key(Quantity.POWER, 1)] == 0.0
    assert values[key(Quantity.APPARENT_POWER, 1)] == 0.0
    assert key(Quantity.POWER_FACTOR, 1) not in values
    assert values[key(Quantity.CURRENT, 2)] == pytest.approx(0.2, rel=0.05)
    assert values[key(Quantity.POWER, 2)] == 0.0
    assert values[key(Quantity.POWER_FACTOR, 2)] == 0.0
    for channel in (1, 2):
        assert meter.energy(channel) == EnergyTotals()


async def test_clipping_is_reported_not_silently_wrong(make_meter: MakeMeter) -> None:
    cfg = paired(1, 2)
    # 120 A RMS peaks at 170 A; a 100 A : 50 mA clamp on 22 Ω clips at about 150 A.
    sim = grid(cfg, c1=load(cfg, 1, 120.0), c2=load(cfg, 2, 5.0))
    meter = make_meter(cfg, sim)
    for _ in range(2):
        snapshot = await meter.read()
    assert snapshot.texts[CLIPPED_CHANNELS] == "1"
    result = meter.last_result
    assert result is not None
    assert result.currents[1].clipped_samples > 0
    values = snapshot.values
    for quantity in (Quantity.CURRENT, Quantity.POWER, Quantity.POWER_FACTOR):
        assert key(quantity, 1) not in values
        assert key(quantity, 2) in values
    # Energy counters stay, but the clipped clamp's did not grow on wrong power.
    assert values[key(Quantity.ENERGY_IMPORT, 1)] == 0.0
    assert values[key(Quantity.ENERGY_IMPORT, 2)] > 0.0


async def test_voltage_clipping_withholds_power_of_its_clamps(make_meter: MakeMeter) -> None:
    cfg = paired(1)
    sim = grid(cfg, volts=340.0, c1=load(cfg, 1, 5.0))
    meter = make_meter(cfg, sim)
    snapshot = await meter.read()
    assert snapshot.texts[CLIPPED_CHANNELS] == "0"
    assert key(Quantity.VOLTAGE, 0) not in snapshot.values
    assert key(Quantity.POWER, 1) not in snapshot.values
    assert snapshot.values[key(Quantity.CURRENT, 1)] == pytest.approx(5.0, rel=0.005)


def clamp_only(mode: ClampVoltage) -> CtConfig:
    return CtConfig(
        device_id="pi-spi0.1",
        spi_device=1,
        currents=(CurrentChannel(channel=3),),
        clamp_voltage=mode,
        nominal_voltage=230.0,
    )


async def test_clamp_only_with_nominal_voltage(make_meter: MakeMeter) -> None:
    cfg = clamp_only(ClampVoltage.NOMINAL)
    sim = Mcp3208Simulator({3: load(cfg, 3, 7.0, 40.0)}, seed=2)
    meter = make_meter(cfg, sim)
    for _ in range(2):
        snapshot = await meter.read()
    values = snapshot.values
    assert values[key(Quantity.CURRENT, 3)] == pytest.approx(7.0, rel=0.005)
    # No voltage waveform: power is 230 V × I, unsigned, with no power factor or export.
    assert values[key(Quantity.POWER, 3)] == pytest.approx(230.0 * 7.0, rel=0.005)
    assert values[key(Quantity.APPARENT_POWER, 3)] == values[key(Quantity.POWER, 3)]
    assert key(Quantity.POWER_FACTOR, 3) not in values
    assert key(Quantity.ENERGY_EXPORT, 3) not in values
    assert values[key(Quantity.ENERGY_IMPORT, 3)] > 0.0
    assert QuantityKey(Quantity.FREQUENCY) not in values  # nothing to measure it on


async def test_dead_voltage_input_falls_back_to_nominal_waves(make_meter: MakeMeter) -> None:
    """The adapter is unplugged: no frequency is made up from noise, the window counts
    nominal waves, and the clamp's current is still right."""
    cfg = paired(1)
    sim = grid(cfg, volts=0.0, c1=load(cfg, 1, 10.0))
    meter = make_meter(cfg, sim)
    snapshot = await meter.read()
    result = meter.last_result
    assert result is not None
    assert result.frequency_hz is None
    assert result.scans_used == cfg.scans_per_frame
    assert QuantityKey(Quantity.FREQUENCY) not in snapshot.values
    assert snapshot.values[key(Quantity.CURRENT, 1)] == pytest.approx(10.0, rel=0.005)
    assert snapshot.values[key(Quantity.VOLTAGE, 0)] < 1.0


async def test_clamp_only_with_external_voltage(make_meter: MakeMeter) -> None:
    cfg = clamp_only(ClampVoltage.EXTERNAL)
    sim = Mcp3208Simulator({3: load(cfg, 3, 7.0)}, seed=2)
    meter = make_meter(cfg, sim)
    snapshot = await meter.read(external_voltage=241.0)
    assert snapshot.values[key(Quantity.POWER, 3)] == pytest.approx(241.0 * 7.0, rel=0.005)
    # The other entity is unavailable: current still, power unknown, energy paused.
    snapshot = await meter.read(external_voltage=None)
    assert key(Quantity.POWER, 3) not in snapshot.values
    assert snapshot.values[key(Quantity.CURRENT, 3)] == pytest.approx(7.0, rel=0.005)
    await meter.read(external_voltage=float("nan"))
    assert meter.energy(3) == EnergyTotals()


async def test_calibration_from_reference_readings(make_meter: MakeMeter) -> None:
    true_cfg = paired(1)
    sim = grid(true_cfg, c1=load(true_cfg, 1, 10.0, 20.0))
    # The installed factors are off: voltage reads 3 % low, current 5 % high.
    cfg = true_cfg.with_calibration(0, 0.97).with_calibration(1, 1.05)
    meter = make_meter(cfg, sim)
    with pytest.raises(CalibrationError) as err:
        meter.calibrate(0, CalibrationTarget.VOLTAGE, 230.0)
    assert err.value.reason == "no_measurement"

    await meter.read()
    voltage_factor = meter.calibrate(0, CalibrationTarget.VOLTAGE, 230.0)
    assert voltage_factor == pytest.approx(1.0, rel=0.005)

    cfg = cfg.with_calibration(0, voltage_factor)
    meter = make_meter(cfg, sim)
    await meter.read()
    current_factor = meter.calibrate(1, CalibrationTarget.POWER, sim.true_power(0, 1))
    assert current_factor == pytest.approx(1.0, rel=0.005)
    with pytest.raises(CalibrationError) as err:
        meter.calibrate(1, CalibrationTarget.POWER, sim.true_power(0, 1) * 1000)
    assert err.value.reason == "out_of_range"
    with pytest.raises(CalibrationError) as err:
        meter.calibrate(0, CalibrationTarget.CURRENT, 10.0)
    assert err.value.reason == "wrong_channel"

    meter = make_meter(cfg.with_calibration(1, current_factor), sim)
    snapshot = await meter.read()
    assert snapshot.values[key(Quantity.VOLTAGE, 0)] == pytest.approx(230.0, rel=0.005)
    assert snapshot.values[key(Quantity.POWER, 1)] == pytest.approx(sim.true_power(0, 1), rel=0.005)


async def test_phase_calibration_on_a_resistive_load(make_meter: MakeMeter) -> None:
    """The clamp's CT lags 3°: a kettle (PF 1) gives the offset that undoes it, and a
    PF 0.5 motor on the same clamp then reads its true power."""
    cfg = paired(1)
    sim = grid(cfg, c1=load(cfg, 1, 10.0, lag_deg=3.0))
    meter = make_meter(cfg, sim)
    await meter.read()
    offset = meter.calibrate(1, CalibrationTarget.PHASE, 1.0)
    assert offset == pytest.approx(-3.0, abs=0.05)

    fixed = paired(
        1, currents=(CurrentChannel(channel=1, voltage_channel=0, phase_offset_deg=offset),)
    )
    motor = grid(fixed, c1=load(fixed, 1, 10.0, lag_deg=60.0 + 3.0))
    before = make_meter(cfg, motor)
    after = make_meter(fixed, grid(fixed, c1=load(fixed, 1, 10.0, lag_deg=60.0 + 3.0)))
    uncorrected = (await before.read()).values
    corrected = (await after.read()).values
    truth = 230.0 * 10.0 * 0.5
    assert abs(uncorrected[key(Quantity.POWER, 1)] / truth - 1) > 0.08
    assert corrected[key(Quantity.POWER, 1)] == pytest.approx(truth, rel=0.005)
    assert corrected[key(Quantity.POWER_FACTOR, 1)] == pytest.approx(0.5, abs=0.01)
    # Calibrated again on the kettle, the offset stays put.
    kettle = make_meter(fixed, grid(fixed, c1=load(fixed, 1, 10.0, lag_deg=3.0)))
    await kettle.read()
    assert kettle.calibrate(1, CalibrationTarget.PHASE, 1.0) == pytest.approx(offset, abs=0.05)


async def test_phase_calibration_references_and_errors(make_meter: MakeMeter) -> None:
    cfg = paired(
        1,
        2,
        currents=(
            CurrentChannel(channel=1, voltage_channel=0, invert=True),
            CurrentChannel(channel=2, voltage_channel=0),
            CurrentChannel(channel=3),
        ),
    )
    sim = grid(
        cfg,
        # Mounted the other way round (and set so): a PF 0.8 load whose CT leads 2°.
        c1=load(cfg, 1, 8.0, lag_deg=180.0 + 36.87 - 2.0),
        # Mounted the other way round but not set so: it reads as export.
        c2=load(cfg, 2, 8.0, lag_deg=180.0),
        c3=load(cfg, 3, 5.0),
    )
    meter = make_meter(cfg, sim)
    await meter.read()
    assert meter.calibrate(1, CalibrationTarget.PHASE, 0.8) == pytest.approx(2.0, abs=0.1)
    for channel, reference, reason in (
        (1, 1.2, "bad_power_factor"),
        (2, 1.0, "out_of_range"),
        (3, 1.0, "phase_needs_voltage"),
        (0, 1.0, "wrong_channel"),
    ):
        with pytest.raises(CalibrationError) as err:
            meter.calibrate(channel, CalibrationTarget.PHASE, reference)
        assert err.value.reason == reason, channel


async def test_energy_restore_after_restart(make_meter: MakeMeter) -> None:
    cfg = paired(1, waves=5)
    sim = grid(cfg, c1=load(cfg, 1, 10.0))
    meter = make_meter(cfg, sim)
    for _ in range(3):
        await meter.read()
        sim.advance(1.0)
    session = meter.energy(1)
    assert session.import_kwh > 0

    # What the glue saved before the restart, restored after the first frames:
    # the saved total plus this session, and restoring twice counts once.
    saved = EnergyTotals.from_dict(EnergyTotals(1234.5, 6.7).to_dict())
    meter.restore_energy(1, saved)
    meter.restore_energy(1, saved)
    assert meter.energy(1).import_kwh == pytest.approx(1234.5 + session.import_kwh)
    assert meter.energy(1).export_kwh == pytest.approx(6.7)

    snapshot = await meter.read()
    imported = snapshot.values[key(Quantity.ENERGY_IMPORT, 1)]
    assert imported > 1234.5 + session.import_kwh
    assert snapshot.values[key(Quantity.ENERGY_EXPORT, 1)] == pytest.approx(6.7)


async def test_restart_gap_is_not_integrated(make_meter: MakeMeter) -> None:
    cfg = paired(1, waves=5, energy_max_gap_s=30.0)
    sim = grid(cfg, c1=load(cfg, 1, 10.0))
    meter = make_meter(cfg, sim)
    await meter.read()
    sim.advance(3600.0)  # Home Assistant was down for an hour
    await meter.read()
    assert meter.energy(1) == EnergyTotals()
    sim.advance(1.0)
    await meter.read()
    assert meter.energy(1).import_kwh == pytest.approx(2300.0 * 1.1 / 3.6e6, rel=0.01)


async def test_bus_fault_raises_then_recovers(make_meter: MakeMeter) -> None:
    cfg = paired(1)
    sim = grid(cfg, c1=load(cfg, 1, 10.0))
    meter = make_meter(cfg, sim)
    await meter.read()
    sim.fault = Fault.IO_ERROR
    with pytest.raises(MeterConnectionError, match=r"SPI transfer on spi0\.0 failed"):
        await meter.read()
    assert sim.opened is None  # the handle was dropped and is opened afresh
    sim.fault = Fault.NONE
    snapshot = await meter.read()
    assert snapshot.values[key(Quantity.CURRENT, 1)] == pytest.approx(10.0, rel=0.005)
    assert sim.opened == (0, 0)


async def test_identify_finds_no_chip(make_meter: MakeMeter) -> None:
    cfg = paired(1)
    sim = grid(cfg, c1=load(cfg, 1, 10.0))
    sim.fault = Fault.NO_CHIP
    meter = make_meter(cfg, sim)
    with pytest.raises(MeterConnectionError, match=r"No MCP3208 answers on spi0\.0"):
        await meter.identify()
    # A missing chip during a frame reads as clipping at 0 on every channel.
    snapshot = await meter.read()
    assert snapshot.texts[CLIPPED_CHANNELS] == "0,1"


async def test_close_releases_the_bus(make_meter: MakeMeter) -> None:
    cfg = paired(1)
    sim = grid(cfg, c1=load(cfg, 1, 10.0))
    meter = CtClampMeter(cfg, opener=sim.opener, timebase=sim)
    await meter.read()
    assert sim.opened == (0, 0)
    await meter.close()
    assert sim.opened is None


async def test_host_clock_paces_a_real_time_frame() -> None:
    """The driver's own clock (no simulated time): scans are paced on the host's
    performance counter and the twin samples at the real moment of each transfer.
    A smoke test of that path only: on a shared machine the scheduler's delays
    land in the samples, so it checks shapes and signs, not rates or accuracy
    (accuracy is tested on simulated time above; rates are in bench/ct_frame.py)."""
    cfg = paired(1, waves=5)
    sim = Mcp3208Simulator(
        {
            0: Signal.sine(230.0, units_per_code=cfg.units_per_code(0)),
            1: Signal.sine(10.0, units_per_code=cfg.units_per_code(1)),
        },
        realtime=True,
    )
    meter = CtClampMeter(cfg, opener=sim.opener)
    try:
        snapshot = await meter.read()
    finally:
        await meter.close()
    result = meter.last_result
    assert result is not None
    assert 0 < result.scans_used <= cfg.scans_per_frame
    assert math.isfinite(result.scan_rate_hz)
    assert result.scan_rate_hz > 0
    assert sim.transfers == cfg.scans_per_frame * len(cfg.scan_order)
    assert snapshot.texts == {CLIPPED_CHANNELS: ""}
    for quantity, channel in (
        (Quantity.VOLTAGE, 0),
        (Quantity.CURRENT, 1),
        (Quantity.POWER, 1),
        (Quantity.APPARENT_POWER, 1),
    ):
        reading = snapshot.values[key(quantity, channel)]
        assert math.isfinite(reading)
        assert reading > 0, (quantity, reading)
    assert 0 < snapshot.values[key(Quantity.POWER_FACTOR, 1)] <= 1
