"""The Modbus proxy serves other clients through the driver's single connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.pdu import ExceptionResponse

from custom_components.wattkeeper.meters import sun2000_compat as compat
from custom_components.wattkeeper.meters.sun2000 import Sun2000Meter, snapshot_fields
from custom_components.wattkeeper.meters.sun2000_connection import (
    ConnectionOptions,
    Sun2000Connection,
)
from custom_components.wattkeeper.meters.sun2000_proxy import Sun2000Proxy
from custom_components.wattkeeper.meters.sun2000_registers import REGISTERS_BY_NAME
from simulators.sun2000 import SimClock, Sun2000Simulator, register_words, running

OPTIONS = ConnectionOptions(
    timeout=0.5, retries=1, backoff=0.01, cooldown=0.005, wait_after_connect=0.02
)


@pytest.fixture
async def sim() -> AsyncIterator[Sun2000Simulator]:
    async with running(clock=SimClock(datetime(2025, 6, 21, 15, 0, tzinfo=UTC))) as twin:
        twin.refuse_second_connection = True  # a SDongle: one client only
        yield twin


@pytest.fixture
async def meter(sim: Sun2000Simulator) -> AsyncIterator[Sun2000Meter]:
    driver = Sun2000Meter(Sun2000Connection("127.0.0.1", sim.port, OPTIONS), 1)
    await driver.identify()
    yield driver
    await driver.connection.close()


@pytest.fixture
async def proxy(meter: Sun2000Meter) -> AsyncIterator[Sun2000Proxy]:
    server = Sun2000Proxy(meter.connection, host="127.0.0.1", port=0, unit_ids={1})
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client(proxy: Sun2000Proxy) -> AsyncIterator[AsyncModbusTcpClient]:
    other = AsyncModbusTcpClient("127.0.0.1", port=proxy.port, timeout=2, retries=0)
    assert await other.connect()
    yield other
    other.close()


async def test_second_client_reads_while_the_driver_keeps_polling(
    sim: Sun2000Simulator,
    meter: Sun2000Meter,
    proxy: Sun2000Proxy,
    client: AsyncModbusTcpClient,
) -> None:
    power = REGISTERS_BY_NAME["active_power"]
    energy = REGISTERS_BY_NAME["meter_imported_energy"]

    async def poll() -> int:
        polls = 0
        for _ in range(5):
            assert snapshot_fields(await meter.read()) == sim.truth(1)
            polls += 1
        return polls

    async def other_client() -> int:
        reads = 0
        for _ in range(10):
            for register in (power, energy):
                response = await client.read_holding_registers(
                    register.address, count=register.count, **compat.unit(1)
                )
                assert not response.isError()
                assert response.registers == register_words(
                    sim, 1, register.address, register.count
                )
                reads += 1
        return reads

    polls, reads = await asyncio.gather(poll(), other_client())
    assert (polls, reads) == (5, 20)
    assert proxy.served == 20
    assert proxy.clients == 1
    # Everything went over the driver's one connection, one request at a time.
    assert sim.connections_opened == 1
    assert sim.connections_refused == 0
    assert sim.max_in_flight == 1
    # Identity in two requests; phase B's voltage, the meter's presence, the battery's
    # serial and capacity.
    identify = 6
    assert len(sim.requests) == identify + 5 * len(meter.plan) + 20


async def test_writes_are_refused(client: AsyncModbusTcpClient, sim: Sun2000Simulator) -> None:
    before = len(sim.requests)
    response = await client.write_register(47086, 2, **compat.unit(1))
    assert isinstance(response, ExceptionResponse)
    assert response.exception_code == 0x01  # illegal function
    assert len(sim.requests) == before


async def test_device_exceptions_reach_the_client(
    client: AsyncModbusTcpClient, proxy: Sun2000Proxy
) -> None:
    response = await client.read_holding_registers(37760, count=28, **compat.unit(1))
    assert isinstance(response, ExceptionResponse)
    assert response.exception_code == 0x02  # the twin rejects the forbidden gap
    response = await client.read_holding_registers(32080, count=2, **compat.unit(7))
    assert isinstance(response, ExceptionResponse)
    assert response.exception_code == 0x0A  # unit 7 is not served by this proxy
    assert proxy.refused == 2
