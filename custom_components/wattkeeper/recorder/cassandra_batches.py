"""Unlogged batches that never span two partitions.

An unlogged batch whose rows share one partition is applied by one replica set
as one mutation: cheaper than separate writes and atomic for that partition.
Rows of different partitions go into different batches (or single statements),
which the session runs concurrently.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Sequence
from typing import Any

from cassandra.query import BatchStatement, BatchType, PreparedStatement

from .cassandra_session import Request


def partition_batches(
    prepared: PreparedStatement,
    rows: Iterable[tuple[Hashable, Sequence[Any]]],
    max_rows: int,
) -> Iterator[Request]:
    """Requests writing `rows` ((partition key, bind values) pairs), one partition each."""
    groups: dict[Hashable, list[Sequence[Any]]] = {}
    for partition, values in rows:
        groups.setdefault(partition, []).append(values)
    for values_list in groups.values():
        for offset in range(0, len(values_list), max_rows):
            chunk = values_list[offset : offset + max_rows]
            if len(chunk) == 1:
                yield prepared, chunk[0]
                continue
            batch = BatchStatement(batch_type=BatchType.UNLOGGED)
            batch.is_idempotent = True  # every row is an upsert: replaying it changes nothing
            for values in chunk:
                batch.add(prepared, values)
            yield batch, None
