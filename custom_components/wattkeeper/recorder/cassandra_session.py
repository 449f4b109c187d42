"""A cassandra-driver session whose requests are awaited on the asyncio event loop.

The driver runs its own I/O thread (libev when its C extension is present,
else its asyncio reactor on a private loop). Connecting, preparing and
shutting down block, so they run in the executor; requests are sent with
`execute_async` and their callbacks, which fire on the driver's thread, resolve
asyncio futures through `call_soon_threadsafe`. Nothing here blocks the loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from collections.abc import Coroutine, Iterable, Sequence
from typing import Any

from cassandra import (
    AuthenticationFailed,
    ConsistencyLevel,
    DependencyException,
    DriverException,
    OperationTimedOut,
    ReadTimeout,
    Unauthorized,
    Unavailable,
    WriteTimeout,
)
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    NoHostAvailable,
    ResponseFuture,
    Session,
)
from cassandra.connection import Connection, ConnectionException
from cassandra.policies import (
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    TokenAwarePolicy,
)
from cassandra.protocol import (
    ConfigurationException,
    ErrorMessage,
    OverloadedErrorMessage,
    SyntaxException,
)
from cassandra.query import PreparedStatement, Statement, tuple_factory

from .cassandra_config import CassandraConfig
from .errors import BackendAuthError, BackendError, BackendUnavailableError

_LOGGER = logging.getLogger(__name__)

type Row = tuple[Any, ...]


def connection_class(reactor: str, *, tls: bool = False) -> type[Connection]:
    """The driver's event loop: libev where its wheel has the C extension, else asyncio.

    The asyncio reactor hands TLS sockets to `loop.sock_sendall`, which refuses
    them (Python 3.9 and later), so TLS needs libev.
    """
    if reactor in ("auto", "libev"):
        try:
            from cassandra.io.libevreactor import LibevConnection  # noqa: PLC0415

            return LibevConnection  # type: ignore[no-any-return]
        except (ImportError, DependencyException):
            if reactor == "libev" or tls:
                raise BackendError(
                    "cassandra-driver was installed without its libev extension, which "
                    + ("TLS connections need" if tls else "was asked for")
                ) from None
    if tls:
        raise BackendError("TLS connections to Cassandra need the libev reactor, not asyncio")
    from cassandra.io.asyncioreactor import AsyncioConnection  # noqa: PLC0415

    return AsyncioConnection  # type: ignore[no-any-return]


def translate(err: BaseException, config: CassandraConfig) -> BackendError:
    """One backend error per driver error, with a message that says what to do."""
    where = f"{', '.join(config.contact_points)}:{config.port}"
    if isinstance(err, BackendError):
        return err
    if isinstance(err, NoHostAvailable):
        # `errors` maps hosts to what failed, or lists hosts when none could be tried.
        causes = list(err.errors.values()) if isinstance(err.errors, dict) else []
        if any(isinstance(c, AuthenticationFailed) for c in causes):
            return BackendAuthError(
                f"Cassandra at {where} refused the username or password"
                if config.username
                else f"Cassandra at {where} requires a username and password"
            )
        known = [c for c in causes if isinstance(c, ErrorMessage | DriverException)]
        if known and len(known) == len(causes):
            return translate(known[0], config)
        detail = "; ".join(str(c) for c in causes) or str(err)
        return BackendUnavailableError(f"cannot reach Cassandra at {where}: {detail}")
    if isinstance(err, AuthenticationFailed):
        return BackendAuthError(f"Cassandra at {where} refused the username or password")
    if isinstance(err, Unauthorized):
        return BackendAuthError(f"the Cassandra user {config.username!r} lacks a permission: {err}")
    if isinstance(err, Unavailable):
        return BackendUnavailableError(
            f"not enough Cassandra replicas alive for consistency {config.consistency} "
            f"({err.alive_replicas} of {err.required_replicas} needed); check the replication "
            f"of keyspace {config.keyspace!r} and the local datacenter "
            f"{config.local_datacenter!r}"
        )
    if isinstance(
        err,
        WriteTimeout
        | ReadTimeout
        | OperationTimedOut
        | OverloadedErrorMessage
        | ConnectionException
        | OSError,
    ):
        return BackendUnavailableError(f"Cassandra at {where} did not answer in time: {err}")
    if isinstance(err, ConfigurationException):
        return BackendError(f"Cassandra rejected the schema: {err}")
    if isinstance(err, SyntaxException):
        return BackendError(f"Cassandra rejected a statement: {err}")
    return BackendError(f"Cassandra error: {err}")


class CassandraSession:
    """One Cluster and Session, opened and closed off the event loop."""

    def __init__(self, config: CassandraConfig) -> None:
        self.config = config
        self._cluster: Cluster | None = None
        self._session: Session | None = None
        # One bound for every request of this session, however many callers run at once.
        self._slots = asyncio.Semaphore(config.max_in_flight)

    @property
    def session(self) -> Session:
        if self._session is None:
            raise BackendUnavailableError("the Cassandra session is closed")
        return self._session

    @property
    def cluster(self) -> Cluster:
        if self._cluster is None:
            raise BackendUnavailableError("the Cassandra session is closed")
        return self._cluster

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            cluster = await _outlast(loop.run_in_executor(None, self._build_cluster))
            try:
                self._session = await _outlast(loop.run_in_executor(None, cluster.connect))
            except Exception as err:
                # A wrong local datacenter leaves the session no host to use; the control
                # connection has met the nodes by then, so say which datacenters exist.
                wrong_dc = self._datacenter_error(cluster)
                await self.close()
                raise (wrong_dc or translate(err, self.config)) from err
        except asyncio.CancelledError:
            await self.close()  # what the driver's thread built, or connected meanwhile
            raise
        wrong_dc = self._datacenter_error(cluster)
        if wrong_dc is not None:
            await self.close()
            raise wrong_dc

    def _build_cluster(self) -> Cluster:
        config = self.config
        profile = ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(
                DCAwareRoundRobinPolicy(local_dc=config.local_datacenter)
            ),
            consistency_level=ConsistencyLevel.name_to_value[config.consistency],
            request_timeout=config.request_timeout,
            row_factory=tuple_factory,
        )
        auth = None
        if config.username is not None and config.password is not None:
            auth = PlainTextAuthProvider(config.username, config.password)
        ssl_context = None
        if config.tls_ca_file:
            try:
                ssl_context = ssl.create_default_context(cafile=config.tls_ca_file)
            except (OSError, ssl.SSLError) as err:
                raise BackendError(f"cannot read the CA file {config.tls_ca_file}: {err}") from err
        # Kept at once: Cluster() starts its scheduler thread, which only shutdown() ends.
        self._cluster = Cluster(
            list(config.contact_points),
            port=config.port,
            protocol_version=4,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
            auth_provider=auth,
            ssl_context=ssl_context,
            connection_class=connection_class(config.reactor, tls=ssl_context is not None),
            connect_timeout=config.connect_timeout,
            control_connection_timeout=config.connect_timeout,
            reconnection_policy=ExponentialReconnectionPolicy(
                config.reconnect_delay, config.reconnect_max_delay
            ),
        )
        return self._cluster

    def _datacenter_error(self, cluster: Cluster) -> BackendError | None:
        known = sorted({h.datacenter for h in cluster.metadata.all_hosts() if h.datacenter})
        if not known or self.config.local_datacenter in known:
            return None  # nothing learned (unreachable), or all is well
        return BackendError(
            f"Cassandra has no datacenter named {self.config.local_datacenter!r}; "
            f"it has {', '.join(known)}"
        )

    async def close(self) -> None:
        cluster, self._cluster, self._session = self._cluster, None, None
        if cluster is not None:
            await asyncio.get_running_loop().run_in_executor(None, cluster.shutdown)

    async def prepare(self, cql: str) -> PreparedStatement:
        """Prepare once; every statement Wattkeeper writes is an idempotent upsert."""
        try:
            prepared = await asyncio.get_running_loop().run_in_executor(
                None, self.session.prepare, cql
            )
        except Exception as err:
            raise translate(err, self.config) from err
        prepared.is_idempotent = True
        return prepared

    async def execute(
        self, statement: str | Statement, params: Sequence[Any] | None = None
    ) -> list[Row]:
        """Run one statement and return every row of every page."""
        async with self._slots:
            try:
                return await self._send(statement, params)
            except BackendError:
                raise
            except Exception as err:
                raise translate(err, self.config) from err

    def _send(
        self, statement: str | Statement, params: Sequence[Any] | None
    ) -> asyncio.Future[list[Row]]:
        return _all_pages(self.session.execute_async(statement, params))

    async def execute_all(self, statements: Iterable[Request]) -> list[list[Row]]:
        """Run statements concurrently, rows in order. Every request of the session, from
        here or `execute`, takes one of the same `max_in_flight` slots.

        On the first failure the rest is not started, the requests in flight are
        waited for (their callbacks must not outlive us), and the failure is raised.
        """
        results: list[list[Row]] = []
        pending: set[asyncio.Future[list[Row]]] = set()
        failures: list[BaseException] = []

        def finished(index: int, future: asyncio.Future[list[Row]]) -> None:
            self._slots.release()
            pending.discard(future)
            if future.cancelled():
                failures.append(asyncio.CancelledError())
            elif (error := future.exception()) is not None:  # retrieved: reported once
                failures.append(error)
            else:
                results[index] = future.result()

        try:
            for statement, params in statements:
                await self._slots.acquire()
                if failures:
                    self._slots.release()
                    break
                try:
                    future = self._send(statement, params)
                except BaseException:
                    self._slots.release()
                    raise
                results.append([])
                pending.add(future)
                future.add_done_callback(functools.partial(finished, len(results) - 1))
            if pending:
                await asyncio.wait(set(pending))
            if failures:
                raise failures[0]
        except BaseException as err:
            if pending:
                await asyncio.wait(set(pending))
            if isinstance(err, Exception) and not isinstance(err, BackendError):
                raise translate(err, self.config) from err
            raise
        return results


type Request = tuple[str | Statement, Sequence[Any] | None]


async def run_together[T](*jobs: Coroutine[Any, Any, T]) -> list[T]:
    """Await coroutines concurrently; if one fails, the others are cancelled (their
    requests in flight still settle) and that first failure is raised as itself."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(job) for job in jobs]
    except BaseExceptionGroup as failed:
        first: BaseException = failed
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [task.result() for task in tasks]


def _all_pages(future: ResponseFuture) -> asyncio.Future[list[Row]]:
    """An asyncio future resolved (from the driver's thread) with the rows of all pages."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[list[Row]] = loop.create_future()
    rows: list[Row] = []

    def deliver(result: list[Row] | None, error: BaseException | None) -> None:
        if waiter.done():
            return
        if error is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(result or [])

    def on_page(page: list[Row] | None) -> None:
        # None for results without rows (writes, schema changes).
        try:
            rows.extend(page or ())
            if future.has_more_pages:
                future.start_fetching_next_page()  # the callbacks fire again for that page
                return
        except Exception as err:
            loop.call_soon_threadsafe(deliver, None, err)
            return
        loop.call_soon_threadsafe(deliver, rows, None)

    def on_error(error: BaseException) -> None:
        loop.call_soon_threadsafe(deliver, None, error)

    future.add_callbacks(on_page, on_error)
    return waiter


async def _outlast[T](job: asyncio.Future[T]) -> T:
    """Await a driver call running in its thread. Cancelled, wait for the thread first
    (its result no longer matters), so that what it made can then be shut down."""
    try:
        return await asyncio.shield(job)
    except asyncio.CancelledError:
        await asyncio.wait([job])
        if not job.cancelled():
            job.exception()  # retrieved, so asyncio does not log it
        raise
