"""One Modbus TCP connection to a SUN2000 (SDongle on port 502, inverter Wi-Fi on 6607).

The dongle is fragile, and most complaints about Huawei integrations are about
it: it takes a single client, needs a pause after the connection opens before
it answers, and drops or stalls under back-to-back requests. So this class:

- sends one request at a time (one lock for every unit id and the proxy),
  with a short cooldown between requests;
- waits `wait_after_connect` after opening, and reads a connection the device
  closes during that wait as "another client holds the only connection";
- retries with exponential backoff, reopens the connection after
  `reconnect_after` failures in a row (a dongle's "no answer from the unit
  behind me" does not count: it proves the link works), and always after a
  timeout or a cancelled request: a late answer would otherwise be taken for
  the next request's;
- maps every failure to a `MeterError` whose message says what to do, and
  whose `translation_key` names the translated message Home Assistant shows.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Final

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException
from pymodbus.pdu import ModbusPDU

from . import sun2000_compat as compat
from .errors import MeterConnectionError, MeterDataError, MeterError, MeterTimeoutError

_LOGGER = logging.getLogger(__name__)

# Exception codes the device answers when the request itself is wrong.
_REJECTED: Final = {
    0x01: "illegal function",
    0x02: "illegal data address",
    0x03: "illegal data value",
}
# Exception codes that say "not now": worth a retry.
_UNAVAILABLE: Final = {
    0x04: "device failure",
    0x05: "busy with a long command",
    0x06: "device busy",
    0x0A: "gateway path unavailable",
    0x0B: "no answer from the device behind the dongle",
}
GATEWAY_CODES: Final = frozenset({0x0A, 0x0B})


class ModbusRejectedError(MeterDataError):
    """The device refused the request itself (bad function, address or count)."""

    translation_key = "sun2000_rejected"

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class ModbusUnavailableError(MeterConnectionError):
    """The device answered "busy" or the dongle could not reach it; retrying may help."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code

    @property
    def translation_key(self) -> str:
        return "sun2000_no_inverter" if self.code in GATEWAY_CODES else "sun2000_busy"


class OtherClientError(MeterConnectionError):
    """The dongle closed a fresh connection: another client holds its only one."""

    translation_key = "sun2000_one_connection"


class LinkError(MeterConnectionError):
    """No connection to host and port, or it broke during a request."""

    translation_key = "sun2000_cannot_connect"


class NoAnswerError(MeterTimeoutError):
    """The connection is up but the device did not answer in time."""

    translation_key = "sun2000_timeout"


class AnswerMismatchError(MeterDataError):
    """An answer for another unit id or of another length than asked for."""

    translation_key = "sun2000_mismatch"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionOptions:
    """Timing of the connection discipline; the defaults suit a SDongle."""

    timeout: float = 5.0
    retries: int = 2
    backoff: float = 0.5  # first retry waits this long, each further one twice as long
    cooldown: float = 0.05
    wait_after_connect: float = 1.0
    reconnect_after: int = 3


class Sun2000Connection:
    """A single Modbus TCP client shared by every unit id behind one host and port."""

    def __init__(self, host: str, port: int = 502, options: ConnectionOptions | None = None):
        self.host = host
        self.port = port
        self.options = options or ConnectionOptions()
        self.lock = asyncio.Lock()
        self._client: AsyncModbusTcpClient | None = None
        self._lost = asyncio.Event()
        self._last_io = 0.0
        self._failures = 0
        # Counters for diagnostics, tests and the benchmark.
        self.connects = 0
        self.requests = 0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.connected

    async def read_holding(
        self,
        unit: int,
        address: int,
        count: int,
        *,
        retries: int | None = None,
        time_limit: float | None = None,
    ) -> list[int]:
        """Read `count` holding registers from `address` of `unit`, with retries."""
        tries = 1 + (self.options.retries if retries is None else retries)
        wait = time_limit if time_limit is not None else self.options.timeout
        last: MeterError | None = None
        async with self.lock:
            for attempt in range(tries):
                if attempt:
                    await asyncio.sleep(self.options.backoff * 2 ** (attempt - 1))
                try:
                    words = await self._attempt(unit, address, count, wait)
                except ModbusRejectedError:
                    self._failures = 0
                    raise
                except MeterError as exc:
                    last = exc
                    # A gateway answer proves the link to the dongle works:
                    # only the device behind it is silent, reconnecting won't help.
                    if not (isinstance(exc, ModbusUnavailableError) and exc.code in GATEWAY_CODES):
                        self._failures += 1
                    if isinstance(exc, MeterTimeoutError) or (
                        self._failures >= self.options.reconnect_after
                    ):
                        self._drop()
                        self._failures = 0
                    _LOGGER.debug("%s (try %d of %d)", exc, attempt + 1, tries)
                    continue
                self._failures = 0
                return words
        assert last is not None
        raise last

    async def close(self) -> None:
        """Close the connection; the next request opens a new one."""
        self._drop()

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        # Wakes a request still waiting on the closed connection.
        self._lost.set()

    async def _attempt(self, unit: int, address: int, count: int, time_limit: float) -> list[int]:
        client = await self._connected()
        delay = self._last_io + self.options.cooldown - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)
        where = f"unit {unit} at {self.address}"
        self.requests += 1
        try:
            response = await self._exchange(
                client, unit, address, count, time_limit=time_limit, where=where
            )
        except BaseException:
            # Whatever went wrong mid-exchange, an answer may still be on its
            # way; only a fresh connection is sure not to deliver it later.
            self._drop()
            raise
        finally:
            self._last_io = asyncio.get_running_loop().time()
        if response.isError():
            code = response.exception_code  # type: ignore[attr-defined]
            span = f"registers {address}-{address + count - 1}"
            if code in _UNAVAILABLE:
                raise ModbusUnavailableError(f"{where}: {_UNAVAILABLE[code]} ({span})", code)
            reason = _REJECTED.get(code, f"exception code {code}")
            raise ModbusRejectedError(f"{where} rejected {span}: {reason}", code)
        if response.dev_id != unit or len(response.registers) != count:
            self._drop()
            raise AnswerMismatchError(
                f"{where}: answer does not match the request "
                f"(unit {response.dev_id}, {len(response.registers)} of {count} registers)"
            )
        return list(response.registers)

    async def _exchange(
        self,
        client: AsyncModbusTcpClient,
        unit: int,
        address: int,
        count: int,
        *,
        time_limit: float,
        where: str,
    ) -> ModbusPDU:
        """Send one request; wait for its answer, the connection's loss or the timeout."""
        lost = self._lost

        async def request() -> ModbusPDU:
            return await client.read_holding_registers(address, count=count, **compat.unit(unit))

        read = asyncio.ensure_future(request())
        dropped = asyncio.ensure_future(lost.wait())
        try:
            done, _ = await asyncio.wait(
                (read, dropped), timeout=time_limit, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for task in (read, dropped):
                task.cancel()
            await asyncio.gather(read, dropped, return_exceptions=True)
        if read in done:
            try:
                return read.result()
            except ConnectionException as exc:
                raise LinkError(f"{self.address}: connection lost ({exc})") from exc
            except ModbusException as exc:
                raise NoAnswerError(f"{where}: no answer within {time_limit:g} s") from exc
        if dropped in done:
            raise LinkError(f"{self.address} dropped the connection during a request")
        raise NoAnswerError(f"{where}: no answer within {time_limit:g} s")

    async def _connected(self) -> AsyncModbusTcpClient:
        if self._client is not None and self._client.connected:
            return self._client
        self._drop()
        lost = asyncio.Event()

        def on_connection(up: bool) -> None:
            if not up:
                lost.set()

        client = AsyncModbusTcpClient(
            self.host,
            port=self.port,
            timeout=self.options.timeout,
            retries=0,
            reconnect_delay=0,  # reconnecting is ours to decide
            trace_connect=on_connection,
            name=f"sun2000 {self.address}",
        )
        try:
            if not await client.connect():
                raise LinkError(
                    f"cannot connect to {self.address}; check the host and port (502 for the "
                    "SDongle, 6607 for the inverter's own Wi-Fi) and that Modbus TCP is enabled"
                )
            self.connects += 1
            await asyncio.sleep(self.options.wait_after_connect)
            if lost.is_set() or not client.connected:
                raise OtherClientError(
                    f"{self.address} closed the connection right after it opened: the dongle "
                    "allows one Modbus connection; close the other client"
                )
        except BaseException:
            # Also when cancelled while waiting: never leave a half-open link behind.
            client.close()
            raise
        self._client, self._lost = client, lost
        self._last_io = asyncio.get_running_loop().time()
        return client
