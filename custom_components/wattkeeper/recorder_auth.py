"""The backend as the recorder's sender sees it, stopping at refused credentials.

The sender retries every failure with backoff, which is right for an outage
but not for a changed password: retrying that only piles up failed logins
(which some servers answer by locking the account). Once the database refused
the credentials, this wrapper refuses every further write and heartbeat itself,
without touching the database, and the health coordinator asks the user for
new ones (reauth, which reloads the entry with a fresh wrapper). The outbox
keeps collecting meanwhile. Everything else goes straight to the backend.
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

    def _refuse_again(self) -> None:
        if self.auth_error is not None:
            raise BackendAuthError(str(self.auth_error))

    async def write(self, batch: RecordBatch) -> WriteResult:
        self._refuse_again()
        try:
            return await self.backend.write(batch)
        except BackendAuthError as err:
            self.auth_error = err
            raise

    async def heartbeat(self, site: str, version: str, backlog: int) -> None:
        self._refuse_again()
        try:
            await self.backend.heartbeat(site, version, backlog)
        except BackendAuthError as err:
            self.auth_error = err
            raise
