"""The backends the contract suite runs against.

Each entry of HARNESSES opens a harness that makes fresh, opened backends of one
kind and can take their database away. Another backend joins the suite by
appending its own `HarnessFactory` here; nothing else changes.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import asyncpg
import pytest

from custom_components.wattkeeper.recorder import (
    Backend,
    PostgresConfig,
    SeriesInfo,
    SqliteConfig,
    SslMode,
    create_backend,
)
from custom_components.wattkeeper.recorder.timeconv import from_us

from .data import SITE
from .pg_server import EmbeddedPostgres


class BackendHarness(Protocol):
    """Makes backends of one kind for one test, and breaks them on request."""

    name: str

    async def make(
        self, *, time_zone: str = "UTC", site: str | None = SITE, shared: bool = False
    ) -> Backend:
        """A new, opened backend of `site` on an empty database, or with `shared` on the
        database `make` created last; closed by the harness at the end."""

    def config(self) -> object:
        """The config of the database `make` created last (picklable, for child processes)."""

    def outage(self) -> AbstractAsyncContextManager[None]:
        """While inside, the database refuses every write."""

    async def inject_raw(self, info: SeriesInfo, rows: Sequence[tuple[int, float]]) -> None:
        """Store raw readings (µs, value) directly, bypassing rollups (an un-rolled-up state)."""


@dataclass(frozen=True)
class HarnessFactory:
    name: str
    open: Callable[[pytest.FixtureRequest], AbstractAsyncContextManager[BackendHarness]]


class _HarnessBase:
    name = ""

    def __init__(self) -> None:
        self._backends: list[Backend] = []
        self._config: object = None

    def config(self) -> object:
        return self._config

    async def _make(self, config: object) -> Backend:
        self._config = config
        backend = create_backend(config)
        await backend.open()
        self._backends.append(backend)
        return backend

    async def close(self) -> None:
        for backend in self._backends:
            await backend.close()


class SqliteHarness(_HarnessBase):
    name = "sqlite"

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self._folder = folder
        self._path = folder / "none.db"

    async def make(
        self, *, time_zone: str = "UTC", site: str | None = SITE, shared: bool = False
    ) -> Backend:
        if not shared:
            self._path = self._folder / f"recorder-{len(self._backends)}.db"
        return await self._make(
            SqliteConfig(path=self._path, time_zone=time_zone, busy_timeout=0.1, site=site)
        )

    @asynccontextmanager
    async def outage(self) -> AsyncIterator[None]:
        # Another process holding the write lock: every write times out as "locked".
        blocker = sqlite3.connect(self._path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()

    async def inject_raw(self, info: SeriesInfo, rows: Sequence[tuple[int, float]]) -> None:
        with sqlite3.connect(self._path) as conn:
            series_id = conn.execute(
                """INSERT INTO series (site, device, quantity, unit, entity_id, meter_kind,
                       is_counter) VALUES (?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (site, device, quantity) DO UPDATE SET unit = excluded.unit
                   RETURNING id""",
                (info.site, info.device, info.quantity, info.unit, info.entity_id,
                 info.meter_kind, int(info.is_counter)),
            ).fetchone()[0]  # fmt: skip
            conn.executemany(
                "INSERT INTO samples (series, ts, value) VALUES (?, ?, ?)",
                [(series_id, ts, value) for ts, value in rows],
            )
        conn.close()


class PostgresHarness(_HarnessBase):
    name = "postgres"

    def __init__(self, server: EmbeddedPostgres) -> None:
        super().__init__()
        self._server = server
        self._schema = ""

    async def make(
        self, *, time_zone: str = "UTC", site: str | None = SITE, shared: bool = False
    ) -> Backend:
        # A schema per backend: as isolated as a database, and made in milliseconds.
        if not shared:
            self._schema = f"wk_{uuid.uuid4().hex[:12]}"
        config = PostgresConfig(
            host=self._server.host,
            port=self._server.port,
            database="postgres",
            user="postgres",
            ssl_mode=SslMode.DISABLE,
            schema=self._schema,
            time_zone=time_zone,
            site=site,
            connect_timeout=5.0,
        )
        return await self._make(config)

    @asynccontextmanager
    async def outage(self) -> AsyncIterator[None]:
        await asyncio.to_thread(self._server.stop)
        try:
            yield
        finally:
            await asyncio.to_thread(self._server.start)

    async def inject_raw(self, info: SeriesInfo, rows: Sequence[tuple[int, float]]) -> None:
        conn = await asyncpg.connect(
            self._server.dsn(), server_settings={"search_path": self._schema}
        )
        try:
            series_id = await conn.fetchval(
                """INSERT INTO series (site, device, quantity, unit, entity_id, meter_kind,
                       is_counter) VALUES ($1, $2, $3, $4, $5, $6, $7)
                   ON CONFLICT (site, device, quantity) DO UPDATE SET unit = excluded.unit
                   RETURNING id""",
                info.site, info.device, info.quantity, info.unit, info.entity_id,
                info.meter_kind, info.is_counter,
            )  # fmt: skip
            await conn.executemany(
                "INSERT INTO samples (series, ts, value) VALUES ($1, $2, $3)",
                [(series_id, from_us(ts), value) for ts, value in rows],
            )
        finally:
            await conn.close()


@asynccontextmanager
async def _sqlite(request: pytest.FixtureRequest) -> AsyncIterator[BackendHarness]:
    harness = SqliteHarness(request.getfixturevalue("tmp_path"))
    try:
        yield harness
    finally:
        await harness.close()


@asynccontextmanager
async def _postgres(request: pytest.FixtureRequest) -> AsyncIterator[BackendHarness]:
    harness = PostgresHarness(request.getfixturevalue("embedded_pg"))
    try:
        yield harness
    finally:
        await harness.close()


HARNESSES: list[HarnessFactory] = [
    HarnessFactory("sqlite", _sqlite),
    HarnessFactory("postgres", _postgres),
]
