"""The backend as the recorder's sender sees it, noticing refused credentials.

The sender retries every failure with backoff, which is right for an outage
but not for a changed password: that needs the user. This wrapper passes every
call through and remembers whether the last write or heartbeat was refused for
its credentials, so the health coordinator can ask for new ones (reauth).
"""

from __future__ import annotations

from typing import Any, cast

from .recorder import Backend, BackendAuthError, RecordBatch, WriteResult


class AuthWatch:
    """Watches the two calls the sender makes; the rest goes straight to the backend."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.auth_error: BackendAuthError | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    def as_backend(self) -> Backend:
        # A Backend by delegation (__getattr__), which typing cannot see.
        return cast("Backend", self)

    async def write(self, batch: RecordBatch) -> WriteResult:
        try:
            result = await self.backend.write(batch)
        except BackendAuthError as err:
            self.auth_error = err
            raise
        self.auth_error = None
        return result

    async def heartbeat(self, site: str, version: str, backlog: int) -> None:
        try:
            await self.backend.heartbeat(site, version, backlog)
        except BackendAuthError as err:
            self.auth_error = err
            raise
        self.auth_error = None
