"""SELECT on user tables and on the generated system tables."""

from __future__ import annotations

import bisect
import itertools
import math
import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from .cql_data import row_values
from .cql_parser import Select
from .cql_restrict import (
    Restrictions,
    check_clustering_prefix,
    compare,
    eq_values,
    matches,
    parse_restrictions,
    relation_values,
    resolve,
)
from .cql_results import ColumnSpec, Outcome, Rows
from .cql_schema import SYSTEM_TABLES, SystemTable, Table, invalid
from .cql_types import native

if TYPE_CHECKING:
    from .cql_store import Request, Store

_INT: Final = native("int")
_AGGREGATES: Final = frozenset({"count", "min", "max", "sum", "avg"})
_PAGE = struct.Struct(">I")
_FILTERING_MSG: Final = (
    "Cannot execute this query as it might involve data filtering and thus may have "
    "unpredictable performance. If you want to execute this query despite the performance "
    "unpredictability, use ALLOW FILTERING"
)


def select(store: Store, stmt: Select, values: Sequence[Any], request: Request) -> Outcome:
    keyspace = stmt.keyspace or request.keyspace
    system = SYSTEM_TABLES.get((keyspace or "", stmt.table))
    _, columns = store.columns_for(stmt, keyspace)
    rows: list[dict[str, Any]] = []
    partitions: tuple[tuple[Any, ...], ...] = ()
    if system is not None:
        rows = _system_rows(store, system, stmt, values)
        name = f"{system.keyspace}.{system.name}"
    limit = None
    if stmt.limit is not None:
        limit = resolve(stmt.limit, values, _INT)
        if not isinstance(limit, int) or limit <= 0:
            raise invalid("LIMIT must be strictly positive")
    if system is None:
        table = store.table(keyspace, stmt.table)
        store.check_consistency(store.keyspace_named(keyspace), request.consistency, write=False)
        # Rows beyond the limit are not needed, unless an aggregate reads them all.
        aggregates = any(s.function in _AGGREGATES for s in stmt.selectors or ())
        rows, partitions = _table_rows(store, table, stmt, values, None if aggregates else limit)
        name = f"{table.keyspace}.{table.name}"
    out = _project(stmt, columns, rows, store.clock())
    if limit is not None:
        out = out[:limit]
    page_state = None
    if request.page_size is not None and request.page_size > 0:
        start = _PAGE.unpack(request.paging_state)[0] if request.paging_state else 0
        end = start + request.page_size
        page_state = _PAGE.pack(end) if end < len(out) else None
        out = out[start:end]
    return Outcome(Rows(columns, out, page_state), table=name, partitions=partitions)


def _system_rows(
    store: Store, system: SystemTable, stmt: Select, values: Sequence[Any]
) -> list[dict[str, Any]]:
    types = dict(system.columns)
    rows = system.rows(store.node, store.keyspaces)
    for rel in stmt.where:
        if rel.column not in types:
            raise invalid(f"Undefined column name {rel.column}")
        ctype = types[rel.column]
        targets = relation_values(rel, values, ctype)
        rows = [r for r in rows if compare(ctype, r.get(rel.column), rel.op, targets)]
    return rows


def _table_rows(
    store: Store, table: Table, stmt: Select, values: Sequence[Any], limit: int | None
) -> tuple[list[dict[str, Any]], tuple[tuple[Any, ...], ...]]:
    restrictions = parse_restrictions(table, stmt.where, values)
    pk_columns = table.partition_key
    pk_restricted = [c.name in restrictions for c in pk_columns]
    by_partition = all(pk_restricted) and all(
        len(restrictions[c.name]) == 1 and restrictions[c.name][0][0] in ("=", "IN")
        for c in pk_columns
    )
    filtering = (any(pk_restricted) and not by_partition) or any(
        table.columns[name].kind in ("regular", "static") for name in restrictions
    )
    has_clustering = any(c.name in restrictions for c in table.clustering)
    if has_clustering and not by_partition:
        filtering = True
    check_clustering_prefix(table, restrictions, allow_filtering=stmt.allow_filtering)
    if filtering and not stmt.allow_filtering:
        raise invalid(_FILTERING_MSG)
    reverse = _order(table, stmt, by_partition)
    data = store.data[(table.keyspace, table.name)]
    if by_partition:
        keys = [
            tuple(k)
            for k in itertools.product(*(eq_values(restrictions, c.name) for c in pk_columns))
        ]
        candidates = [(k, data.partitions.get(k)) for k in dict.fromkeys(keys)]
    else:
        candidates = list(data.partitions.items())
    per_partition = None
    if stmt.per_partition_limit is not None:
        per_partition = resolve(stmt.per_partition_limit, values, _INT)
    now = store.clock()
    rows: list[dict[str, Any]] = []
    for pk, partition in candidates:
        if partition is None:
            continue
        if stmt.distinct:
            rows.append(dict(zip((c.name for c in pk_columns), pk, strict=True)))
            continue
        count = 0
        low, high = _clustering_slice(table, partition.keys, restrictions)
        window = range(high - 1, low - 1, -1) if reverse else range(low, high)
        for index in window:
            if limit is not None and len(rows) >= limit:
                break
            ck = partition.keys[index]
            row = partition.rows[ck]
            if not row.alive(now):
                continue
            values_of = row_values(table, pk, ck, row, partition.static, now)
            if not matches(table, values_of, restrictions):
                continue
            rows.append(values_of)
            count += 1
            if per_partition is not None and count >= per_partition:
                break
    return rows, tuple(k for k, _ in candidates) if by_partition else ()


def _clustering_slice(
    table: Table, keys: list[tuple[Any, ...]], restrictions: Restrictions
) -> tuple[int, int]:
    """The index range of `keys` a one-column clustering restriction allows, found by
    bisection like Cassandra reads a slice; the rows in it are still matched in full."""
    if len(table.clustering) != 1 or not table.natural_order:
        return 0, len(keys)
    low, high = 0, len(keys)
    for op, targets in restrictions.get(table.clustering[0].name, ()):
        if op == "IN":
            continue
        bound = (targets[0],)
        if op in ("=", ">="):
            low = max(low, bisect.bisect_left(keys, bound))
        elif op == ">":
            low = max(low, bisect.bisect_right(keys, bound))
        if op in ("=", "<="):
            high = min(high, bisect.bisect_right(keys, bound))
        elif op == "<":
            high = min(high, bisect.bisect_left(keys, bound))
    return low, max(low, high)


def _order(table: Table, stmt: Select, by_partition: bool) -> bool:
    if not stmt.order_by:
        return False
    if not by_partition:
        raise invalid(
            "ORDER BY is only supported when the partition key is restricted by an EQ or an IN."
        )
    clustering = table.clustering
    directions = set()
    for index, (name, desc) in enumerate(stmt.order_by):
        if name not in table.columns:
            raise invalid(f"Undefined column name {name}")
        if index >= len(clustering) or clustering[index].name != name:
            raise invalid(
                "Order by currently only supports the ordering of columns following their "
                "declared order in the PRIMARY KEY"
            )
        directions.add(desc != clustering[index].descending)
    if len(directions) > 1:
        raise invalid("Unsupported order by relation")
    return directions.pop()


def _project(
    stmt: Select, columns: list[ColumnSpec], rows: list[dict[str, Any]], now: float
) -> list[list[Any]]:
    if stmt.selectors is None:
        return [[row.get(c.name) for c in columns] for row in rows]
    if any(s.function in ("count", "min", "max", "sum", "avg") for s in stmt.selectors):
        return [[_aggregate(s.function, s.column, rows) for s in stmt.selectors]]
    out = []
    for row in rows:
        values = []
        for sel in stmt.selectors:
            if sel.function is None:
                values.append(row.get(sel.column or ""))
                continue
            cell = row.get(f"\0cell:{sel.column}")
            if cell is None:
                values.append(None)
            elif sel.function == "writetime":
                values.append(cell.ts)
            else:
                values.append(None if cell.expires is None else math.ceil(cell.expires - now))
        out.append(values)
    return out


def _aggregate(function: str | None, column: str | None, rows: list[dict[str, Any]]) -> Any:
    if function is None:
        return rows[0].get(column or "") if rows else None
    if function == "count":
        return len(rows) if column is None else sum(1 for r in rows if r.get(column) is not None)
    found = [r[column] for r in rows if column is not None and r.get(column) is not None]
    if function == "min":
        return min(found, default=None)
    if function == "max":
        return max(found, default=None)
    total = sum(found)
    if function == "sum":
        return total
    if not found:
        return 0
    mean = total / len(found)
    return int(mean) if all(isinstance(v, int) for v in found) else mean
