"""The CQL test double, driven by the real cassandra-driver over a socket."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from cassandra import (
    AuthenticationFailed,
    ConsistencyLevel,
    InvalidRequest,
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
    Session,
)
from cassandra.io.asyncioreactor import AsyncioConnection
from cassandra.policies import ConstantReconnectionPolicy, DCAwareRoundRobinPolicy
from cassandra.protocol import ConfigurationException, SyntaxException
from cassandra.query import BatchStatement, BatchType, SimpleStatement

from simulators.cql import CqlServer, Fault

DAY = dt.date(2024, 3, 1)
SAMPLES = """
    CREATE TABLE wk.samples (
        series text, day date, ts timestamp, value double,
        PRIMARY KEY ((series, day), ts)
    ) WITH CLUSTERING ORDER BY (ts ASC)
      AND compaction = {'class': 'TimeWindowCompactionStrategy',
                        'compaction_window_unit': 'DAYS', 'compaction_window_size': 1}
      AND default_time_to_live = 3600
"""
INSERT = "INSERT INTO wk.samples (series, day, ts, value) VALUES (?, ?, ?, ?)"


@pytest.fixture(scope="session", autouse=True)
def _driver_reactor() -> None:
    """Start the asyncio reactor's one process-wide daemon thread before any test counts threads.

    It runs in a throwaway thread because the driver sets that thread's event loop.
    """
    starter = threading.Thread(target=AsyncioConnection.initialize_reactor)
    starter.start()
    starter.join()


class Clock:
    """A settable clock for the double, so TTL expiry needs no sleeping."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def server(clock: Clock) -> AsyncIterator[CqlServer]:
    async with CqlServer(clock=clock) as srv:
        yield srv


def make_cluster(server: CqlServer, **kwargs: Any) -> Cluster:
    kwargs.setdefault("protocol_version", 4)
    if kwargs["protocol_version"] is None:  # let the driver negotiate
        del kwargs["protocol_version"]
    profile = ExecutionProfile(load_balancing_policy=DCAwareRoundRobinPolicy("dc1"))
    return Cluster(
        ["127.0.0.1"],
        port=server.port,
        connection_class=AsyncioConnection,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        reconnection_policy=ConstantReconnectionPolicy(0.1),
        connect_timeout=2,
        **kwargs,
    )


@pytest.fixture
async def connect(server: CqlServer) -> AsyncIterator[Callable[..., Any]]:
    clusters: list[Cluster] = []

    async def _connect(**kwargs: Any) -> Session:
        cluster = make_cluster(server, **kwargs)
        clusters.append(cluster)
        return await asyncio.to_thread(cluster.connect)

    yield _connect
    for cluster in clusters:
        await asyncio.to_thread(cluster.shutdown)


@pytest.fixture
async def session(connect: Callable[..., Any]) -> Session:
    sess: Session = await connect()
    await run(
        sess,
        "CREATE KEYSPACE wk WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}",
    )
    await run(sess, SAMPLES)
    return sess


async def run(session: Session, query: Any, params: Any = None) -> list[Any]:
    """Execute in a worker thread: the driver blocks, the double lives on this loop."""
    # list() too: iterating a result fetches further pages, which blocks.
    return await asyncio.to_thread(lambda: list(session.execute(query, params)))


def stamp(second: int) -> dt.datetime:
    return dt.datetime(2024, 3, 1, 0, 0, second)


# The handshake and the system tables


async def test_driver_sees_one_node_cluster(server: CqlServer, session: Session) -> None:
    cluster = session.cluster
    hosts = cluster.metadata.all_hosts()
    assert [(h.datacenter, h.rack, h.release_version) for h in hosts] == [("dc1", "rack1", "4.1.5")]
    assert cluster.metadata.cluster_name == "Wattkeeper Test Cluster"
    # The driver learned the schema through system_schema.* and can print it back.
    table = cluster.metadata.keyspaces["wk"].tables["samples"]
    assert [c.name for c in table.partition_key] == ["series", "day"]
    assert [c.name for c in table.clustering_key] == ["ts"]
    assert table.options["default_time_to_live"] == 3600
    assert "TimeWindowCompactionStrategy" in table.options["compaction"]["class"]
    assert cluster.metadata.keyspaces["wk"].replication_strategy.replication_factor == 1


async def test_protocol_version_negotiated_down_to_v4(
    server: CqlServer, connect: Callable[..., Any]
) -> None:
    sess: Session = await connect(protocol_version=None)
    assert sess.cluster.protocol_version == 4
    assert await run(sess, "SELECT release_version FROM system.local") == [("4.1.5",)]


async def test_password_authenticator(clock: Clock) -> None:
    async with CqlServer(users={"wattkeeper": "s3cret"}, clock=clock) as srv:
        good = make_cluster(srv, auth_provider=PlainTextAuthProvider("wattkeeper", "s3cret"))
        bad = make_cluster(srv, auth_provider=PlainTextAuthProvider("wattkeeper", "wrong"))
        anonymous = make_cluster(srv)
        try:
            sess = await asyncio.to_thread(good.connect)
            assert await run(sess, "SELECT key FROM system.local") == [("local",)]
            with pytest.raises(NoHostAvailable) as bad_err:
                await asyncio.to_thread(bad.connect)
            with pytest.raises(NoHostAvailable) as anon_err:
                await asyncio.to_thread(anonymous.connect)
        finally:
            for cluster in (good, bad, anonymous):
                await asyncio.to_thread(cluster.shutdown)
    (bad_cause,) = bad_err.value.errors.values()
    assert isinstance(bad_cause, AuthenticationFailed)
    assert "incorrect" in str(bad_cause)
    (anon_cause,) = anon_err.value.errors.values()
    assert isinstance(anon_cause, AuthenticationFailed)


# Reads and writes


async def test_prepared_writes_and_partition_reads(server: CqlServer, session: Session) -> None:
    insert = await asyncio.to_thread(session.prepare, INSERT)
    assert insert.routing_key_indexes == [0, 1]  # the driver can route by token
    for second in range(10):
        await run(session, insert, ("p1", DAY, stamp(second), float(second)))
    await run(session, insert, ("p1", DAY, stamp(3), 33.0))  # an upsert, not a second row
    await run(session, insert, ("p1", DAY + dt.timedelta(days=1), stamp(0), 99.0))

    rows = await run(
        session,
        "SELECT ts, value FROM wk.samples WHERE series = %s AND day = %s AND ts >= %s AND ts < %s",
        ("p1", DAY, stamp(2), stamp(5)),
    )
    assert rows == [(stamp(2), 2.0), (stamp(3), 33.0), (stamp(4), 4.0)]
    newest = await run(
        session,
        "SELECT value FROM wk.samples WHERE series = 'p1' AND day = '2024-03-01' "
        "ORDER BY ts DESC LIMIT 2",
    )
    assert newest == [(9.0,), (8.0,)]
    count = await run(
        session,
        "SELECT count(*), min(value), max(value) FROM wk.samples "
        "WHERE series = 'p1' AND day = '2024-03-01'",
    )
    assert count == [(10, 0.0, 33.0)]
    assert sorted(r["value"] for r in server.store.rows_of("wk", "samples")) == [
        0.0, 1.0, 2.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 33.0, 99.0,
    ]  # fmt: skip


async def test_update_and_range_delete(session: Session) -> None:
    await run(
        session,
        "CREATE TABLE wk.sites (site text PRIMARY KEY, last_seen timestamp, backlog bigint)",
    )
    await run(session, "UPDATE wk.sites SET backlog = 5 WHERE site = 'home'")
    await run(session, "UPDATE wk.sites SET last_seen = %s WHERE site = 'home'", (stamp(1),))
    assert await run(session, "SELECT site, backlog, last_seen FROM wk.sites") == [
        ("home", 5, stamp(1))
    ]
    insert = await asyncio.to_thread(session.prepare, INSERT)
    for second in range(6):
        await run(session, insert, ("d", DAY, stamp(second), 1.0))
    await run(
        session,
        "DELETE FROM wk.samples WHERE series = 'd' AND day = '2024-03-01' "
        "AND ts >= '2024-03-01 00:00:01+0000' AND ts < '2024-03-01 00:00:04+0000'",
    )
    remaining = await run(
        session, "SELECT ts FROM wk.samples WHERE series = 'd' AND day = %s", (DAY,)
    )
    assert remaining == [(stamp(0),), (stamp(4),), (stamp(5),)]
    await run(session, "DELETE FROM wk.samples WHERE series = 'd' AND day = %s", (DAY,))
    assert (
        await run(session, "SELECT * FROM wk.samples WHERE series = 'd' AND day = %s", (DAY,)) == []
    )


async def test_ttl_expires_rows(clock: Clock, session: Session) -> None:
    await run(session, INSERT.replace("?", "%s"), ("t", DAY, stamp(0), 1.0))  # table TTL 3600
    await run(session, INSERT.replace("?", "%s") + " USING TTL 60", ("t", DAY, stamp(1), 2.0))
    await run(session, INSERT.replace("?", "%s") + " USING TTL 0", ("t", DAY, stamp(2), 3.0))
    query = "SELECT value, ttl(value) FROM wk.samples WHERE series = 't' AND day = '2024-03-01'"
    assert await run(session, query) == [(1.0, 3600), (2.0, 60), (3.0, None)]
    clock.now += 61
    assert [r[0] for r in await run(session, query)] == [1.0, 3.0]
    clock.now += 3600
    assert [r[0] for r in await run(session, query)] == [3.0]


async def test_paging_returns_every_row(session: Session) -> None:
    insert = await asyncio.to_thread(session.prepare, INSERT)
    for second in range(25):
        await run(session, insert, ("pg", DAY, stamp(second), float(second)))
    statement = SimpleStatement(
        "SELECT value FROM wk.samples WHERE series = 'pg' AND day = '2024-03-01'", fetch_size=7
    )
    assert [r[0] for r in await run(session, statement)] == [float(s) for s in range(25)]


# Partition discipline


async def test_queries_that_need_filtering_are_refused(session: Session) -> None:
    for query in (
        "SELECT * FROM wk.samples WHERE value > 1",
        "SELECT * FROM wk.samples WHERE series = 'x'",  # half a partition key
        "SELECT * FROM wk.samples WHERE ts > '2024-03-01'",
    ):
        with pytest.raises(InvalidRequest, match="ALLOW FILTERING"):
            await run(session, query)
    # With ALLOW FILTERING Cassandra runs it (and so does the double), and the log says so.
    assert await run(session, "SELECT * FROM wk.samples WHERE value > 1 ALLOW FILTERING") == []


async def test_batches_are_recorded_with_their_partitions(
    server: CqlServer, session: Session
) -> None:
    insert = await asyncio.to_thread(session.prepare, INSERT)
    batch = BatchStatement(batch_type=BatchType.UNLOGGED)
    for second in range(3):
        batch.add(insert, ("b", DAY, stamp(second), 1.0))
    await run(session, batch)
    spread = BatchStatement(batch_type=BatchType.UNLOGGED)
    for index in range(12):
        spread.add(insert, (f"s{index}", DAY, stamp(0), 1.0))
    future = await asyncio.to_thread(session.execute_async, spread)
    await asyncio.to_thread(future.result)

    batches = [r for r in server.user_statements() if r.opcode == "BATCH"]
    assert [(r.batch_type, len(r.partitions)) for r in batches] == [
        ("UNLOGGED", 1),
        ("UNLOGGED", 12),
    ]
    assert batches[0].partitions == (("b", (DAY - dt.date(1970, 1, 1)).days),)
    assert future.warnings is not None
    assert "Unlogged batch covering 12 partitions" in future.warnings[0]


async def test_oversized_batch_fails(session: Session) -> None:
    insert = await asyncio.to_thread(
        session.prepare, "INSERT INTO wk.samples (series, day, ts, value) VALUES ('big', ?, ?, ?)"
    )
    batch = BatchStatement(batch_type=BatchType.UNLOGGED)
    for second in range(60 * 60):  # 3 600 rows of 16 bytes: past the 50 KiB limit
        batch.add(insert, (DAY, stamp(0) + dt.timedelta(seconds=second), 1.0))
    with pytest.raises(InvalidRequest, match="Batch too large"):
        await run(session, batch)


async def test_unknown_statements_get_error_frames(session: Session) -> None:
    with pytest.raises(SyntaxException):
        await run(session, "CREATE MATERIALIZED VIEW wk.v AS SELECT * FROM wk.samples")
    with pytest.raises(InvalidRequest, match="does not exist"):
        await run(session, "SELECT * FROM wk.nope")
    with pytest.raises(InvalidRequest, match="Undefined column name"):
        await run(session, "INSERT INTO wk.samples (series, day, ts, nope) VALUES ('a', 1, 1, 1)")
    with pytest.raises(ConfigurationException, match="Unrecognized strategy option"):
        await run(
            session,
            "CREATE KEYSPACE far WITH replication = "
            "{'class': 'NetworkTopologyStrategy', 'dc-nowhere': 3}",
        )


# Consistency, faults, permissions


async def test_consistency_checked_against_replication(session: Session) -> None:
    await run(
        session,
        "CREATE KEYSPACE rf3 WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 3}",
    )
    await run(session, "CREATE TABLE rf3.t (k text PRIMARY KEY, v int)")
    quorum = SimpleStatement(
        "INSERT INTO rf3.t (k, v) VALUES ('a', 1)", consistency_level=ConsistencyLevel.LOCAL_QUORUM
    )
    with pytest.raises(NoHostAvailable) as err:  # the driver's retry policy tried "next host"
        await run(session, quorum)
    (cause,) = err.value.errors.values()
    assert isinstance(cause, Unavailable)
    assert (cause.required_replicas, cause.alive_replicas) == (2, 1)
    one = SimpleStatement(
        "INSERT INTO rf3.t (k, v) VALUES ('a', 1)", consistency_level=ConsistencyLevel.LOCAL_ONE
    )
    await run(session, one)


async def test_injected_faults(server: CqlServer, session: Session) -> None:
    insert = await asyncio.to_thread(session.prepare, INSERT)
    server.fail_next(1, Fault.WRITE_TIMEOUT)
    with pytest.raises(WriteTimeout):
        await run(session, insert, ("f", DAY, stamp(0), 1.0))
    server.fail_next(1, Fault.UNAVAILABLE)
    with pytest.raises(NoHostAvailable) as err:
        await run(session, insert, ("f", DAY, stamp(1), 2.0))
    assert isinstance(next(iter(err.value.errors.values())), Unavailable)
    await run(session, insert, ("f", DAY, stamp(2), 3.0))
    # A write timeout may still have written, like on a real cluster; unavailable never does.
    assert [r["value"] for r in server.store.rows_of("wk", "samples")] == [1.0, 3.0]
    assert [r.error for r in server.user_statements()[-3:]] == [
        "WRITE_TIMEOUT",
        "UNAVAILABLE",
        None,
    ]


async def test_permissions(clock: Clock) -> None:
    srv = CqlServer(
        users={"admin": "a", "reader": "r"}, permissions={"reader": {"SELECT"}}, clock=clock
    )
    async with srv:
        admin = make_cluster(srv, auth_provider=PlainTextAuthProvider("admin", "a"))
        reader = make_cluster(srv, auth_provider=PlainTextAuthProvider("reader", "r"))
        try:
            sess = await asyncio.to_thread(admin.connect)
            await run(
                sess,
                "CREATE KEYSPACE wk WITH replication = "
                "{'class': 'SimpleStrategy', 'replication_factor': 1}",
            )
            await run(sess, SAMPLES)
            ro = await asyncio.to_thread(reader.connect)
            assert await run(ro, "SELECT * FROM wk.samples WHERE series = 'a' AND day = 0") == []
            with pytest.raises(
                Unauthorized, match=r"has no MODIFY permission on <table wk\.samples>"
            ):
                await run(
                    ro, "INSERT INTO wk.samples (series, day, ts, value) VALUES ('a', 0, 0, 1)"
                )
        finally:
            for cluster in (admin, reader):
                await asyncio.to_thread(cluster.shutdown)


# Restarts


async def wait_until_up(session: Session, query: str) -> list[Any]:
    """Retry until the driver has reconnected; bounded, so a broken double fails the test."""
    for _ in range(200):
        try:
            return await run(session, query)
        except NoHostAvailable:
            await asyncio.sleep(0.05)
    raise AssertionError("the driver never reconnected")


async def test_restart_keeps_data_and_driver_reprepares(
    server: CqlServer, session: Session
) -> None:
    insert = await asyncio.to_thread(session.prepare, INSERT)
    await run(session, insert, ("r", DAY, stamp(0), 1.0))
    await server.stop()
    with pytest.raises(NoHostAvailable):
        await run(session, insert, ("r", DAY, stamp(1), 2.0))
    await server.start()
    query = "SELECT value FROM wk.samples WHERE series = 'r' AND day = '2024-03-01'"
    assert await wait_until_up(session, query) == [(1.0,)]
    # The restarted node forgot its prepared statements; the driver prepares again on its own.
    await run(session, insert, ("r", DAY, stamp(1), 2.0))
    assert await run(session, query) == [(1.0,), (2.0,)]
    assert any(r.opcode == "PREPARE" for r in server.statements[-6:])


async def test_restart_without_data(server: CqlServer, session: Session) -> None:
    await run(session, INSERT.replace("?", "%s"), ("w", DAY, stamp(0), 1.0))
    await server.restart(keep_data=False)
    with pytest.raises(InvalidRequest, match="Keyspace wk does not exist"):
        await wait_until_up(session, "SELECT * FROM wk.samples WHERE series = 'w' AND day = 0")


async def test_read_faults_and_latency(server: CqlServer, session: Session) -> None:
    query = "SELECT * FROM wk.samples WHERE series = 'x' AND day = 0"
    server.fail_next(1, Fault.READ_TIMEOUT)
    with pytest.raises(ReadTimeout):
        await run(session, query)
    server.fail_next(1, Fault.OVERLOADED)
    with pytest.raises(NoHostAvailable) as err:
        await run(session, query)
    assert "overloaded" in str(err.value)
    server.latency = 0.05  # answered later, by a task the server owns
    assert await run(session, query) == []
    assert [r.error for r in server.user_statements()[-3:]] == ["READ_TIMEOUT", "OVERLOADED", None]
