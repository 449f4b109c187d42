"""Schema statements: USE, CREATE/ALTER/DROP KEYSPACE and TABLE, TRUNCATE."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .cql_data import TableData
from .cql_parser import (
    AlterKeyspace,
    AlterTable,
    CreateKeyspace,
    CreateTable,
    DropKeyspace,
    DropTable,
    Statement,
    Truncate,
    Use,
)
from .cql_results import Outcome, SchemaChange, SetKeyspace, Void
from .cql_schema import (
    SYSTEM_KEYSPACES,
    Column,
    CqlError,
    Keyspace,
    Table,
    invalid,
    normalize_replication,
    normalize_table_options,
)
from .cql_wire import ErrorCode, Writer

if TYPE_CHECKING:
    from .cql_store import Request, Store


def execute_ddl(store: Store, stmt: Statement, request: Request) -> Outcome:
    if isinstance(stmt, Use):
        store.keyspace_named(stmt.keyspace)
        return Outcome(SetKeyspace(stmt.keyspace))
    if isinstance(stmt, CreateKeyspace | AlterKeyspace | DropKeyspace):
        if stmt.name in SYSTEM_KEYSPACES:
            raise CqlError(ErrorCode.UNAUTHORIZED, f"{stmt.name} keyspace is not user-modifiable.")
        outcome = _keyspace_ddl(store, stmt)
    else:
        assert isinstance(stmt, CreateTable | AlterTable | DropTable | Truncate)
        keyspace = stmt.keyspace or request.keyspace
        if keyspace in SYSTEM_KEYSPACES:
            raise CqlError(ErrorCode.UNAUTHORIZED, f"{keyspace} keyspace is not user-modifiable.")
        outcome = _table_ddl(store, stmt, store.keyspace_named(keyspace))
        outcome.table = f"{keyspace}.{stmt.table}"
    if isinstance(outcome.result, SchemaChange):
        store.bump_schema()
    return outcome


def _keyspace_ddl(store: Store, stmt: CreateKeyspace | AlterKeyspace | DropKeyspace) -> Outcome:
    existing = store.keyspaces.get(stmt.name)
    if isinstance(stmt, CreateKeyspace):
        if existing is not None:
            if stmt.if_not_exists:
                return Outcome(Void())
            extra = Writer().string(stmt.name).string("").getvalue()
            raise CqlError(
                ErrorCode.ALREADY_EXISTS,
                f"Keyspace {stmt.name} already exists",
                extra,
            )
        if not stmt.name.replace("_", "a").isalnum() or len(stmt.name) > 48:
            raise invalid(
                "Keyspace name must not be empty, more than 48 characters long, or contain "
                f'non-alphanumeric-underscore characters (got "{stmt.name}")'
            )
        replication, warnings = normalize_replication(
            stmt.name, stmt.replication, [store.node.datacenter]
        )
        store.keyspaces[stmt.name] = Keyspace(stmt.name, replication, stmt.durable_writes)
        return Outcome(SchemaChange("CREATED", "KEYSPACE", stmt.name), warnings=warnings)
    if existing is None:
        if isinstance(stmt, DropKeyspace) and stmt.if_exists:
            return Outcome(Void())
        raise CqlError(ErrorCode.CONFIG_ERROR, f"Keyspace '{stmt.name}' doesn't exist")
    if isinstance(stmt, DropKeyspace):
        del store.keyspaces[stmt.name]
        for table in existing.tables:
            del store.data[(stmt.name, table)]
        return Outcome(SchemaChange("DROPPED", "KEYSPACE", stmt.name))
    alter_warnings: list[str] = []
    if stmt.replication is not None:
        existing.replication, alter_warnings = normalize_replication(
            stmt.name, stmt.replication, [store.node.datacenter]
        )
    if stmt.durable_writes is not None:
        existing.durable_writes = stmt.durable_writes
    return Outcome(SchemaChange("UPDATED", "KEYSPACE", stmt.name), warnings=alter_warnings)


def _table_ddl(
    store: Store, stmt: CreateTable | AlterTable | DropTable | Truncate, keyspace: Keyspace
) -> Outcome:
    existing = keyspace.tables.get(stmt.table)
    if isinstance(stmt, CreateTable):
        if existing is not None:
            if stmt.if_not_exists:
                return Outcome(Void())
            extra = Writer().string(keyspace.name).string(stmt.table).getvalue()
            raise CqlError(
                ErrorCode.ALREADY_EXISTS,
                f"Object {keyspace.name}.{stmt.table} already exists",
                extra,
            )
        keyspace.tables[stmt.table] = _build_table(keyspace.name, stmt)
        store.data[(keyspace.name, stmt.table)] = TableData()
        return Outcome(SchemaChange("CREATED", "TABLE", keyspace.name, stmt.table))
    if existing is None:
        if isinstance(stmt, DropTable) and stmt.if_exists:
            return Outcome(Void())
        raise invalid(f"Table '{keyspace.name}.{stmt.table}' doesn't exist")
    if isinstance(stmt, Truncate):
        store.data[(keyspace.name, stmt.table)] = TableData()
        return Outcome(Void())
    if isinstance(stmt, DropTable):
        del keyspace.tables[stmt.table]
        del store.data[(keyspace.name, stmt.table)]
        return Outcome(SchemaChange("DROPPED", "TABLE", keyspace.name, stmt.table))
    for column in stmt.add:
        if column.name in existing.columns:
            raise invalid(f"Column with name '{column.name}' already exists")
        existing.columns[column.name] = Column(column.name, column.type, "regular")
    existing.options.update(normalize_table_options(stmt.options))
    return Outcome(SchemaChange("UPDATED", "TABLE", keyspace.name, stmt.table))


def _build_table(keyspace: str, stmt: CreateTable) -> Table:
    names = [c.name for c in stmt.columns]
    for name in names:
        if names.count(name) > 1:
            raise invalid(f"Multiple definition of identifier {name}")
    types = {c.name: c for c in stmt.columns}
    for name in (*stmt.partition_key, *stmt.clustering):
        if name not in types:
            raise invalid(f"Unknown definition {name} referenced in PRIMARY KEY")
        if types[name].type.is_collection() and not types[name].type.frozen:
            raise invalid(f"Invalid non-frozen collection type for PRIMARY KEY component {name}")
    if len(set(stmt.partition_key) | set(stmt.clustering)) != len(stmt.partition_key) + len(
        stmt.clustering
    ):
        raise invalid("Duplicate column in PRIMARY KEY")
    order = list(stmt.descending)
    if order and order != stmt.clustering[: len(order)]:
        raise invalid(
            "Only clustering key columns can be defined in CLUSTERING ORDER directive"
            if set(order) - set(stmt.clustering)
            else "The order of columns in the CLUSTERING ORDER directive must be the one of the "
            "clustering key"
        )
    columns: dict[str, Column] = {}
    for position, name in enumerate(stmt.partition_key):
        columns[name] = Column(name, types[name].type, "partition_key", position)
    for position, name in enumerate(stmt.clustering):
        columns[name] = Column(
            name, types[name].type, "clustering", position, stmt.descending.get(name, False)
        )
    for definition in stmt.columns:
        if definition.name in columns:
            if definition.static:
                raise invalid(f"Static column {definition.name} cannot be part of the PRIMARY KEY")
            continue
        if definition.static and not stmt.clustering:
            raise invalid(
                "Static columns are only useful (and thus allowed) if the table has at least one "
                "clustering column"
            )
        kind = "static" if definition.static else "regular"
        columns[definition.name] = Column(definition.name, definition.type, kind)
    return Table(keyspace, stmt.table, columns, normalize_table_options(stmt.options))
