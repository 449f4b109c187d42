"""The Fluksometer driver against the MQTT twin: discovery, totals, every fault."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import replace

import pytest
from amqtt.broker import Broker

from custom_components.wattkeeper.meters.backoff import Backoff
from custom_components.wattkeeper.meters.base import StreamingMeter
from custom_components.wattkeeper.meters.errors import (
    MeterAuthError,
    MeterConnectionError,
    MeterError,
    MeterTimeoutError,
)
from custom_components.wattkeeper.meters.flukso import FluksoMeter
from custom_components.wattkeeper.meters.flukso_config import SensorType
from custom_components.wattkeeper.meters.flukso_roles import roles_from_options
from custom_components.wattkeeper.meters.model import MeterKind, Quantity, QuantityKey, Snapshot
from simulators.flukso import Fault, FluksoSimulator

# A guard so a broken driver fails the test instead of hanging it; never asserted on.
GUARD = 20


@pytest.fixture
def flukso_counter_every() -> int:
    """The shared twins (tests/conftest.py) publish counters every third tick here."""
    return 3


def meter_for(sim: FluksoSimulator, **kwargs: float) -> FluksoMeter:
    # The tests tick the twin by hand, so the stall watchdog gets a wide margin.
    options = {"interval": 2.0, "settle": 0.02, **kwargs}
    return FluksoMeter(
        sim.host,
        sim.port,
        roles=roles_from_options(sim.expected_roles()),
        **options,  # type: ignore[arg-type]
    )


async def connected(meter: FluksoMeter) -> AsyncIterator[Snapshot]:
    """The meter's stream, subscribed before the first tick is published."""
    await meter.identify()
    return meter.stream()


async def tick_and_read(
    sim: FluksoSimulator, meter: FluksoMeter, stream: AsyncIterator[Snapshot]
) -> Snapshot:
    """Publish one meter second and return the snapshot holding all of it.

    The driver may cut a burst in two when the broker pauses mid-way; the
    snapshot taken after the last message of the burst is the complete one.
    """
    target = meter.stats.messages + await sim.tick()
    async with asyncio.timeout(GUARD):
        while True:
            snapshot = await anext(stream)
            if meter.stats.messages >= target:
                return snapshot


def totals(snapshot: Snapshot) -> dict[str, float]:
    return {key.id: value for key, value in snapshot.values.items() if key.channel is None}


async def test_flm02_discovery(flm02: FluksoSimulator) -> None:
    meter = meter_for(flm02)
    try:
        identity = await meter.identify()
    finally:
        await meter.close()

    assert isinstance(meter, StreamingMeter)
    assert (identity.kind, identity.serial, identity.model) == (
        MeterKind.FLUKSO,
        flm02.device_id,
        "FLM02",
    )
    assert meter.device is not None
    discovered = {
        s.id: (s.type, s.function, s.phase, s.enabled) for s in meter.device.sensors.values()
    }
    expected = {s.id: (SensorType(s.type), s.function, None, s.enabled) for s in flm02.sensors}
    assert discovered == expected


async def test_flm03_discovery(flm03: FluksoSimulator) -> None:
    meter = meter_for(flm03)
    try:
        identity = await meter.identify()
    finally:
        await meter.close()

    assert (identity.serial, identity.model) == (flm03.device_id, "FLM03")
    assert meter.device is not None
    assert meter.device.phase_mode == "3p+n"
    discovered = {
        s.id: (s.type, s.subtype, s.function, s.phase, s.port)
        for s in meter.device.sensors.values()
    }
    expected = {
        s.id: (
            SensorType(s.type),
            s.subtype,
            s.function,
            s.port if s.port <= 3 else None,
            s.port,
        )
        for s in flm03.sensors
    }
    assert discovered == expected


async def test_flm02_totals_equal_the_ground_truth(flm02: FluksoSimulator) -> None:
    meter = meter_for(flm02)
    stream = await connected(meter)
    water = flm02.sensor(port=4).id
    try:
        for _ in range(7):
            snapshot = await tick_and_read(flm02, meter, stream)
            truth = flm02.truth
            assert snapshot.identity.serial == flm02.device_id
            assert snapshot.measured_at.timestamp() == truth.timestamp
            assert totals(snapshot) == {
                "power_consumption": truth.consumption_w,
                "power_production": truth.production_w,
                "power": truth.net_w,
                "energy_consumption": pytest.approx(truth.energy.consumption_kwh),
                "energy_production": pytest.approx(truth.energy.production_kwh),
            }
            values = snapshot.values
            assert values[QuantityKey(Quantity.WATER_FLOW, channel=water)] == (truth.water_flow_lpm)
            assert values[QuantityKey(Quantity.WATER, channel=water)] == pytest.approx(
                truth.energy.water_m3
            )
    finally:
        await meter.close()
    assert meter.stats.bad_payloads == meter.stats.bad_units == 0


async def test_flm03_sign_correction_gives_the_ground_truth(flm03: FluksoSimulator) -> None:
    meter = meter_for(flm03)
    stream = await connected(meter)
    try:
        for _ in range(7):
            snapshot = await tick_and_read(flm03, meter, stream)
            truth = flm03.truth
            assert totals(snapshot) == {
                "power": pytest.approx(truth.net_w),
                "power_l1": pytest.approx(truth.phase_net_w[0]),
                "power_l2": pytest.approx(truth.phase_net_w[1]),
                "power_l3": pytest.approx(truth.phase_net_w[2]),
                "power_production": pytest.approx(truth.production_w),
                "power_consumption": pytest.approx(truth.consumption_w),
                "energy_import": pytest.approx(truth.energy.import_kwh),
                "energy_export": pytest.approx(truth.energy.export_kwh),
                "energy_production": pytest.approx(truth.energy.production_kwh),
            }
            vrms = flm03.sensor(port=2, subtype="vrms").id
            assert snapshot.values[QuantityKey(Quantity.VOLTAGE, phase=2, channel=vrms)] == 232
    finally:
        await meter.close()


async def test_without_roles_the_totals_are_wrong_and_roles_apply_live(
    flm03: FluksoSimulator,
) -> None:
    meter = meter_for(flm03)
    # Every port as grid with sign +1: the reversed L2 clamp and the PV are miscounted.
    naive = {s.id: {"role": "grid"} for s in flm03.sensors if s.subtype == "pplus"}
    meter.set_roles(roles_from_options(naive))
    stream = await connected(meter)
    try:
        snapshot = await tick_and_read(flm03, meter, stream)
        assert totals(snapshot)["power"] != pytest.approx(flm03.truth.net_w)

        meter.set_roles(roles_from_options(flm03.expected_roles()))
        snapshot = await tick_and_read(flm03, meter, stream)
        assert totals(snapshot)["power"] == pytest.approx(flm03.truth.net_w)
    finally:
        await meter.close()


async def test_two_fluksometers_at_once(flm02: FluksoSimulator, flm03: FluksoSimulator) -> None:
    meters = [meter_for(flm02), meter_for(flm03)]
    streams = [await connected(meter) for meter in meters]
    try:
        for _ in range(3):
            snaps = await asyncio.gather(
                tick_and_read(flm02, meters[0], streams[0]),
                tick_and_read(flm03, meters[1], streams[1]),
            )
            assert [s.identity.serial for s in snaps] == [flm02.device_id, flm03.device_id]
            assert [totals(s)["power"] for s in snaps] == [
                flm02.truth.net_w,
                pytest.approx(flm03.truth.net_w),
            ]
    finally:
        for meter in meters:
            await meter.close()


async def test_garbage_payloads_are_counted_and_skipped(any_model: FluksoSimulator) -> None:
    sim = any_model
    meter = meter_for(sim)
    stream = await connected(meter)
    sim.fault = Fault.GARBAGE
    try:
        for _ in range(4):
            snapshot = await tick_and_read(sim, meter, stream)
            assert totals(snapshot)["power"] == pytest.approx(sim.truth.net_w)
    finally:
        await meter.close()
    # Per meter second: six unreadable payloads, one unknown sensor, one bad config.
    assert meter.stats.bad_payloads == 4 * 6
    assert meter.stats.unknown_sensors == 4
    assert meter.stats.bad_configs == 4
    assert meter.device is not None
    assert len(meter.device.sensors) == len(sim.sensors)


async def test_wrong_units_drop_the_sensor_until_they_are_right(flm02: FluksoSimulator) -> None:
    meter = meter_for(flm02)
    stream = await connected(meter)
    consumption, water = (s.id for s in flm02.wrong_unit_sensors())
    try:
        await tick_and_read(flm02, meter, stream)
        flm02.fault = Fault.WRONG_UNITS
        for _ in range(3):  # the third tick publishes counters (counter_every=3)
            snapshot = await tick_and_read(flm02, meter, stream)
            # The consumption clamp reports in Wh: it and every total it feeds go.
            assert "power_consumption" not in totals(snapshot)
            assert "power" not in totals(snapshot)
            assert totals(snapshot)["power_production"] == flm02.truth.production_w
            assert QuantityKey(Quantity.POWER, channel=consumption) not in snapshot.values
            assert QuantityKey(Quantity.WATER_FLOW, channel=water) not in snapshot.values
        # Its counter came in W: the last good one is dropped too.
        assert "energy_consumption" not in totals(snapshot)
        assert QuantityKey(Quantity.ENERGY_IMPORT, channel=consumption) not in snapshot.values
        flm02.fault = Fault.NONE
        snapshot = await tick_and_read(flm02, meter, stream)
        assert totals(snapshot)["power"] == flm02.truth.net_w
    finally:
        await meter.close()
    assert meter.stats.bad_units >= 3 * 2


async def test_a_sensor_that_falls_silent_goes_unavailable(flm02: FluksoSimulator) -> None:
    meter = meter_for(flm02, gauge_max_age=2)
    stream = await connected(meter)
    solar = flm02.sensor(port=2)
    try:
        await tick_and_read(flm02, meter, stream)
        # The clamp stops publishing; its retained config still lists it.
        flm02.sensors[flm02.sensors.index(solar)] = replace(solar, enabled=False)
        snapshot = await tick_and_read(flm02, meter, stream)
        assert QuantityKey(Quantity.POWER, channel=solar.id) in snapshot.values
        for _ in range(2):
            snapshot = await tick_and_read(flm02, meter, stream)
    finally:
        await meter.close()

    assert QuantityKey(Quantity.POWER, channel=solar.id) not in snapshot.values
    # Power that depends on it goes; counters keep their last (still true) total.
    assert set(totals(snapshot)) == {
        "power_consumption",
        "energy_consumption",
        "energy_production",
    }


async def test_silence_raises_timeout(flm02: FluksoSimulator) -> None:
    meter = meter_for(flm02, interval=0.05)
    stream = await connected(meter)
    try:
        await tick_and_read(flm02, meter, stream)
        flm02.fault = Fault.SILENCE
        await flm02.tick()
        async with asyncio.timeout(GUARD):
            with pytest.raises(MeterTimeoutError):
                await anext(stream)
        # The link was dropped; the next stream connects again and reads on.
        flm02.fault = Fault.NONE
        snapshot = await tick_and_read(flm02, meter, await connected(meter))
        assert totals(snapshot)["power"] == flm02.truth.net_w
    finally:
        await meter.close()


async def test_broker_restart_raises_connection_error(flm02: FluksoSimulator) -> None:
    meter = meter_for(flm02)
    stream = await connected(meter)
    try:
        await tick_and_read(flm02, meter, stream)
        await flm02.restart_broker()
        async with asyncio.timeout(GUARD):
            with pytest.raises(MeterConnectionError):
                await anext(stream)
    finally:
        await meter.close()


async def test_stream_forever_reconnects_after_a_broker_restart() -> None:
    sim = FluksoSimulator("FLM02", time_scale=20, counter_every=5)
    await sim.start()
    meter = meter_for(sim, interval=0.5)
    errors: list[MeterError] = []
    stream = meter.stream_forever(Backoff(initial=0.05, maximum=0.2), errors.append)
    assert isinstance(stream, AsyncGenerator)
    try:
        async with asyncio.timeout(GUARD):
            first = await anext(stream)
            await sim.restart_broker(downtime=0.1)
            restarted_at = sim.truth.timestamp
            snapshot = await anext(stream)
            while snapshot.measured_at.timestamp() <= restarted_at:
                snapshot = await anext(stream)
    finally:
        await stream.aclose()
        await meter.close()
        await sim.stop()

    assert snapshot.identity == first.identity
    assert any(isinstance(err, MeterConnectionError) for err in errors)
    assert meter.stats.reconnects == len(errors)


async def test_wrong_password_is_an_auth_error() -> None:
    sim = FluksoSimulator("FLM02", username="flukso", password="secret")
    await sim.start(autorun=False)
    wrong = FluksoMeter(sim.host, sim.port, username="flukso", password="guess")
    right = FluksoMeter(sim.host, sim.port, username="flukso", password="secret")
    try:
        with pytest.raises(MeterAuthError):
            await wrong.identify()
        assert (await right.identify()).serial == sim.device_id
    finally:
        await wrong.close()
        await right.close()
        await sim.stop()


async def test_nothing_listening_is_a_connection_error(flm02: FluksoSimulator) -> None:
    port = flm02.port
    await flm02.stop()
    meter = FluksoMeter("127.0.0.1", port)
    with pytest.raises(MeterConnectionError):
        await meter.identify()
    await meter.close()


async def test_a_broker_without_a_fluksometer_times_out_discovery() -> None:
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": "127.0.0.1:0"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {}},
        }
    )
    await broker.start()
    port = broker._servers["default"].instance.sockets[0].getsockname()[1]
    meter = FluksoMeter("127.0.0.1", port, discovery_timeout=0.2)
    try:
        with pytest.raises(MeterTimeoutError):
            await meter.identify()
    finally:
        await meter.close()
        await broker.shutdown()
