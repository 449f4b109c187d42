"""Every simulator fault mode against the driver: counted, never a crash, recoverable.

The simulator sends every 50 ms; the driver expects a telegram every 250 ms,
so its watchdog trips after 750 ms without a valid one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from custom_components.wattkeeper.meters.backoff import Backoff, reconnecting
from custom_components.wattkeeper.meters.dsmr import DsmrMeter
from custom_components.wattkeeper.meters.errors import (
    MeterConnectionError,
    MeterError,
    MeterTimeoutError,
)
from custom_components.wattkeeper.meters.model import Snapshot
from simulators.dsmr import DsmrSimulator, Fault

SEND_INTERVAL = 0.05
WATCHDOG_INTERVAL = 0.25
SMARTY_KEY = "5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A"


class Rig:
    """One simulator and one meter on it, over TCP or the pty."""

    def __init__(self, sim: DsmrSimulator, meter: DsmrMeter) -> None:
        self.sim = sim
        self.meter = meter

    async def take(self, count: int) -> list[Snapshot]:
        out: list[Snapshot] = []
        async with asyncio.timeout(10):
            async for snapshot in self.meter.stream():
                out.append(snapshot)
                if len(out) == count:
                    break
        for snapshot in out:
            assert self.sim.truth_of(snapshot).mismatches(snapshot) == []
        return out

    async def until_error(self) -> tuple[MeterError, float]:
        """Stream until the driver gives up: the error, and the seconds from the last
        valid telegram leaving the simulator to the error (never shorter than the
        driver's own quiet time, which starts when that telegram arrived)."""
        async with asyncio.timeout(10):
            try:
                async for _ in self.meter.stream():
                    pass
            except MeterError as err:
                return err, time.perf_counter() - self.sim.last.sent_at
        raise AssertionError("the stream ended without an error")


@pytest.fixture(params=["tcp", "pty"])
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    sim = DsmrSimulator("5", interval=SEND_INTERVAL)
    if request.param == "tcp":
        port = await sim.start_tcp()
        meter = DsmrMeter(host="127.0.0.1", port=port, version="5", interval=WATCHDOG_INTERVAL)
    else:
        meter = DsmrMeter(device=await sim.start_pty(), version="5", interval=WATCHDOG_INTERVAL)
    yield Rig(sim, meter)
    await meter.close()
    await sim.stop()


async def test_bad_crc_is_counted_then_the_watchdog_trips(rig: Rig) -> None:
    await rig.take(2)
    rig.sim.set_fault(Fault.BAD_CRC)
    error, quiet = await rig.until_error()
    meter = rig.meter
    assert isinstance(error, MeterTimeoutError)
    assert meter.stall_timeout == 3 * WATCHDOG_INTERVAL
    assert quiet >= meter.stall_timeout
    assert meter.crc_errors >= 1
    assert meter.parse_errors == 0
    assert meter.stats.stalls == 1
    rig.sim.set_fault(Fault.NONE)
    await rig.take(3)
    assert meter.stats.connects == 2


async def test_truncated_telegrams_are_counted(rig: Rig) -> None:
    await rig.take(1)
    rig.sim.set_fault(Fault.TRUNCATED)
    error, _ = await rig.until_error()
    assert isinstance(error, MeterTimeoutError)
    assert rig.meter.parse_errors >= 1
    assert rig.meter.crc_errors == 0
    rig.sim.set_fault(Fault.NONE)
    await rig.take(3)


async def test_garbage_is_skipped_and_readings_go_on(rig: Rig) -> None:
    rig.sim.set_fault(Fault.GARBAGE)
    await rig.take(12)
    stats = rig.meter.stats
    assert stats.discarded_bytes > 0
    # Every third telegram has noise spliced into it: a CRC or framing failure.
    assert stats.crc_errors + stats.parse_errors >= 1
    assert stats.stalls == 0


async def test_silence_trips_the_watchdog_and_tears_the_link_down(rig: Rig) -> None:
    await rig.take(2)
    rig.sim.set_fault(Fault.SILENCE)
    error, quiet = await rig.until_error()
    assert isinstance(error, MeterTimeoutError)
    assert str(error).startswith("No valid telegram")
    assert quiet >= 3 * WATCHDOG_INTERVAL
    assert not rig.meter.connected
    if rig.sim.connections:  # TCP: the simulator saw the driver hang up
        async with asyncio.timeout(5):
            await rig.sim.no_clients.wait()
    rig.sim.set_fault(Fault.NONE)
    await rig.take(3)
    assert rig.meter.stats.connects == 2


async def test_disconnect_ends_the_stream_until_the_link_is_back(rig: Rig) -> None:
    await rig.take(1)
    rig.sim.set_fault(Fault.DISCONNECT)
    error, _ = await rig.until_error()
    assert isinstance(error, MeterConnectionError)
    assert rig.meter.stats.disconnects == 1
    # While the fault lasts, a new attempt fails too (refused pty, dropped TCP).
    error, _ = await rig.until_error()
    assert isinstance(error, MeterConnectionError)
    rig.sim.set_fault(Fault.NONE)
    await rig.take(3)


async def test_one_disconnect_and_the_same_address_works_again(rig: Rig) -> None:
    await rig.take(1)
    rig.sim.disconnect()
    error, _ = await rig.until_error()
    assert isinstance(error, MeterConnectionError)
    await rig.take(3)
    assert rig.meter.stats.connects == 2


async def test_trickled_telegrams_are_assembled(rig: Rig) -> None:
    rig.sim.trickle_seconds = 0.03
    rig.sim.set_fault(Fault.TRICKLE)
    await rig.take(4)
    assert (rig.meter.crc_errors, rig.meter.parse_errors) == (0, 0)


async def test_a_trickle_too_slow_for_the_watchdog_is_a_stall(rig: Rig) -> None:
    await rig.take(1)
    # Bytes keep arriving, but a whole telegram takes longer than three intervals.
    rig.sim.trickle_seconds = 6 * WATCHDOG_INTERVAL
    rig.sim.set_fault(Fault.TRICKLE)
    error, quiet = await rig.until_error()
    assert isinstance(error, MeterTimeoutError)
    assert quiet >= 3 * WATCHDOG_INTERVAL


async def test_reconnecting_recovers_a_silent_link(rig: Rig) -> None:
    await rig.take(1)
    rig.sim.set_fault(Fault.SILENCE)
    errors: list[MeterError] = []

    def on_error(err: MeterError) -> None:
        errors.append(err)
        rig.sim.set_fault(Fault.NONE)

    got: list[Snapshot] = []
    async with asyncio.timeout(10):
        async for snapshot in reconnecting(
            rig.meter.stream, Backoff(initial=0.01, jitter=0), on_error=on_error
        ):
            got.append(snapshot)
            if len(got) == 3:
                break
    assert [type(e) for e in errors] == [MeterTimeoutError]
    for snapshot in got:
        assert rig.sim.truth_of(snapshot).mismatches(snapshot) == []


async def test_encrypted_stream_survives_noise() -> None:
    sim = DsmrSimulator("5L", interval=SEND_INTERVAL, key=SMARTY_KEY)
    port = await sim.start_tcp()
    meter = DsmrMeter(
        host="127.0.0.1", port=port, decryption_key=SMARTY_KEY, interval=WATCHDOG_INTERVAL
    )
    rig = Rig(sim, meter)
    try:
        await rig.take(1)
        sim.set_fault(Fault.GARBAGE)
        await rig.take(6)
        sim.set_fault(Fault.TRUNCATED)
        error, _ = await rig.until_error()
        # The key worked before: damaged frames are a stall, not a wrong key.
        assert isinstance(error, MeterTimeoutError)
        assert meter.stats.decrypt_errors >= 1
        sim.set_fault(Fault.BAD_CRC)
        error, _ = await rig.until_error()
        assert isinstance(error, MeterTimeoutError)
        assert meter.crc_errors >= 1
        sim.set_fault(Fault.NONE)
        await rig.take(2)
    finally:
        await meter.close()
        await sim.stop()


async def test_a_consumer_that_falls_behind_loses_the_oldest() -> None:
    sim = DsmrSimulator("5", interval=SEND_INTERVAL)
    port = await sim.start_tcp()
    meter = DsmrMeter(
        host="127.0.0.1", port=port, version="5", interval=WATCHDOG_INTERVAL, queue_size=3
    )
    rig = Rig(sim, meter)
    try:
        await meter.identify()
        await asyncio.sleep(12 * SEND_INTERVAL)
        got = await rig.take(3)
    finally:
        await meter.close()
        await sim.stop()
    assert meter.stats.dropped >= 1
    assert got[0].measured_at < got[1].measured_at < got[2].measured_at
