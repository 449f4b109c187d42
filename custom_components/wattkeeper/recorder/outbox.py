"""The durable local outbox: readings wait here until the backend has committed them.

SQLite in WAL mode, written by one dedicated thread (see worker.py), so appends
never block the event loop. `synchronous=NORMAL` (the default) survives a crash
or kill of Home Assistant; `FULL` also survives a power cut, at one fsync per
commit.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Literal, Self

from .errors import OutboxClosedError
from .outbox_store import OutboxStore
from .outbox_types import AppendResult, OutboxBatch, OutboxStatus
from .records import Sample, SeriesInfo, StatisticRow
from .worker import Job, SqliteWorker

_LOGGER = logging.getLogger(__name__)

DEFAULT_QUOTA_BYTES = 1 << 30


class Outbox:
    """Append readings and statistics; the sender leases, writes and acknowledges batches."""

    def __init__(
        self,
        path: Path | str,
        quota_bytes: int = DEFAULT_QUOTA_BYTES,
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
    ) -> None:
        if quota_bytes <= 0:
            raise ValueError("quota_bytes must be positive")
        self.path = Path(path)
        self._store = OutboxStore(quota_bytes, synchronous)
        self._worker = SqliteWorker(
            self.path, name=f"wattkeeper-outbox-{self.path.name}", grouped=True,
            setup=self._store.setup,
        )  # fmt: skip
        self._has_data = asyncio.Event()
        self._closed = False

    async def open(self) -> None:
        """Create or reopen the outbox; a backlog left by a previous run is found again."""
        if self._closed:
            raise OutboxClosedError("a closed outbox cannot be reopened; make a new one")
        await self._worker.start()
        self._update_has_data()

    async def close(self) -> None:
        """Finish pending writes and close the file."""
        self._closed = True
        await self._worker.stop()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def register_series(self, *infos: SeriesInfo) -> None:
        """Make series known (or update their unit/entity id) before appending their readings."""
        await self._run(lambda conn: self._store.register(conn, infos))

    async def append_samples(self, samples: Iterable[Sample]) -> AppendResult:
        """Store readings durably. Unregistered series, NaN/inf and naive times are counted
        as rejected and logged once; the rest is on disk when this returns."""
        batch = list(samples)
        result = await self._run(lambda conn: self._store.append_samples(conn, batch))
        self._update_has_data()
        return result

    async def append_statistics(self, rows: Iterable[StatisticRow]) -> AppendResult:
        """Store forwarded long-term statistics with the same durability as readings."""
        batch = list(rows)
        result = await self._run(lambda conn: self._store.append_statistics(conn, batch))
        self._update_has_data()
        return result

    async def lease(self, limit: int) -> OutboxBatch | None:
        """The oldest `limit` readings and statistics, or None when the outbox is empty."""
        return await self._run(lambda conn: self._store.lease(conn, limit))

    async def ack(self, batch: OutboxBatch) -> None:
        """Delete a batch the backend has committed. Completes even if the caller is cancelled."""
        await asyncio.shield(self._run(lambda conn: self._store.ack(conn, batch)))
        self._update_has_data()

    def release(self, batch: OutboxBatch | None) -> None:
        """Give back every batch leased and not acknowledged (leases follow each other, so
        when `batch` failed, the ones after it must go back too); their rows stay."""
        del batch
        if self._worker.running:
            self._worker.submit(self._store.release)

    async def wait_for_data(self) -> None:
        """Return once the outbox holds something to send."""
        await self._has_data.wait()

    @property
    def is_empty(self) -> bool:
        return self._store.backlog_samples == 0 and self._store.backlog_statistics == 0

    def status(self) -> OutboxStatus:
        return self._store.status()

    def _update_has_data(self) -> None:
        if self.is_empty:
            self._has_data.clear()
        else:
            self._has_data.set()

    async def _run[T](self, job: Job[T]) -> T:
        if self._closed or not self._worker.running:
            raise OutboxClosedError("the outbox is not open")
        try:
            return await self._worker.submit(job)
        except sqlite3.Error:
            # A failed commit rolled back what the jobs counted in memory.
            if self._worker.running:
                self._worker.submit(self._store.resync)
            raise
