"""The shared backend contract suite, run unchanged against the Cassandra backend.

Every test of the `test_contract_*` modules is imported into this module (new
ones too), where the `harness` fixture makes Cassandra backends (the real
cassandra-driver talking to the CQL test double over a socket) instead of the
SQLite and PostgreSQL ones.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from cassandra.io.asyncioreactor import AsyncioConnection
from cassandra.util import Date

from custom_components.wattkeeper.recorder import Backend, SeriesInfo, create_backend
from custom_components.wattkeeper.recorder.cassandra_backend import CassandraBackend, series_id
from custom_components.wattkeeper.recorder.cassandra_config import CassandraConfig
from custom_components.wattkeeper.recorder.cassandra_session import CassandraSession
from custom_components.wattkeeper.recorder.timeconv import DAY_US
from simulators.cql import CqlServer

from .data import SITE

for _module in sorted(pkgutil.iter_modules([str(Path(__file__).parent)])):
    if _module.name.startswith("test_contract_"):
        _suite = importlib.import_module(f".{_module.name}", __package__)
        globals().update({k: v for k, v in vars(_suite).items() if k.startswith("test_")})


def start_driver_reactor() -> None:
    """Start the asyncio reactor's one process-wide daemon thread before any test counts
    threads; in a throwaway thread, because the driver sets that thread's event loop."""
    starter = threading.Thread(target=AsyncioConnection.initialize_reactor)
    starter.start()
    starter.join()


@pytest.fixture(scope="session", autouse=True)
def _driver_reactor() -> None:
    start_driver_reactor()


INJECT_SERIES = (
    "INSERT INTO {ks}.series (site, device, quantity, meter_kind, unit, is_counter, entity_id) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s)"
)
INJECT_SAMPLE = "INSERT INTO {ks}.samples (series, day, ts, value) VALUES (%s, %s, %s, %s)"
INJECT_DAY = "INSERT INTO {ks}.series_days (series, day) VALUES (%s, %s)"


def cassandra_config(server: CqlServer, **overrides: object) -> CassandraConfig:
    settings: dict[str, object] = {
        "contact_points": ("127.0.0.1",),
        "port": server.port,
        "keyspace": f"wk_{uuid.uuid4().hex[:12]}",
        "local_datacenter": "dc1",
        "site": SITE,
        "raw_retention_days": 0,  # the contract applies retention explicitly
        "reactor": "asyncio",
        "connect_timeout": 2.0,
        "request_timeout": 5.0,
        "reconnect_delay": 0.05,
        "reconnect_max_delay": 0.2,
    }
    settings.update(overrides)
    return CassandraConfig(**settings)  # type: ignore[arg-type]


class CassandraHarness:
    """Backends on fresh keyspaces of one CQL test double; `outage` stops the double."""

    name = "cassandra"

    def __init__(self, server: CqlServer) -> None:
        self.server = server
        self._backends: list[Backend] = []
        self._config: CassandraConfig | None = None

    def config(self) -> object:
        return self._config

    async def make(
        self, *, time_zone: str = "UTC", site: str | None = SITE, shared: bool = False
    ) -> Backend:
        overrides: dict[str, object] = {"time_zone": time_zone, "site": site}
        if shared and self._config is not None:
            overrides["keyspace"] = self._config.keyspace
        self._config = cassandra_config(self.server, **overrides)
        backend = create_backend(self._config)
        assert isinstance(backend, CassandraBackend)
        await backend.open()
        self._backends.append(backend)
        return backend

    @asynccontextmanager
    async def outage(self) -> AsyncIterator[None]:
        await self.server.stop()
        try:
            yield
        finally:
            await self.server.start()

    async def inject_raw(self, info: SeriesInfo, rows: Sequence[tuple[int, float]]) -> None:
        assert self._config is not None
        session = CassandraSession(self._config)
        await session.connect()
        keyspace, series = self._config.keyspace, series_id(info.key)
        try:
            await session.execute(
                INJECT_SERIES.format(ks=keyspace),
                (info.site, info.device, info.quantity, info.meter_kind, info.unit,
                 info.is_counter, info.entity_id),
            )  # fmt: skip
            for ts, value in rows:
                day = Date(ts // DAY_US)
                await session.execute(INJECT_SAMPLE.format(ks=keyspace), (series, day, ts, value))
                await session.execute(INJECT_DAY.format(ks=keyspace), (series, day))
        finally:
            await session.close()

    async def close(self) -> None:
        for backend in self._backends:
            await backend.close()


@pytest.fixture
async def cql_server() -> AsyncIterator[CqlServer]:
    async with CqlServer() as server:
        yield server


@pytest.fixture
async def harness(cql_server: CqlServer) -> AsyncIterator[CassandraHarness]:
    opened = CassandraHarness(cql_server)
    try:
        yield opened
    finally:
        await opened.close()
