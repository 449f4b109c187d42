"""A pymodbus TCP server that hands every request to one async callback.

pymodbus' own server answers from a datastore; the proxy (answers through the
driver's connection) and the simulator (answers with faults, delays and a
request log) need to decide per request, per connection. This wraps
`ModbusTcpServer` once, for both, and tracks what it starts so `stop()`
leaves no task or connection behind. It relies on the request-handler hooks
`handle_later`, `last_pdu` and `server_send`, the same from pymodbus 3.8 to
3.13; what differs between those releases is in `sun2000_compat`.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler

from .sun2000_compat import handler_hooks, idle_context

# (request, connection id) → the answer, or None to send nothing.
Answer = Callable[[ModbusPDU, int], Awaitable[ModbusPDU | None]]
ConnectionHook = Callable[[int], None]

_ids = itertools.count(1)


class _Handler(ServerRequestHandler):
    """One client connection."""

    def __init__(self, listener: _Listener) -> None:
        super().__init__(listener, *handler_hooks(listener))  # type: ignore[no-untyped-call]
        self.owner = listener.owner
        self.connection_id = next(_ids)

    def callback_connected(self) -> None:
        super().callback_connected()
        self.owner.opened(self)

    def callback_disconnected(self, call_exc: Exception | None) -> None:
        super().callback_disconnected(call_exc)
        self.owner.closed(self)

    def handle_later(self) -> None:
        pdu, addr = self.last_pdu, self.last_addr
        if pdu is not None:
            self.owner.spawn(self._serve(pdu, addr))

    async def _serve(self, pdu: ModbusPDU, addr: Any) -> None:
        response = await self.owner.answer(pdu, self.connection_id)
        if response is None or not self.transport:
            return
        response.transaction_id = pdu.transaction_id
        response.dev_id = pdu.dev_id
        self.server_send(response, addr)  # type: ignore[no-untyped-call]


class _Listener(ModbusTcpServer):
    def __init__(self, owner: ModbusRequestServer, host: str, port: int) -> None:
        super().__init__(idle_context(), address=(host, port))
        self.owner = owner

    def callback_new_connection(self) -> _Handler:
        return _Handler(self)


class ModbusRequestServer:
    """Listen on host:port and answer each request with `answer(pdu, connection_id)`."""

    def __init__(
        self,
        answer: Answer,
        *,
        host: str,
        port: int = 0,
        on_connect: ConnectionHook | None = None,
        on_disconnect: ConnectionHook | None = None,
    ) -> None:
        self.answer = answer
        self.host = host
        self._port = port
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._listener: _Listener | None = None
        self._handlers: dict[int, _Handler] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with port 0)."""
        return self._port

    @property
    def connections(self) -> tuple[int, ...]:
        """Ids of the connections open right now."""
        return tuple(self._handlers)

    async def start(self) -> None:
        listener = _Listener(self, self.host, self._port)
        try:
            await listener.serve_forever(background=True)
        except RuntimeError as err:  # pymodbus 3.13 says so when the port is taken
            raise OSError(f"cannot listen on {self.host}:{self._port}") from err
        server = listener.transport
        if not isinstance(server, asyncio.Server) or not server.sockets:
            raise OSError(f"cannot listen on {self.host}:{self._port}")
        self._port = server.sockets[0].getsockname()[1]
        self._listener = listener

    async def stop(self) -> None:
        listener, self._listener = self._listener, None
        for handler in list(self._handlers.values()):
            self.drop(handler.connection_id)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if listener is not None:
            server = listener.transport
            await listener.shutdown()  # type: ignore[no-untyped-call]
            if isinstance(server, asyncio.Server):
                await server.wait_closed()
        # Let the transports run their close callbacks before the caller moves on.
        await asyncio.sleep(0)

    def drop(self, connection_id: int) -> None:
        """Close one client's connection without answering it."""
        handler = self._handlers.get(connection_id)
        if handler is not None:
            handler.close()
            self.closed(handler)

    # Called by the handlers.
    def opened(self, handler: _Handler) -> None:
        self._handlers[handler.connection_id] = handler
        if self._on_connect is not None:
            self._on_connect(handler.connection_id)

    def closed(self, handler: _Handler) -> None:
        if self._handlers.pop(handler.connection_id, None) is not None and self._on_disconnect:
            self._on_disconnect(handler.connection_id)

    def spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
