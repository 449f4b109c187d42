"""Fixtures of the recorder tests: a real PostgreSQL server and the backend harnesses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from .backends import HARNESSES, BackendHarness, HarnessFactory
from .pg_server import EmbeddedPostgres


@pytest.fixture(scope="session")
def embedded_pg_server() -> Iterator[EmbeddedPostgres]:
    """One PostgreSQL cluster for the whole run, started on first use."""
    server = EmbeddedPostgres.in_temporary_folder()
    yield server
    server.teardown()


@pytest.fixture
def embedded_pg(embedded_pg_server: EmbeddedPostgres, socket_enabled: None) -> EmbeddedPostgres:
    """The running server; each test makes its own database in it.

    Started from a function-scoped fixture because finding a free port needs a
    socket, which the test plugin only allows once a test's fixtures enabled it.
    """
    if not embedded_pg_server.running:
        embedded_pg_server.setup()
    return embedded_pg_server


@pytest.fixture(params=HARNESSES, ids=lambda factory: factory.name)
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[BackendHarness]:
    factory: HarnessFactory = request.param
    async with factory.open(request) as opened:
        yield opened
