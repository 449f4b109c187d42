"""What differs between the pymodbus releases Home Assistant pins (3.8.3 to 3.13.1).

Home Assistant 2025.4 pins pymodbus 3.8.3 and 2026.11 pins 3.13.1; the
driver, the proxy and the simulator run on both and on every minor release
between them.

Each difference is detected from the installed library's own signatures,
not from its version number:

- the unit id keyword of a client request: `slave=` up to 3.9, `device_id=`
  from 3.10;
- a server's datastore context, which our servers never consult:
  `ModbusServerContext(slaves=...)` up to 3.9, `devices=` from 3.10, and from
  3.13 an empty one is refused, so an idle `SimDevice` (accepted since 3.12)
  stands in;
- the per-connection request handler takes the listener's trace hooks from
  3.9 on;
- exception codes moved from `ExceptionResponse` to `ExcCodes` in 3.11; the
  Modbus numbers below are the protocol's, the same in every release.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Final

from pymodbus.client.mixin import ModbusClientMixin
from pymodbus.datastore import ModbusServerContext
from pymodbus.server.requesthandler import ServerRequestHandler

# Modbus exception codes (Modbus Application Protocol V1.1b3, section 7).
ILLEGAL_FUNCTION: Final = 0x01
ILLEGAL_ADDRESS: Final = 0x02
ILLEGAL_VALUE: Final = 0x03
DEVICE_FAILURE: Final = 0x04
ACKNOWLEDGE: Final = 0x05
DEVICE_BUSY: Final = 0x06
GATEWAY_PATH_UNAVAILABLE: Final = 0x0A
GATEWAY_NO_RESPONSE: Final = 0x0B

_UNIT_KEYWORD: Final = (
    "device_id"
    if "device_id" in inspect.signature(ModbusClientMixin.read_holding_registers).parameters
    else "slave"
)
# `self` and the listener, then the trace hooks where the handler takes them.
_HANDLER_TAKES_HOOKS: Final = len(inspect.signature(ServerRequestHandler.__init__).parameters) > 2


def unit(unit_id: int) -> dict[str, Any]:
    """The keyword argument that addresses `unit_id` in a client request."""
    return {_UNIT_KEYWORD: unit_id}


def idle_context() -> Any:
    """A server context with no devices, for servers that answer every request themselves."""
    keyword = (
        "slaves" if "slaves" in inspect.signature(ModbusServerContext).parameters else "devices"
    )
    empty: dict[str, Any] = {keyword: {}, "single": False}
    try:
        return ModbusServerContext(**empty)  # type: ignore[no-untyped-call]
    except TypeError:
        # pymodbus 3.13 refuses an empty context; its servers take a SimDevice instead.
        simulator = importlib.import_module("pymodbus.simulator")
        return simulator.SimDevice(id=0, simdata=simulator.SimData(0))


def handler_hooks(listener: Any) -> tuple[Any, ...]:
    """What a request handler takes after its listener: nothing, or its trace hooks."""
    if not _HANDLER_TAKES_HOOKS:
        return ()
    return (listener.trace_packet, listener.trace_pdu, listener.trace_connect)
