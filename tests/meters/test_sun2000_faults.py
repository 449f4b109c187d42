"""Each simulator fault maps to the right MeterError, the driver recovers, never opens two links."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from custom_components.wattkeeper.meters.errors import (
    MeterConnectionError,
    MeterDataError,
    MeterTimeoutError,
)
from custom_components.wattkeeper.meters.sun2000 import Sun2000Meter, snapshot_fields
from custom_components.wattkeeper.meters.sun2000_connection import (
    ConnectionOptions,
    ModbusRejectedError,
    ModbusUnavailableError,
    Sun2000Connection,
)
from simulators.sun2000 import Fault, InverterSpec, SimClock, Sun2000Simulator, running

OPTIONS = ConnectionOptions(
    timeout=0.25, retries=2, backoff=0.01, cooldown=0.0, wait_after_connect=0.02
)
# Longer than the twin's grace before it refuses a second connection.
PATIENT = ConnectionOptions(
    timeout=0.25, retries=0, backoff=0.01, cooldown=0.0, wait_after_connect=0.15
)


@pytest.fixture
async def sim() -> AsyncIterator[Sun2000Simulator]:
    clock = SimClock(datetime(2025, 6, 21, 11, 0, tzinfo=UTC))
    async with running((InverterSpec(),), clock=clock) as twin:
        twin.slow_seconds = 0.6
        yield twin


@pytest.fixture
async def meter(sim: Sun2000Simulator) -> AsyncIterator[Sun2000Meter]:
    driver = Sun2000Meter(Sun2000Connection("127.0.0.1", sim.port, OPTIONS), 1)
    await driver.identify()
    sim.clear_log()
    yield driver
    await driver.connection.close()


def _one_link_at_a_time(sim: Sun2000Simulator) -> None:
    """Requests never come back from an older connection once a newer one is in use."""
    ids = [r.connection for r in sim.requests]
    assert ids == sorted(ids)
    assert sim.max_in_flight == 1


async def _settled(sim: Sun2000Simulator) -> None:
    """Until the twin has seen every connection the driver closed go, and judged every new one."""
    await sim.wait_for(lambda: sim.settled and len(sim.open_connections) <= 1)


async def _recovers(meter: Sun2000Meter, sim: Sun2000Simulator) -> None:
    sim.clear_fault()
    assert snapshot_fields(await meter.read()) == sim.truth(1)
    await _settled(sim)
    assert len(sim.open_connections) == 1
    _one_link_at_a_time(sim)


async def test_slow_answer_times_out_and_the_late_answer_is_never_used(
    meter: Sun2000Meter, sim: Sun2000Simulator
) -> None:
    sim.set_fault(Fault.SLOW, count=1)
    assert snapshot_fields(await meter.read()) == sim.truth(1)
    # The retry went over a fresh connection, so the late answer had nowhere to land.
    assert meter.connection.connects == 2
    # The twin sends its late answer to the connection the driver has closed.
    await sim.wait_for(lambda: sim.requests[0].outcome != "pending")
    assert sim.requests[0].outcome == "ok"
    assert snapshot_fields(await meter.read()) == sim.truth(1)
    _one_link_at_a_time(sim)


@pytest.mark.parametrize("fault", [Fault.SLOW, Fault.NO_ANSWER])
async def test_a_device_that_never_answers_in_time_is_a_timeout(
    meter: Sun2000Meter, sim: Sun2000Simulator, fault: Fault
) -> None:
    sim.set_fault(fault)
    with pytest.raises(MeterTimeoutError, match=r"unit 1 at 127\.0\.0\.1:\d+: no answer within"):
        await meter.read()
    assert len(sim.requests) == 3  # first try and two retries, each on a new connection
    assert meter.connection.connects == 3  # the first one, then one per retry
    await _recovers(meter, sim)


async def test_illegal_address_is_a_data_error_without_retries(
    meter: Sun2000Meter, sim: Sun2000Simulator
) -> None:
    sim.set_fault(Fault.ILLEGAL_ADDRESS, count=1)
    with pytest.raises(ModbusRejectedError, match="illegal data address") as caught:
        await meter.read()
    assert isinstance(caught.value, MeterDataError)
    assert caught.value.code == 2
    assert [r.outcome for r in sim.requests] == ["exception 2"]
    await _recovers(meter, sim)
    assert meter.connection.connects == 1


async def test_busy_once_is_retried_transparently(
    meter: Sun2000Meter, sim: Sun2000Simulator
) -> None:
    sim.set_fault(Fault.BUSY, count=1)
    assert snapshot_fields(await meter.read()) == sim.truth(1)
    assert [r.outcome for r in sim.requests[:2]] == ["exception 6", "ok"]
    assert sim.requests[0].address == sim.requests[1].address
    assert meter.connection.connects == 1


async def test_busy_for_good_is_a_connection_error_and_reconnects(
    meter: Sun2000Meter, sim: Sun2000Simulator
) -> None:
    sim.set_fault(Fault.BUSY)
    with pytest.raises(ModbusUnavailableError, match="device busy") as caught:
        await meter.read()
    assert isinstance(caught.value, MeterConnectionError)
    assert [r.outcome for r in sim.requests] == ["exception 6"] * 3
    await _recovers(meter, sim)
    # Three failures in a row: the driver started over on a new connection.
    assert meter.connection.connects == 2


async def test_dropped_connection_is_reopened(meter: Sun2000Meter, sim: Sun2000Simulator) -> None:
    sim.set_fault(Fault.DROP, count=1)
    assert snapshot_fields(await meter.read()) == sim.truth(1)
    assert sim.requests[0].outcome == "dropped"
    assert meter.connection.connects == 2
    _one_link_at_a_time(sim)


async def test_dropping_every_time_is_a_connection_error(
    meter: Sun2000Meter, sim: Sun2000Simulator
) -> None:
    sim.set_fault(Fault.DROP)
    with pytest.raises(MeterConnectionError, match="dropped the connection"):
        await meter.read()
    await _recovers(meter, sim)


async def test_dongle_reboot_between_polls(meter: Sun2000Meter, sim: Sun2000Simulator) -> None:
    await meter.read()
    sim.drop_connections()  # whether or not the driver noticed yet, the next read reconnects
    assert snapshot_fields(await meter.read()) == sim.truth(1)
    assert meter.connection.connects == 2


async def test_second_connection_is_refused_with_an_actionable_message(
    sim: Sun2000Simulator,
) -> None:
    sim.refuse_second_connection = True
    other = Sun2000Connection("127.0.0.1", sim.port, PATIENT)
    await other.read_holding(1, 32080, 2)  # another client holds the only connection
    meter = Sun2000Meter(Sun2000Connection("127.0.0.1", sim.port, PATIENT), 1)
    try:
        with pytest.raises(
            MeterConnectionError,
            match="the dongle allows one Modbus connection; close the other client",
        ):
            await meter.identify()
        assert sim.connections_refused == 1
        assert len(sim.open_connections) == 1
        await other.close()
        await sim.wait_for(lambda: sim.settled and not sim.open_connections)
        await meter.identify()
        assert snapshot_fields(await meter.read()) == sim.truth(1)
    finally:
        await meter.connection.close()
        await other.close()


async def test_nothing_listening_is_a_connection_error(sim: Sun2000Simulator) -> None:
    port = sim.port
    await sim.stop()
    meter = Sun2000Meter(Sun2000Connection("127.0.0.1", port, OPTIONS), 1)
    with pytest.raises(MeterConnectionError, match=r"cannot connect to 127\.0\.0\.1"):
        await meter.identify()
    await meter.connection.close()


async def test_cancelled_poll_leaves_no_stale_answer_behind(
    meter: Sun2000Meter, sim: Sun2000Simulator
) -> None:
    sim.set_fault(Fault.SLOW, count=1)
    poll = asyncio.ensure_future(meter.read())
    await sim.wait_for(lambda: bool(sim.requests))  # the slow request is on its way
    poll.cancel()
    with pytest.raises(asyncio.CancelledError):
        await poll
    assert snapshot_fields(await meter.read()) == sim.truth(1)
    await sim.wait_for(lambda: sim.requests[0].outcome != "pending")  # the late answer went out
    assert snapshot_fields(await meter.read()) == sim.truth(1)
    _one_link_at_a_time(sim)


async def test_a_run_of_faults_never_opens_a_second_connection(
    meter: Sun2000Meter, sim: Sun2000Simulator
) -> None:
    sim.refuse_second_connection = True
    faults = itertools.cycle([Fault.DROP, Fault.BUSY, Fault.SLOW, Fault.NONE])
    for _ in range(8):
        sim.set_fault(next(faults), count=1)
        assert snapshot_fields(await meter.read()) == sim.truth(1)
    await _settled(sim)
    assert sim.connections_refused == 0
    assert len(sim.open_connections) == 1
    _one_link_at_a_time(sim)


async def test_cancelled_while_waiting_after_connect_leaves_no_connection(
    sim: Sun2000Simulator,
) -> None:
    slow_start = ConnectionOptions(wait_after_connect=0.5, timeout=0.25, cooldown=0.0)
    connection = Sun2000Connection("127.0.0.1", sim.port, slow_start)
    attempt = asyncio.ensure_future(connection.read_holding(1, 32080, 2))
    await sim.wait_for(lambda: bool(sim.open_connections))  # connected, now waiting
    while_waiting = sim.open_connections
    attempt.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt
    await sim.wait_for(lambda: not sim.open_connections)
    assert (len(while_waiting), sim.requests) == (1, [])
