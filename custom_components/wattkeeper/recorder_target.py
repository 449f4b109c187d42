"""Which database a recorder entry writes to, without its credentials: the unique id.

A PostgreSQL DSN carries the user and often the password; the unique id (kept
in .storage and shown in diagnostics) takes only the host(s), port(s) and
database from it. Both DSN forms are read: the URI
(postgresql://user:secret@db:5432/wattkeeper?sslmode=require) and libpq's
key=value list (host=db port=5432 dbname=wattkeeper password=secret).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import SplitResult, parse_qsl, quote, unquote, urlsplit

from homeassistant.const import CONF_HOST, CONF_PORT

from .const import (
    BACKEND_CASSANDRA,
    BACKEND_POSTGRESQL,
    CONF_BACKEND,
    CONF_CONTACT_POINTS,
    CONF_DSN,
    CONF_KEYSPACE,
    CONF_SITE,
)

CONF_DATABASE: Final = "database"
DEFAULT_PG_PORT: Final = 5432
_KEY_VALUE: Final = re.compile(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")
_PASSWORD_PAIR: Final = re.compile(r"\s*\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|\S+)")


def _host_ports(hosts: str, ports: str) -> str:
    """libpq's comma lists of hosts and ports, as "host:port,host:port"."""
    names = [name.strip().lower() for name in hosts.split(",")] if hosts else ["localhost"]
    numbers = [port.strip() for port in ports.split(",")] if ports else []
    if len(numbers) == 1:
        numbers *= len(names)
    numbers += [str(DEFAULT_PG_PORT)] * (len(names) - len(numbers))
    return ",".join(
        f"{name}:{port or DEFAULT_PG_PORT}" for name, port in zip(names, numbers, strict=True)
    )


def _uri_target(dsn: str) -> str:
    parts = urlsplit(dsn)
    query = dict(parse_qsl(parts.query))
    userinfo, _, netloc = parts.netloc.rpartition("@")
    hosts: list[str] = []
    ports: list[str] = []
    for item in filter(None, netloc.split(",")):
        if item.startswith("["):  # [IPv6]:port
            host, _, rest = item[1:].partition("]")
            port = rest.removeprefix(":")
        else:
            host, _, port = item.partition(":")
        hosts.append(unquote(host))
        ports.append(port)
    host_list = ",".join(hosts) or query.get("host", "")
    port_list = ",".join(ports) if any(ports) else query.get("port", "")
    user = unquote(userinfo.partition(":")[0]) or query.get("user", "")
    database = unquote(parts.path.removeprefix("/")) or query.get("dbname", "") or user
    return f"{_host_ports(host_list, port_list)}/{database}"


def _key_value_target(dsn: str) -> str:
    pairs: dict[str, str] = {}
    for key, raw in _KEY_VALUE.findall(dsn):
        pairs[key] = re.sub(r"\\(.)", r"\1", raw[1:-1]) if raw.startswith("'") else raw
    database = pairs.get("dbname") or pairs.get("user", "")
    return f"{_host_ports(pairs.get('host', ''), pairs.get('port', ''))}/{database}"


def postgres_target(data: Mapping[str, Any]) -> str:
    """host:port/database of a PostgreSQL entry, never its user name or password."""
    if dsn := data.get(CONF_DSN):
        dsn = str(dsn).strip()
        return _uri_target(dsn) if "://" in dsn else _key_value_target(dsn)
    host = str(data.get(CONF_HOST) or "127.0.0.1")
    port = str(data.get(CONF_PORT) or DEFAULT_PG_PORT)
    database = data.get(CONF_DATABASE) or "wattkeeper"
    return f"{_host_ports(host, port)}/{database}"


def recorder_unique_id(data: Mapping[str, Any]) -> str:
    """One entry per database (or cluster and keyspace) and site."""
    backend = data[CONF_BACKEND]
    if backend == BACKEND_POSTGRESQL:
        target = postgres_target(data)
    elif backend == BACKEND_CASSANDRA:
        target = f"{data.get(CONF_CONTACT_POINTS)}/{data.get(CONF_KEYSPACE)}"
    else:
        target = "embedded"
    return f"recorder_{backend}_{target}_{data[CONF_SITE]}"


def _unsplit(parts: SplitResult) -> str:
    """urlunsplit, but keeping "//" before an empty host list (postgresql:///db)."""
    query = f"?{parts.query}" if parts.query else ""
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return f"{parts.scheme}://{parts.netloc}{parts.path}{query}{fragment}"


def _query_without_password(query: str) -> tuple[str, str]:
    """A URI query without its password parameter (left as written), and that password."""
    kept: list[str] = []
    password = ""
    for item in filter(None, query.split("&")):
        key, _, value = item.partition("=")
        if unquote(key) == "password":
            password = unquote(value)
        else:
            kept.append(item)
    return "&".join(kept), password


def _split_password(dsn: str) -> tuple[str, str]:
    """The DSN without its password, and the password ("" when it has none)."""
    if "://" not in dsn:
        match = _PASSWORD_PAIR.search(dsn)
        if match is None:
            return dsn.strip(), ""
        value = match.group(1)
        if value.startswith("'"):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        return (dsn[: match.start()] + dsn[match.end() :]).strip(), value
    parts = urlsplit(dsn)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    query, in_query = _query_without_password(parts.query)
    bare = _unsplit(parts._replace(netloc=f"{user}{at}{hosts}", query=query))
    return bare, unquote(password) if colon else in_query


def dsn_without_password(dsn: str) -> str:
    """The DSN to show in a form: everything but the password."""
    return _split_password(dsn)[0]


def dsn_password(dsn: str) -> str:
    """The password a DSN holds, or an empty string."""
    return _split_password(dsn)[1]


def dsn_with_password(dsn: str, password: str) -> str:
    """The DSN with `password` in place of whatever password it had (none when empty)."""
    bare = dsn_without_password(dsn)
    if not password:
        return bare
    if "://" not in bare:
        escaped = password.replace("\\", "\\\\").replace("'", "\\'")
        return f"{bare} password='{escaped}'"
    parts = urlsplit(bare)
    user, at, hosts = parts.netloc.rpartition("@")
    if at:
        return _unsplit(parts._replace(netloc=f"{user}:{quote(password, safe='')}@{hosts}"))
    query = "&".join(filter(None, (parts.query, f"password={quote(password, safe='')}")))
    return _unsplit(parts._replace(query=query))
