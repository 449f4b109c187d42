"""WHERE clauses: bound values, restriction checks, and row matching."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

from .cql_parser import BindMarker, Literal, Relation, Term
from .cql_schema import Column, Table, invalid
from .cql_types import CqlType, CqlValueError
from .cql_wire import UNSET


def column_type(columns: dict[str, CqlType], name: str) -> CqlType:
    ctype = columns.get(name)
    if ctype is None:
        raise invalid(f"Undefined column name {name}")
    return ctype


def resolve(term: Term, values: Sequence[Any], ctype: CqlType) -> Any:
    if isinstance(term, BindMarker):
        return values[term.index]
    assert isinstance(term, Literal)
    try:
        return ctype.from_literal(term.value)
    except CqlValueError as err:
        raise invalid(f"Invalid literal for type {ctype.cql()}: {err}") from err


def relation_values(rel: Relation, values: Sequence[Any], ctype: CqlType) -> list[Any]:
    if rel.op == "IN":
        if isinstance(rel.term, tuple):
            found = [resolve(t, values, ctype) for t in rel.term]
        else:
            found = resolve(rel.term, values, CqlType("list", (ctype,)))
            if found is None:
                raise invalid(f"Invalid null value for IN restriction on {rel.column}")
    else:
        assert not isinstance(rel.term, tuple)
        found = [resolve(rel.term, values, ctype)]
    for value in found:
        if value is None:
            raise invalid(f"Invalid null value in condition for column {rel.column}")
        if value is UNSET:
            raise invalid(f"Invalid unset value for column {rel.column}")
    return list(found)


type Restrictions = dict[str, list[tuple[str, list[Any]]]]


def parse_restrictions(table: Table, where: list[Relation], values: Sequence[Any]) -> Restrictions:
    result: Restrictions = {}
    for rel in where:
        column = table.columns.get(rel.column)
        if column is None:
            raise invalid(f"Undefined column name {rel.column}")
        found = relation_values(rel, values, column.type)
        existing = result.setdefault(rel.column, [])
        if any(op in ("=", "IN") for op, _ in existing) or (existing and rel.op in ("=", "IN")):
            raise invalid(
                f"{rel.column} cannot be restricted by more than one relation if it includes "
                "an Equal"
            )
        existing.append((rel.op, found))
    return result


def no_regular_restrictions(table: Table, restrictions: Restrictions) -> None:
    regular = [n for n in restrictions if table.columns[n].kind in ("regular", "static")]
    if regular:
        raise invalid(f"Non PRIMARY KEY columns found in where clause: {', '.join(regular)}")


def eq_values(restrictions: Restrictions, name: str) -> list[Any]:
    return restrictions[name][0][1]


def full_key(
    columns: list[Column], restrictions: Restrictions, label: str
) -> list[tuple[Any, ...]]:
    """All keys named by EQ/IN restrictions on every column of `columns`."""
    missing = [c.name for c in columns if c.name not in restrictions]
    if missing:
        raise invalid(f"Some {label} are missing: {', '.join(missing)}")
    for column in columns:
        if restrictions[column.name][0][0] not in ("=", "IN"):
            raise invalid(
                f"Only EQ and IN relation are supported on {label} in a modification "
                f"(found a slice on {column.name})"
            )
    return [
        tuple(k) for k in itertools.product(*(eq_values(restrictions, c.name) for c in columns))
    ]


def check_clustering_prefix(
    table: Table, restrictions: Restrictions, *, allow_filtering: bool
) -> None:
    previous: Column | None = None
    previous_is_eq = True
    for column in table.clustering:
        if column.name in restrictions:
            if previous is not None and not previous_is_eq and not allow_filtering:
                raise invalid(
                    f'PRIMARY KEY column "{column.name}" cannot be restricted as preceding column '
                    f'"{previous.name}" is not restricted'
                    if previous.name not in restrictions
                    else f'Clustering column "{column.name}" cannot be restricted (preceding '
                    f'column "{previous.name}" is restricted by a non-EQ relation)'
                )
            previous_is_eq = all(op in ("=", "IN") for op, _ in restrictions[column.name])
        else:
            previous_is_eq = False
        previous = column


def compare(ctype: CqlType, value: Any, op: str, targets: list[Any]) -> bool:
    if value is None:
        return False
    key = ctype.sort_key(value)
    if op in ("=", "IN"):
        return any(key == ctype.sort_key(t) for t in targets)
    other = ctype.sort_key(targets[0])
    if isinstance(key, float) and math.isnan(key):
        return False
    result: bool = {
        "<": key < other,
        "<=": key <= other,
        ">": key > other,
        ">=": key >= other,
    }[op]
    return result


def matches(table: Table, row: dict[str, Any], restrictions: Restrictions) -> bool:
    for name, relations in restrictions.items():
        ctype = table.columns[name].type
        for op, targets in relations:
            if not compare(ctype, row.get(name), op, targets):
                return False
    return True


def ck_matches(table: Table, ck: tuple[Any, ...], restrictions: Restrictions) -> bool:
    for column, value in zip(table.clustering, ck, strict=True):
        for op, targets in restrictions.get(column.name, ()):
            if not compare(column.type, value, op, targets):
                return False
    return True


def key_of(columns: list[Column], given: dict[str, Any]) -> tuple[Any, ...]:
    key = []
    for column in columns:
        value = given[column.name]
        if value is None:
            raise invalid(f"Invalid null value in condition for column {column.name}")
        if value is UNSET:
            raise invalid(f"Invalid unset value for column {column.name}")
        key.append(value)
    return tuple(key)


def value_size(ctype: CqlType, value: Any) -> int:
    if value is None or value is UNSET:
        return 0
    return len(ctype.encode(value))
