"""CQL native protocol v4 framing and primitive encodings (the server side).

Only what a server needs: read request bodies, write response bodies. The
notation ([string], [long string], [bytes], [value] …) follows the protocol
specification's section 3.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

HEADER = struct.Struct(">BBhBi")
HEADER_SIZE: Final = HEADER.size  # 9 bytes for protocol v3 and later
PROTOCOL_VERSION: Final = 4
RESPONSE_FLAG: Final = 0x80
MAX_BODY: Final = 256 * 1024 * 1024  # Cassandra's native_transport_max_frame_size

FLAG_TRACING: Final = 0x02
FLAG_CUSTOM_PAYLOAD: Final = 0x04
FLAG_WARNING: Final = 0x08

_SHORT = struct.Struct(">H")
_INT = struct.Struct(">i")
_LONG = struct.Struct(">q")


class Opcode(IntEnum):
    ERROR = 0x00
    STARTUP = 0x01
    READY = 0x02
    AUTHENTICATE = 0x03
    OPTIONS = 0x05
    SUPPORTED = 0x06
    QUERY = 0x07
    RESULT = 0x08
    PREPARE = 0x09
    EXECUTE = 0x0A
    REGISTER = 0x0B
    EVENT = 0x0C
    BATCH = 0x0D
    AUTH_CHALLENGE = 0x0E
    AUTH_RESPONSE = 0x0F
    AUTH_SUCCESS = 0x10


class ErrorCode(IntEnum):
    SERVER_ERROR = 0x0000
    PROTOCOL_ERROR = 0x000A
    BAD_CREDENTIALS = 0x0100
    UNAVAILABLE = 0x1000
    OVERLOADED = 0x1001
    IS_BOOTSTRAPPING = 0x1002
    TRUNCATE_ERROR = 0x1003
    WRITE_TIMEOUT = 0x1100
    READ_TIMEOUT = 0x1200
    SYNTAX_ERROR = 0x2000
    UNAUTHORIZED = 0x2100
    INVALID = 0x2200
    CONFIG_ERROR = 0x2300
    ALREADY_EXISTS = 0x2400
    UNPREPARED = 0x2500


class ResultKind(IntEnum):
    VOID = 0x0001
    ROWS = 0x0002
    SET_KEYSPACE = 0x0003
    PREPARED = 0x0004
    SCHEMA_CHANGE = 0x0005


class Consistency(IntEnum):
    ANY = 0x0000
    ONE = 0x0001
    TWO = 0x0002
    THREE = 0x0003
    QUORUM = 0x0004
    ALL = 0x0005
    LOCAL_QUORUM = 0x0006
    EACH_QUORUM = 0x0007
    SERIAL = 0x0008
    LOCAL_SERIAL = 0x0009
    LOCAL_ONE = 0x000A


class ProtocolError(Exception):
    """The peer sent bytes that are not a valid frame or body."""


# Marker for the protocol v4 "unset" value (length -2): leave the column alone.
class _Unset:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()

type Value = bytes | _Unset | None


@dataclass(frozen=True, slots=True)
class FrameHeader:
    version: int
    flags: int
    stream: int
    opcode: int
    length: int

    @classmethod
    def parse(cls, data: bytes) -> FrameHeader:
        version, flags, stream, opcode, length = HEADER.unpack(data)
        return cls(version & 0x7F, flags, stream, opcode, length)


def encode_frame(stream: int, opcode: Opcode, body: bytes, flags: int = 0) -> bytes:
    return HEADER.pack(RESPONSE_FLAG | PROTOCOL_VERSION, flags, stream, opcode, len(body)) + body


class Reader:
    """Reads protocol notations from one request body."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def _take(self, size: int) -> bytes:
        end = self._pos + size
        if size < 0 or end > len(self._data):
            raise ProtocolError("request body is shorter than its contents say")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def byte(self) -> int:
        return self._take(1)[0]

    def short(self) -> int:
        value: int = _SHORT.unpack(self._take(2))[0]
        return value

    def int32(self) -> int:
        value: int = _INT.unpack(self._take(4))[0]
        return value

    def int64(self) -> int:
        value: int = _LONG.unpack(self._take(8))[0]
        return value

    def string(self) -> str:
        return self._take(self.short()).decode()

    def long_string(self) -> str:
        return self._take(self.int32()).decode()

    def short_bytes(self) -> bytes:
        return self._take(self.short())

    def opt_bytes(self) -> bytes | None:
        size = self.int32()
        return None if size < 0 else self._take(size)

    def value(self) -> Value:
        size = self.int32()
        if size == -2:
            return UNSET
        return None if size < 0 else self._take(size)

    def string_list(self) -> list[str]:
        return [self.string() for _ in range(self.short())]

    def string_map(self) -> dict[str, str]:
        return {self.string(): self.string() for _ in range(self.short())}


class Writer:
    """Builds one response body."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def getvalue(self) -> bytes:
        return bytes(self._buf)

    def raw(self, data: bytes) -> Writer:
        self._buf += data
        return self

    def byte(self, value: int) -> Writer:
        self._buf.append(value)
        return self

    def short(self, value: int) -> Writer:
        self._buf += _SHORT.pack(value)
        return self

    def int32(self, value: int) -> Writer:
        self._buf += _INT.pack(value)
        return self

    def int64(self, value: int) -> Writer:
        self._buf += _LONG.pack(value)
        return self

    def string(self, value: str) -> Writer:
        data = value.encode()
        return self.short(len(data)).raw(data)

    def long_string(self, value: str) -> Writer:
        data = value.encode()
        return self.int32(len(data)).raw(data)

    def short_bytes(self, value: bytes) -> Writer:
        return self.short(len(value)).raw(value)

    def opt_bytes(self, value: bytes | None) -> Writer:
        if value is None:
            return self.int32(-1)
        return self.int32(len(value)).raw(value)

    def string_list(self, values: list[str]) -> Writer:
        self.short(len(values))
        for value in values:
            self.string(value)
        return self

    def string_multimap(self, values: dict[str, list[str]]) -> Writer:
        self.short(len(values))
        for key, items in values.items():
            self.string(key).string_list(items)
        return self
