"""A parser for the subset of CQL 3 the test double executes.

Covered: USE; CREATE/ALTER/DROP KEYSPACE; CREATE/ALTER/DROP TABLE and TRUNCATE;
INSERT (USING TTL/TIMESTAMP); UPDATE … SET; DELETE (whole rows, partitions and
clustering ranges); SELECT with column lists, COUNT/MIN/MAX/SUM/AVG, TTL() and
WRITETIME(), WHERE relations (=, <, <=, >, >=, IN), ORDER BY, LIMIT,
PER PARTITION LIMIT, ALLOW FILTERING. Anything else raises `CqlSyntaxError`,
which the server answers with a Syntax error frame.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Final

from .cql_types import CqlType, CqlValueError, parse_type


class CqlSyntaxError(ValueError):
    """The text is not CQL this double understands."""


# Terms and relations


@dataclass(frozen=True, slots=True)
class BindMarker:
    index: int


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any


type Term = BindMarker | Literal


@dataclass(frozen=True, slots=True)
class Relation:
    column: str
    op: str  # "=", "<", "<=", ">", ">=", "IN"
    term: Term | tuple[Term, ...]  # a tuple only for IN (…) lists


@dataclass(frozen=True, slots=True)
class MarkerSpec:
    """What a `?` stands for; the store turns it into a column spec and type."""

    kind: str  # "column", "in", "ttl", "timestamp", "limit"
    column: str | None = None


@dataclass(frozen=True, slots=True)
class Selector:
    column: str | None  # None for COUNT(*)
    function: str | None = None  # count, min, max, sum, avg, ttl, writetime
    alias: str | None = None

    @property
    def name(self) -> str:
        if self.alias:
            return self.alias
        if self.function is None:
            assert self.column is not None
            return self.column
        if self.function == "count" and self.column is None:
            return "count"
        return f"system.{self.function}({self.column})"


# Statements


@dataclass(slots=True, kw_only=True)
class Statement:
    text: str = ""
    markers: list[MarkerSpec] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class Use(Statement):
    keyspace: str


@dataclass(slots=True, kw_only=True)
class CreateKeyspace(Statement):
    name: str
    if_not_exists: bool
    replication: dict[str, str]
    durable_writes: bool


@dataclass(slots=True, kw_only=True)
class AlterKeyspace(Statement):
    name: str
    replication: dict[str, str] | None
    durable_writes: bool | None


@dataclass(slots=True, kw_only=True)
class DropKeyspace(Statement):
    name: str
    if_exists: bool


@dataclass(slots=True, kw_only=True)
class TableRef(Statement):
    keyspace: str | None
    table: str


@dataclass(slots=True, kw_only=True)
class ColumnDef:
    name: str
    type: CqlType
    static: bool = False


@dataclass(slots=True, kw_only=True)
class CreateTable(TableRef):
    if_not_exists: bool
    columns: list[ColumnDef]
    partition_key: list[str]
    clustering: list[str]
    descending: dict[str, bool]
    options: dict[str, Any]


@dataclass(slots=True, kw_only=True)
class AlterTable(TableRef):
    add: list[ColumnDef]
    options: dict[str, Any]


@dataclass(slots=True, kw_only=True)
class DropTable(TableRef):
    if_exists: bool


@dataclass(slots=True, kw_only=True)
class Truncate(TableRef):
    pass


@dataclass(slots=True, kw_only=True)
class Insert(TableRef):
    columns: list[str]
    values: list[Term]
    ttl: Term | None
    timestamp: Term | None


@dataclass(slots=True, kw_only=True)
class Update(TableRef):
    assignments: list[tuple[str, Term]]
    where: list[Relation]
    ttl: Term | None
    timestamp: Term | None


@dataclass(slots=True, kw_only=True)
class Delete(TableRef):
    columns: list[str]
    where: list[Relation]
    timestamp: Term | None


@dataclass(slots=True, kw_only=True)
class Select(TableRef):
    selectors: list[Selector] | None  # None for *
    where: list[Relation]
    order_by: list[tuple[str, bool]]  # (column, descending)
    limit: Term | None
    per_partition_limit: Term | None
    allow_filtering: bool
    distinct: bool


MODIFICATIONS: Final = (Insert, Update, Delete)

# Tokens

_TOKEN_RE: Final = re.compile(
    r"""
    (?P<ws>\s+|--[^\n]*|//[^\n]*|/\*.*?\*/)
  | (?P<string>'(?:[^']|'')*')
  | (?P<qident>"(?:[^"]|"")+")
  | (?P<uuid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![\w-]))
  | (?P<blob>0[xX][0-9a-fA-F]*)
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![\w.]))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct><=|>=|!=|[(),;.=<>?*{}\[\]:+-])
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # string, ident, qident, uuid, blob, number, punct, eof
    text: str
    value: Any = None


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise CqlSyntaxError(f"line 1:{pos} token recognition error at: {text[pos]!r}")
        pos = match.end()
        kind = match.lastgroup
        raw = match.group()
        if kind == "ws":
            continue
        assert kind is not None
        if kind == "string":
            tokens.append(_Token(kind, raw, raw[1:-1].replace("''", "'")))
        elif kind == "qident":
            tokens.append(_Token(kind, raw, raw[1:-1].replace('""', '"')))
        elif kind == "uuid":
            tokens.append(_Token(kind, raw, uuid.UUID(raw)))
        elif kind == "blob":
            tokens.append(_Token(kind, raw, bytes.fromhex(raw[2:])))
        elif kind == "number":
            is_float = any(c in raw for c in ".eE")
            tokens.append(_Token(kind, raw, float(raw) if is_float else int(raw)))
        elif kind == "ident":
            tokens.append(_Token(kind, raw.lower(), raw.lower()))
        else:
            tokens.append(_Token(kind, raw))
    tokens.append(_Token("eof", "<EOF>"))
    return tokens


_KEYWORD_LITERALS: Final[dict[str, Any]] = {
    "true": True,
    "false": False,
    "null": None,
    "nan": float("nan"),
    "infinity": float("inf"),
}
_AGGREGATES: Final = frozenset({"count", "min", "max", "sum", "avg", "ttl", "writetime"})


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0
        self.markers: list[MarkerSpec] = []

    # Token helpers

    @property
    def tok(self) -> _Token:
        return self.tokens[self.pos]

    def advance(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def error(self, expected: str) -> CqlSyntaxError:
        return CqlSyntaxError(
            f"line 1:{self.pos} no viable alternative at input {self.tok.text!r} "
            f"(expected {expected})"
        )

    def at_keyword(self, *words: str) -> bool:
        return self.tok.kind == "ident" and self.tok.text in words

    def accept_keyword(self, *words: str) -> bool:
        """Consume a sequence of keywords if they all follow; else consume nothing."""
        for offset, word in enumerate(words):
            token = self.tokens[min(self.pos + offset, len(self.tokens) - 1)]
            if token.kind != "ident" or token.text != word:
                return False
        self.pos += len(words)
        return True

    def expect_keyword(self, *words: str) -> None:
        if not self.accept_keyword(*words):
            raise self.error(" ".join(words).upper())

    def accept(self, punct: str) -> bool:
        if self.tok.kind == "punct" and self.tok.text == punct:
            self.pos += 1
            return True
        return False

    def expect(self, punct: str) -> None:
        if not self.accept(punct):
            raise self.error(repr(punct))

    def identifier(self) -> str:
        if self.tok.kind in ("ident", "qident"):
            return str(self.advance().value)
        raise self.error("an identifier")

    def table_name(self) -> tuple[str | None, str]:
        first = self.identifier()
        if self.accept("."):
            return first, self.identifier()
        return None, first

    def marker(self, spec: MarkerSpec) -> BindMarker:
        self.markers.append(spec)
        return BindMarker(len(self.markers) - 1)

    # Terms

    def term(self, spec: MarkerSpec) -> Term:
        if self.accept("?"):
            return self.marker(spec)
        return Literal(self.literal())

    def literal(self) -> Any:
        token = self.tok
        if token.kind in ("string", "number", "uuid", "blob"):
            self.advance()
            return token.value
        if token.kind == "ident" and token.text in _KEYWORD_LITERALS:
            self.advance()
            return _KEYWORD_LITERALS[token.text]
        if (
            token.kind == "punct"
            and token.text == "-"
            and self.tokens[self.pos + 1].kind == "ident"
        ):
            self.advance()
            if self.advance().text in ("infinity", "nan"):
                return float("-inf")
            raise self.error("a number")
        if self.accept("["):
            return [] if self.accept("]") else self.literal_list("]")
        if self.accept("("):
            return tuple(self.literal_list(")"))
        if self.accept("{"):
            return self.brace_literal()
        raise self.error("a literal or ?")

    def literal_list(self, closing: str) -> list[Any]:
        items = [self.literal()]
        while self.accept(","):
            items.append(self.literal())
        self.expect(closing)
        return items

    def brace_literal(self) -> Any:
        if self.accept("}"):
            return {}
        first = self.literal()
        if self.accept(":"):
            result = {first: self.literal()}
            while self.accept(","):
                key = self.literal()
                self.expect(":")
                result[key] = self.literal()
            self.expect("}")
            return result
        items = [first]
        while self.accept(","):
            items.append(self.literal())
        self.expect("}")
        return frozenset(items)

    # Shared clauses

    def where(self) -> list[Relation]:
        relations = [self.relation()]
        while self.accept_keyword("and"):
            relations.append(self.relation())
        return relations

    def relation(self) -> Relation:
        if self.tok.kind == "punct" and self.tok.text == "(":
            raise CqlSyntaxError("multi-column relations are not supported by the test double")
        column = self.identifier()
        if self.accept_keyword("in"):
            if self.accept("?"):
                return Relation(column, "IN", self.marker(MarkerSpec("in", column)))
            self.expect("(")
            terms = [self.term(MarkerSpec("column", column))]
            while self.accept(","):
                terms.append(self.term(MarkerSpec("column", column)))
            self.expect(")")
            return Relation(column, "IN", tuple(terms))
        for op in ("=", "<=", ">=", "<", ">"):
            if self.accept(op):
                return Relation(column, op, self.term(MarkerSpec("column", column)))
        if self.at_keyword("contains", "like") or self.accept("!="):
            raise CqlSyntaxError(f"operator near {column!r} is not supported by the test double")
        raise self.error("a relation operator")

    def using(self) -> tuple[Term | None, Term | None]:
        ttl: Term | None = None
        timestamp: Term | None = None
        if not self.accept_keyword("using"):
            return None, None
        while True:
            if self.accept_keyword("ttl"):
                ttl = self.term(MarkerSpec("ttl"))
            elif self.accept_keyword("timestamp"):
                timestamp = self.term(MarkerSpec("timestamp"))
            else:
                raise self.error("TTL or TIMESTAMP")
            if not self.accept_keyword("and"):
                return ttl, timestamp

    def properties(self) -> dict[str, Any]:
        props = {}
        while True:
            name = self.identifier()
            self.expect("=")
            props[name] = self.literal()
            if not self.accept_keyword("and"):
                return props

    def if_not_exists(self) -> bool:
        return self.accept_keyword("if", "not", "exists")

    def if_exists(self) -> bool:
        return self.accept_keyword("if", "exists")

    def end(self) -> None:
        self.accept(";")
        if self.tok.kind != "eof":
            raise self.error("end of statement")

    # Statements

    def statement(self) -> Statement:
        if self.accept_keyword("use"):
            stmt: Statement = Use(keyspace=self.identifier())
        elif self.accept_keyword("create", "keyspace"):
            stmt = self.create_keyspace()
        elif self.accept_keyword("alter", "keyspace"):
            stmt = self.alter_keyspace()
        elif self.accept_keyword("drop", "keyspace"):
            exists = self.if_exists()
            stmt = DropKeyspace(if_exists=exists, name=self.identifier())
        elif self.accept_keyword("create", "table") or self.accept_keyword(
            "create", "columnfamily"
        ):
            stmt = self.create_table()
        elif self.accept_keyword("alter", "table"):
            stmt = self.alter_table()
        elif self.accept_keyword("drop", "table"):
            exists = self.if_exists()
            keyspace, table = self.table_name()
            stmt = DropTable(keyspace=keyspace, table=table, if_exists=exists)
        elif self.accept_keyword("truncate"):
            self.accept_keyword("table")
            keyspace, table = self.table_name()
            stmt = Truncate(keyspace=keyspace, table=table)
        elif self.accept_keyword("insert", "into"):
            stmt = self.insert()
        elif self.accept_keyword("update"):
            stmt = self.update()
        elif self.accept_keyword("delete"):
            stmt = self.delete()
        elif self.accept_keyword("select"):
            stmt = self.select()
        else:
            raise self.error("a statement this test double supports")
        self.end()
        stmt.text = self.text
        stmt.markers = self.markers
        return stmt

    def create_keyspace(self) -> CreateKeyspace:
        exists = self.if_not_exists()
        name = self.identifier()
        self.expect_keyword("with")
        props = self.properties()
        replication = props.pop("replication", None)
        if not isinstance(replication, dict):
            raise CqlSyntaxError("CREATE KEYSPACE needs WITH replication = {...}")
        durable = props.pop("durable_writes", True)
        if props:
            raise CqlSyntaxError(f"unknown keyspace properties {sorted(props)}")
        return CreateKeyspace(
            name=name,
            if_not_exists=exists,
            replication={str(k): str(v) for k, v in replication.items()},
            durable_writes=_as_bool(durable),
        )

    def alter_keyspace(self) -> AlterKeyspace:
        name = self.identifier()
        self.expect_keyword("with")
        props = self.properties()
        replication = props.pop("replication", None)
        durable = props.pop("durable_writes", None)
        if props or (replication is not None and not isinstance(replication, dict)):
            raise CqlSyntaxError("ALTER KEYSPACE takes replication and durable_writes")
        return AlterKeyspace(
            name=name,
            replication=None
            if replication is None
            else {str(k): str(v) for k, v in replication.items()},
            durable_writes=None if durable is None else _as_bool(durable),
        )

    def column_type(self) -> CqlType:
        # Collect the raw tokens of a type expression up to the next , ) or keyword.
        parts: list[str] = []
        depth = 0
        while True:
            token = self.tok
            if token.kind == "punct" and token.text == "<":
                depth += 1
            elif token.kind == "punct" and token.text == ">":
                depth -= 1
            elif depth == 0 and (token.kind != "ident" or parts):
                break
            parts.append(token.text)
            self.advance()
        try:
            return parse_type(" ".join(parts))
        except CqlValueError as err:
            raise CqlSyntaxError(str(err)) from err

    def create_table(self) -> CreateTable:
        exists = self.if_not_exists()
        keyspace, table = self.table_name()
        self.expect("(")
        columns: list[ColumnDef] = []
        partition_key: list[str] = []
        clustering: list[str] = []
        while True:
            if self.accept_keyword("primary", "key"):
                partition_key, clustering = self.primary_key()
            else:
                name = self.identifier()
                ctype = self.column_type()
                static = self.accept_keyword("static")
                columns.append(ColumnDef(name=name, type=ctype, static=static))
                if self.accept_keyword("primary", "key"):
                    if partition_key:
                        raise CqlSyntaxError("multiple PRIMARY KEY definitions")
                    partition_key = [name]
            if not self.accept(","):
                break
        self.expect(")")
        descending: dict[str, bool] = {}
        options: dict[str, Any] = {}
        if self.accept_keyword("with"):
            while True:
                if self.accept_keyword("clustering", "order", "by"):
                    self.expect("(")
                    while True:
                        column = self.identifier()
                        if self.accept_keyword("desc"):
                            descending[column] = True
                        else:
                            self.accept_keyword("asc")
                            descending[column] = False
                        if not self.accept(","):
                            break
                    self.expect(")")
                elif self.accept_keyword("compact", "storage"):
                    raise CqlSyntaxError("COMPACT STORAGE is not supported by the test double")
                else:
                    name = self.identifier()
                    self.expect("=")
                    options[name] = self.literal()
                if not self.accept_keyword("and"):
                    break
        if not partition_key:
            raise CqlSyntaxError("no PRIMARY KEY specified")
        return CreateTable(
            keyspace=keyspace,
            table=table,
            if_not_exists=exists,
            columns=columns,
            partition_key=partition_key,
            clustering=clustering,
            descending=descending,
            options=options,
        )

    def primary_key(self) -> tuple[list[str], list[str]]:
        self.expect("(")
        if self.accept("("):
            partition = [self.identifier()]
            while self.accept(","):
                partition.append(self.identifier())
            self.expect(")")
        else:
            partition = [self.identifier()]
        clustering: list[str] = []
        while self.accept(","):
            clustering.append(self.identifier())
        self.expect(")")
        return partition, clustering

    def alter_table(self) -> AlterTable:
        keyspace, table = self.table_name()
        add: list[ColumnDef] = []
        options: dict[str, Any] = {}
        if self.accept_keyword("add"):
            while True:
                name = self.identifier()
                add.append(ColumnDef(name=name, type=self.column_type()))
                if not self.accept(","):
                    break
        elif self.accept_keyword("with"):
            options = self.properties()
        else:
            raise self.error("ADD or WITH")
        return AlterTable(keyspace=keyspace, table=table, add=add, options=options)

    def insert(self) -> Insert:
        keyspace, table = self.table_name()
        if self.at_keyword("json"):
            raise CqlSyntaxError("INSERT JSON is not supported by the test double")
        self.expect("(")
        columns = [self.identifier()]
        while self.accept(","):
            columns.append(self.identifier())
        self.expect(")")
        self.expect_keyword("values")
        self.expect("(")
        values = [self.term(MarkerSpec("column", columns[0]))]
        while self.accept(","):
            if len(values) >= len(columns):
                raise CqlSyntaxError("unmatched column names/values")
            values.append(self.term(MarkerSpec("column", columns[len(values)])))
        self.expect(")")
        if len(values) != len(columns):
            raise CqlSyntaxError("unmatched column names/values")
        if self.at_keyword("if"):
            raise CqlSyntaxError("lightweight transactions are not supported by the test double")
        ttl, timestamp = self.using()
        return Insert(
            keyspace=keyspace,
            table=table,
            columns=columns,
            values=values,
            ttl=ttl,
            timestamp=timestamp,
        )

    def update(self) -> Update:
        keyspace, table = self.table_name()
        ttl, timestamp = self.using()
        self.expect_keyword("set")
        assignments: list[tuple[str, Term]] = []
        while True:
            column = self.identifier()
            self.expect("=")
            assignments.append((column, self.term(MarkerSpec("column", column))))
            if not self.accept(","):
                break
        self.expect_keyword("where")
        where = self.where()
        if self.at_keyword("if"):
            raise CqlSyntaxError("lightweight transactions are not supported by the test double")
        return Update(
            keyspace=keyspace,
            table=table,
            assignments=assignments,
            where=where,
            ttl=ttl,
            timestamp=timestamp,
        )

    def delete(self) -> Delete:
        columns: list[str] = []
        if not self.at_keyword("from"):
            columns.append(self.identifier())
            while self.accept(","):
                columns.append(self.identifier())
        self.expect_keyword("from")
        keyspace, table = self.table_name()
        _, timestamp = self.using()
        self.expect_keyword("where")
        where = self.where()
        if self.at_keyword("if"):
            raise CqlSyntaxError("lightweight transactions are not supported by the test double")
        return Delete(
            keyspace=keyspace, table=table, columns=columns, where=where, timestamp=timestamp
        )

    def selector(self) -> Selector:
        name = self.identifier()
        if name in _AGGREGATES and self.accept("("):
            if self.accept("*"):
                column = None
            elif name == "count" and self.tok.kind == "number" and self.tok.value == 1:
                self.advance()
                column = None
            else:
                column = self.identifier()
            self.expect(")")
            if column is None and name != "count":
                raise self.error("a column")
            sel = Selector(column=column, function=name)
        elif self.tok.kind == "punct" and self.tok.text == "(":
            raise CqlSyntaxError(f"unknown function {name!r}")
        else:
            sel = Selector(column=name)
        if self.accept_keyword("as"):
            sel = Selector(column=sel.column, function=sel.function, alias=self.identifier())
        return sel

    def select(self) -> Select:
        if self.at_keyword("json"):
            raise CqlSyntaxError("SELECT JSON is not supported by the test double")
        distinct = self.accept_keyword("distinct")
        selectors: list[Selector] | None
        if self.accept("*"):
            selectors = None
        else:
            selectors = [self.selector()]
            while self.accept(","):
                selectors.append(self.selector())
        self.expect_keyword("from")
        keyspace, table = self.table_name()
        where = self.where() if self.accept_keyword("where") else []
        order_by: list[tuple[str, bool]] = []
        if self.accept_keyword("group", "by"):
            raise CqlSyntaxError("GROUP BY is not supported by the test double")
        if self.accept_keyword("order", "by"):
            while True:
                column = self.identifier()
                desc = self.accept_keyword("desc")
                if not desc:
                    self.accept_keyword("asc")
                order_by.append((column, desc))
                if not self.accept(","):
                    break
        per_partition_limit: Term | None = None
        limit: Term | None = None
        if self.accept_keyword("per", "partition", "limit"):
            per_partition_limit = self.term(MarkerSpec("limit"))
        if self.accept_keyword("limit"):
            limit = self.term(MarkerSpec("limit"))
        allow_filtering = self.accept_keyword("allow", "filtering")
        return Select(
            keyspace=keyspace,
            table=table,
            selectors=selectors,
            where=where,
            order_by=order_by,
            limit=limit,
            per_partition_limit=per_partition_limit,
            allow_filtering=allow_filtering,
            distinct=distinct,
        )


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise CqlSyntaxError(f"expected a boolean, got {value!r}")


def parse(text: str) -> Statement:
    """Parse one CQL statement; raises CqlSyntaxError."""
    return _Parser(text).statement()
