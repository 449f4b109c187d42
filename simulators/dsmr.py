"""A DSMR P1 smart meter twin: telegrams over TCP (like ser2net) and over a pty.

The meter evolves like a real one (simulators/dsmr_meter.py) and speaks one
protocol version (simulators/dsmr_telegram.py) with correct CRCs; a
Luxembourg Smarty twin encrypts when given a key. Every valid telegram it
finishes sending is kept in `history` as its ground truth.

Faults switch at run time with `set_fault()`:
- bad_crc: telegrams with a wrong checksum (versions that have one);
- truncated: each telegram is cut off halfway;
- garbage: random bytes before every telegram, and every third telegram has
  bytes spliced into its middle;
- silence: the links stay up, nothing is sent;
- disconnect: every TCP client is dropped as soon as it is seen, and the pty
  goes away (its path vanishes) until the fault is cleared;
- trickle: telegrams dribble out in small chunks over `trickle_seconds`.
`disconnect()` drops the current links once and carries on.

`replay` sends recorded telegrams (a corpus) in turn instead of the model's.
With `paced=False` nothing is sent by itself: each `await send()` sends the
next telegram at once (tests that run the driver on a clock they move by hand).

Run: python -m simulators.dsmr --port 2001 --version 5 [--pty] [--key HEX]
Type a fault name (or "none", "disconnect!") on stdin to switch at run time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import stat
import sys
import tempfile
import time
import tty
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path

from custom_components.wattkeeper.meters.model import Snapshot

from .dsmr_meter import MeterModel
from .dsmr_telegram import (
    CHECKSUM_VERSIONS,
    IDENTITIES,
    VERSIONS,
    Truth,
    capture_period,
    encrypt_smarty,
    render,
)

# Seconds between telegrams a real meter of each version keeps.
REAL_INTERVAL = {"2.2": 10.0, "4": 10.0, "5": 1.0, "5B": 1.0, "5L": 10.0, "5S": 10.0, "Q3D": 1.0}
SMARTY_SYSTEM_TITLE = b"SAG\x11\x00\x0c\x34\x59"


class Fault(StrEnum):
    NONE = "none"
    BAD_CRC = "bad_crc"
    TRUNCATED = "truncated"
    GARBAGE = "garbage"
    SILENCE = "silence"
    DISCONNECT = "disconnect"
    TRICKLE = "trickle"


class _Client(asyncio.Protocol):
    def __init__(self, sim: DsmrSimulator) -> None:
        self._sim = sim
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._sim.clients.add(self)
        self._sim.connections += 1
        self._sim.no_clients.clear()
        self._sim._notify_connected()

    def connection_lost(self, exc: Exception | None) -> None:
        self._sim.clients.discard(self)
        if not self._sim.clients:
            self._sim.no_clients.set()


class DsmrSimulator:
    """One simulated P1 port. `start_tcp()` and/or `start_pty()`, then `stop()`."""

    def __init__(
        self,
        version: str = "5",
        *,
        interval: float | None = None,
        step_seconds: float | None = None,
        seed: int = 1,
        key: str | None = None,
        trickle_seconds: float | None = None,
        model: MeterModel | None = None,
        replay: Sequence[str] = (),
        paced: bool = True,
    ) -> None:
        if version not in VERSIONS:
            raise ValueError(f"Unknown DSMR version {version}")
        if key is not None and version != "5L":
            raise ValueError("Only Luxembourg Smarty (5L) meters encrypt")
        self.version = version
        # Wall-clock seconds between telegrams, and meter seconds each one advances.
        self.interval = interval if interval is not None else REAL_INTERVAL[version]
        ident = IDENTITIES[version]
        self.model = model or MeterModel(
            seed=seed,
            step_seconds=step_seconds if step_seconds is not None else REAL_INTERVAL[version],
            day_tariff=1 if version == "5B" else 2,
            phases=1 if version == "2.2" else 3,
            mbus=ident.mbus,
            capture_period=capture_period(version),
        )
        self.key = bytes.fromhex(key) if key else None
        # Recorded telegrams (a corpus) to send in turn instead of the model's.
        self.replay = list(replay)
        self.trickle_seconds = trickle_seconds if trickle_seconds is not None else self.interval / 2
        self.trickle_chunk = 16
        self.paced = paced
        self.history: list[Truth] = []
        self.clients: set[_Client] = set()
        # Set while no TCP client is connected.
        self.no_clients = asyncio.Event()
        self.no_clients.set()
        self.connections = 0
        self.sent_telegrams = 0
        self.dropped_writes = 0
        self._fault = Fault.NONE
        self._rng = random.Random(seed + 1)
        self._frame_counter = 0x1000
        self._server: asyncio.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._pty_dir: tempfile.TemporaryDirectory[str] | None = None
        self._pty_fds: tuple[int, int] | None = None
        self._telegrams = 0
        self._connection_waiters: list[tuple[int, asyncio.Future[None]]] = []

    # -- control ----------------------------------------------------------------

    @property
    def fault(self) -> Fault:
        return self._fault

    def set_fault(self, fault: Fault | str) -> None:
        fault = Fault(fault)
        if fault is Fault.BAD_CRC and self.version not in CHECKSUM_VERSIONS:
            raise ValueError(f"DSMR {self.version} telegrams carry no checksum")
        self._fault = fault
        if fault is Fault.DISCONNECT:
            self._drop_links()
        elif self._pty_dir is not None and self._pty_fds is None:
            self._open_pty()

    def disconnect(self) -> None:
        """Drop every current link once; the pty comes back at the same path."""
        self._drop_links()
        if self._pty_dir is not None:
            self._open_pty()

    async def send(self) -> None:
        """Send the next telegram now (with the current fault), paced or not."""
        await self._emit(self.next_telegram())

    async def wait_for_connections(self, count: int) -> None:
        """Until `count` TCP connections have been accepted since the start."""
        if self.connections >= count:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._connection_waiters.append((count, waiter))
        await waiter

    def _notify_connected(self) -> None:
        for count, waiter in list(self._connection_waiters):
            if self.connections >= count:
                self._connection_waiters.remove((count, waiter))
                if not waiter.done():
                    waiter.set_result(None)

    @property
    def last(self) -> Truth:
        """Ground truth of the newest valid telegram."""
        return self.history[-1]

    def truth_for(self, measured_at: object) -> Truth:
        """Ground truth of the valid telegram stamped `measured_at` (versions with a clock)."""
        for truth in reversed(self.history):
            if truth.measured_at == measured_at:
                return truth
        raise KeyError(f"No telegram stamped {measured_at}")

    def truth_of(self, snapshot: Snapshot) -> Truth:
        """The telegram a driver's snapshot came from: by its time stamp, or for
        versions without a clock the newest telegram that carried the same readings."""
        if self.history and self.history[-1].measured_at is not None:
            return self.truth_for(snapshot.measured_at)
        for truth in reversed(self.history):
            if truth.values == dict(snapshot.values):
                return truth
        raise KeyError("No telegram carried these readings")

    # -- links ------------------------------------------------------------------

    async def start_tcp(self, port: int = 0, host: str = "127.0.0.1") -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Client(self), host, port)
        self._ensure_running()
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start_pty(self) -> str:
        """Open a pseudo-terminal; the returned path stays valid across disconnect()."""
        self._pty_dir = tempfile.TemporaryDirectory(prefix="dsmr-sim-")
        self._open_pty()
        self._ensure_running()
        return self.pty_path

    @property
    def pty_path(self) -> str:
        assert self._pty_dir is not None
        return str(Path(self._pty_dir.name) / "ttyP1")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for client in list(self.clients):
            if client.transport is not None:
                client.transport.abort()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self._close_pty()
        if self._pty_dir is not None:
            self._pty_dir.cleanup()
            self._pty_dir = None
        # Let the transports run their connection_lost callbacks.
        await asyncio.sleep(0)

    def _open_pty(self) -> None:
        self._close_pty()
        master, slave = os.openpty()
        # Raw and without echo, so nothing we write comes back to the master.
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._pty_fds = (master, slave)
        link = Path(self.pty_path)
        link.unlink(missing_ok=True)
        link.symlink_to(os.ttyname(slave))

    def _close_pty(self) -> None:
        if self._pty_fds is not None:
            for fd in self._pty_fds:
                os.close(fd)
            self._pty_fds = None
        if self._pty_dir is not None:
            Path(self.pty_path).unlink(missing_ok=True)

    def _drop_links(self) -> None:
        for client in list(self.clients):
            if client.transport is not None:
                client.transport.close()
        self._close_pty()

    def _send(self, data: bytes) -> None:
        for client in list(self.clients):
            if client.transport is not None and not client.transport.is_closing():
                client.transport.write(data)
        if self._pty_fds is not None:
            try:
                written = os.write(self._pty_fds[0], data)
            except BlockingIOError:
                written = 0
            if written < len(data):
                # Nobody reads the pty: a real meter does not wait either.
                self.dropped_writes += 1

    # -- the meter --------------------------------------------------------------

    def _ensure_running(self) -> None:
        if self._task is None and self.paced:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self._emit(self.next_telegram())

    def next_telegram(self) -> Truth:
        """Advance the meter one step and render it (or the next replayed telegram)."""
        if self.replay:
            text = self.replay[self._telegrams % len(self.replay)]
            return Truth(version=self.version, serial="", measured_at=None, text=text)
        self.model.step()
        return render(self.version, self.model)

    def wire(self, truth: Truth) -> bytes:
        """The bytes a telegram travels as: plain ASCII, or a Smarty cipher frame."""
        plain = truth.text.encode("ascii")
        if self.key is None:
            return plain
        self._frame_counter += 1
        return encrypt_smarty(plain, self.key, SMARTY_SYSTEM_TITLE, self._frame_counter)

    async def _emit(self, truth: Truth) -> None:
        fault = self._fault
        self._telegrams += 1
        if fault is Fault.SILENCE:
            return
        if fault is Fault.DISCONNECT:
            self._drop_links()
            return
        if fault is Fault.BAD_CRC:
            self._send(self.wire(_with_bad_crc(truth)))
            return
        data = self.wire(truth)
        if fault is Fault.TRUNCATED:
            self._send(data[: len(data) // 2])
            return
        if fault is Fault.GARBAGE:
            self._send(self._garbage())
            if self._telegrams % 3 == 0:
                middle = len(data) // 2
                self._send(data[:middle] + self._garbage() + data[middle:])
                return
        if fault is Fault.TRICKLE:
            chunks = [
                data[i : i + self.trickle_chunk] for i in range(0, len(data), self.trickle_chunk)
            ]
            pause = self.trickle_seconds / max(1, len(chunks) - 1)
            for i, chunk in enumerate(chunks):
                if i:
                    await asyncio.sleep(pause)
                self._send(chunk)
        else:
            self._send(data)
        truth.sent_at = time.perf_counter()
        self.sent_telegrams += 1
        self.history.append(truth)
        del self.history[:-2000]

    def _garbage(self) -> bytes:
        return bytes(self._rng.randrange(256) for _ in range(self._rng.randint(8, 64)))


def _with_bad_crc(truth: Truth) -> Truth:
    """The same telegram with its checksum off by one."""
    text = truth.text
    bang = text.rindex("!")
    crc = (int(text[bang + 1 : bang + 5], 16) + 1) & 0xFFFF
    return Truth(
        version=truth.version,
        serial=truth.serial,
        measured_at=truth.measured_at,
        text=f"{text[: bang + 1]}{crc:04X}\r\n",
    )


async def _control_from_stdin(sim: DsmrSimulator) -> None:
    mode = os.fstat(sys.stdin.fileno()).st_mode
    if not (sys.stdin.isatty() or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        return  # /dev/null or a file (a background job): the event loop cannot watch it
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        try:
            if line == "disconnect!":
                sim.disconnect()
            else:
                sim.set_fault(line)
            print(f"fault: {sim.fault}", flush=True)
        except ValueError as err:
            print(f"error: {err}", flush=True)


async def _main(args: argparse.Namespace) -> None:
    sim = DsmrSimulator(args.version, interval=args.interval, seed=args.seed, key=args.key)
    if args.fault:
        sim.set_fault(args.fault)
    port = await sim.start_tcp(args.port, args.host)
    print(f"DSMR {args.version} telegrams on tcp://{args.host}:{port}", flush=True)
    if args.pty:
        path = await sim.start_pty()
        print(f"DSMR {args.version} telegrams on serial port {path}", flush=True)
    try:
        await _control_from_stdin(sim)
        # stdin closed (or /dev/null): keep serving until interrupted.
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="DSMR P1 smart meter simulator")
    parser.add_argument("--port", type=int, default=0, help="TCP port (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--version", default="5", choices=VERSIONS)
    parser.add_argument("--interval", type=float, default=None, help="seconds between telegrams")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--key", default=None, help="5L only: encrypt with this AES key (hex)")
    parser.add_argument("--pty", action="store_true", help="also serve a pseudo-terminal")
    parser.add_argument("--fault", default=None, choices=[f.value for f in Fault])
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
