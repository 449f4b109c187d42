"""What the Cassandra backend does beyond the shared contract: the CQL it emits, TTLs,
errors that say what is wrong, permissions, TLS, outages; all over real sockets."""

from __future__ import annotations

import asyncio
import json
import math
import socket
import sys
import threading
import time
import uuid
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cassandra.io.asyncioreactor import AsyncioConnection
from cassandra.query import BatchStatement
from cassandra.util import Date

from custom_components.wattkeeper.recorder import (
    BackendAuthError,
    BackendError,
    BackendUnavailableError,
    RollupPeriod,
    StatisticPeriod,
    StatisticRow,
)
from custom_components.wattkeeper.recorder.cassandra_backend import CassandraBackend, series_id
from custom_components.wattkeeper.recorder.cassandra_batches import partition_batches
from custom_components.wattkeeper.recorder.cassandra_config import CassandraConfig
from custom_components.wattkeeper.recorder.cassandra_session import (
    CassandraSession,
    connection_class,
)
from custom_components.wattkeeper.recorder.cassandra_statements import Statements
from custom_components.wattkeeper.recorder.timeconv import DAY_US, from_us, to_us
from simulators.cql import CqlServer, Fault
from simulators.cql_tls import CqlTls

from .data import ENERGY, POWER, SECOND, SITE, batch
from .reference import rollups as reference_rollups
from .test_cassandra_contract import cassandra_config, start_driver_reactor

# Two UTC days: 23:00 to 01:00 crosses a partition boundary of `samples`.
START = datetime(2024, 5, 6, 23, 0, tzinfo=UTC)
START_US = to_us(START)
FAR = (START - timedelta(days=40), START + timedelta(days=40))


def readings(count: int, step: int = SECOND, base: float = 100.0) -> list[tuple[int, float]]:
    return [(START_US + i * step, base + i / 10) for i in range(count)]


TTL_OF = "SELECT ttl(value) FROM {ks}.samples WHERE series = %s AND day = %s AND ts = %s"
EXPIRE = "DELETE FROM {ks}.samples WHERE series = %s AND day = %s AND ts >= %s AND ts < %s"


@pytest.fixture(scope="session", autouse=True)
def _driver_reactor() -> None:
    start_driver_reactor()


@pytest.fixture
async def cql_server() -> AsyncIterator[CqlServer]:
    async with CqlServer() as server:
        yield server


@pytest.fixture
async def opened(cql_server: CqlServer) -> AsyncIterator[CassandraBackend]:
    backend = CassandraBackend(cassandra_config(cql_server, time_zone="Europe/Brussels"))
    await backend.open()
    yield backend
    await backend.close()


async def expect_open_error(config: CassandraConfig) -> BackendError:
    backend = CassandraBackend(config)
    try:
        with pytest.raises(BackendError) as err:
            await backend.open()
    finally:
        await backend.close()
    return err.value


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# Schema and emitted CQL


async def test_schema_is_shaped_by_partitions(
    cql_server: CqlServer, opened: CassandraBackend
) -> None:
    tables = cql_server.store.keyspaces[opened.config.keyspace].tables
    samples = tables["samples"]
    assert [c.name for c in samples.partition_key] == ["series", "day"]
    assert [c.name for c in samples.clustering] == ["ts"]
    assert samples.options["compaction"] == {
        "class": "org.apache.cassandra.db.compaction.TimeWindowCompactionStrategy",
        "compaction_window_unit": "DAYS",
        "compaction_window_size": "1",
    }
    assert samples.options["default_time_to_live"] == 0  # the harness keeps raw data
    assert [c.name for c in tables["rollups"].partition_key] == ["series", "period", "year"]
    assert [c.name for c in tables["ha_statistics"].partition_key] == [
        "site", "statistic_id", "period", "month",
    ]  # fmt: skip
    replication = cql_server.store.keyspaces[opened.config.keyspace].replication
    assert replication == {
        "class": "org.apache.cassandra.locator.SimpleStrategy",
        "replication_factor": "1",
    }


async def test_emitted_cql_respects_partitions(
    cql_server: CqlServer, opened: CassandraBackend
) -> None:
    """Every kind of work, across a UTC midnight: no ALLOW FILTERING, no batch across
    partitions, no server warning, and every statement names one partition (but the
    read of the one-row-per-household `sites` table)."""
    statistic = StatisticRow(
        site=SITE, statistic_id="sensor.energy", period=StatisticPeriod.HOUR, start=START, sum=1.0
    )
    two_hours = 3600  # readings every 2 s, 23:00 to 01:00
    rows = {
        POWER: readings(two_hours, step=2 * SECOND),
        ENERGY: readings(two_hours, step=2 * SECOND, base=5000.0),
    }
    cql_server.statements.clear()
    result = await opened.write(batch(rows, [statistic]))
    assert result.samples_written == 2 * two_hours
    assert (await opened.write(batch(rows))).samples_duplicate == 2 * two_hours
    await opened.heartbeat(SITE, "0.1.0", 0)
    assert len(await opened.read_samples(POWER.key, *FAR)) == two_hours
    assert await opened.read_rollups(ENERGY.key, RollupPeriod.MONTH, *FAR)
    assert await opened.read_statistics(SITE, "sensor.energy", StatisticPeriod.HOUR, *FAR)
    assert len(await opened.read_sites()) == 1
    assert await opened.recompute_rollups(START, START + timedelta(hours=2)) == 2 * 8
    deleted = await opened.apply_retention(1, now=START + timedelta(days=3))
    assert deleted == 2 * two_hours
    assert await opened.read_samples(POWER.key, *FAR) == []

    keyspace = opened.config.keyspace
    records = [r for r in cql_server.user_statements() if r.opcode != "PREPARE"]
    assert records
    for record in records:
        assert record.error is None, record
        assert record.warnings == (), record
        assert "ALLOW FILTERING" not in record.cql.upper(), record
        if record.opcode == "BATCH" and record.batch_type == "LOGGED":
            # Retention purges a bucket atomically: its aggregate in, its raw readings out.
            assert [cql.split()[0] for cql in record.statements] == ["INSERT", "DELETE"], record
            assert f"{keyspace}.purged " in record.statements[0], record
            assert f"{keyspace}.samples " in record.statements[1], record
            assert len(record.partitions) == 2, record
        elif record.opcode == "BATCH":
            assert record.batch_type == "UNLOGGED", record
            assert len(record.partitions) == 1, record
            assert len(record.statements) <= opened.config.batch_rows
        elif record.table == f"{keyspace}.sites" and record.cql.startswith("SELECT"):
            assert " WHERE " not in record.cql  # read whole: one row per household
        elif record.table != f"{keyspace}.schema_migrations":
            assert len(record.partitions) == 1, record
    batches = [r for r in records if r.opcode == "BATCH" and r.batch_type == "UNLOGGED"]
    assert sum(len(r.statements) for r in batches) >= 2 * two_hours  # the samples went batched


async def test_statements_and_batches_are_idempotent(opened: CassandraBackend) -> None:
    session = CassandraSession(opened.config)
    await session.connect()
    try:
        statements = await Statements.prepare(session)
    finally:
        await session.close()
    assert all(getattr(statements, name).is_idempotent for name in statements.__slots__)
    rows = [(("a", 1), ("a", Date(1), i, 1.0, 0)) for i in range(5)]
    rows += [(("b", 1), ("b", Date(1), 0, 1.0, 0))]
    requests = list(partition_batches(statements.insert_sample, rows, max_rows=2))
    assert [type(r[0]).__name__ for r in requests] == [
        "BatchStatement", "BatchStatement", "PreparedStatement", "PreparedStatement",
    ]  # fmt: skip
    assert all(r[0].is_idempotent for r in requests if isinstance(r[0], BatchStatement))


# Retention


async def test_raw_readings_expire_with_their_age(cql_server: CqlServer) -> None:
    config = cassandra_config(cql_server, raw_retention_days=30)
    backend = CassandraBackend(config)
    await backend.open()
    now = datetime.now(UTC)
    ages = {"ten days": timedelta(days=10), "an hour": timedelta(hours=1)}
    stamps = {name: to_us(now - age) for name, age in ages.items()}
    too_old = to_us(now - timedelta(days=31))
    try:
        result = await backend.write(
            batch({POWER: [(too_old, 1.0), *((ts, 2.0) for ts in stamps.values())]})
        )
        assert result.samples_written == 3
        wide = (now - timedelta(days=40), now)
        stored = await backend.read_samples(POWER.key, *wide)
        assert [to_us(s.ts) for s in stored] == [too_old, *sorted(stamps.values())]
        old_quarter = (from_us(too_old - 900 * SECOND), from_us(too_old + 1))
        quarter = RollupPeriod.QUARTER_HOUR
        [old_bucket] = await backend.read_rollups(POWER.key, quarter, *old_quarter)
        assert old_bucket.count == 1
        session = CassandraSession(config)
        await session.connect()
        try:
            for name, ts in stamps.items():
                [(ttl,)] = await session.execute(
                    TTL_OF.format(ks=config.keyspace),
                    (series_id(POWER.key), Date(ts // DAY_US), ts),
                )
                expected = 30 * 86_400 - ages[name].total_seconds()
                assert math.isclose(ttl, expected, abs_tol=120), name
            # Past the retention: kept without a TTL (so a repeat is seen as one) until
            # retention folds it into its bucket's purged aggregate.
            [(ttl,)] = await session.execute(
                TTL_OF.format(ks=config.keyspace),
                (series_id(POWER.key), Date(too_old // DAY_US), too_old),
            )
            assert ttl is None
        finally:
            await session.close()
        assert (await backend.write(batch({POWER: [(too_old, 1.0)]}))).samples_duplicate == 1
        assert await backend.apply_retention(30) == 1
        assert [to_us(s.ts) for s in await backend.read_samples(POWER.key, *wide)] == sorted(
            stamps.values()
        )
        assert await backend.read_rollups(POWER.key, quarter, *old_quarter) == [old_bucket]
        table = cql_server.store.keyspaces[config.keyspace].tables["samples"]
        assert table.options["default_time_to_live"] == 30 * 86_400
    finally:
        await backend.close()


async def test_changed_retention_alters_the_table(cql_server: CqlServer) -> None:
    keyspace = f"wk_{uuid.uuid4().hex[:12]}"
    for days in (30, 7):
        backend = CassandraBackend(
            cassandra_config(cql_server, keyspace=keyspace, raw_retention_days=days)
        )
        await backend.open()
        await backend.close()
        table = cql_server.store.keyspaces[keyspace].tables["samples"]
        assert table.options["default_time_to_live"] == days * 86_400


# Errors the config flow shows


async def test_unreachable_cluster() -> None:
    config = CassandraConfig(
        contact_points=("127.0.0.1",), port=free_port(), reactor="asyncio", connect_timeout=1.0
    )
    err = await expect_open_error(config)
    assert isinstance(err, BackendUnavailableError)
    assert "cannot reach Cassandra at 127.0.0.1" in str(err)


async def test_credentials() -> None:
    async with CqlServer(users={"wattkeeper": "s3cret"}) as server:
        wrong = await expect_open_error(
            cassandra_config(server, username="wattkeeper", password="nope")
        )
        assert isinstance(wrong, BackendAuthError)
        assert "refused the username or password" in str(wrong)
        missing = await expect_open_error(cassandra_config(server))
        assert isinstance(missing, BackendAuthError)
        assert "requires a username and password" in str(missing)
        backend = CassandraBackend(
            cassandra_config(server, username="wattkeeper", password="s3cret")
        )
        await backend.open()
        await backend.check()
        await backend.close()


async def test_unknown_datacenter(cql_server: CqlServer) -> None:
    err = await expect_open_error(cassandra_config(cql_server, local_datacenter="eu-west"))
    assert "no datacenter named 'eu-west'; it has dc1" in str(err)
    err = await expect_open_error(cassandra_config(cql_server, replication={"eu-west": 3}))
    assert "Unrecognized strategy option {eu-west}" in str(err)


async def test_consistency_beyond_the_replicas(cql_server: CqlServer) -> None:
    config = cassandra_config(cql_server, replication={"dc1": 3})
    backend = CassandraBackend(config)  # LOCAL_QUORUM of 3 replicas needs 2; there is 1 node
    try:
        with pytest.raises(BackendUnavailableError, match="1 of 2 needed"):
            await backend.open()
    finally:
        await backend.close()


async def test_permissions_are_checked(cql_server: CqlServer) -> None:
    cql_server.users.update({"admin": "a", "writer": "w", "reader": "r"})
    cql_server.permissions.update({"writer": {"SELECT", "MODIFY"}, "reader": {"SELECT"}})
    keyspace = f"wk_{uuid.uuid4().hex[:12]}"

    def as_user(name: str, password: str) -> CassandraConfig:
        return cassandra_config(cql_server, keyspace=keyspace, username=name, password=password)

    # Without CREATE, a user cannot make the schema...
    denied = await expect_open_error(as_user("writer", "w"))
    assert isinstance(denied, BackendAuthError)
    assert "has no CREATE permission" in str(denied)
    admin = CassandraBackend(as_user("admin", "a"))
    await admin.open()
    await admin.close()
    # ...but once an operator made it, SELECT and MODIFY are enough.
    writer = CassandraBackend(as_user("writer", "w"))
    reader = CassandraBackend(as_user("reader", "r"))
    try:
        await writer.check()
        assert (await writer.write(batch({POWER: readings(10)}))).samples_written == 10
        await reader.open()
        with pytest.raises(BackendAuthError, match="has no MODIFY permission"):
            await reader.check()
    finally:
        await writer.close()
        await reader.close()


async def tls_scenario(folder: str) -> dict[str, str]:
    """Run in a child process: TLS needs the libev reactor, whose event-loop thread
    lives on after the driver shuts down and would trip the leaked-thread check here."""
    tls = CqlTls.create(Path(folder) / "good")
    stranger = CqlTls.create(Path(folder) / "other", name="Someone else's CA")
    outcome: dict[str, str] = {}
    async with CqlServer(ssl_context=tls.server_context) as server:
        tls_config = {"reactor": "libev", "connect_timeout": 1.0}
        backend = CassandraBackend(
            cassandra_config(server, tls_ca_file=str(tls.ca_file), **tls_config)
        )
        await backend.open()
        try:
            written = (await backend.write(batch({POWER: readings(5)}))).samples_written
            outcome["trusted"] = f"wrote {written}"
        finally:
            await backend.close()
        for name, ca_file in (("stranger", stranger.ca_file), ("absent", Path(folder) / "x")):
            other = CassandraBackend(
                cassandra_config(server, tls_ca_file=str(ca_file), **tls_config)
            )
            try:
                await other.open()
            except BackendError as err:
                outcome[name] = f"{type(err).__name__}: {err}"
            finally:
                await other.close()
    return outcome


async def test_tls_with_ca_file(tmp_path: Path) -> None:
    code = (
        "import asyncio, json, sys; from tests.recorder import test_cassandra_backend as t; "
        "print(json.dumps(asyncio.run(t.tls_scenario(sys.argv[1]))))"
    )
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, str(tmp_path), stdout=PIPE, stderr=PIPE
    )
    out, err = await child.communicate()
    assert child.returncode == 0, err.decode()[-2000:]
    outcome = json.loads(out.decode().splitlines()[-1])
    assert outcome["trusted"] == "wrote 5"
    assert outcome["stranger"].startswith("BackendUnavailableError: cannot reach Cassandra")
    assert "CERTIFICATE_VERIFY_FAILED" in outcome["stranger"]
    assert outcome["absent"].startswith("BackendError: cannot read the CA file")


def test_tls_refuses_the_asyncio_reactor() -> None:
    with pytest.raises(ValueError, match="TLS needs the libev reactor"):
        CassandraConfig(contact_points=("a",), tls_ca_file="/ca.pem", reactor="asyncio")


# Outages and faults


async def write_when_back(backend: CassandraBackend, rows: list[tuple[int, float]]) -> int:
    """Retry like the sender does (here without waiting long); bounded."""
    for _ in range(200):
        try:
            result = await backend.write(batch({POWER: rows}))
        except BackendUnavailableError:
            await asyncio.sleep(0.05)
        else:
            return result.samples_written + result.samples_duplicate
    raise AssertionError("the backend never recovered")


async def slow_proxy(target: int, delay: float) -> asyncio.Server:
    """A TCP hop to the double that holds every new connection `delay` seconds first."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def hop(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        await asyncio.sleep(delay)
        server_r, server_w = await asyncio.open_connection("127.0.0.1", target)
        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))

    return await asyncio.start_server(hop, "127.0.0.1", 0)


def scheduler_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "Task Scheduler"}


@pytest.mark.parametrize("phase", ["building", "connecting"])
async def test_open_cancelled_midway_leaves_no_driver_thread(
    cql_server: CqlServer, monkeypatch: pytest.MonkeyPatch, phase: str
) -> None:
    """Home Assistant unloading the entry while the driver builds the cluster (which starts
    its scheduler thread) or still connects: the cluster is shut down once the driver's
    thread returns, so none of its threads outlive it."""
    if phase == "building":
        build = CassandraSession._build_cluster

        def slow_build(self: CassandraSession) -> object:
            time.sleep(0.3)
            return build(self)

        monkeypatch.setattr(CassandraSession, "_build_cluster", slow_build)
    before = scheduler_threads()
    # Connections reach the double 0.3 s late: a cancel at 0.1 s finds the cluster's
    # build or its connect still running in the driver's thread.
    proxy = await slow_proxy(cql_server.port, 0.3 if phase == "connecting" else 0)
    port = proxy.sockets[0].getsockname()[1]
    backend = CassandraBackend(cassandra_config(cql_server, port=port))
    opening = asyncio.create_task(backend.open())
    await asyncio.sleep(0.1)
    opening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await opening
    await asyncio.sleep(0.5)  # a thread left running would have finished by now
    assert scheduler_threads() - before == set()
    await backend.close()
    proxy.close()
    await proxy.wait_closed()


async def test_outage_then_recovery_stores_everything_once(
    cql_server: CqlServer, opened: CassandraBackend
) -> None:
    first, second = readings(100), readings(100, base=500.0)[50:] + readings(160)[100:]
    await opened.write(batch({POWER: first}))
    await cql_server.stop()
    with pytest.raises(BackendUnavailableError):
        await opened.write(batch({POWER: second}))
    await cql_server.start()
    assert await write_when_back(opened, second) == len(second)
    stored = await opened.read_samples(POWER.key, *FAR)
    assert len(stored) == 160
    assert len({s.ts for s in stored}) == 160


async def test_write_timeout_then_replay(cql_server: CqlServer, opened: CassandraBackend) -> None:
    rows = readings(1000)
    await opened.write(batch({POWER: rows[:1]}))
    cql_server.fail_next(1, Fault.WRITE_TIMEOUT)  # applied, but reported as timed out
    with pytest.raises(BackendUnavailableError, match="did not answer in time"):
        await opened.write(batch({POWER: rows}))
    again = await opened.write(batch({POWER: rows}))
    assert again.samples_written + again.samples_duplicate == 1000
    assert len(await opened.read_samples(POWER.key, *FAR)) == 1000
    [hour] = await opened.read_rollups(POWER.key, RollupPeriod.HOUR, *FAR)
    assert hour.count == 1000


# Configuration


def test_config_checks_and_replication() -> None:
    config = CassandraConfig(contact_points=("10.0.0.5",), password="secret", username="wk")
    assert "secret" not in repr(config)
    assert config.replication_cql == "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    multi = CassandraConfig(contact_points=("a",), replication={"eu": 3, "us": 2})
    assert multi.replication_cql == "{'class': 'NetworkTopologyStrategy', 'eu': 3, 'us': 2}"
    for bad in (
        {"contact_points": ()},
        {"keyspace": "1abc"},
        {"keyspace": "drop table x"},
        {"consistency": "SOME"},
        {"username": "only-user"},
        {"replication": {"dc'1": 3}},
        {"time_zone": "Mars/Olympus"},
        {"reactor": "twisted"},
        {"raw_retention_days": -1},
    ):
        with pytest.raises(ValueError):  # noqa: PT011  (each names its own problem)
            CassandraConfig(**{"contact_points": ("a",), **bad})  # type: ignore[arg-type]


def test_retention_beyond_the_longest_ttl_is_refused() -> None:
    assert CassandraConfig(contact_points=("a",), raw_retention_days=7300).raw_ttl_seconds == (
        630_720_000
    )
    with pytest.raises(ValueError, match="longest TTL of 7300 days"):
        CassandraConfig(contact_points=("a",), raw_retention_days=7301)


async def test_one_bound_on_requests_in_flight_for_the_whole_session(
    cql_server: CqlServer,
) -> None:
    """Single statements and several concurrent `execute_all`s share `max_in_flight`."""
    session = CassandraSession(cassandra_config(cql_server, max_in_flight=3))
    await session.connect()
    try:
        keyspace = session.config.keyspace
        await session.execute(
            f"CREATE KEYSPACE {keyspace} WITH replication = "
            "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        )
        await session.execute(f"CREATE TABLE {keyspace}.t (k int PRIMARY KEY, v int)")
        insert = f"INSERT INTO {keyspace}.t (k, v) VALUES (%s, %s)"  # noqa: S608
        cql_server.latency = 0.05
        jobs = [session.execute_all((insert, (k, i)) for k in range(8)) for i in range(3)]
        singles = [session.execute(insert, (100 + k, 0)) for k in range(6)]
        await asyncio.gather(*jobs, *singles)
        assert cql_server.peak_in_flight == 3
        rows = await session.execute(f"SELECT k FROM {keyspace}.t")  # noqa: S608
        assert len(rows) == 8 + 6
        assert cql_server.in_flight == 0
    finally:
        cql_server.latency = 0.0
        await session.close()


def test_reactor_choice() -> None:
    assert connection_class("asyncio") is AsyncioConnection
    try:
        from cassandra.io.libevreactor import LibevConnection
    except ImportError:
        assert connection_class("auto") is AsyncioConnection
    else:
        assert connection_class("auto") is LibevConnection


# The check research teams run against their real cluster


async def test_cluster_check_script_passes_against_a_cluster(cql_server: CqlServer) -> None:
    script = Path(__file__).parents[2] / "scripts" / "check_cassandra_cluster.py"
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(script), "127.0.0.1", "--port", str(cql_server.port), "--dc", "dc1",
        stdout=PIPE, stderr=PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    report = out.decode()
    assert "wrote 1200 readings; a replay stored none again" in report
    assert "read 600 readings back; hourly rollup of 600 readings" in report
    assert report.rstrip().endswith("the cluster is ready for Wattkeeper")
    assert not [ks for ks in cql_server.store.keyspaces if ks.startswith("wattkeeper_check_")]


async def test_counter_rollups_across_a_year_boundary(cql_server: CqlServer) -> None:
    """Rollup partitions are per UTC year: the reading before a bucket and the bucket
    after a late reading are found in the neighbouring year's partition too."""
    backend = CassandraBackend(cassandra_config(cql_server, time_zone="Europe/Brussels"))
    await backend.open()
    new_year = to_us(datetime(2024, 1, 1, tzinfo=UTC))
    old = {new_year - 20 * 60 * SECOND: 10.0, new_year - 5 * 60 * SECOND: 12.0}
    new = {new_year + 5 * 60 * SECOND: 15.0, new_year + 20 * 60 * SECOND: 15.5}
    try:
        await backend.write(batch({ENERGY: list(new.items())}))
        await backend.write(batch({ENERGY: list(old.items())}))  # late, into 2023
        moments = {from_us(ts): v for ts, v in (old | new).items()}
        expected = reference_rollups(moments, counter=True, time_zone="Europe/Brussels")
        around = (from_us(new_year) - timedelta(days=40), from_us(new_year) + timedelta(days=40))
        for period in RollupPeriod:
            stored = await backend.read_rollups(ENERGY.key, period, *around)
            assert [(r.start, r.count) for r in stored] == [
                (start, bucket.count) for start, bucket in sorted(expected[period].items())
            ], period
            assert [r.delta for r in stored] == pytest.approx(
                [bucket.delta for _, bucket in sorted(expected[period].items())]
            ), period
    finally:
        await backend.close()


async def test_late_reading_into_a_bucket_whose_readings_expired(
    cql_server: CqlServer, opened: CassandraBackend
) -> None:
    """Raw readings gone by their TTL (removed here behind the backend's back): the
    bucket's stored rollup becomes its purged aggregate, and a late reading adds to it."""
    minute = 60 * SECOND
    rows = [(START_US + i * minute, 100.0 + i) for i in range(10)]
    nxt = [(START_US + 20 * minute, 120.0)]
    await opened.write(batch({ENERGY: rows + nxt}))
    session = CassandraSession(opened.config)
    await session.connect()
    try:
        await session.execute(
            EXPIRE.format(ks=opened.config.keyspace),
            (series_id(ENERGY.key), Date(START_US // DAY_US), START_US, START_US + 900 * SECOND),
        )
    finally:
        await session.close()
    late = batch({ENERGY: [(START_US + 14 * minute, 112.0)]})
    assert (await opened.write(late)).samples_written == 1
    expected = reference_rollups(
        {from_us(ts): value for ts, value in [*rows, *nxt, (START_US + 14 * minute, 112.0)]},
        counter=True,
        time_zone="Europe/Brussels",
    )
    for period in (RollupPeriod.QUARTER_HOUR, RollupPeriod.HOUR, RollupPeriod.DAY):
        stored = await opened.read_rollups(ENERGY.key, period, *FAR)
        assert [(r.start, r.count, r.first, r.last) for r in stored] == [
            (start, b.count, b.first, b.last) for start, b in sorted(expected[period].items())
        ], period
        assert [r.delta for r in stored] == pytest.approx(
            [b.delta for _, b in sorted(expected[period].items())]
        )
    quarters = await opened.read_rollups(ENERGY.key, RollupPeriod.QUARTER_HOUR, *FAR)
    assert (await opened.write(late)).samples_duplicate == 1
    await opened.recompute_rollups(*FAR)
    assert await opened.read_rollups(ENERGY.key, RollupPeriod.QUARTER_HOUR, *FAR) == quarters
