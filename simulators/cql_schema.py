"""Keyspace and table definitions of the test double, and its system tables.

The system tables are generated from the catalogue on every read, so what
the driver learns from system_schema.* always matches what the double stores.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from .cql_types import CqlType, parse_type
from .cql_wire import ErrorCode


class CqlError(Exception):
    """An error the server sends back as an ERROR frame."""

    def __init__(self, code: ErrorCode, message: str, extra: bytes = b"") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


def invalid(message: str) -> CqlError:
    return CqlError(ErrorCode.INVALID, message)


_STRATEGY_PREFIX: Final = "org.apache.cassandra.locator."
_COMPACTION_PREFIX: Final = "org.apache.cassandra.db.compaction."
_COMPACTIONS: Final = frozenset(
    {
        "SizeTieredCompactionStrategy",
        "LeveledCompactionStrategy",
        "TimeWindowCompactionStrategy",
        "UnifiedCompactionStrategy",
    }
)
_TWCS_UNITS: Final = frozenset({"MINUTES", "HOURS", "DAYS"})
MAX_TTL: Final = 20 * 365 * 24 * 3600  # Cassandra's upper bound for a TTL

DEFAULT_TABLE_OPTIONS: Final[dict[str, Any]] = {
    "additional_write_policy": "99p",
    "bloom_filter_fp_chance": 0.01,
    "caching": {"keys": "ALL", "rows_per_partition": "NONE"},
    "cdc": False,
    "comment": "",
    "compaction": {
        "class": _COMPACTION_PREFIX + "SizeTieredCompactionStrategy",
        "max_threshold": "32",
        "min_threshold": "4",
    },
    "compression": {
        "chunk_length_in_kb": "16",
        "class": "org.apache.cassandra.io.compress.LZ4Compressor",
    },
    "crc_check_chance": 1.0,
    "default_time_to_live": 0,
    "gc_grace_seconds": 864000,
    "max_index_interval": 2048,
    "memtable_flush_period_in_ms": 0,
    "min_index_interval": 128,
    "read_repair": "BLOCKING",
    "speculative_retry": "99p",
}
_INT_OPTIONS: Final = frozenset(
    {
        "default_time_to_live",
        "gc_grace_seconds",
        "max_index_interval",
        "memtable_flush_period_in_ms",
        "min_index_interval",
    }
)
_MAP_OPTIONS: Final = frozenset({"caching", "compaction", "compression"})


@dataclass(slots=True)
class Keyspace:
    name: str
    replication: dict[str, str]  # with "class" spelled out in full
    durable_writes: bool = True
    tables: dict[str, Table] = field(default_factory=dict)

    def replicas(self, datacenter: str) -> tuple[int, int]:
        """(replication factor in total, replication factor in `datacenter`)."""
        options = {k: v for k, v in self.replication.items() if k != "class"}
        if self.replication["class"].endswith("SimpleStrategy"):
            factor = int(options["replication_factor"])
            return factor, factor
        total = sum(int(v) for v in options.values())
        return total, int(options.get(datacenter, "0"))


def normalize_replication(
    keyspace: str, replication: dict[str, str], datacenters: Iterable[str]
) -> tuple[dict[str, str], list[str]]:
    """Check a replication map like Cassandra does; returns it and any client warnings."""
    options = dict(replication)
    cls = options.pop("class", None)
    if cls is None:
        raise CqlError(ErrorCode.CONFIG_ERROR, "Missing replication strategy class")
    short = cls.removeprefix(_STRATEGY_PREFIX)
    known_dcs = set(datacenters)
    warnings: list[str] = []
    if short == "SimpleStrategy":
        unknown = set(options) - {"replication_factor"}
        if unknown:
            raise CqlError(
                ErrorCode.CONFIG_ERROR,
                f"Unrecognized strategy option {{{', '.join(sorted(unknown))}}} "
                "passed to SimpleStrategy",
            )
        if "replication_factor" not in options:
            raise CqlError(
                ErrorCode.CONFIG_ERROR,
                "SimpleStrategy requires a replication_factor strategy option.",
            )
    elif short == "NetworkTopologyStrategy":
        if "replication_factor" in options:
            factor = options.pop("replication_factor")
            options = dict.fromkeys(sorted(known_dcs), factor) | options
        unknown = set(options) - known_dcs
        if unknown:
            raise CqlError(
                ErrorCode.CONFIG_ERROR,
                f"Unrecognized strategy option {{{', '.join(sorted(unknown))}}} passed to "
                "NetworkTopologyStrategy",
            )
    else:
        raise CqlError(ErrorCode.CONFIG_ERROR, f"Unable to find replication strategy class '{cls}'")
    for key, value in options.items():
        if not value.isdigit():
            raise CqlError(
                ErrorCode.CONFIG_ERROR, f"Replication factor must be non-negative, found '{value}'"
            )
        if int(value) > 1:
            dc = key if key != "replication_factor" else "the cluster"
            warnings.append(
                f"Your replication factor {value} for keyspace {keyspace} is higher than the "
                f"number of nodes 1 for datacenter {dc}"
            )
    return {"class": _STRATEGY_PREFIX + short, **options}, warnings


def normalize_table_options(options: dict[str, Any]) -> dict[str, Any]:
    """Validate WITH options of CREATE/ALTER TABLE and put them in system_schema form."""
    result: dict[str, Any] = {}
    for name, value in options.items():
        if name not in DEFAULT_TABLE_OPTIONS:
            raise CqlError(ErrorCode.SYNTAX_ERROR, f"Unknown property '{name}'")
        if name in _INT_OPTIONS:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise CqlError(ErrorCode.CONFIG_ERROR, f"{name} must be a non-negative integer")
            if name == "default_time_to_live" and value > MAX_TTL:
                raise CqlError(
                    ErrorCode.CONFIG_ERROR,
                    f"default_time_to_live must be less than or equal to {MAX_TTL}",
                )
        elif name in _MAP_OPTIONS:
            if not isinstance(value, dict):
                raise CqlError(ErrorCode.SYNTAX_ERROR, f"{name} takes a map")
            texts = {str(k): _option_text(v) for k, v in value.items()}
            result[name] = _compaction(texts) if name == "compaction" else texts
            continue
        result[name] = value
    return result


def _option_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _compaction(options: dict[str, str]) -> dict[str, str]:
    cls = options.get("class")
    if cls is None:
        raise CqlError(
            ErrorCode.CONFIG_ERROR, "Missing sub-option 'class' for the 'compaction' option."
        )
    short = cls.removeprefix(_COMPACTION_PREFIX)
    if short not in _COMPACTIONS:
        raise CqlError(ErrorCode.CONFIG_ERROR, f"Unable to find compaction strategy class '{cls}'")
    if short == "TimeWindowCompactionStrategy":
        unit = options.get("compaction_window_unit", "DAYS")
        if unit not in _TWCS_UNITS:
            raise CqlError(
                ErrorCode.CONFIG_ERROR,
                f"{unit} is not valid for compaction_window_unit; use one of {sorted(_TWCS_UNITS)}",
            )
        size = options.get("compaction_window_size", "1")
        if not size.isdigit() or int(size) < 1:
            raise CqlError(ErrorCode.CONFIG_ERROR, "compaction_window_size must be at least 1")
    return {**options, "class": _COMPACTION_PREFIX + short}


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: CqlType
    kind: str  # partition_key, clustering, static, regular
    position: int = -1
    descending: bool = False


class _Desc:
    """Sort wrapper that reverses the order of one clustering component."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Desc) -> bool:
        result: bool = other.value < self.value
        return result

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)


@dataclass(slots=True)
class Table:
    keyspace: str
    name: str
    columns: dict[str, Column]
    options: dict[str, Any]
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    # Derived once: the primary key never changes after CREATE TABLE.
    partition_key: list[Column] = field(init=False)
    clustering: list[Column] = field(init=False)
    sort_key: Callable[[tuple[Any, ...]], Any] = field(init=False)
    # Clustering keys compare as plain tuples (no DESC column, no UUID or inet).
    natural_order: bool = field(init=False)

    def __post_init__(self) -> None:
        by_position = sorted(self.columns.values(), key=lambda c: c.position)
        self.partition_key = [c for c in by_position if c.kind == "partition_key"]
        self.clustering = [c for c in by_position if c.kind == "clustering"]
        self.sort_key = self._clustering_sort_key()
        self.natural_order = self.sort_key is _same

    @property
    def default_ttl(self) -> int:
        value: int = self.options.get("default_time_to_live", 0)
        return value

    def select_star(self) -> list[Column]:
        """Columns in the order `SELECT *` returns them."""
        rest = sorted(
            (c for c in self.columns.values() if c.kind in ("static", "regular")),
            key=lambda c: (c.kind != "static", c.name),
        )
        return [*self.partition_key, *self.clustering, *rest]

    def _clustering_sort_key(self) -> Callable[[tuple[Any, ...]], Any]:
        """Orders clustering keys as the table stores them."""
        columns = self.clustering
        if all(c.type.name in _NATURAL_ORDER and not c.descending for c in columns):
            return _same  # Python already orders these values like Cassandra

        def key(values: tuple[Any, ...]) -> tuple[Any, ...]:
            return tuple(
                _Desc(c.type.sort_key(v)) if c.descending else c.type.sort_key(v)
                for c, v in zip(columns, values, strict=True)
            )

        return key


_NATURAL_ORDER: Final = frozenset(
    {"ascii", "bigint", "blob", "boolean", "date", "double", "float", "int", "smallint",
     "text", "time", "timestamp", "tinyint"}
)  # fmt: skip


def _same(values: tuple[Any, ...]) -> tuple[Any, ...]:
    return values


@dataclass(frozen=True, slots=True)
class SystemTable:
    """A read-only table whose rows are computed from the node and its catalogue."""

    keyspace: str
    name: str
    columns: list[tuple[str, CqlType]]
    rows: Callable[[NodeInfo, dict[str, Keyspace]], list[dict[str, Any]]]


@dataclass(slots=True)
class NodeInfo:
    """What system.local says about the one node the double pretends to be."""

    address: str
    port: int
    datacenter: str
    rack: str
    cluster_name: str
    release_version: str
    host_id: uuid.UUID
    schema_version: uuid.UUID
    tokens: frozenset[str]


def _t(spec: str) -> list[tuple[str, CqlType]]:
    """Columns from a compact "name type; name type" spec."""
    result = []
    for part in spec.split(";"):
        name, _, type_text = part.strip().partition(" ")
        result.append((name, parse_type(type_text)))
    return result


def _local_rows(node: NodeInfo, _: dict[str, Keyspace]) -> list[dict[str, Any]]:
    return [
        {
            "key": "local",
            "bootstrapped": "COMPLETED",
            "broadcast_address": node.address,
            "broadcast_port": 7000,
            "cluster_name": node.cluster_name,
            "cql_version": "3.4.5",
            "data_center": node.datacenter,
            "host_id": node.host_id,
            "listen_address": node.address,
            "listen_port": 7000,
            "native_protocol_version": "4",
            "partitioner": "org.apache.cassandra.dht.Murmur3Partitioner",
            "rack": node.rack,
            "release_version": node.release_version,
            "rpc_address": node.address,
            "rpc_port": node.port,
            "schema_version": node.schema_version,
            "tokens": node.tokens,
        }
    ]


def _keyspace_rows(_: NodeInfo, keyspaces: dict[str, Keyspace]) -> list[dict[str, Any]]:
    return [
        {
            "keyspace_name": ks.name,
            "durable_writes": ks.durable_writes,
            "replication": ks.replication,
        }
        for ks in keyspaces.values()
    ]


def _table_rows(_: NodeInfo, keyspaces: dict[str, Keyspace]) -> list[dict[str, Any]]:
    return [
        {
            "keyspace_name": ks.name,
            "table_name": table.name,
            **DEFAULT_TABLE_OPTIONS,
            **table.options,
            "extensions": {},
            "flags": frozenset({"compound"}),
            "id": table.id,
        }
        for ks in keyspaces.values()
        for table in ks.tables.values()
    ]


def _column_rows(_: NodeInfo, keyspaces: dict[str, Keyspace]) -> list[dict[str, Any]]:
    return [
        {
            "keyspace_name": ks.name,
            "table_name": table.name,
            "column_name": column.name,
            "clustering_order": (
                ("desc" if column.descending else "asc") if column.kind == "clustering" else "none"
            ),
            "column_name_bytes": column.name.encode(),
            "kind": column.kind,
            "position": column.position,
            "type": column.type.cql(),
        }
        for ks in keyspaces.values()
        for table in ks.tables.values()
        for column in table.columns.values()
    ]


def _no_rows(_: NodeInfo, __: dict[str, Keyspace]) -> list[dict[str, Any]]:
    return []


_OPTION_COLUMNS: Final = (
    "additional_write_policy text; bloom_filter_fp_chance double; "
    "caching frozen<map<text, text>>; cdc boolean; comment text; "
    "compaction frozen<map<text, text>>; compression frozen<map<text, text>>; "
    "crc_check_chance double; default_time_to_live int; extensions frozen<map<text, blob>>; "
    "gc_grace_seconds int; max_index_interval int; memtable_flush_period_in_ms int; "
    "min_index_interval int; read_repair text; speculative_retry text"
)
_PEER_COLUMNS: Final = (
    "data_center text; host_id uuid; preferred_ip inet; rack text; release_version text; "
    "schema_version uuid; tokens set<text>"
)
_COLUMN_COLUMNS: Final = (
    "keyspace_name text; table_name text; column_name text; clustering_order text; "
    "column_name_bytes blob; kind text; position int; type text"
)

SYSTEM_TABLES: Final[dict[tuple[str, str], SystemTable]] = {
    (t.keyspace, t.name): t
    for t in (
        SystemTable(
            "system",
            "local",
            _t(
                "key text; bootstrapped text; broadcast_address inet; broadcast_port int; "
                "cluster_name text; cql_version text; data_center text; host_id uuid; "
                "listen_address inet; listen_port int; native_protocol_version text; "
                "partitioner text; rack text; release_version text; rpc_address inet; "
                "rpc_port int; schema_version uuid; tokens set<text>"
            ),
            _local_rows,
        ),
        SystemTable(
            "system", "peers", _t(f"peer inet; rpc_address inet; {_PEER_COLUMNS}"), _no_rows
        ),
        SystemTable(
            "system",
            "peers_v2",
            _t(
                "peer inet; peer_port int; native_address inet; native_port int; "
                f"preferred_port int; {_PEER_COLUMNS}"
            ),
            _no_rows,
        ),
        SystemTable(
            "system_schema",
            "keyspaces",
            _t("keyspace_name text; durable_writes boolean; replication frozen<map<text, text>>"),
            _keyspace_rows,
        ),
        SystemTable(
            "system_schema",
            "tables",
            _t(
                f"keyspace_name text; table_name text; {_OPTION_COLUMNS}; "
                "flags frozen<set<text>>; id uuid"
            ),
            _table_rows,
        ),
        SystemTable("system_schema", "columns", _t(_COLUMN_COLUMNS), _column_rows),
        SystemTable(
            "system_schema",
            "types",
            _t(
                "keyspace_name text; type_name text; field_names frozen<list<text>>; "
                "field_types frozen<list<text>>"
            ),
            _no_rows,
        ),
        SystemTable(
            "system_schema",
            "functions",
            _t(
                "keyspace_name text; function_name text; argument_types frozen<list<text>>; "
                "argument_names frozen<list<text>>; body text; called_on_null_input boolean; "
                "language text; return_type text"
            ),
            _no_rows,
        ),
        SystemTable(
            "system_schema",
            "aggregates",
            _t(
                "keyspace_name text; aggregate_name text; argument_types frozen<list<text>>; "
                "final_func text; initcond text; return_type text; state_func text; "
                "state_type text"
            ),
            _no_rows,
        ),
        SystemTable(
            "system_schema",
            "triggers",
            _t(
                "keyspace_name text; table_name text; trigger_name text; "
                "options frozen<map<text, text>>"
            ),
            _no_rows,
        ),
        SystemTable(
            "system_schema",
            "indexes",
            _t(
                "keyspace_name text; table_name text; index_name text; kind text; "
                "options frozen<map<text, text>>"
            ),
            _no_rows,
        ),
        SystemTable(
            "system_schema",
            "views",
            _t(
                f"keyspace_name text; view_name text; base_table_id uuid; base_table_name text; "
                f"include_all_columns boolean; where_clause text; {_OPTION_COLUMNS}; id uuid"
            ),
            _no_rows,
        ),
        SystemTable("system_virtual_schema", "keyspaces", _t("keyspace_name text"), _no_rows),
        SystemTable(
            "system_virtual_schema",
            "tables",
            _t("keyspace_name text; table_name text; comment text"),
            _no_rows,
        ),
        SystemTable("system_virtual_schema", "columns", _t(_COLUMN_COLUMNS), _no_rows),
    )
}
SYSTEM_KEYSPACES: Final = frozenset(
    {
        "system",
        "system_schema",
        "system_auth",
        "system_distributed",
        "system_traces",
        "system_virtual_schema",
        "system_views",
    }
)
