"""The SUN2000 twin itself: a plausible day, Modbus rules like a dongle, runnable from a shell."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.pdu import ExceptionResponse

from custom_components.wattkeeper.meters import sun2000_compat as compat
from custom_components.wattkeeper.meters.sun2000 import probe
from custom_components.wattkeeper.meters.sun2000_connection import (
    ConnectionOptions,
    Sun2000Connection,
)
from simulators.sun2000 import InverterSpec, SimClock, Sun2000Simulator, running

MIDNIGHT = datetime(2025, 6, 21, 0, 0, tzinfo=UTC)


@pytest.fixture
async def client_and_sim() -> AsyncIterator[tuple[AsyncModbusTcpClient, Sun2000Simulator]]:
    async with running(clock=SimClock(MIDNIGHT), max_registers=64) as sim:
        client = AsyncModbusTcpClient("127.0.0.1", port=sim.port, timeout=2, retries=0)
        assert await client.connect()
        yield client, sim
        client.close()


async def test_a_day_from_sunrise_to_sunset() -> None:
    clock = SimClock(MIDNIGHT)
    async with running((InverterSpec(peak_w=6000),), clock=clock) as sim:
        previous = sim.truth(1)
        yields: list[float] = []
        for _ in range(26 * 2):  # 26 hours in half-hour steps
            clock.advance(1800)
            now = sim.truth(1)
            hour = clock.now().hour + clock.now().minute / 60
            production = float(now["inverter.power_production"])
            if hour < 6.5 or hour > 20.5:
                assert production == 0
                assert now["inverter.device_status"] == "standby_no_irradiation"
            if 11 <= hour <= 15:
                assert 2000 < production < 6000
                assert now["inverter.device_status"] == "on_grid"
            for counter in ("inverter.pv_energy", "meter.energy_import", "meter.energy_export"):
                assert float(now[counter]) >= float(previous[counter])
            assert 0 <= float(now["battery.battery_soc"]) <= 100
            yields.append(float(now["inverter.pv_energy_daily"]))
            previous = now
        # The daily counter grows through the day and starts over after midnight.
        assert max(yields) > 20
        assert yields[-1] < 0.01


async def test_daily_and_total_yield_agree() -> None:
    clock = SimClock(MIDNIGHT + timedelta(minutes=1))
    async with running(clock=clock) as sim:
        start = float(sim.truth(1)["inverter.pv_energy"])
        clock.set(MIDNIGHT + timedelta(hours=23, minutes=59))
        end = sim.truth(1)
        assert float(end["inverter.pv_energy"]) - start == pytest.approx(
            float(end["inverter.pv_energy_daily"]), abs=0.02
        )


async def test_modbus_rules_like_a_dongle(
    client_and_sim: tuple[AsyncModbusTcpClient, Sun2000Simulator],
) -> None:
    client, sim = client_and_sim
    cases = [
        ((37760, 28, 1), 0x02),  # across the forbidden gap
        ((32000, 65, 1), 0x03),  # more than this dongle's 64 registers
        ((100, 2, 1), 0x02),  # outside the device's address space
        ((32080, 2, 9), 0x0B),  # no inverter behind unit 9
    ]
    for (address, count, unit), code in cases:
        response = await client.read_holding_registers(address, count=count, **compat.unit(unit))
        assert isinstance(response, ExceptionResponse)
        assert response.exception_code == code
    response = await client.write_register(40000, 1, **compat.unit(1))
    assert isinstance(response, ExceptionResponse)
    assert response.exception_code == 0x01
    assert [r.outcome for r in sim.requests] == [
        "exception 2",
        "exception 3",
        "exception 2",
        "exception 11",
        "exception 1",
    ]


async def test_runs_from_the_command_line() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "simulators.sun2000",
        "--port",
        "0",
        "--units",
        "1,3",
        stdout=asyncio.subprocess.PIPE,
    )
    connection = None
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        assert "unit ids [1, 3]" in line
        port = int(line.split(":")[1].split(",")[0])
        options = ConnectionOptions(timeout=1, wait_after_connect=0.02, cooldown=0)
        connection = Sun2000Connection("127.0.0.1", port, options)
        found = await probe(connection, range(5))
        assert sorted(found) == [1, 3]
    finally:
        if connection is not None:
            await connection.close()
        process.terminate()
        await process.wait()
