"""Benchmark: readings per second into Cassandra through the real cassandra-driver.

The CQL test double runs in its own process (so its CPU is not ours), and three
ways of writing the same kind of 1-second readings are timed in one run:

- baseline: one synchronous `session.execute` of a prepared INSERT per reading,
  what a simple logger (and Home Assistant's LTSS-style recorders) do;
- concurrent: the backend's write path alone: unlogged single-partition batches
  of prepared, idempotent INSERTs, up to `max_in_flight` requests at once;
- backend: `CassandraBackend.write` end to end, which also reads the touched
  15-minute buckets (duplicate check) and writes every rollup they touch.

The double is Python, so absolute figures say little about a real cluster; the
ratios say what the async path buys. Writes bench/results/cassandra_write.json.

    .venv/bin/python bench/cassandra_write.py [--series 20] [--seconds 1800] [--baseline 4000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile  # noqa: E402
from cassandra.policies import DCAwareRoundRobinPolicy  # noqa: E402
from cassandra.util import Date  # noqa: E402

from custom_components.wattkeeper.meters.model import (  # noqa: E402
    MeterIdentity,
    MeterKind,
    Quantity,
    QuantityKey,
)
from custom_components.wattkeeper.recorder import RecordBatch, SeriesInfo  # noqa: E402
from custom_components.wattkeeper.recorder.cassandra_backend import (  # noqa: E402
    CassandraBackend,
    series_id,
)
from custom_components.wattkeeper.recorder.cassandra_batches import (  # noqa: E402
    partition_batches,
)
from custom_components.wattkeeper.recorder.cassandra_config import CassandraConfig  # noqa: E402
from custom_components.wattkeeper.recorder.cassandra_session import (  # noqa: E402
    CassandraSession,
    connection_class,
)
from custom_components.wattkeeper.recorder.cassandra_statements import (  # noqa: E402
    CQL,
    Statements,
)
from custom_components.wattkeeper.recorder.timeconv import DAY_US, SECOND_US, to_us  # noqa: E402

RETENTION_DAYS = 30


def start_double() -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "simulators.cql", "--port", "0", "--no-log"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # "CQL test double listening on 127.0.0.1:PORT"
    return process, int(line.rsplit(":", 1)[1])


def series_infos(count: int) -> list[SeriesInfo]:
    meter = MeterIdentity(
        kind=MeterKind.HOMEWIZARD, serial="bench", model="HWE-P1", manufacturer="HomeWizard",
        name="P1",
    )  # fmt: skip
    keys = [QuantityKey(Quantity.POWER, phase=i) for i in range(count // 2)]
    keys += [QuantityKey(Quantity.ENERGY_IMPORT, tariff=i) for i in range(count - len(keys))]
    return [SeriesInfo.for_meter("bench", meter, key) for key in keys]


def readings(
    infos: list[SeriesInfo], seconds: int, start: datetime
) -> list[tuple[int, int, float]]:
    """(series index, µs, value): every series once a second, like 1-second meters."""
    base = to_us(start)
    return [
        (index, base + second * SECOND_US, 1000.0 + index + second / 1000)
        for second in range(seconds)
        for index in range(len(infos))
    ]


def config(port: int, **overrides: Any) -> CassandraConfig:
    settings: dict[str, Any] = {
        "contact_points": ("127.0.0.1",),
        "port": port,
        "local_datacenter": "dc1",
        "keyspace": f"bench_{uuid.uuid4().hex[:10]}",
        "raw_retention_days": RETENTION_DAYS,
        "request_timeout": 60.0,
    }
    settings.update(overrides)
    return CassandraConfig(**settings)


def insert_values(
    infos: list[SeriesInfo], rows: list[tuple[int, int, float]]
) -> list[tuple[tuple[str, int], tuple[Any, ...]]]:
    """(partition, bind values) for the samples INSERT, with the TTL the backend uses."""
    now = to_us(datetime.now(UTC))
    ids = [series_id(info.key) for info in infos]
    out = []
    for index, ts, value in rows:
        ttl = RETENTION_DAYS * 86_400 - (now - ts) // SECOND_US
        out.append(((ids[index], ts // DAY_US), (ids[index], Date(ts // DAY_US), ts, value, ttl)))
    return out


async def prepared_session(cfg: CassandraConfig) -> tuple[CassandraSession, Statements]:
    """A keyspace with the backend's schema, and the backend's prepared statements."""
    backend = CassandraBackend(cfg)
    await backend.open()  # creates keyspace and tables
    await backend.close()
    session = CassandraSession(cfg)
    await session.connect()
    return session, await Statements.prepare(session)


def run_baseline(cfg: CassandraConfig, values: list[tuple[Any, ...]]) -> float:
    """One synchronous execute per reading, on a plain driver session."""
    profile = ExecutionProfile(load_balancing_policy=DCAwareRoundRobinPolicy("dc1"))
    cluster = Cluster(
        list(cfg.contact_points),
        port=cfg.port,
        protocol_version=4,
        connection_class=connection_class(cfg.reactor),
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
    )
    session = cluster.connect()
    try:
        insert = session.prepare(CQL["insert_sample"].format(ks=cfg.keyspace))
        started = time.perf_counter()
        for bound in values:
            session.execute(insert, bound)
        return len(values) / (time.perf_counter() - started)
    finally:
        cluster.shutdown()


async def run_concurrent(cfg: CassandraConfig, infos: list[SeriesInfo], rows: Any) -> float:
    session, statements = await prepared_session(cfg)
    try:
        values = insert_values(infos, rows)
        started = time.perf_counter()
        await session.execute_all(
            partition_batches(statements.insert_sample, values, cfg.batch_rows)
        )
        return len(values) / (time.perf_counter() - started)
    finally:
        await session.close()


async def run_backend(
    cfg: CassandraConfig, infos: list[SeriesInfo], rows: Any, batch_size: int
) -> float:
    backend = CassandraBackend(cfg)
    await backend.open()
    series = dict(enumerate(infos))
    try:
        started = time.perf_counter()
        for offset in range(0, len(rows), batch_size):
            result = await backend.write(RecordBatch(series, rows[offset : offset + batch_size]))
            assert result.samples_written == len(rows[offset : offset + batch_size])
        return len(rows) / (time.perf_counter() - started)
    finally:
        await backend.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=1800, help="readings per series")
    parser.add_argument("--baseline", type=int, default=4000, help="readings, synchronous run")
    parser.add_argument("--batch", type=int, default=5000, help="readings per backend write")
    args = parser.parse_args()

    infos = series_infos(args.series)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    rows = readings(infos, args.seconds, start)
    process, port = start_double()
    try:
        base_cfg = config(port)
        session, _ = await prepared_session(base_cfg)
        await session.close()
        baseline_values = [v for _, v in insert_values(infos, rows[: args.baseline])]
        baseline = await asyncio.to_thread(run_baseline, base_cfg, baseline_values)
        concurrent = await run_concurrent(config(port), infos, rows)
        full = await run_backend(config(port), infos, rows, args.batch)
    finally:
        process.terminate()
        process.wait()

    result = {
        "reactor": connection_class("auto").__name__,
        "series": args.series,
        "readings": len(rows),
        "baseline_readings": len(baseline_values),
        "baseline_sync_execute_per_reading_per_s": round(baseline),
        "concurrent_batched_writes_per_s": round(concurrent),
        "backend_write_with_rollups_per_s": round(full),
        "ratio_concurrent_vs_baseline": round(concurrent / baseline, 2),
        "ratio_backend_vs_baseline": round(full / baseline, 2),
    }
    print(f"driver reactor: {result['reactor']}; CQL test double in its own process")
    print(f"baseline, one synchronous execute per reading: {baseline:10,.0f} readings/s")
    print(
        f"concurrent single-partition batches:           {concurrent:10,.0f} readings/s "
        f"({result['ratio_concurrent_vs_baseline']}× baseline)"
    )
    print(
        f"backend.write (dedupe reads + rollups):        {full:10,.0f} readings/s "
        f"({result['ratio_backend_vs_baseline']}× baseline)"
    )
    out = ROOT / "bench" / "results" / "cassandra_write.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
