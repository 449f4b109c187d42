"""Every simulator fault mode against the driver: counted, never a crash, recoverable.

The simulator sends every 50 ms; the driver expects a telegram every 250 ms,
so its watchdog trips after 750 ms without a valid one. How long the watchdog
and the backoff wait is checked on a loop clock the test moves by hand
(LoopClock), never against the wall clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

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
# Guards a wait so a broken link fails the test instead of hanging it; never asserted on.
GUARD = 10.0


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

    async def until_error(self) -> MeterError:
        """Stream until the driver gives up; the error."""
        async with asyncio.timeout(10):
            try:
                async for _ in self.meter.stream():
                    pass
            except MeterError as err:
                return err
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
    telegrams = rig.meter.stats.telegrams
    error = await rig.until_error()
    meter = rig.meter
    assert isinstance(error, MeterTimeoutError)
    assert meter.stall_timeout == 3 * WATCHDOG_INTERVAL
    assert meter.stats.telegrams == telegrams
    assert meter.crc_errors >= 1
    assert meter.parse_errors == 0
    assert meter.stats.stalls == 1
    rig.sim.set_fault(Fault.NONE)
    await rig.take(3)
    assert meter.stats.connects == 2


async def test_truncated_telegrams_are_counted(rig: Rig) -> None:
    await rig.take(1)
    rig.sim.set_fault(Fault.TRUNCATED)
    error = await rig.until_error()
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
    error = await rig.until_error()
    assert isinstance(error, MeterTimeoutError)
    assert str(error) == f"No valid telegram from {rig.meter.address} for 0.75 s"
    assert rig.meter.stats.stalls == 1
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
    error = await rig.until_error()
    assert isinstance(error, MeterConnectionError)
    assert rig.meter.stats.disconnects == 1
    # While the fault lasts, a new attempt fails too (refused pty, dropped TCP).
    error = await rig.until_error()
    assert isinstance(error, MeterConnectionError)
    rig.sim.set_fault(Fault.NONE)
    await rig.take(3)


async def test_one_disconnect_and_the_same_address_works_again(rig: Rig) -> None:
    await rig.take(1)
    rig.sim.disconnect()
    error = await rig.until_error()
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
    meter = rig.meter
    telegrams, received = meter.stats.telegrams, meter.stats.received_bytes
    error = await rig.until_error()
    assert isinstance(error, MeterTimeoutError)
    # The watchdog waits for valid telegrams, not for bytes.
    assert meter.stats.received_bytes > received
    assert meter.stats.telegrams == telegrams
    assert (meter.crc_errors, meter.stats.stalls) == (0, 1)


class LoopClock:
    """The running loop's clock, stopped: only `advance()` moves it.

    asyncio computes every timer (asyncio.timeout_at, asyncio.sleep) from
    loop.time(), so the watchdog and the backoff fire exactly when the test
    moves the clock past them, while sockets and the pty still carry bytes.
    """

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.now = self._loop.time()
        self._loop.time = lambda: self.now  # type: ignore[method-assign]

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def restore(self) -> None:
        del self._loop.time


@dataclass
class Event:
    at: float
    what: str
    connects: int


@dataclass
class Timeline:
    """What the consumer saw, stamped with the stopped loop clock."""

    clock: LoopClock
    meter: DsmrMeter
    events: list[Event] = field(default_factory=list)
    errors: list[MeterError] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, what: str) -> None:
        self.events.append(Event(self.clock.now, what, self.meter.stats.connects))
        self._changed.set()

    def on_error(self, error: MeterError) -> None:
        self.errors.append(error)
        self.add("error")

    async def until(self, condition: Callable[[], bool]) -> None:
        """Event-driven: asyncio.sleep would never return on the stopped clock."""
        while not condition():
            self._changed.clear()
            await self._changed.wait()

    async def until_open(self, connects: int) -> None:
        """Until the driver has opened its link `connects` times (a pty drops what
        was written before it opened, so telegrams wait for this). Opening is
        socket work, not a timer: let the loop turn."""
        while not (self.meter.connected and self.meter.stats.connects == connects):  # noqa: ASYNC110
            await asyncio.sleep(0)

    def count(self, what: str) -> int:
        return sum(1 for event in self.events if event.what == what)


class RecordingBackoff(Backoff):
    """Jitter-free, and says every delay it waits (and when it began)."""

    def __init__(self, timeline: Timeline, initial: float) -> None:
        super().__init__(initial=initial, jitter=0)
        self.timeline = timeline
        self.waits: list[float] = []

    async def sleep(self) -> float:
        delay = self.next_delay()
        self.waits.append(delay)
        self.timeline.add("backoff")
        await asyncio.sleep(delay)
        return delay


# A slow meter on the stopped clock: nothing can time out unless the test says so.
SLOW_INTERVAL = 10.0
FIRST_RECONNECT = 5.0


@pytest.mark.timeout(60)
@pytest.mark.parametrize("transport", ["tcp", "pty"])
async def test_a_silent_link_is_reopened_within_three_intervals_plus_backoff(
    transport: str,
) -> None:
    sim = DsmrSimulator("5", paced=False)
    if transport == "tcp":
        meter = DsmrMeter(
            host="127.0.0.1", port=await sim.start_tcp(), version="5", interval=SLOW_INTERVAL
        )
    else:
        meter = DsmrMeter(device=await sim.start_pty(), version="5", interval=SLOW_INTERVAL)
    stall = 3 * SLOW_INTERVAL
    clock = LoopClock()
    timeline = Timeline(clock, meter)
    backoff = RecordingBackoff(timeline, FIRST_RECONNECT)
    snapshots: list[Snapshot] = []

    async def consume() -> None:
        async for snapshot in reconnecting(meter.stream, backoff, on_error=timeline.on_error):
            snapshots.append(snapshot)
            timeline.add("snapshot")

    consumer = asyncio.get_running_loop().create_task(consume())

    async def telegram(count: int) -> None:
        """Send one telegram and wait for it, or for the error that came instead."""
        errors = len(timeline.errors)
        await sim.send()
        await timeline.until(
            lambda: timeline.count("snapshot") == count or len(timeline.errors) > errors
        )
        assert timeline.errors[errors:] == []

    try:
        await timeline.until_open(1)
        await telegram(1)
        last_valid = clock.now
        # Just short of three intervals the link is still trusted: the next
        # telegram arrives on it.
        clock.advance(stall - 0.001)
        await telegram(2)
        assert (timeline.errors, meter.stats.connects, meter.stats.stalls) == ([], 1, 0)
        last_valid = clock.now

        # Silence: three intervals on, the watchdog gives up, then one backoff wait.
        clock.advance(stall)
        await timeline.until(lambda: timeline.count("backoff") == 1)
        assert [type(error) for error in timeline.errors] == [MeterTimeoutError]
        assert meter.stats.stalls == 1
        assert not meter.connected
        (error,) = (e for e in timeline.events if e.what == "error")
        assert error.at - last_valid == stall
        assert backoff.waits == [FIRST_RECONNECT]
        assert meter.stats.connects == 1

        clock.advance(FIRST_RECONNECT)
        await timeline.until_open(2)
        await telegram(3)
        reopened = timeline.events[-1]
        # Reopened right after the first backoff: one new connection, one wait.
        assert reopened.connects == 2
        assert len(backoff.waits) == 1
        assert reopened.at - last_valid == stall + FIRST_RECONNECT
        for snapshot in snapshots:
            assert sim.truth_of(snapshot).mismatches(snapshot) == []
    finally:
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
        await meter.close()
        clock.restore()
        await sim.stop()


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
        error = await rig.until_error()
        # The key worked before: damaged frames are a stall, not a wrong key.
        assert isinstance(error, MeterTimeoutError)
        assert meter.stats.decrypt_errors >= 1
        sim.set_fault(Fault.BAD_CRC)
        error = await rig.until_error()
        assert isinstance(error, MeterTimeoutError)
        assert meter.crc_errors >= 1
        sim.set_fault(Fault.NONE)
        await rig.take(2)
    finally:
        await meter.close()
        await sim.stop()


async def test_a_consumer_that_falls_behind_loses_the_oldest() -> None:
    sim = DsmrSimulator("5", paced=False)
    port = await sim.start_tcp()
    meter = DsmrMeter(
        host="127.0.0.1", port=port, version="5", interval=WATCHDOG_INTERVAL, queue_size=3
    )
    try:
        identify = asyncio.get_running_loop().create_task(meter.identify())
        await sim.wait_for_connections(1)
        await sim.send()
        await identify
        # Five more telegrams while nobody reads: room for three.
        for _ in range(5):
            await sim.send()
        async with asyncio.timeout(GUARD):
            while meter.stats.telegrams < 6:  # noqa: ASYNC110  (bytes on a real socket)
                await asyncio.sleep(0.01)
        assert meter.stats.dropped == 2
        got = [await anext(meter.stream()) for _ in range(4)]
    finally:
        await meter.close()
        await sim.stop()
    sent = sim.history
    assert len(sent) == 6
    # identify()'s reading, then the three newest; the second and third were dropped.
    assert [s.measured_at for s in got] == [sent[i].measured_at for i in (0, 3, 4, 5)]
