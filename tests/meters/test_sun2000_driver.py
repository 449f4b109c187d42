"""The SUN2000 driver against the Modbus twin: identity, exact values, requests per poll."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from custom_components.wattkeeper.meters.base import PolledMeter
from custom_components.wattkeeper.meters.model import MeterKind, Snapshot
from custom_components.wattkeeper.meters.sun2000 import (
    Sun2000Meter,
    probe,
    probe_units,
    snapshot_fields,
)
from custom_components.wattkeeper.meters.sun2000_connection import (
    ConnectionOptions,
    ModbusRejectedError,
    Sun2000Connection,
)
from custom_components.wattkeeper.meters.sun2000_registers import Part
from simulators.sun2000 import Fault, InverterSpec, SimClock, Sun2000Simulator, running

FAST = ConnectionOptions(
    timeout=0.5, retries=1, backoff=0.01, cooldown=0.0, wait_after_connect=0.02
)
NOON = datetime(2025, 6, 21, 13, 0, tzinfo=UTC)
NIGHT = datetime(2025, 6, 21, 2, 30, tzinfo=UTC)
SINGLE_PHASE = InverterSpec(
    unit_id=2,
    serial="HV2250067890",
    model="SUN2000-5KTL-L1",
    phases=1,
    meter=False,
    battery=False,
    seed=2,
)


def _numbers(snapshot: Snapshot) -> dict[str, float]:
    return {k: v for k, v in snapshot_fields(snapshot).items() if isinstance(v, float)}


@pytest.fixture
def clock() -> SimClock:
    return SimClock(NOON)


@pytest.fixture
async def sim(clock: SimClock) -> AsyncIterator[Sun2000Simulator]:
    async with running((InverterSpec(), SINGLE_PHASE), clock=clock) as twin:
        yield twin


@pytest.fixture
async def connection(sim: Sun2000Simulator) -> AsyncIterator[Sun2000Connection]:
    conn = Sun2000Connection("127.0.0.1", sim.port, FAST)
    yield conn
    await conn.close()


async def test_identify_reads_the_device_registers(
    sim: Sun2000Simulator, connection: Sun2000Connection
) -> None:
    meter = Sun2000Meter(connection, 1)
    assert isinstance(meter, PolledMeter)
    identity = await meter.identify()
    truth = sim.identity(1)
    assert (identity.serial, identity.model, identity.firmware) == (
        truth["serial"],
        truth["model"],
        truth["firmware"],
    )
    assert identity.kind is MeterKind.SUN2000
    assert identity.manufacturer == "Huawei"
    device = meter.device
    assert device is not None
    assert (device.pv_strings, device.phases, device.meter_phases) == (2, 3, 3)
    assert device.software == truth["software"]
    assert device.rated_power == 6000.0
    assert device.meter is not None
    assert device.meter.serial == f"{truth['serial']}-meter"
    assert device.meter.model == "DTSU666-H"
    assert device.battery is not None
    assert device.battery.serial == f"{truth['serial']}-battery"
    assert device.battery_capacity == 10000.0


@pytest.mark.parametrize("moment", [NOON, NIGHT], ids=["noon", "night"])
async def test_every_value_decodes_exactly(
    sim: Sun2000Simulator, connection: Sun2000Connection, clock: SimClock, moment: datetime
) -> None:
    clock.set(moment)
    meter = Sun2000Meter(connection, 1, clock=lambda: moment)
    snapshot = await meter.read()
    assert snapshot.measured_at == moment
    assert snapshot_fields(snapshot) == sim.truth(1)
    assert [s.identity.serial.rsplit("-", 1)[-1] for s in snapshot.sub_meters] == [
        "meter",
        "battery",
    ]


async def test_signs_and_32_bit_values_at_night(
    sim: Sun2000Simulator, connection: Sun2000Connection, clock: SimClock
) -> None:
    clock.set(NIGHT)
    fields = _numbers(await Sun2000Meter(connection, 1).read())
    # Night: no sun, the battery discharges and the house imports the rest.
    assert fields["inverter.pv_power"] == 0
    assert "inverter.device_status" not in fields  # a text, checked against the truth above
    assert fields["battery.battery_power"] < 0
    assert fields["meter.power"] > 0
    assert fields["meter.current_l1"] > 0
    # Counters above 655.35 kWh only fit when both words are read high word first.
    assert fields["inverter.pv_energy"] > 655.35
    assert fields["meter.energy_import"] > 655.35


async def test_noon_exports(sim: Sun2000Simulator, connection: Sun2000Connection) -> None:
    snapshot = await Sun2000Meter(connection, 1).read()
    assert snapshot.texts["device_status"] == "on_grid"
    fields = _numbers(snapshot)
    assert fields["inverter.power_production"] > 1000
    assert fields["inverter.pv_power_c1"] > 0
    assert fields["meter.power"] < 0
    assert fields["meter.power"] == sum(fields[f"meter.power_l{p}"] for p in (1, 2, 3))


async def test_requests_per_poll_follow_the_plan(
    sim: Sun2000Simulator, connection: Sun2000Connection
) -> None:
    meter = Sun2000Meter(connection, 1)
    await meter.identify()
    sim.clear_log()
    await meter.read()
    assert [(r.address, r.count) for r in sim.requests] == [
        (r.address, r.count) for r in meter.plan
    ]
    assert len(sim.requests) == 5
    assert all(r.outcome == "ok" and r.unit == 1 for r in sim.requests)


async def test_only_enabled_fields_cost_traffic(
    sim: Sun2000Simulator, connection: Sun2000Connection
) -> None:
    meter = Sun2000Meter(connection, 1, fields={"inverter.power_production", "meter.power"})
    await meter.identify()
    sim.clear_log()
    fields = snapshot_fields(await meter.read())
    assert set(fields) == {"inverter.power_production", "meter.power", "meter.meter_status"}
    assert [(r.address, r.count) for r in sim.requests] == [(32080, 2), (37100, 15)]

    meter.set_fields({"battery.battery_soc"})
    sim.clear_log()
    fields = snapshot_fields(await meter.read())
    assert fields == {"battery.battery_soc": sim.truth(1)["battery.battery_soc"]}
    assert [(r.address, r.count) for r in sim.requests] == [(37760, 1)]


async def test_unbatched_reads_one_register_per_request(
    sim: Sun2000Simulator, connection: Sun2000Connection
) -> None:
    meter = Sun2000Meter(connection, 1, batched=False)
    await meter.identify()
    sim.clear_log()
    fields = snapshot_fields(await meter.read())
    assert fields == sim.truth(1)
    assert len(sim.requests) == 46


async def test_alarms_decode_into_text(
    sim: Sun2000Simulator, connection: Sun2000Connection
) -> None:
    sim.set_alarms(1, (1 << 7, 1 << 3, 1))
    fields = snapshot_fields(await Sun2000Meter(connection, 1).read())
    assert fields["inverter.alarms"] == (
        "Grid loss (2032); Overtemperature (2063); Optimizer fault (2081)"
    )


async def test_single_phase_inverter_without_meter_or_battery(
    sim: Sun2000Simulator, connection: Sun2000Connection
) -> None:
    meter = Sun2000Meter(connection, 2)
    await meter.identify()
    device = meter.device
    assert device is not None
    assert (device.phases, device.meter, device.battery) == (1, None, None)
    snapshot = await meter.read()
    assert snapshot.sub_meters == ()
    assert snapshot_fields(snapshot) == sim.truth(2)
    assert "inverter.voltage_l2" not in device.fields
    assert all(r.address < 37000 for r in meter.plan)


async def test_unit_ids_share_one_connection_one_request_at_a_time(
    sim: Sun2000Simulator, connection: Sun2000Connection
) -> None:
    first, second = Sun2000Meter(connection, 1), Sun2000Meter(connection, 2)
    for _ in range(3):
        one, two = await asyncio.gather(first.read(), second.read())
        assert snapshot_fields(one) == sim.truth(1)
        assert snapshot_fields(two) == sim.truth(2)
    assert sim.connections_opened == 1
    assert connection.connects == 1
    assert sim.max_in_flight == 1
    assert {r.unit for r in sim.requests} == {1, 2}


async def test_probe_finds_the_unit_ids(
    sim: Sun2000Simulator, connection: Sun2000Connection
) -> None:
    found = await probe(connection)
    assert sorted(found) == [1, 2]
    assert found[1].serial == sim.identity(1)["serial"]
    assert found[2].model == "SUN2000-5KTL-L1"
    # From unit 1 up, once each, until three in a row past the last inverter say "no device".
    assert [(r.unit, r.outcome) for r in sim.requests] == [
        (1, "ok"),
        (2, "ok"),
        (3, "exception 11"),
        (4, "exception 11"),
        (5, "exception 11"),
    ]
    assert connection.connects == 1


def test_probe_asks_the_inverters_wifi_only_for_units_0_and_1() -> None:
    assert probe_units(6607) == (0, 1)
    assert probe_units(502) == tuple(range(1, 17))


async def test_probe_stops_after_a_run_of_absent_units(clock: SimClock) -> None:
    # Unit 9 sits past a run of three empty unit ids: a dongle numbers from 1 without holes.
    async with running((InverterSpec(), InverterSpec(unit_id=9, serial="HV9")), clock=clock) as sim:
        connection = Sun2000Connection("127.0.0.1", sim.port, FAST)
        try:
            assert sorted(await probe(connection)) == [1]
            assert [r.unit for r in sim.requests] == [1, 2, 3, 4]
            sim.clear_log()
            # Until one is found every unit id given is asked; an explicit list skips unit 0.
            assert await probe(connection, range(2, 9)) == {}
            assert [r.unit for r in sim.requests] == list(range(2, 9))
        finally:
            await connection.close()


async def test_probe_tries_unit_0_when_nothing_else_answers(clock: SimClock) -> None:
    async with running((InverterSpec(unit_id=0),), clock=clock) as sim:
        connection = Sun2000Connection("127.0.0.1", sim.port, FAST)
        try:
            assert sorted(await probe(connection)) == [0]
            assert [r.unit for r in sim.requests] == [*range(1, 17), 0]
        finally:
            await connection.close()


async def test_probe_skips_a_unit_whose_answer_does_not_fit(
    sim: Sun2000Simulator, connection: Sun2000Connection
) -> None:
    sim.set_fault(Fault.SHORT_ANSWER, count=1, units=[1])
    found = await probe(connection)
    assert sorted(found) == [2]  # unit 1 answered short; the probe went on
    assert [(r.unit, r.outcome) for r in sim.requests[:2]] == [(1, "short"), (2, "ok")]


async def test_meter_owning_its_connection_closes_it(sim: Sun2000Simulator) -> None:
    meter = Sun2000Meter.over_tcp("127.0.0.1", sim.port, 1, options=FAST)
    await meter.read()
    opened = sim.open_connections
    await meter.close()
    await sim.wait_for(lambda: not sim.open_connections)
    assert len(opened) == 1


async def test_raw_words_decode_to_hand_computed_values(
    sim: Sun2000Simulator, connection: Sun2000Connection
) -> None:
    """Words put on the wire by hand, values worked out by hand: no codec on either side."""
    sim.poke(
        1,
        {
            32008: 0x0080,  # alarm 1, bit 7
            32016: 0x0D05,  # PV1 3333 → 333.3 V
            32017: 0x0320,  # 800 → 8.00 A
            32064: 0x0000,  # input power 0x00001A2B = 6699 W
            32065: 0x1A2B,
            32069: 0x0902,  # 2306 → 230.6 V
            32072: 0x0000,  # 0x00002710 = 10000 → 10.000 A
            32073: 0x2710,
            32080: 0xFFFF,  # 0xFFFFFF38 = -200 W: drawing power
            32081: 0xFF38,
            32085: 0xFFFF,  # Huawei's "no value": no frequency reading at all
            32087: 0xFF9C,  # -100 → -10.0 °C
            32089: 0x0200,  # on-grid
            32106: 0x0001,  # 0x000186A0 = 100000 → 1000.00 kWh
            32107: 0x86A0,
            37101: 0x0000,  # 0x00000906 = 2310 → 231.0 V
            37102: 0x0906,
            37113: 0xFFFF,  # 0xFFFFFC18 = -1000 W from the grid's side: importing 1000 W
            37114: 0xFC18,
            37119: 0x0000,  # 0x00003039 = 12345 → 123.45 kWh exported
            37120: 0x3039,
            37760: 0x0307,  # 775 → 77.5 %
            37762: 0x0001,  # standby
            37765: 0xFFFF,  # 0xFFFFF830 = -2000 W: discharging
            37766: 0xF830,
        },
    )
    fields = snapshot_fields(await Sun2000Meter(connection, 1).read())
    assert {
        name: fields.get(name)
        for name in (
            "inverter.alarms",
            "inverter.pv_voltage_c1",
            "inverter.pv_current_c1",
            "inverter.pv_power_c1",
            "inverter.pv_power",
            "inverter.voltage_l1",
            "inverter.current_l1",
            "inverter.power_production",
            "inverter.frequency",
            "inverter.temperature",
            "inverter.device_status",
            "inverter.pv_energy",
            "meter.voltage_l1",
            "meter.power",
            "meter.energy_export",
            "battery.battery_soc",
            "battery.battery_status",
            "battery.battery_power",
        )
    } == {
        "inverter.alarms": "Grid loss (2032)",
        "inverter.pv_voltage_c1": 333.3,
        "inverter.pv_current_c1": 8.0,
        "inverter.pv_power_c1": 333.3 * 8.0,
        "inverter.pv_power": 6699.0,
        "inverter.voltage_l1": 230.6,
        "inverter.current_l1": 10.0,
        "inverter.power_production": -200.0,
        "inverter.frequency": None,
        "inverter.temperature": -10.0,
        "inverter.device_status": "on_grid",
        "inverter.pv_energy": 1000.0,
        "meter.voltage_l1": 231.0,
        "meter.power": 1000.0,
        "meter.energy_export": 123.45,
        "battery.battery_soc": 77.5,
        "battery.battery_status": "standby",
        "battery.battery_power": -2000.0,
    }


async def test_the_meter_is_read_every_time_the_inverter_every_third(
    sim: Sun2000Simulator, connection: Sun2000Connection, clock: SimClock
) -> None:
    moments = iter(NOON + timedelta(seconds=10 * n) for n in range(10))
    meter = Sun2000Meter(connection, 1, inverter_every=3, clock=lambda: next(moments))
    await meter.identify()
    full = [(r.address, r.count) for r in meter.plan]
    alone = [(r.address, r.count) for r in meter.plan_of(Part.METER)]
    assert alone == [(37100, 38)]
    sim.clear_log()
    snapshots = [await meter.read() for _ in range(4)]
    assert [(r.address, r.count) for r in sim.requests] == [*full, *alone, *alone, *full]
    # The meter is new each time; the inverter and battery repeat with their own time.
    times = [(s.measured_at, *(sub.measured_at for sub in s.sub_meters)) for s in snapshots]
    t = [NOON + timedelta(seconds=10 * n) for n in range(4)]
    assert times == [(t[0], t[0], t[0]), (t[0], t[1], t[0]), (t[0], t[2], t[0]), (t[3], t[3], t[3])]
    assert snapshots[1].values == snapshots[0].values
    # A failed read makes the next one read everything again.
    sim.set_fault(Fault.ILLEGAL_ADDRESS, count=1)
    with pytest.raises(ModbusRejectedError):
        await meter.read()
    sim.clear_log()
    await meter.read()
    assert [(r.address, r.count) for r in sim.requests] == full


async def test_without_a_power_meter_every_read_is_full(
    sim: Sun2000Simulator, connection: Sun2000Connection
) -> None:
    meter = Sun2000Meter(connection, 2, inverter_every=3)
    await meter.identify()
    sim.clear_log()
    for _ in range(3):
        assert snapshot_fields(await meter.read()) == sim.truth(2)
    assert len(sim.requests) == 3 * len(meter.plan)


async def test_single_phase_is_told_by_phase_b_or_by_the_model_name(clock: SimClock) -> None:
    # A three-phase inverter with a single-phase-looking name: phase B's voltage decides.
    odd_name = InverterSpec(model="SUN2000-5KTL-L1", meter=False, battery=False)
    # And the other way round: phase B's "no value" outweighs a three-phase name.
    no_phase_b = InverterSpec(unit_id=2, serial="HV2", phases=1, meter=False, battery=False)
    async with running((odd_name, no_phase_b), clock=clock) as sim:
        connection = Sun2000Connection("127.0.0.1", sim.port, FAST)
        try:
            meter = Sun2000Meter(connection, 1)
            assert (await meter.discover()).phases == 3
            # Phase B at 0 V (grid down) says nothing: the name decides.
            sim.poke(1, {32070: 0})
            assert (await meter.discover()).phases == 1
            assert (await Sun2000Meter(connection, 2).discover()).phases == 1
        finally:
            await connection.close()
