"""Drains the outbox into the backend, batch by batch, until there is nothing left.

A batch leaves the outbox only after the backend committed it. When the backend
fails, the batch goes back, and the sender waits with exponential backoff and
jitter before trying again, for as long as it takes; `flush()` cuts a wait short.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from .backend import Backend
from .backoff import BackoffPolicy
from .errors import BackendUnavailableError
from .health import RateMeter, RecorderHealth
from .outbox import Outbox
from .outbox_types import OutboxBatch
from .records import WriteResult

_LOGGER = logging.getLogger(__name__)


class SenderActivity(StrEnum):
    """What the sender is doing: waiting for readings, sending, or waiting to retry."""

    IDLE = "idle"
    SENDING = "sending"
    RETRYING = "retrying"


class Sender:
    """Moves readings and statistics from an `Outbox` to a `Backend`."""

    def __init__(
        self,
        outbox: Outbox,
        backend: Backend,
        *,
        site: str,
        version: str = "",
        batch_size: int = 50_000,
        backoff: BackoffPolicy | None = None,
        heartbeat_interval: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        if batch_size <= 0:
            raise ValueError("batch_size must be positive")
        self.outbox = outbox
        self.backend = backend
        self.site = site
        self.version = version
        self.batch_size = batch_size
        self._backoff = backoff or BackoffPolicy()
        self._heartbeat_interval = heartbeat_interval
        self._rng = rng
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._in_flight = False
        self._activity = SenderActivity.IDLE
        self._failures = 0
        self._connected = False
        self._last_success: datetime | None = None
        self._last_error: str | None = None
        self._next_heartbeat = 0.0
        self._rate = RateMeter()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="wattkeeper-recorder-sender")

    async def stop(self) -> None:
        """Stop sending. A batch in flight is rolled back and stays in the outbox."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                if (current := asyncio.current_task()) is not None and current.cancelling():
                    raise
            finally:
                self._activity = SenderActivity.IDLE

    async def flush(self, timeout: float) -> bool:
        """Send now (cutting a backoff wait short) and wait until the outbox is empty.

        Returns False when it is not empty after `timeout` seconds. Only the current
        wait is cut short: later failures back off as usual, so a flush during an
        outage does not hammer the database."""
        self._wake.set()
        try:
            async with asyncio.timeout(timeout):
                while not (self.outbox.is_empty and not self._in_flight):
                    if self._task is None:
                        return False
                    self._progress.clear()
                    await self._progress.wait()
        except TimeoutError:
            return False
        return True

    @property
    def activity(self) -> SenderActivity:
        return self._activity

    def health(self) -> RecorderHealth:
        status = self.outbox.status()
        age = None
        if status.oldest_unsent is not None:
            age = max(0.0, (datetime.now(UTC) - status.oldest_unsent).total_seconds())
        return RecorderHealth(
            backlog=status.backlog_samples,
            backlog_statistics=status.backlog_statistics,
            oldest_unsent_age=age,
            last_success=self._last_success,
            write_rate=self._rate.rate(),
            dropped=status.dropped,
            rejected=status.rejected,
            connected=self._connected,
            quota_fraction=status.fraction,
            quota_level=status.level,
            last_error=self._last_error,
        )

    # -- the loop ----------------------------------------------------------------------

    async def _run(self) -> None:
        self._activity = SenderActivity.SENDING
        while True:
            if time.monotonic() >= self._next_heartbeat:
                await self._heartbeat()
            if self.outbox.is_empty:
                self._progress.set()
                await self._idle()
                continue
            if await self._drain():
                self._failures = 0
            else:
                self._failures += 1
                await self._pause(self._backoff.delay(self._failures, self._rng))
            self._progress.set()

    async def _drain(self) -> bool:
        """Send batches back to back until the outbox is empty; False after a failure.

        While the backend writes a batch, the outbox thread leases the next one and
        deletes the one before, so SQLite work overlaps the database's; a backend that
        takes `concurrent_writes` > 1 gets that many batches at once (PostgreSQL copies
        one while the one before is rolled up and committed). Batches are acknowledged
        in lease order, each only once written: after a failure, the batches behind it
        go back to the outbox too, written or not (a repeat stores nothing twice).
        """
        depth = max(1, int(getattr(self.backend, "concurrent_writes", 1)))
        writing: deque[tuple[OutboxBatch, asyncio.Future[WriteResult]]] = deque()
        upcoming: asyncio.Future[OutboxBatch | None] | None = None
        ack: asyncio.Future[None] | None = None
        self._in_flight = True
        try:
            upcoming = asyncio.ensure_future(self.outbox.lease(self.batch_size))
            while True:
                while upcoming is not None and len(writing) < depth:
                    batch = await upcoming
                    upcoming = None
                    if batch is None:
                        break
                    writing.append(
                        (batch, asyncio.ensure_future(self.backend.write(batch.records)))
                    )
                    upcoming = asyncio.ensure_future(self.outbox.lease(self.batch_size))
                if not writing:
                    break
                batch, write = writing[0]
                try:
                    result = await write
                    if ack is not None:
                        await ack
                except BaseException as err:
                    await _abandon(upcoming, writing, cancel=not isinstance(err, Exception))
                    upcoming = None
                    # Queued after the leases and the acknowledgement, so it ends them all.
                    self.outbox.release(batch)
                    if not isinstance(err, Exception):
                        raise
                    self._failed(err)
                    return False
                writing.popleft()
                ack = asyncio.ensure_future(self.outbox.ack(batch))
                self._written(result)
                self._progress.set()
            if ack is not None:
                await ack
        except Exception as err:
            await _abandon(upcoming, writing, cancel=False)
            self.outbox.release(None)
            self._failed(err)
            return False
        finally:
            self._in_flight = False
            if ack is not None and not ack.done():
                # Cancelled while a committed batch was being deleted: let that finish.
                await asyncio.wait([ack])
        return True

    def _written(self, result: WriteResult) -> None:
        self._succeeded()
        self._rate.add(result.samples_written + result.samples_duplicate)
        if result.samples_rejected or result.statistics_rejected:
            _LOGGER.warning(
                "The backend rejected %d readings and %d statistics (NaN or infinite)",
                result.samples_rejected,
                result.statistics_rejected,
            )

    async def _heartbeat(self) -> None:
        self._next_heartbeat = time.monotonic() + self._heartbeat_interval
        try:
            await self.backend.heartbeat(
                self.site, self.version, self.outbox.status().backlog_samples
            )
        except Exception as err:
            self._failed(err)
        else:
            self._succeeded(wrote=False)

    async def _idle(self) -> None:
        """Wait for data, a flush or the next heartbeat."""
        wait = max(0.0, self._next_heartbeat - time.monotonic())
        with self._waiting(SenderActivity.IDLE), contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.outbox.wait_for_data(), wait)

    async def _pause(self, delay: float) -> None:
        """Back off for `delay` seconds, unless a flush asked (since the last pause) to try now."""
        with self._waiting(SenderActivity.RETRYING), contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), delay)
        self._wake.clear()

    @contextlib.contextmanager
    def _waiting(self, activity: SenderActivity) -> Iterator[None]:
        """Tell `activity` while the loop waits; it sends again afterwards."""
        self._activity = activity
        try:
            yield
        finally:
            self._activity = SenderActivity.SENDING

    def _failed(self, err: Exception) -> None:
        if isinstance(err, BackendUnavailableError):
            self._connected = False
        message = f"{type(err).__name__}: {err}"
        if message != self._last_error:
            _LOGGER.warning("Recorder backend write failed, will retry: %s", message)
        self._last_error = message

    def _succeeded(self, *, wrote: bool = True) -> None:
        if not self._connected and self._last_error is not None:
            _LOGGER.info("Recorder backend reachable again")
        self._connected = True
        self._last_error = None
        if wrote:
            self._last_success = datetime.now(UTC)


async def _abandon(
    upcoming: asyncio.Future[OutboxBatch | None] | None,
    writing: deque[tuple[OutboxBatch, asyncio.Future[WriteResult]]],
    *,
    cancel: bool,
) -> None:
    """Drop a lease, and wait until the writes in flight have ended: cancelled when the
    sender stops (rolled back), else run to their end (one that commits is simply
    repeated later; cutting a database driver short mid-connect only makes noise)."""
    writes: list[asyncio.Future[Any]] = [write for _, write in writing]
    writing.clear()
    pending = writes.copy()
    if upcoming is not None:
        upcoming.cancel()
        pending.append(upcoming)
    if cancel:
        for future in writes:
            future.cancel()
    if pending:
        try:
            await asyncio.wait(pending)
        except asyncio.CancelledError:
            for future in writes:  # stopped meanwhile: cut them short after all
                future.cancel()
            await asyncio.wait(pending)
            raise
        for future in pending:
            if not future.cancelled():
                future.exception()  # retrieved: the first failure is the one reported
