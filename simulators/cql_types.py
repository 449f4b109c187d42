"""CQL data types for the test double: names, wire type options, value codecs.

Python representation of values: text/ascii -> str, integers -> int,
float/double -> float, boolean -> bool, timestamp -> int milliseconds since
the epoch, date -> int days since the epoch, time -> int nanoseconds since
midnight, uuid/timeuuid -> uuid.UUID, inet -> str, blob -> bytes,
list -> list, set -> frozenset, map -> dict, tuple -> tuple.
"""

from __future__ import annotations

import ipaddress
import re
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, Final

from .cql_wire import Writer

_EPOCH_DAY: Final = 2**31  # the wire's "date" puts the epoch in the middle of uint32


class CqlValueError(ValueError):
    """A value or type name does not fit; becomes an Invalid query error."""


@dataclass(frozen=True, slots=True)
class _Native:
    code: int
    encode: Callable[[Any], bytes]
    decode: Callable[[bytes], Any]


def _packer(
    fmt: str, check: Callable[[Any], Any]
) -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]]:
    codec = struct.Struct(fmt)

    def encode(value: Any) -> bytes:
        try:
            return codec.pack(check(value))
        except struct.error as err:
            raise CqlValueError(f"value {value!r} out of range") from err

    def decode(data: bytes) -> Any:
        if len(data) != codec.size:
            raise CqlValueError(f"expected {codec.size} bytes, got {len(data)}")
        return codec.unpack(data)[0]

    return encode, decode


def _as_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CqlValueError(f"expected an integer, got {value!r}")
    return value


def _as_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CqlValueError(f"expected a number, got {value!r}")
    return float(value)


def _as_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise CqlValueError(f"expected a boolean, got {value!r}")
    return value


def _text_codec(ascii_only: bool) -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]]:
    def encode(value: Any) -> bytes:
        if not isinstance(value, str):
            raise CqlValueError(f"expected a string, got {value!r}")
        return value.encode("ascii" if ascii_only else "utf-8")

    def decode(data: bytes) -> Any:
        try:
            return data.decode("ascii" if ascii_only else "utf-8")
        except UnicodeDecodeError as err:
            raise CqlValueError("invalid string bytes") from err

    return encode, decode


def _uuid_codec() -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]]:
    def encode(value: Any) -> bytes:
        if not isinstance(value, uuid.UUID):
            raise CqlValueError(f"expected a uuid, got {value!r}")
        return value.bytes

    def decode(data: bytes) -> Any:
        if len(data) != 16:
            raise CqlValueError("a uuid has 16 bytes")
        return uuid.UUID(bytes=data)

    return encode, decode


def _inet_codec() -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]]:
    def encode(value: Any) -> bytes:
        try:
            return ipaddress.ip_address(value).packed
        except ValueError as err:
            raise CqlValueError(f"not an IP address: {value!r}") from err

    def decode(data: bytes) -> Any:
        if len(data) not in (4, 16):
            raise CqlValueError("an inet has 4 or 16 bytes")
        return str(ipaddress.ip_address(data))

    return encode, decode


def _blob_codec() -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]]:
    def encode(value: Any) -> bytes:
        if not isinstance(value, bytes):
            raise CqlValueError(f"expected bytes, got {value!r}")
        return value

    return encode, bytes


def _date_codec() -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]]:
    enc, dec = _packer(">I", lambda v: _as_int(v) + _EPOCH_DAY)
    return enc, lambda data: dec(data) - _EPOCH_DAY


_NATIVE: Final[dict[str, _Native]] = {
    "ascii": _Native(0x0001, *_text_codec(ascii_only=True)),
    "bigint": _Native(0x0002, *_packer(">q", _as_int)),
    "blob": _Native(0x0003, *_blob_codec()),
    "boolean": _Native(0x0004, *_packer(">?", _as_bool)),
    "double": _Native(0x0007, *_packer(">d", _as_float)),
    "float": _Native(0x0008, *_packer(">f", _as_float)),
    "int": _Native(0x0009, *_packer(">i", _as_int)),
    "timestamp": _Native(0x000B, *_packer(">q", _as_int)),
    "uuid": _Native(0x000C, *_uuid_codec()),
    "text": _Native(0x000D, *_text_codec(ascii_only=False)),
    "timeuuid": _Native(0x000F, *_uuid_codec()),
    "inet": _Native(0x0010, *_inet_codec()),
    "date": _Native(0x0011, *_date_codec()),
    "time": _Native(0x0012, *_packer(">q", _as_int)),
    "smallint": _Native(0x0013, *_packer(">h", _as_int)),
    "tinyint": _Native(0x0014, *_packer(">b", _as_int)),
}
_ALIASES: Final = {"varchar": "text"}
_COLLECTIONS: Final = {"list": (0x0020, 1), "set": (0x0022, 1), "map": (0x0021, 2)}
_TUPLE_CODE: Final = 0x0031
_LEN = struct.Struct(">i")


@dataclass(frozen=True, slots=True)
class CqlType:
    """A CQL type: a native name, or a collection/tuple with parameters."""

    name: str
    params: tuple[CqlType, ...] = ()
    frozen: bool = False

    def cql(self) -> str:
        """The type as system_schema.columns spells it."""
        if not self.params:
            return self.name
        inner = f"{self.name}<{', '.join(p.cql() for p in self.params)}>"
        return f"frozen<{inner}>" if self.frozen else inner

    def is_collection(self) -> bool:
        return self.name in _COLLECTIONS

    def write_option(self, out: Writer) -> None:
        """The [option] that describes this type in result metadata."""
        if self.name in _NATIVE:
            out.short(_NATIVE[self.name].code)
            return
        if self.name == "tuple":
            out.short(_TUPLE_CODE).short(len(self.params))
        else:
            out.short(_COLLECTIONS[self.name][0])
        for param in self.params:
            param.write_option(out)

    # Values

    def encode(self, value: Any) -> bytes:
        native = _NATIVE.get(self.name)
        if native is not None:
            return native.encode(value)
        if self.name == "tuple":
            if not isinstance(value, tuple) or len(value) != len(self.params):
                raise CqlValueError(f"expected a {len(self.params)}-tuple, got {value!r}")
            return b"".join(_element(p, v) for p, v in zip(self.params, value, strict=True))
        if self.name == "map":
            if not isinstance(value, dict):
                raise CqlValueError(f"expected a map, got {value!r}")
            key_type, value_type = self.params
            items = sorted(value.items(), key=lambda kv: key_type.sort_key(kv[0]))
            body = b"".join(_element(key_type, k) + _element(value_type, v) for k, v in items)
            return _LEN.pack(len(items)) + body
        if not isinstance(value, list | tuple | set | frozenset):
            raise CqlValueError(f"expected a {self.name}, got {value!r}")
        elem = self.params[0]
        items = sorted(value, key=elem.sort_key) if self.name == "set" else list(value)
        return _LEN.pack(len(items)) + b"".join(_element(elem, v) for v in items)

    def decode(self, data: bytes) -> Any:
        native = _NATIVE.get(self.name)
        if native is not None:
            return native.decode(data)
        pos = 0

        def take() -> Any:
            nonlocal pos
            (size,) = _LEN.unpack_from(data, pos)
            pos += 4
            if size < 0:
                return None
            chunk = data[pos : pos + size]
            pos += size
            return chunk

        try:
            if self.name == "tuple":
                items: list[Any] = []
                for param in self.params:
                    raw = take() if pos < len(data) else None
                    items.append(None if raw is None else param.decode(raw))
                return tuple(items)
            (count,) = _LEN.unpack_from(data, pos)
            pos += 4
            if self.name == "map":
                key_type, value_type = self.params
                return {key_type.decode(take()): value_type.decode(take()) for _ in range(count)}
            elems = [self.params[0].decode(take()) for _ in range(count)]
        except struct.error as err:
            raise CqlValueError(f"truncated {self.name} value") from err
        return frozenset(elems) if self.name == "set" else elems

    def sort_key(self, value: Any) -> Any:
        """Key that orders values the way Cassandra's comparator does."""
        if self.name in ("uuid", "timeuuid"):
            time_part = value.time if value.version == 1 else 0
            return (value.version or 0, time_part, value.bytes)
        if self.name == "inet":
            return ipaddress.ip_address(value).packed
        if self.name == "tuple":
            return tuple(
                (v is not None, p.sort_key(v) if v is not None else 0)
                for p, v in zip(self.params, value, strict=True)
            )
        return value

    def from_literal(self, literal: Any) -> Any:
        """Convert a parsed CQL literal (str, int, float, bool, bytes, UUID, list…)."""
        if literal is None:
            return None
        name = self.name
        if name in ("text", "ascii"):
            if not isinstance(literal, str):
                raise CqlValueError(f"expected a string literal for {name}, got {literal!r}")
            return literal
        if name in ("bigint", "int", "smallint", "tinyint"):
            return _as_int(literal)
        if name in ("double", "float"):
            return _as_float(literal)
        if name == "boolean":
            return _as_bool(literal)
        if name == "timestamp":
            return literal if isinstance(literal, int) else _parse_timestamp(literal)
        if name == "date":
            return _parse_date(literal)
        if name == "time":
            return literal if isinstance(literal, int) else _parse_time(literal)
        if name in ("uuid", "timeuuid"):
            if isinstance(literal, uuid.UUID):
                return literal
            raise CqlValueError(f"expected a uuid literal, got {literal!r}")
        if name == "inet":
            return _inet_codec()[1](_inet_codec()[0](literal))
        if name == "blob":
            return _blob_codec()[0](literal)
        if name == "map":
            if not isinstance(literal, dict):
                raise CqlValueError(f"expected a map literal, got {literal!r}")
            key_type, value_type = self.params
            return {
                key_type.from_literal(k): value_type.from_literal(v) for k, v in literal.items()
            }
        if name in ("list", "set"):
            # `{}` is the empty set/map literal; CQL does not tell them apart.
            if isinstance(literal, dict) and not literal:
                literal = []
            if not isinstance(literal, list | tuple | set | frozenset):
                raise CqlValueError(f"expected a {name} literal, got {literal!r}")
            items = [self.params[0].from_literal(v) for v in literal]
            return frozenset(items) if name == "set" else items
        if name == "tuple":
            if not isinstance(literal, tuple) or len(literal) != len(self.params):
                raise CqlValueError(f"expected a {len(self.params)}-tuple literal")
            return tuple(p.from_literal(v) for p, v in zip(self.params, literal, strict=True))
        raise CqlValueError(f"no literal form for {name}")


def _element(param: CqlType, value: Any) -> bytes:
    if value is None:
        return _LEN.pack(-1)
    data = param.encode(value)
    return _LEN.pack(len(data)) + data


def _parse_timestamp(text: Any) -> int:
    if not isinstance(text, str):
        raise CqlValueError(f"expected a timestamp, got {text!r}")
    norm = re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", text.strip().replace("Z", "+00:00"))
    try:
        moment = datetime.fromisoformat(norm)
    except ValueError as err:
        raise CqlValueError(f"unable to parse a date/time from {text!r}") from err
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def _parse_date(literal: Any) -> int:
    if isinstance(literal, int) and not isinstance(literal, bool):
        return literal - _EPOCH_DAY  # CQL's integer date literal is the unsigned wire form
    if not isinstance(literal, str):
        raise CqlValueError(f"expected a date, got {literal!r}")
    try:
        return date.fromisoformat(literal).toordinal() - date(1970, 1, 1).toordinal()
    except ValueError as err:
        raise CqlValueError(f"unable to coerce {literal!r} to a date") from err


def _parse_time(literal: Any) -> int:
    if not isinstance(literal, str):
        raise CqlValueError(f"expected a time, got {literal!r}")
    try:
        moment = time.fromisoformat(literal)
    except ValueError as err:
        raise CqlValueError(f"unable to coerce {literal!r} to a time") from err
    seconds = moment.hour * 3600 + moment.minute * 60 + moment.second
    return seconds * 1_000_000_000 + moment.microsecond * 1000


def native(name: str) -> CqlType:
    """A native type by name (used for system tables and bind-marker specs)."""
    return parse_type(name)


_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*|<|>|,)")


def parse_type(text: str) -> CqlType:
    """Parse a type expression such as `map<text, frozen<list<int>>>`."""
    tokens = [m.group(1).lower() for m in _TOKEN.finditer(text)]
    if "".join(tokens) != re.sub(r"\s+", "", text).lower():
        raise CqlValueError(f"unknown type {text!r}")
    result, rest = _parse_tokens(tokens)
    if rest:
        raise CqlValueError(f"unknown type {text!r}")
    return result


def _parse_tokens(tokens: list[str]) -> tuple[CqlType, list[str]]:
    if not tokens:
        raise CqlValueError("missing type")
    name, rest = _ALIASES.get(tokens[0], tokens[0]), tokens[1:]
    if name in _NATIVE:
        return CqlType(name), rest
    if name not in (*_COLLECTIONS, "tuple", "frozen") or not rest or rest[0] != "<":
        raise CqlValueError(f"unknown type {name!r}")
    params: list[CqlType] = []
    rest = rest[1:]
    while True:
        param, rest = _parse_tokens(rest)
        params.append(param)
        if not rest:
            raise CqlValueError("unbalanced <> in type")
        sep, rest = rest[0], rest[1:]
        if sep == ">":
            break
        if sep != ",":
            raise CqlValueError("expected , or > in type")
    if name == "frozen":
        if len(params) != 1 or not params[0].params:
            raise CqlValueError("frozen<> takes one collection or tuple type")
        inner = params[0]
        return CqlType(inner.name, inner.params, frozen=True), rest
    if name in _COLLECTIONS and len(params) != _COLLECTIONS[name][1]:
        raise CqlValueError(f"{name} takes {_COLLECTIONS[name][1]} type parameter(s)")
    # Collections and tuples nested inside another type are always frozen.
    nested = tuple(
        CqlType(p.name, p.params, frozen=True) if p.params and not p.frozen else p for p in params
    )
    return CqlType(name, nested, frozen=name == "tuple"), rest
