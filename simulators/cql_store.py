"""In-memory storage and statement execution of the CQL test double.

Rules follow Cassandra 4: writes are upserts with per-cell write timestamps
(the newer write wins), TTLs expire cells and row markers, a SELECT must name
its partition or say ALLOW FILTERING, batches warn past 5 KiB and fail past
50 KiB, and the consistency level is checked against the keyspace's
replication on this one-node cluster.
"""

from __future__ import annotations

import hashlib
import itertools
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .cql_data import (
    Cell,
    TableData,
    drop_row,
    partition_for,
    row_for,
    row_values,
    write_cells,
)
from .cql_ddl import execute_ddl
from .cql_parser import (
    BindMarker,
    Delete,
    Insert,
    Select,
    Statement,
    Term,
    Update,
)
from .cql_restrict import (
    check_clustering_prefix,
    ck_matches,
    column_type,
    full_key,
    key_of,
    no_regular_restrictions,
    parse_restrictions,
    resolve,
    value_size,
)
from .cql_results import ColumnSpec, Outcome, Void
from .cql_schema import (
    MAX_TTL,
    SYSTEM_KEYSPACES,
    SYSTEM_TABLES,
    CqlError,
    Keyspace,
    NodeInfo,
    Table,
    invalid,
)
from .cql_select import select
from .cql_types import CqlType, native
from .cql_wire import UNSET, Consistency, ErrorCode, Writer

BATCH_WARN_BYTES: Final = 5 * 1024
BATCH_FAIL_BYTES: Final = 50 * 1024
UNLOGGED_PARTITIONS_WARN: Final = 10
_INT: Final = native("int")
_BIGINT: Final = native("bigint")


@dataclass(frozen=True, slots=True)
class Mutation:
    table: Table
    partition: tuple[Any, ...]
    # (bytes of the rows written, bytes of the partition key): only batches need it,
    # and a batch counts each partition key once, like Cassandra's mutation size.
    sizes: Callable[[], tuple[int, int]]
    apply: Callable[[], None]


@dataclass(slots=True)
class Request:
    """Per-request context: the session's keyspace, consistency, paging, timestamp."""

    keyspace: str | None = None
    consistency: Consistency = Consistency.ONE
    page_size: int | None = None
    paging_state: bytes | None = None
    timestamp: int | None = None  # microseconds, from the client


class Store:
    """The catalogue and the data; survives server restarts when the test keeps it."""

    def __init__(self, node: NodeInfo, clock: Callable[[], float] = time.time) -> None:
        self.node = node
        self.clock = clock
        self.keyspaces: dict[str, Keyspace] = {}
        self.data: dict[tuple[str, str], TableData] = {}
        self._schema_counter = itertools.count(1)

    # Catalogue lookups

    def keyspace_named(self, name: str | None) -> Keyspace:
        if name is None:
            raise invalid(
                "No keyspace has been specified. USE a keyspace, or explicitly specify "
                "keyspace.tablename"
            )
        keyspace = self.keyspaces.get(name)
        if keyspace is None:
            raise invalid(f"Keyspace {name} does not exist")
        return keyspace

    def table(self, keyspace: str | None, name: str) -> Table:
        ks = self.keyspace_named(keyspace)
        table = ks.tables.get(name)
        if table is None:
            raise invalid(f"table {name} does not exist")
        return table

    def rows_of(self, keyspace: str, table: str) -> Iterator[dict[str, Any]]:
        """Every live row of a table, for test assertions."""
        defn = self.table(keyspace, table)
        now = self.clock()
        for pk, partition in self.data[(keyspace, table)].partitions.items():
            for ck in partition.keys:
                row = partition.rows[ck]
                if row.alive(now):
                    yield row_values(defn, pk, ck, row, partition.static, now)

    def bump_schema(self) -> None:
        self.node.schema_version = uuid.uuid5(uuid.NAMESPACE_OID, f"{next(self._schema_counter)}")

    # Preparation: the types of bind markers and of the result

    def bindings(
        self, stmt: Statement, session_keyspace: str | None
    ) -> tuple[list[ColumnSpec], list[int], list[ColumnSpec]]:
        """(bind specs, partition key bind indices, result columns) of a statement."""
        if not stmt.markers and not isinstance(stmt, Select):
            return [], [], []
        assert isinstance(stmt, Insert | Update | Delete | Select)
        keyspace = stmt.keyspace or session_keyspace
        columns, result_columns = self.columns_for(stmt, keyspace)
        assert keyspace is not None
        specs: list[ColumnSpec] = []
        for marker in stmt.markers:
            if marker.kind == "column":
                assert marker.column is not None
                specs.append(
                    ColumnSpec(
                        keyspace, stmt.table, marker.column, column_type(columns, marker.column)
                    )
                )
            elif marker.kind == "in":
                assert marker.column is not None
                ctype = CqlType("list", (column_type(columns, marker.column),), frozen=True)
                specs.append(ColumnSpec(keyspace, stmt.table, f"in({marker.column})", ctype))
            else:
                ctype = _BIGINT if marker.kind == "timestamp" else _INT
                specs.append(ColumnSpec(keyspace, stmt.table, f"[{marker.kind}]", ctype))
        return specs, self._pk_indices(stmt, keyspace), result_columns

    def columns_for(
        self, stmt: Insert | Update | Delete | Select, keyspace: str | None
    ) -> tuple[dict[str, CqlType], list[ColumnSpec]]:
        system = SYSTEM_TABLES.get((keyspace or "", stmt.table))
        if system is not None:
            columns = dict(system.columns)
            ordered = system.columns
        else:
            table = self.table(keyspace, stmt.table)
            columns = {c.name: c.type for c in table.columns.values()}
            ordered = [(c.name, c.type) for c in table.select_star()]
        assert keyspace is not None
        if not isinstance(stmt, Select):
            return columns, []
        if stmt.selectors is None:
            return columns, [ColumnSpec(keyspace, stmt.table, n, t) for n, t in ordered]
        result = []
        for sel in stmt.selectors:
            if sel.function == "count":
                ctype = _BIGINT
                if sel.column is not None:
                    column_type(columns, sel.column)
            elif sel.function == "ttl":
                ctype = _INT
            elif sel.function == "writetime":
                ctype = _BIGINT
            else:
                assert sel.column is not None
                ctype = column_type(columns, sel.column)
            if sel.function in ("ttl", "writetime"):
                assert sel.column is not None
                column_type(columns, sel.column)
            result.append(ColumnSpec(keyspace, stmt.table, sel.name, ctype))
        return columns, result

    def _pk_indices(self, stmt: Statement, keyspace: str) -> list[int]:
        if not isinstance(stmt, Insert | Update | Delete | Select):
            return []
        if (keyspace, stmt.table) in SYSTEM_TABLES:
            return []
        table = self.table(keyspace, stmt.table)
        indices: list[int] = []
        for column in table.partition_key:
            term: Term | None = None
            if isinstance(stmt, Insert):
                if column.name in stmt.columns:
                    term = stmt.values[stmt.columns.index(column.name)]
            else:
                for rel in stmt.where:
                    if rel.column == column.name and rel.op == "=":
                        assert not isinstance(rel.term, tuple)
                        term = rel.term
            if not isinstance(term, BindMarker):
                return []
            indices.append(term.index)
        return indices

    # Execution

    def execute(self, stmt: Statement, values: Sequence[Any], request: Request) -> Outcome:
        if isinstance(stmt, Select):
            return select(self, stmt, values, request)
        if isinstance(stmt, Insert | Update | Delete):
            mutations, warnings = self.plan(stmt, values, request)
            if mutations:
                self.check_consistency(
                    self.keyspace_named(mutations[0].table.keyspace),
                    request.consistency,
                    write=True,
                )
            for mutation in mutations:
                mutation.apply()
            return Outcome(
                Void(),
                table=f"{mutations[0].table.keyspace}.{stmt.table}" if mutations else None,
                partitions=tuple(dict.fromkeys(m.partition for m in mutations)),
                warnings=warnings,
            )
        return execute_ddl(self, stmt, request)

    def execute_batch(
        self, items: list[tuple[Statement, Sequence[Any]]], request: Request, batch_type: str
    ) -> Outcome:
        """All-or-nothing: every statement is checked before any is applied."""
        mutations: list[Mutation] = []
        warnings: list[str] = []
        for stmt, values in items:
            if not isinstance(stmt, Insert | Update | Delete):
                raise invalid(
                    "Invalid statement in batch: only UPDATE, INSERT and DELETE statements "
                    "are allowed."
                )
            planned, warns = self.plan(stmt, values, request)
            mutations.extend(planned)
            warnings.extend(warns)
        tables = sorted({f"{m.table.keyspace}.{m.table.name}" for m in mutations})
        # Like Cassandra's mutation size: each partition's key once, plus its rows.
        sizes = [m.sizes() for m in mutations]
        keys = {(m.table.name, m.partition): s[1] for m, s in zip(mutations, sizes, strict=True)}
        size = sum(s[0] for s in sizes) + sum(keys.values())
        if size > BATCH_FAIL_BYTES:
            raise invalid(
                f"Batch too large: batch for [{', '.join(tables)}] is of size "
                f"{size / 1024:.3f}KiB, exceeding specified threshold of "
                f"{BATCH_FAIL_BYTES / 1024:.3f}KiB"
            )
        if size > BATCH_WARN_BYTES:
            warnings.append(
                f"Batch for [{', '.join(tables)}] is of size {size / 1024:.3f}KiB, exceeding "
                f"specified threshold of {BATCH_WARN_BYTES / 1024:.3f}KiB by "
                f"{(size - BATCH_WARN_BYTES) / 1024:.3f}KiB."
            )
        partitions = tuple(dict.fromkeys((m.table.name, m.partition) for m in mutations))
        if batch_type == "UNLOGGED" and len(partitions) > UNLOGGED_PARTITIONS_WARN:
            warnings.append(
                f"Unlogged batch covering {len(partitions)} partitions detected against tables "
                f"[{', '.join(tables)}]. You should use a logged batch for atomicity, or "
                "asynchronous writes for performance."
            )
        for keyspace in {m.table.keyspace for m in mutations}:
            self.check_consistency(self.keyspace_named(keyspace), request.consistency, write=True)
        for mutation in mutations:
            mutation.apply()
        return Outcome(
            Void(),
            table=", ".join(tables) or None,
            partitions=tuple(p for _, p in partitions),
            warnings=warnings,
        )

    def check_consistency(self, keyspace: Keyspace, level: Consistency, *, write: bool) -> None:
        if level == Consistency.ANY and write:
            return
        total, local = keyspace.replicas(self.node.datacenter)
        required = {
            Consistency.ONE: 1,
            Consistency.LOCAL_ONE: 1,
            Consistency.ANY: 1,
            Consistency.TWO: 2,
            Consistency.THREE: 3,
            Consistency.QUORUM: total // 2 + 1,
            Consistency.SERIAL: total // 2 + 1,
            Consistency.ALL: total,
            Consistency.LOCAL_QUORUM: local // 2 + 1,
            Consistency.LOCAL_SERIAL: local // 2 + 1,
            Consistency.EACH_QUORUM: local // 2 + 1,
        }[level]
        alive = min(local, 1)  # one node: at most one replica answers
        if required > alive or (level == Consistency.EACH_QUORUM and total > local):
            extra = Writer().short(level).int32(required).int32(alive).getvalue()
            raise CqlError(
                ErrorCode.UNAVAILABLE, f"Cannot achieve consistency level {level.name}", extra
            )

    # Writes

    def plan(
        self, stmt: Insert | Update | Delete, values: Sequence[Any], request: Request
    ) -> tuple[list[Mutation], list[str]]:
        keyspace = stmt.keyspace or request.keyspace
        if keyspace in SYSTEM_KEYSPACES:
            raise CqlError(ErrorCode.UNAUTHORIZED, f"{keyspace} keyspace is not user-modifiable.")
        table = self.table(keyspace, stmt.table)
        data = self.data[(table.keyspace, table.name)]
        ts = self._timestamp(stmt.timestamp, values, request)
        if isinstance(stmt, Insert):
            return self._plan_insert(stmt, table, data, values, ts), []
        if isinstance(stmt, Update):
            return self._plan_update(stmt, table, data, values, ts), []
        return self._plan_delete(stmt, table, data, values, ts), []

    def _timestamp(self, term: Term | None, values: Sequence[Any], request: Request) -> int:
        if term is not None:
            value = resolve(term, values, _BIGINT)
            if value is not None and value is not UNSET:
                return int(value)
        if request.timestamp is not None:
            return request.timestamp
        return int(self.clock() * 1_000_000)

    def _expiry(self, term: Term | None, values: Sequence[Any], table: Table) -> float | None:
        ttl = table.default_ttl
        if term is not None:
            value = resolve(term, values, _INT)
            if value is None:
                raise invalid("Invalid null value of TTL")
            if value is not UNSET:
                ttl = int(value)
        if ttl < 0:
            raise invalid(f"A TTL must be greater or equal to 0, but was {ttl}")
        if ttl > MAX_TTL:
            raise invalid(f"ttl is too large. requested ({ttl}) maximum ({MAX_TTL})")
        return self.clock() + ttl if ttl else None

    def _plan_insert(
        self, stmt: Insert, table: Table, data: TableData, values: Sequence[Any], ts: int
    ) -> list[Mutation]:
        if len(set(stmt.columns)) != len(stmt.columns):
            raise invalid("The column names contains duplicates")
        given: dict[str, Any] = {}
        for name, term in zip(stmt.columns, stmt.values, strict=True):
            column = table.columns.get(name)
            if column is None:
                raise invalid(f"Undefined column name {name}")
            given[name] = resolve(term, values, column.type)
        for kind, label in (
            ("partition_key", "partition key parts"),
            ("clustering", "clustering keys"),
        ):
            missing = [
                c.name for c in table.columns.values() if c.kind == kind and c.name not in given
            ]
            if missing:
                raise invalid(f"Some {label} are missing: {', '.join(missing)}")
        pk = key_of(table.partition_key, given)
        ck = key_of(table.clustering, given)
        expires = self._expiry(stmt.ttl, values, table)
        cells = {n: v for n, v in given.items() if table.columns[n].kind in ("regular", "static")}

        def sizes() -> tuple[int, int]:
            rows = sum(
                value_size(table.columns[n].type, v)
                for n, v in given.items()
                if table.columns[n].kind != "partition_key"
            )
            return rows, key_bytes(table, pk)

        def apply() -> None:
            partition = partition_for(data, pk)
            row = row_for(table, partition, ck)
            if row.marker is None or row.marker.ts <= ts:
                row.marker = Cell(None, expires, ts)
            write_cells(table, partition, row, cells, expires, ts)

        return [Mutation(table, pk, sizes, apply)]

    def _plan_update(
        self, stmt: Update, table: Table, data: TableData, values: Sequence[Any], ts: int
    ) -> list[Mutation]:
        restrictions = parse_restrictions(table, stmt.where, values)
        no_regular_restrictions(table, restrictions)
        for rel in stmt.where:
            if rel.op not in ("=", "IN") and table.columns[rel.column].kind == "clustering":
                raise invalid(
                    "Slice restrictions are not supported on the clustering columns in UPDATE "
                    "statements"
                )
        partitions = full_key(table.partition_key, restrictions, "partition key parts")
        keys = full_key(table.clustering, restrictions, "clustering keys")
        cells: dict[str, Any] = {}
        for name, term in stmt.assignments:
            column = table.columns.get(name)
            if column is None:
                raise invalid(f"Undefined column name {name}")
            if column.kind in ("partition_key", "clustering"):
                raise invalid(f"PRIMARY KEY part {name} found in SET part")
            cells[name] = resolve(term, values, column.type)
        expires = self._expiry(stmt.ttl, values, table)
        row_bytes = sum(value_size(table.columns[n].type, v) for n, v in cells.items())
        mutations = []
        for pk in partitions:

            def apply(pk: tuple[Any, ...] = pk) -> None:
                partition = partition_for(data, pk)
                for ck in keys:
                    write_cells(table, partition, row_for(table, partition, ck), cells, expires, ts)

            key_size = key_bytes(table, pk)
            total = row_bytes * max(len(keys), 1)
            mutations.append(Mutation(table, pk, _known((total, key_size)), apply))
        return mutations

    def _plan_delete(
        self, stmt: Delete, table: Table, data: TableData, values: Sequence[Any], ts: int
    ) -> list[Mutation]:
        restrictions = parse_restrictions(table, stmt.where, values)
        no_regular_restrictions(table, restrictions)
        partitions = full_key(table.partition_key, restrictions, "partition key parts")
        for name in stmt.columns:
            column = table.columns.get(name)
            if column is None:
                raise invalid(f"Undefined column name {name}")
            if column.kind in ("partition_key", "clustering"):
                raise invalid(
                    f"Invalid identifier {name} for deletion (should not be a PRIMARY KEY part)"
                )
        check_clustering_prefix(table, restrictions, allow_filtering=False)
        if stmt.columns and any(
            c.name not in restrictions or restrictions[c.name][0][0] not in ("=", "IN")
            for c in table.clustering
        ):
            raise invalid("Range deletions are not supported for specific columns")
        mutations = []
        for pk in partitions:

            def apply(pk: tuple[Any, ...] = pk) -> None:
                partition = data.partitions.get(pk)
                if partition is None:
                    return
                doomed = [ck for ck in partition.keys if ck_matches(table, ck, restrictions)]
                if not stmt.columns and not any(c.name in restrictions for c in table.clustering):
                    partition.static.delete(ts)
                for ck in doomed:
                    row = partition.rows[ck]
                    if stmt.columns:
                        for name in stmt.columns:
                            cell = row.cells.get(name)
                            if cell is not None and cell.ts <= ts:
                                del row.cells[name]
                    else:
                        row.delete(ts)
                    if row.empty():
                        drop_row(table, partition, ck)
                if not partition.rows and partition.static.empty():
                    del data.partitions[pk]

            mutations.append(Mutation(table, pk, _known((0, 0)), apply))
        return mutations

    # Reads

    # Schema statements


def _known(sizes: tuple[int, int]) -> Callable[[], tuple[int, int]]:
    return lambda: sizes


def key_bytes(table: Table, pk: tuple[Any, ...]) -> int:
    return sum(value_size(c.type, v) for c, v in zip(table.partition_key, pk, strict=True))


def prepared_id(keyspace: str | None, text: str) -> bytes:
    """Cassandra's prepared id: an MD5 of the keyspace and the query string."""
    return hashlib.md5(((keyspace or "") + text).encode(), usedforsecurity=False).digest()
