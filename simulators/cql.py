"""A Cassandra test double that speaks the CQL native protocol v4 over real sockets.

The real cassandra-driver connects to it like to a one-node Cassandra 4.1
cluster: OPTIONS/STARTUP, PasswordAuthenticator, REGISTER, the system.local,
system.peers(_v2) and system_schema.* reads of its control connection, then
QUERY, PREPARE, EXECUTE and BATCH. Rows live in memory (`server.store`).

For tests it records every statement it receives (`server.statements`: the
text, the partitions it touched, the batch type, the consistency level),
injects faults (`fail_next`, `latency`), and can be stopped and started again
on the same port with its data kept, like a node restart.

Run: python -m simulators.cql --port 9042 [--user cassandra:cassandra]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import ssl
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from .cql_parser import (
    AlterKeyspace,
    AlterTable,
    CqlSyntaxError,
    CreateKeyspace,
    CreateTable,
    Delete,
    DropKeyspace,
    DropTable,
    Insert,
    Select,
    Statement,
    Truncate,
    Update,
    parse,
)
from .cql_results import (
    ColumnSpec,
    Outcome,
    Prepared,
    SchemaChange,
    SetKeyspace,
    encode_error,
)
from .cql_schema import SYSTEM_KEYSPACES, CqlError, NodeInfo, invalid
from .cql_store import Request, Store, prepared_id
from .cql_types import CqlValueError
from .cql_wire import (
    FLAG_CUSTOM_PAYLOAD,
    FLAG_WARNING,
    HEADER_SIZE,
    MAX_BODY,
    PROTOCOL_VERSION,
    UNSET,
    Consistency,
    ErrorCode,
    FrameHeader,
    Opcode,
    ProtocolError,
    Reader,
    Value,
    Writer,
    encode_frame,
)

_LOGGER = logging.getLogger(__name__)

AUTHENTICATOR: Final = "org.apache.cassandra.auth.PasswordAuthenticator"
_BATCH_TYPES: Final = ("LOGGED", "UNLOGGED", "COUNTER")
_VALUES: Final = 0x01
_SKIP_METADATA: Final = 0x02
_PAGE_SIZE: Final = 0x04
_PAGING_STATE: Final = 0x08
_SERIAL: Final = 0x10
_TIMESTAMP: Final = 0x20
_NAMED_VALUES: Final = 0x40
_PARSE_CACHE_SIZE: Final = 2048


class Fault(StrEnum):
    """Errors the double answers with on purpose (see `CqlServer.fail_next`)."""

    WRITE_TIMEOUT = "write_timeout"  # the write IS applied, then reported as timed out
    READ_TIMEOUT = "read_timeout"
    UNAVAILABLE = "unavailable"
    OVERLOADED = "overloaded"


@dataclass(frozen=True, slots=True)
class StatementRecord:
    """One request as the double saw it."""

    opcode: str  # QUERY, PREPARE, EXECUTE, BATCH
    statements: tuple[str, ...]  # the CQL text; a batch has one per child
    table: str | None  # "keyspace.table" (tables of a batch joined by ", ")
    partitions: tuple[tuple[Any, ...], ...]  # partition keys touched, in order
    consistency: str | None
    batch_type: str | None = None
    error: str | None = None  # the ERROR code name when it failed
    warnings: tuple[str, ...] = ()  # client warnings the answer carried

    @property
    def cql(self) -> str:
        return "; ".join(self.statements)

    @property
    def is_system(self) -> bool:
        return self.table is not None and self.table.split(".", 1)[0] in SYSTEM_KEYSPACES


@dataclass(slots=True)
class _PreparedEntry:
    statement: Statement
    keyspace: str | None
    result: Prepared


@dataclass(slots=True, eq=False)
class _Connection:
    writer: asyncio.StreamWriter
    ready: bool = False
    awaiting_auth: bool = False
    user: str | None = None
    keyspace: str | None = None
    events: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Params:
    consistency: Consistency
    values: list[Value]
    skip_metadata: bool
    page_size: int | None
    paging_state: bytes | None
    timestamp: int | None


class CqlServer:
    """One simulated Cassandra node on 127.0.0.1."""

    def __init__(
        self,
        *,
        port: int = 0,
        users: dict[str, str] | None = None,
        permissions: dict[str, set[str]] | None = None,
        datacenter: str = "dc1",
        rack: str = "rack1",
        cluster_name: str = "Wattkeeper Test Cluster",
        release_version: str = "4.1.5",
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.port = port
        # username -> password; empty means no authentication (AllowAllAuthenticator).
        self.users = dict(users or {})
        # username -> permissions granted (SELECT, MODIFY, CREATE, ALTER, DROP); absent = all.
        self.permissions = dict(permissions or {})
        self.ssl_context = ssl_context
        self._node_args = (datacenter, rack, cluster_name, release_version)
        self._clock = clock
        self.store = self._new_store()
        self.statements: list[StatementRecord] = []
        self.log_statements = True
        self.latency = 0.0  # seconds added before answering requests on user tables
        # Requests on user tables received and not yet answered (with latency), and the most.
        self.in_flight = 0
        self.peak_in_flight = 0
        self._faults: list[Fault] = []
        self._prepared: dict[bytes, _PreparedEntry] = {}
        self._parsed: dict[str, Statement] = {}
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def _new_store(self) -> Store:
        datacenter, rack, cluster_name, release = self._node_args
        node = NodeInfo(
            address="127.0.0.1",
            port=self.port,
            datacenter=datacenter,
            rack=rack,
            cluster_name=cluster_name,
            release_version=release,
            host_id=uuid.uuid4(),
            schema_version=uuid.uuid4(),
            tokens=frozenset(str(t) for t in range(-(2**63), 2**63 - 1, 2**62)),
        )
        return Store(node, self._clock)

    # Life cycle

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, ssl=self.ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self.store.node.port = self.port

    async def stop(self) -> None:
        """Go down like a killed node: sockets drop, prepared statements are forgotten."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for conn in list(self._connections):
            conn.writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await server.wait_closed()
        self._prepared.clear()

    async def restart(self, *, keep_data: bool = True) -> None:
        await self.stop()
        if not keep_data:
            self.store = self._new_store()
        await self.start()

    async def __aenter__(self) -> CqlServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # Test controls

    def fail_next(self, count: int = 1, fault: Fault = Fault.WRITE_TIMEOUT) -> None:
        """Answer the next `count` matching requests on user tables with `fault`."""
        self._faults.extend([fault] * count)

    def user_statements(self) -> list[StatementRecord]:
        """Recorded requests on user keyspaces (the driver's own system reads left out)."""
        return [r for r in self.statements if not r.is_system]

    # Connection handling

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(writer)
        self._connections.add(conn)
        try:
            while True:
                header = FrameHeader.parse(await reader.readexactly(HEADER_SIZE))
                if header.length < 0 or header.length > MAX_BODY:
                    raise ProtocolError(f"invalid frame body length {header.length}")
                body = await reader.readexactly(header.length)
                if header.version != PROTOCOL_VERSION:
                    self._send_error(
                        conn,
                        header.stream,
                        CqlError(
                            ErrorCode.PROTOCOL_ERROR,
                            f"Invalid or unsupported protocol version ({header.version}); "
                            f"supported versions are (3/v3, 4/v4)",
                        ),
                    )
                    await writer.drain()
                    break
                self._dispatch(conn, header, body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except ProtocolError as err:
            _LOGGER.debug("Closing a CQL connection: %s", err)
        finally:
            self._connections.discard(conn)
            writer.close()

    def _dispatch(self, conn: _Connection, header: FrameHeader, body: bytes) -> None:
        stream = header.stream
        reader = Reader(body)
        try:
            if header.flags & 0x01:
                raise CqlError(ErrorCode.PROTOCOL_ERROR, "Compression was not negotiated")
            if header.flags & FLAG_CUSTOM_PAYLOAD:
                for _ in range(reader.short()):
                    reader.string()
                    reader.opt_bytes()
            opcode = Opcode(header.opcode)
            if opcode == Opcode.OPTIONS:
                self._send(conn, stream, Opcode.SUPPORTED, self._supported())
            elif opcode == Opcode.STARTUP:
                self._startup(conn, stream, reader)
            elif opcode == Opcode.AUTH_RESPONSE:
                self._auth_response(conn, stream, reader)
            elif not conn.ready:
                expected = "AUTH_RESPONSE" if conn.awaiting_auth else "STARTUP"
                raise CqlError(
                    ErrorCode.PROTOCOL_ERROR,
                    f"Unexpected message {opcode.name}, expecting {expected}",
                )
            elif opcode == Opcode.REGISTER:
                conn.events.update(reader.string_list())
                self._send(conn, stream, Opcode.READY, b"")
            elif opcode in (Opcode.QUERY, Opcode.PREPARE, Opcode.EXECUTE, Opcode.BATCH):
                self._request(conn, stream, opcode, reader)
            else:
                raise CqlError(ErrorCode.PROTOCOL_ERROR, f"Unexpected message {opcode.name}")
        except ValueError as err:  # an opcode outside the protocol
            self._send_error(conn, stream, CqlError(ErrorCode.PROTOCOL_ERROR, str(err)))
        except ProtocolError as err:
            self._send_error(conn, stream, CqlError(ErrorCode.PROTOCOL_ERROR, str(err)))
        except CqlError as err:
            self._send_error(conn, stream, err)

    def _supported(self) -> bytes:
        return (
            Writer()
            .string_multimap(
                {
                    "CQL_VERSION": ["3.4.5"],
                    "COMPRESSION": [],
                    "PROTOCOL_VERSIONS": ["3/v3", "4/v4"],
                }
            )
            .getvalue()
        )

    def _startup(self, conn: _Connection, stream: int, reader: Reader) -> None:
        options = reader.string_map()
        if "CQL_VERSION" not in options:
            raise CqlError(ErrorCode.PROTOCOL_ERROR, "CQL_VERSION is mandatory")
        if options.get("COMPRESSION"):
            raise CqlError(
                ErrorCode.PROTOCOL_ERROR, f"Unknown compression algorithm: {options['COMPRESSION']}"
            )
        if self.users:
            conn.awaiting_auth = True
            self._send(conn, stream, Opcode.AUTHENTICATE, Writer().string(AUTHENTICATOR).getvalue())
        else:
            conn.ready = True
            self._send(conn, stream, Opcode.READY, b"")

    def _auth_response(self, conn: _Connection, stream: int, reader: Reader) -> None:
        if not conn.awaiting_auth:
            raise CqlError(ErrorCode.PROTOCOL_ERROR, "Unexpected message AUTH_RESPONSE")
        token = reader.opt_bytes() or b""
        parts = token.split(b"\0")
        user = parts[1].decode(errors="replace") if len(parts) == 3 else ""
        password = parts[2].decode(errors="replace") if len(parts) == 3 else None
        if self.users.get(user) is None or self.users[user] != password:
            raise CqlError(
                ErrorCode.BAD_CREDENTIALS,
                f"Provided username {user} and/or password are incorrect",
            )
        conn.awaiting_auth = False
        conn.ready = True
        conn.user = user
        self._send(conn, stream, Opcode.AUTH_SUCCESS, Writer().opt_bytes(None).getvalue())

    # Requests

    def _request(self, conn: _Connection, stream: int, opcode: Opcode, reader: Reader) -> None:
        record: dict[str, Any] = {"opcode": opcode.name, "consistency": None}
        try:
            response, outcome = self._handle(conn, opcode, reader, record)
        except CqlError as err:
            self._record(record, error=err.code.name)
            raise
        self._record(record, outcome=outcome)
        delay = self.latency if not _is_system(outcome.table) else 0.0
        warnings = outcome.warnings
        if delay > 0:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            task = asyncio.get_running_loop().create_task(
                self._send_later(conn, stream, response, warnings, delay)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._send_result(conn, stream, response, warnings)
        if isinstance(outcome.result, SchemaChange):
            self._push_schema_event(outcome.result)

    def _handle(
        self, conn: _Connection, opcode: Opcode, reader: Reader, record: dict[str, Any]
    ) -> tuple[bytes, Outcome]:
        if opcode == Opcode.PREPARE:
            text = reader.long_string()
            record["statements"] = (text,)
            return self._prepare(conn, text)
        if opcode == Opcode.BATCH:
            return self._batch(conn, reader, record)
        if opcode == Opcode.QUERY:
            text = reader.long_string()
            record["statements"] = (text,)
            stmt = self._parse(text)
            keyspace = conn.keyspace
            binds = self._binds(stmt, keyspace)
        else:
            query_id = reader.short_bytes()
            entry = self._prepared.get(query_id)
            if entry is None:
                raise CqlError(
                    ErrorCode.UNPREPARED,
                    f"Prepared query with ID {query_id.hex()} not found (either the query was "
                    "not prepared on this host (maybe the host has been restarted?) or you have "
                    "prepared too many queries and it has been evicted from the internal cache)",
                    Writer().short_bytes(query_id).getvalue(),
                )
            stmt = entry.statement
            record["statements"] = (stmt.text,)
            keyspace = entry.keyspace or conn.keyspace
            binds = entry.result.binds
        params = _read_params(reader)
        record["consistency"] = params.consistency.name
        values = _decode_values(binds, params.values)
        self._authorize(conn, stmt, keyspace)
        request = Request(
            keyspace=keyspace,
            consistency=params.consistency,
            page_size=params.page_size,
            paging_state=params.paging_state,
            timestamp=params.timestamp,
        )
        outcome = self._run(
            lambda: self.store.execute(stmt, values, request), stmt, keyspace, params.consistency
        )
        record["table"] = outcome.table
        if isinstance(outcome.result, SetKeyspace):
            conn.keyspace = outcome.result.keyspace
        out = Writer()
        outcome.result.encode(out, skip_metadata=params.skip_metadata)
        return out.getvalue(), outcome

    def _prepare(self, conn: _Connection, text: str) -> tuple[bytes, Outcome]:
        stmt = self._parse(text)
        keyspace = getattr(stmt, "keyspace", None) or conn.keyspace
        binds, pk_indices, columns = self.store.bindings(stmt, conn.keyspace)
        query_id = prepared_id(None if getattr(stmt, "keyspace", None) else conn.keyspace, text)
        result = Prepared(query_id, binds, pk_indices, columns)
        self._prepared[query_id] = _PreparedEntry(stmt, conn.keyspace, result)
        out = Writer()
        result.encode(out)
        table = f"{keyspace}.{stmt.table}" if hasattr(stmt, "table") and keyspace else None
        return out.getvalue(), Outcome(result, table=table)

    def _batch(
        self, conn: _Connection, reader: Reader, record: dict[str, Any]
    ) -> tuple[bytes, Outcome]:
        kind = reader.byte()
        if kind >= len(_BATCH_TYPES):
            raise CqlError(ErrorCode.PROTOCOL_ERROR, f"Unknown batch type {kind}")
        batch_type = _BATCH_TYPES[kind]
        record["batch_type"] = batch_type
        children: list[tuple[Statement, str | None, list[ColumnSpec], list[Value]]] = []
        for _ in range(reader.short()):
            if reader.byte() == 0:
                text = reader.long_string()
                stmt = self._parse(text)
                entry_keyspace = conn.keyspace
                binds = self._binds(stmt, conn.keyspace)
            else:
                query_id = reader.short_bytes()
                entry = self._prepared.get(query_id)
                if entry is None:
                    raise CqlError(
                        ErrorCode.UNPREPARED,
                        f"Prepared query with ID {query_id.hex()} not found",
                        Writer().short_bytes(query_id).getvalue(),
                    )
                stmt, entry_keyspace, binds = entry.statement, entry.keyspace, entry.result.binds
            values: list[Value] = [reader.value() for _ in range(reader.short())]
            children.append((stmt, entry_keyspace or conn.keyspace, binds, values))
        record["statements"] = tuple(stmt.text for stmt, *_ in children)
        consistency = _consistency(reader.short())
        record["consistency"] = consistency.name
        flags = reader.byte()
        if flags & _NAMED_VALUES:
            raise invalid("Named values in batches are not supported by the test double")
        if flags & _SERIAL:
            reader.short()
        timestamp = reader.int64() if flags & _TIMESTAMP else None
        if batch_type == "COUNTER":
            raise invalid("Counter batches are not supported by the test double")
        items: list[tuple[Statement, Sequence[Any]]] = []
        keyspaces = set()
        for stmt, keyspace, binds, raw in children:
            self._authorize(conn, stmt, keyspace)
            keyspaces.add(keyspace)
            items.append((_bound_to(stmt, keyspace), _decode_values(binds, raw)))
        request = Request(keyspace=conn.keyspace, consistency=consistency, timestamp=timestamp)
        first = children[0][0] if children else None
        outcome = self._run(
            lambda: self.store.execute_batch(items, request, batch_type),
            first,
            next(iter(keyspaces), None),
            consistency,
            write_type="BATCH" if batch_type == "LOGGED" else "UNLOGGED_BATCH",
        )
        record["table"] = outcome.table
        out = Writer()
        outcome.result.encode(out)
        return out.getvalue(), outcome

    def _run(
        self,
        action: Callable[[], Outcome],
        stmt: Statement | None,
        keyspace: str | None,
        consistency: Consistency,
        write_type: str = "SIMPLE",
    ) -> Outcome:
        """Execute, unless a queued fault applies to this request."""
        target = (
            keyspace
            if not isinstance(stmt, CreateKeyspace | AlterKeyspace | DropKeyspace)
            else None
        )
        is_user = (
            isinstance(stmt, Select | Insert | Update | Delete) and target not in SYSTEM_KEYSPACES
        )
        is_write = isinstance(stmt, Insert | Update | Delete)
        fault = self._take_fault(is_write) if is_user else None
        if fault is None:
            return action()
        if fault == Fault.WRITE_TIMEOUT:
            action()
            extra = Writer().short(consistency).int32(0).int32(1).string(write_type).getvalue()
            raise CqlError(
                ErrorCode.WRITE_TIMEOUT,
                "Operation timed out - received only 0 responses.",
                extra,
            )
        if fault == Fault.READ_TIMEOUT:
            extra = Writer().short(consistency).int32(0).int32(1).byte(0).getvalue()
            raise CqlError(
                ErrorCode.READ_TIMEOUT, "Operation timed out - received only 0 responses.", extra
            )
        if fault == Fault.UNAVAILABLE:
            extra = Writer().short(consistency).int32(1).int32(0).getvalue()
            raise CqlError(
                ErrorCode.UNAVAILABLE, f"Cannot achieve consistency level {consistency.name}", extra
            )
        raise CqlError(
            ErrorCode.OVERLOADED,
            "Server is in overloaded state. Cannot accept more requests at this point",
        )

    def _take_fault(self, is_write: bool) -> Fault | None:
        for index, fault in enumerate(self._faults):
            if fault == Fault.WRITE_TIMEOUT and not is_write:
                continue
            if fault == Fault.READ_TIMEOUT and is_write:
                continue
            del self._faults[index]
            return fault
        return None

    def _parse(self, text: str) -> Statement:
        stmt = self._parsed.get(text)
        if stmt is None:
            try:
                stmt = parse(text)
            except CqlSyntaxError as err:
                raise CqlError(ErrorCode.SYNTAX_ERROR, str(err)) from err
            if len(self._parsed) >= _PARSE_CACHE_SIZE:
                self._parsed.clear()
            self._parsed[text] = stmt
        return stmt

    def _binds(self, stmt: Statement, keyspace: str | None) -> list[ColumnSpec]:
        if not stmt.markers:
            return []
        return self.store.bindings(stmt, keyspace)[0]

    def _authorize(self, conn: _Connection, stmt: Statement, keyspace: str | None) -> None:
        granted = self.permissions.get(conn.user or "")
        if granted is None:
            return
        permission = _permission(stmt)
        if permission is None or permission in granted:
            return
        if isinstance(stmt, Select) and (
            keyspace in SYSTEM_KEYSPACES or stmt.keyspace in SYSTEM_KEYSPACES
        ):
            return
        if isinstance(stmt, CreateKeyspace | AlterKeyspace | DropKeyspace):
            resource = (
                "<all keyspaces>" if isinstance(stmt, CreateKeyspace) else f"<keyspace {stmt.name}>"
            )
        elif isinstance(stmt, CreateTable):
            resource = f"<keyspace {stmt.keyspace or keyspace}>"
        else:
            own = getattr(stmt, "keyspace", None) or keyspace
            resource = f"<table {own}.{getattr(stmt, 'table', '')}>"
        raise CqlError(
            ErrorCode.UNAUTHORIZED,
            f"User {conn.user} has no {permission} permission on {resource} or any of its parents",
        )

    def _record(
        self, record: dict[str, Any], *, outcome: Outcome | None = None, error: str | None = None
    ) -> None:
        if not self.log_statements:
            return
        self.statements.append(
            StatementRecord(
                opcode=record["opcode"],
                statements=record.get("statements", ()),
                table=outcome.table if outcome else record.get("table"),
                partitions=outcome.partitions if outcome else (),
                consistency=record["consistency"],
                batch_type=record.get("batch_type"),
                error=error,
                warnings=tuple(outcome.warnings) if outcome else (),
            )
        )

    # Sending

    def _send(
        self, conn: _Connection, stream: int, opcode: Opcode, body: bytes, flags: int = 0
    ) -> None:
        if not conn.writer.is_closing():
            conn.writer.write(encode_frame(stream, opcode, body, flags))

    def _send_error(self, conn: _Connection, stream: int, error: CqlError) -> None:
        self._send(conn, stream, Opcode.ERROR, encode_error(error))

    def _send_result(
        self, conn: _Connection, stream: int, body: bytes, warnings: list[str]
    ) -> None:
        if warnings:
            prefix = Writer().string_list(warnings).getvalue()
            self._send(conn, stream, Opcode.RESULT, prefix + body, FLAG_WARNING)
        else:
            self._send(conn, stream, Opcode.RESULT, body)

    async def _send_later(
        self, conn: _Connection, stream: int, body: bytes, warnings: list[str], delay: float
    ) -> None:
        try:
            await asyncio.sleep(delay)
            self._send_result(conn, stream, body, warnings)
        finally:
            self.in_flight -= 1

    def _push_schema_event(self, change: SchemaChange) -> None:
        out = Writer().string("SCHEMA_CHANGE")
        change.encode_event(out)
        for conn in self._connections:
            if "SCHEMA_CHANGE" in conn.events:
                self._send(conn, -1, Opcode.EVENT, out.getvalue())


def _is_system(table: str | None) -> bool:
    return table is not None and table.split(".", 1)[0] in SYSTEM_KEYSPACES


def _consistency(value: int) -> Consistency:
    try:
        return Consistency(value)
    except ValueError as err:
        raise CqlError(ErrorCode.PROTOCOL_ERROR, f"Unknown consistency level {value}") from err


def _read_params(reader: Reader) -> _Params:
    consistency = _consistency(reader.short())
    flags = reader.byte()
    values: list[Value] = []
    if flags & _NAMED_VALUES:
        raise invalid("Named bind values are not supported by the test double")
    if flags & _VALUES:
        values = [reader.value() for _ in range(reader.short())]
    page_size = reader.int32() if flags & _PAGE_SIZE else None
    paging_state = reader.opt_bytes() if flags & _PAGING_STATE else None
    if flags & _SERIAL:
        reader.short()
    timestamp = reader.int64() if flags & _TIMESTAMP else None
    return _Params(
        consistency, values, bool(flags & _SKIP_METADATA), page_size, paging_state, timestamp
    )


def _decode_values(binds: list[ColumnSpec], raw: list[Value]) -> list[Any]:
    if len(raw) != len(binds):
        raise invalid(f"There were {len(binds)} markers(?) in CQL but {len(raw)} bound variables")
    values: list[Any] = []
    for spec, value in zip(binds, raw, strict=True):
        if value is None or value is UNSET:
            values.append(value)
            continue
        assert isinstance(value, bytes)
        try:
            values.append(spec.type.decode(value))
        except CqlValueError as err:
            raise invalid(
                f"Invalid value for {spec.name} of type {spec.type.cql()}: {err}"
            ) from err
    return values


def _bound_to(stmt: Statement, keyspace: str | None) -> Statement:
    """A batch child executes in the keyspace it was prepared in."""
    if isinstance(stmt, Insert | Update | Delete) and stmt.keyspace is None and keyspace:
        return dataclasses.replace(stmt, keyspace=keyspace)
    return stmt


def _permission(stmt: Statement) -> str | None:
    if isinstance(stmt, Select):
        return "SELECT"
    if isinstance(stmt, Insert | Update | Delete | Truncate):
        return "MODIFY"
    if isinstance(stmt, CreateKeyspace | CreateTable):
        return "CREATE"
    if isinstance(stmt, AlterKeyspace | AlterTable):
        return "ALTER"
    if isinstance(stmt, DropKeyspace | DropTable):
        return "DROP"
    return None


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=9042)
    parser.add_argument("--user", action="append", default=[], help="name:password")
    parser.add_argument("--datacenter", default="dc1")
    parser.add_argument("--no-log", action="store_true", help="do not record statements")
    return parser.parse_args(argv)


async def _main(argv: Sequence[str] | None = None) -> None:
    args = _parse_args(argv)
    users = dict(u.split(":", 1) for u in args.user)
    server = CqlServer(port=args.port, users=users, datacenter=args.datacenter)
    server.log_statements = not args.no_log
    await server.start()
    print(f"CQL test double listening on 127.0.0.1:{server.port}", flush=True)
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.Event().wait()
    await server.stop()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main())
