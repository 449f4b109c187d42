"""Rows in memory: cells with write timestamps and expiry, partitions in clustering order."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from .cql_schema import Table
from .cql_wire import UNSET


class Cell:
    __slots__ = ("expires", "ts", "value")

    def __init__(self, value: Any, expires: float | None, ts: int) -> None:
        self.value = value
        self.expires = expires
        self.ts = ts

    def alive(self, now: float) -> bool:
        return self.expires is None or self.expires > now


class Row:
    __slots__ = ("cells", "marker")

    def __init__(self) -> None:
        self.cells: dict[str, Cell] = {}
        self.marker: Cell | None = None

    def alive(self, now: float) -> bool:
        if self.marker is not None and self.marker.alive(now):
            return True
        return any(cell.alive(now) for cell in self.cells.values())

    def delete(self, ts: int) -> None:
        """Apply a tombstone at `ts`: only writes at or before it disappear."""
        self.cells = {name: c for name, c in self.cells.items() if c.ts > ts}
        if self.marker is not None and self.marker.ts <= ts:
            self.marker = None

    def empty(self) -> bool:
        return self.marker is None and not self.cells


class Partition:
    __slots__ = ("keys", "rows", "static")

    def __init__(self) -> None:
        self.rows: dict[tuple[Any, ...], Row] = {}
        self.keys: list[tuple[Any, ...]] = []  # clustering keys in clustering order
        self.static = Row()


@dataclass(slots=True)
class TableData:
    """The rows of one table, by partition key then clustering key."""

    partitions: dict[tuple[Any, ...], Partition] = field(default_factory=dict)


def partition_for(data: TableData, pk: tuple[Any, ...]) -> Partition:
    partition = data.partitions.get(pk)
    if partition is None:
        partition = data.partitions[pk] = Partition()
    return partition


def row_for(table: Table, partition: Partition, ck: tuple[Any, ...]) -> Row:
    row = partition.rows.get(ck)
    if row is None:
        row = partition.rows[ck] = Row()
        key = table.sort_key
        keys = partition.keys
        # Readings mostly arrive in clustering order: appending is the common case.
        if not keys or key(keys[-1]) < key(ck):
            keys.append(ck)
        else:
            bisect.insort(keys, ck, key=key)
    return row


def drop_row(table: Table, partition: Partition, ck: tuple[Any, ...]) -> None:
    del partition.rows[ck]
    key = table.sort_key
    index = bisect.bisect_left(partition.keys, key(ck), key=key)
    del partition.keys[index]


def write_cells(
    table: Table,
    partition: Partition,
    row: Row,
    cells: dict[str, Any],
    expires: float | None,
    ts: int,
) -> None:
    for name, value in cells.items():
        if value is UNSET:
            continue
        target = partition.static if table.columns[name].kind == "static" else row
        current = target.cells.get(name)
        if current is not None and current.ts > ts:
            continue  # a newer write already won
        if value is None:
            target.cells.pop(name, None)
        else:
            target.cells[name] = Cell(value, expires, ts)


def row_values(
    table: Table,
    pk: tuple[Any, ...],
    ck: tuple[Any, ...],
    row: Row,
    static: Row,
    now: float,
) -> dict[str, Any]:
    values: dict[str, Any] = dict(zip((c.name for c in table.partition_key), pk, strict=True))
    values.update(zip((c.name for c in table.clustering), ck, strict=True))
    for source in (static.cells, row.cells):
        for name, cell in source.items():
            if cell.alive(now):
                values[name] = cell.value
                values[f"\0cell:{name}"] = cell
    return values
