"""The SUN2000 driver against the Modbus twin: identity, exact values, requests per poll."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from custom_components.wattkeeper.meters.base import PolledMeter
from custom_components.wattkeeper.meters.model import MeterKind, Snapshot
from custom_components.wattkeeper.meters.sun2000 import (
    Sun2000Meter,
    probe,
    snapshot_fields,
)
from custom_components.wattkeeper.meters.sun2000_connection import (
    ConnectionOptions,
    Sun2000Connection,
)
from simulators.sun2000 import InverterSpec, SimClock, Sun2000Simulator, running

FAST = ConnectionOptions(
    timeout=0.5, retries=1, backoff=0.01, cooldown=0.0, wait_after_connect=0.02
)
NOON = datetime(2025, 6, 21, 13, 0, tzinfo=UTC)
NIGHT = datetime(2025, 6, 21, 2, 30, tzinfo=UTC)
SINGLE_PHASE = InverterSpec(
    unit_id=2, serial="HV2250067890", model="SUN2000-5KTL-L1", meter=False, battery=False, seed=2
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
    assert snapshot.texts["device_status"] == "On-grid"
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
    found = await probe(connection, range(17))
    assert sorted(found) == [1, 2]
    assert found[1].serial == sim.identity(1)["serial"]
    assert found[2].model == "SUN2000-5KTL-L1"
    # One request per unit id: absent ones answer "no device" and are not retried.
    assert len(sim.requests) == 17
    assert connection.connects == 1


async def test_meter_owning_its_connection_closes_it(sim: Sun2000Simulator) -> None:
    meter = Sun2000Meter.over_tcp("127.0.0.1", sim.port, 1, options=FAST)
    await meter.read()
    opened = sim.open_connections
    await meter.close()
    await asyncio.sleep(0.01)
    assert (len(opened), sim.open_connections) == (1, ())
