"""A Modbus TCP proxy: other clients read the SUN2000 through Wattkeeper's one connection.

The SDongle takes a single Modbus client, so evcc or a second Home Assistant
cannot connect while Wattkeeper polls. With the proxy on (it is off unless the
user enables it) they connect here instead; each read is forwarded over the
driver's `Sun2000Connection`, serialised with the driver's own requests by the
connection's lock. The proxy only reads: writes are refused with ILLEGAL
FUNCTION, so no other client can change inverter or battery settings behind
Wattkeeper's back.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Final

from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.pdu.register_message import ReadHoldingRegistersResponse

from . import sun2000_compat as compat
from .errors import MeterConnectionError, MeterDataError, MeterTimeoutError
from .sun2000_connection import ModbusRejectedError, ModbusUnavailableError, Sun2000Connection
from .sun2000_tcpserver import ModbusRequestServer

_LOGGER = logging.getLogger(__name__)

READ_HOLDING: Final = 3
MAX_READ: Final = 125  # the Modbus limit for one read


class Sun2000Proxy:
    """Serve reads of the given unit ids (all when None) through `connection`."""

    def __init__(
        self,
        connection: Sun2000Connection,
        *,
        host: str,
        port: int = 502,
        unit_ids: Collection[int] | None = None,
    ) -> None:
        self.connection = connection
        self.unit_ids = None if unit_ids is None else frozenset(unit_ids)
        self.served = 0
        self.refused = 0
        self._server = ModbusRequestServer(self._answer, host=host, port=port)

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def clients(self) -> int:
        """Clients connected to the proxy right now."""
        return len(self._server.connections)

    async def start(self) -> None:
        await self._server.start()
        _LOGGER.info("Modbus proxy for %s listening on port %d", self.connection.address, self.port)

    async def stop(self) -> None:
        await self._server.stop()

    async def _answer(self, request: ModbusPDU, connection_id: int) -> ModbusPDU:
        fc = request.function_code
        if fc != READ_HOLDING:
            return self._refuse(fc, compat.ILLEGAL_FUNCTION)
        if self.unit_ids is not None and request.dev_id not in self.unit_ids:
            return self._refuse(fc, compat.GATEWAY_PATH_UNAVAILABLE)
        if not 1 <= request.count <= MAX_READ:
            return self._refuse(fc, compat.ILLEGAL_VALUE)
        try:
            # No retries: the client has its own, and a retry here would hold
            # the connection away from the driver.
            words = await self.connection.read_holding(
                request.dev_id, request.address, request.count, retries=0
            )
        except (ModbusRejectedError, ModbusUnavailableError) as exc:
            return self._refuse(fc, exc.code)
        except MeterTimeoutError:
            return self._refuse(fc, compat.GATEWAY_NO_RESPONSE)
        except MeterConnectionError:
            return self._refuse(fc, compat.GATEWAY_PATH_UNAVAILABLE)
        except MeterDataError:
            return self._refuse(fc, compat.DEVICE_FAILURE)
        self.served += 1
        return ReadHoldingRegistersResponse(registers=words)

    def _refuse(self, function_code: int, code: int) -> ModbusPDU:
        self.refused += 1
        return ExceptionResponse(function_code, code)
