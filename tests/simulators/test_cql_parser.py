"""The CQL subset parser and the type codecs of the test double, without a socket."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from simulators.cql_parser import (
    BindMarker,
    CqlSyntaxError,
    CreateKeyspace,
    CreateTable,
    Delete,
    Insert,
    Literal,
    MarkerSpec,
    Relation,
    Select,
    Update,
    parse,
)
from simulators.cql_types import CqlType, CqlValueError, parse_type


def test_create_table_with_options() -> None:
    stmt = parse(
        'CREATE TABLE IF NOT EXISTS wk."Samples" (series text, day date, ts timestamp, '
        "value double, note text STATIC, PRIMARY KEY ((series, day), ts)) "
        "WITH CLUSTERING ORDER BY (ts DESC) AND default_time_to_live = 86400 "
        "AND compaction = {'class': 'TimeWindowCompactionStrategy', 'compaction_window_size': 1};"
    )
    assert isinstance(stmt, CreateTable)
    assert (stmt.keyspace, stmt.table, stmt.if_not_exists) == ("wk", "Samples", True)
    assert stmt.partition_key == ["series", "day"]
    assert stmt.clustering == ["ts"]
    assert stmt.descending == {"ts": True}
    assert [c.static for c in stmt.columns] == [False, False, False, False, True]
    assert stmt.options == {
        "default_time_to_live": 86400,
        "compaction": {"class": "TimeWindowCompactionStrategy", "compaction_window_size": 1},
    }


def test_create_keyspace() -> None:
    stmt = parse(
        "create keyspace wk with replication = {'class': 'NetworkTopologyStrategy', 'dc1': 3} "
        "and durable_writes = false"
    )
    assert isinstance(stmt, CreateKeyspace)
    assert stmt.replication == {"class": "NetworkTopologyStrategy", "dc1": "3"}
    assert stmt.durable_writes is False


def test_insert_with_markers_and_ttl() -> None:
    stmt = parse("INSERT INTO samples (series, day, ts, value) VALUES (?, ?, ?, 1.5) USING TTL ?")
    assert isinstance(stmt, Insert)
    assert stmt.values == [BindMarker(0), BindMarker(1), BindMarker(2), Literal(1.5)]
    assert stmt.ttl == BindMarker(3)
    assert stmt.markers == [
        MarkerSpec("column", "series"),
        MarkerSpec("column", "day"),
        MarkerSpec("column", "ts"),
        MarkerSpec("ttl"),
    ]


def test_select_clauses() -> None:
    stmt = parse(
        "SELECT ts, max(value) AS peak, ttl(value) FROM wk.samples "
        "WHERE series = ? AND day IN ('2024-01-01', '2024-01-02') AND ts >= ? AND ts < ? "
        "ORDER BY ts DESC PER PARTITION LIMIT 5 LIMIT ? ALLOW FILTERING"
    )
    assert isinstance(stmt, Select)
    assert [s.name for s in stmt.selectors or []] == ["ts", "peak", "system.ttl(value)"]
    assert stmt.where[1] == Relation("day", "IN", (Literal("2024-01-01"), Literal("2024-01-02")))
    assert [r.op for r in stmt.where] == ["=", "IN", ">=", "<"]
    assert stmt.order_by == [("ts", True)]
    assert stmt.per_partition_limit == Literal(5)
    assert stmt.limit == BindMarker(3)
    assert stmt.allow_filtering


def test_update_and_delete() -> None:
    update = parse("UPDATE sites USING TTL 60 SET last_seen = ?, backlog = 3 WHERE site = ?")
    assert isinstance(update, Update)
    assert update.assignments == [("last_seen", BindMarker(0)), ("backlog", Literal(3))]
    assert update.ttl == Literal(60)
    delete = parse("DELETE FROM samples WHERE series = 'a' AND day = 1 AND ts < 5")
    assert isinstance(delete, Delete)
    assert delete.columns == []
    assert [r.column for r in delete.where] == ["series", "day", "ts"]


@pytest.mark.parametrize(
    "text",
    [
        "SELECT * FROM",
        "INSERT INTO t (a, b) VALUES (1)",
        "INSERT INTO t (a) VALUES (1) IF NOT EXISTS",
        "CREATE INDEX ON t (v)",
        "SELECT * FROM t WHERE (a, b) > (1, 2)",
        "CREATE TABLE t (a int, b int)",  # no primary key
        "SELECT * FROM t; DROP TABLE t",
        "SELECT * FROM t WHERE a = 'unterminated",
    ],
)
def test_unsupported_or_malformed(text: str) -> None:
    with pytest.raises(CqlSyntaxError):
        parse(text)


@pytest.mark.parametrize(
    ("type_text", "value"),
    [
        ("text", "zürich"),
        ("bigint", -(2**62)),
        ("double", 230.5),
        ("boolean", True),
        ("timestamp", 1_709_251_200_123),
        ("date", -3),
        ("uuid", uuid.UUID("12345678-1234-5678-1234-567812345678")),
        ("inet", "::1"),
        ("map<text, double>", {"b": 2.0, "a": 1.0}),
        ("set<int>", frozenset({3, 1, 2})),
        ("list<frozen<list<int>>>", [[1], [2, 3]]),
        ("tuple<int, text>", (1, None)),
    ],
)
def test_type_round_trip(type_text: str, value: Any) -> None:
    ctype = parse_type(type_text)
    assert ctype.decode(ctype.encode(value)) == value


def test_type_names_and_errors() -> None:
    assert parse_type("map<varchar, frozen<set<int>>>").cql() == "map<text, frozen<set<int>>>"
    assert parse_type("list<list<int>>").cql() == "list<frozen<list<int>>>"
    assert CqlType("timestamp").from_literal("2024-03-01 00:00:00+0100") == 1_709_247_600_000
    assert CqlType("date").from_literal("1970-01-02") == 1
    for bad in ("blob<int>", "map<int>", "duration", "list<int"):
        with pytest.raises(CqlValueError):
            parse_type(bad)
    with pytest.raises(CqlValueError):
        CqlType("int").encode(2**40)
