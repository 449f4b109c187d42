"""RESULT and ERROR bodies of the CQL test double, and their encoding."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .cql_schema import CqlError
from .cql_types import CqlType
from .cql_wire import ResultKind, Writer

_GLOBAL_TABLES_SPEC = 0x0001
_HAS_MORE_PAGES = 0x0002
_NO_METADATA = 0x0004


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    keyspace: str
    table: str
    name: str
    type: CqlType


@dataclass(slots=True)
class Void:
    def encode(self, out: Writer, *, skip_metadata: bool = False) -> None:
        out.int32(ResultKind.VOID)


@dataclass(slots=True)
class SetKeyspace:
    keyspace: str

    def encode(self, out: Writer, *, skip_metadata: bool = False) -> None:
        out.int32(ResultKind.SET_KEYSPACE).string(self.keyspace)


@dataclass(slots=True)
class SchemaChange:
    change: str  # CREATED, UPDATED, DROPPED
    target: str  # KEYSPACE, TABLE
    keyspace: str
    name: str | None = None

    def encode(self, out: Writer, *, skip_metadata: bool = False) -> None:
        out.int32(ResultKind.SCHEMA_CHANGE)
        self.encode_event(out)

    def encode_event(self, out: Writer) -> None:
        out.string(self.change).string(self.target).string(self.keyspace)
        if self.name is not None:
            out.string(self.name)


def write_metadata(
    out: Writer, columns: list[ColumnSpec], *, paging_state: bytes | None, no_metadata: bool
) -> None:
    """The <metadata> of a Rows result (also the result part of a Prepared result)."""
    flags = _HAS_MORE_PAGES if paging_state is not None else 0
    tables = {(c.keyspace, c.table) for c in columns}
    shared = len(tables) == 1
    if no_metadata:
        flags |= _NO_METADATA
    elif shared:
        flags |= _GLOBAL_TABLES_SPEC
    out.int32(flags).int32(len(columns))
    if paging_state is not None:
        out.opt_bytes(paging_state)
    if no_metadata:
        return
    if shared:
        keyspace, table = next(iter(tables))
        out.string(keyspace).string(table)
    for column in columns:
        if not shared:
            out.string(column.keyspace).string(column.table)
        out.string(column.name)
        column.type.write_option(out)


@dataclass(slots=True)
class Rows:
    columns: list[ColumnSpec]
    rows: list[list[Any]]
    paging_state: bytes | None = None

    def encode(self, out: Writer, *, skip_metadata: bool = False) -> None:
        out.int32(ResultKind.ROWS)
        write_metadata(out, self.columns, paging_state=self.paging_state, no_metadata=skip_metadata)
        out.int32(len(self.rows))
        types = [c.type for c in self.columns]
        for row in self.rows:
            for ctype, value in zip(types, row, strict=True):
                out.opt_bytes(None if value is None else ctype.encode(value))


@dataclass(slots=True)
class Prepared:
    id: bytes
    binds: list[ColumnSpec]
    pk_indices: list[int]
    columns: list[ColumnSpec]

    def encode(self, out: Writer, *, skip_metadata: bool = False) -> None:
        out.int32(ResultKind.PREPARED).short_bytes(self.id)
        tables = {(c.keyspace, c.table) for c in self.binds}
        shared = len(tables) == 1
        out.int32(_GLOBAL_TABLES_SPEC if shared else 0).int32(len(self.binds))
        out.int32(len(self.pk_indices))
        for index in self.pk_indices:
            out.short(index)
        if shared:
            keyspace, table = next(iter(tables))
            out.string(keyspace).string(table)
        for spec in self.binds:
            if not shared:
                out.string(spec.keyspace).string(spec.table)
            out.string(spec.name)
            spec.type.write_option(out)
        write_metadata(out, self.columns, paging_state=None, no_metadata=False)


type Result = Void | SetKeyspace | SchemaChange | Rows | Prepared


@dataclass(slots=True)
class Outcome:
    """A result plus what the statement log records about it."""

    result: Result
    table: str | None = None  # "keyspace.table"
    partitions: tuple[tuple[Any, ...], ...] = ()
    warnings: list[str] = field(default_factory=list)


def encode_error(error: CqlError) -> bytes:
    return Writer().int32(error.code).string(error.message).raw(error.extra).getvalue()
