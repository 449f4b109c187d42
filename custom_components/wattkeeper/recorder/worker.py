"""One thread that owns one SQLite connection, so SQLite never blocks the event loop.

Jobs are plain functions of the connection; they run in submission order and
their results come back as asyncio futures. In grouped mode, all jobs waiting
in the queue share one transaction (each inside its own savepoint, so one
failing job does not undo the others): at 20 meters appending once a second,
many appends cost one commit. Results are delivered only after the commit, so
an awaited append is on disk.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import OutboxClosedError

_LOGGER = logging.getLogger(__name__)

type Job[T] = Callable[[sqlite3.Connection], T]
type _Entry = tuple[Job[Any], concurrent.futures.Future[Any]]

# Most jobs that share one transaction; bounds the latency of the first one.
_MAX_GROUP = 512


class SqliteWorker:
    """Runs jobs against `path` on a dedicated thread."""

    def __init__(
        self,
        path: Path,
        *,
        name: str,
        grouped: bool,
        setup: Job[None],
        timeout: float = 5.0,
    ) -> None:
        self._path = path
        self._name = name
        self._grouped = grouped
        self._setup = setup
        self._timeout = timeout
        self._queue: queue.SimpleQueue[_Entry | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopped: concurrent.futures.Future[None] = concurrent.futures.Future()

    @property
    def running(self) -> bool:
        return self._thread is not None

    async def start(self) -> None:
        """Open the connection on the worker thread and run `setup`."""
        opened: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._main, args=(opened,), name=self._name, daemon=True
        )
        self._thread.start()
        try:
            await asyncio.wrap_future(opened)
        except BaseException:
            self._join()
            raise

    def submit[T](self, job: Job[T]) -> asyncio.Future[T]:
        """Queue `job`; the returned future resolves once it ran (and committed)."""
        if self._thread is None:
            raise OutboxClosedError(f"{self._name} is not running")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put((job, future))
        return asyncio.wrap_future(future)

    async def stop(self) -> None:
        """Finish queued jobs, close the connection and end the thread."""
        if self._thread is None:
            return
        self._queue.put(None)
        await asyncio.wrap_future(self._stopped)
        self._join()

    def _join(self) -> None:
        if self._thread is not None:
            # The thread has already left its loop; this returns at once.
            self._thread.join()
            self._thread = None

    def _main(self, opened: concurrent.futures.Future[None]) -> None:
        try:
            conn = sqlite3.connect(
                self._path, timeout=self._timeout, isolation_level=None, check_same_thread=True
            )
        except sqlite3.Error as err:
            opened.set_exception(err)
            self._stopped.set_result(None)
            return
        try:
            try:
                self._setup(conn)
            except BaseException as err:
                opened.set_exception(err)
                return
            opened.set_result(None)
            self._serve(conn)
        finally:
            conn.close()
            self._stopped.set_result(None)

    def _serve(self, conn: sqlite3.Connection) -> None:
        while True:
            entry = self._queue.get()
            if entry is None:
                return
            entries = [entry]
            stop = False
            if self._grouped:
                while len(entries) < _MAX_GROUP:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stop = True
                        break
                    entries.append(more)
                self._run_grouped(conn, entries)
            else:
                self._run_one(conn, entry)
            if stop:
                return

    @staticmethod
    def _run_one(conn: sqlite3.Connection, entry: _Entry) -> None:
        job, future = entry
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(job(conn))
        except BaseException as err:  # handed to the awaiting task
            future.set_exception(err)

    @staticmethod
    def _run_grouped(conn: sqlite3.Connection, entries: list[_Entry]) -> None:
        outcomes: list[tuple[concurrent.futures.Future[Any], Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as err:
            for _, future in entries:
                if future.set_running_or_notify_cancel():
                    future.set_exception(err)
            return
        for job, future in entries:
            if not future.set_running_or_notify_cancel():
                continue
            conn.execute("SAVEPOINT job")
            try:
                result = job(conn)
            except Exception as err:  # handed to the awaiting task
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                outcomes.append((future, None, err))
                continue
            conn.execute("RELEASE job")
            outcomes.append((future, result, None))
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as err:
            _LOGGER.warning("Outbox commit failed: %s", err)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for future, _, _ in outcomes:
                future.set_exception(err)
            return
        for future, result, error in outcomes:
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)
