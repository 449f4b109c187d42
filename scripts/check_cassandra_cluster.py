"""Checks the Cassandra backend against a real cluster: schema, writes, reads, rollups.

The test suite speaks CQL to a protocol double (no Cassandra server installs on
our machines); research teams run this against their cluster before pointing
households at it. It creates a throw-away keyspace and drops it again.

    .venv/bin/python scripts/check_cassandra_cluster.py node1,node2 --dc dc1 \
        --username wattkeeper --password secret

Exit code 0 when every step worked; the failing step and its error otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from custom_components.wattkeeper.meters.model import (
    MeterIdentity,
    MeterKind,
    Quantity,
    QuantityKey,
)
from custom_components.wattkeeper.recorder import (
    RecordBatch,
    RollupPeriod,
    SeriesInfo,
)
from custom_components.wattkeeper.recorder.cassandra_backend import (
    CassandraBackend,
)
from custom_components.wattkeeper.recorder.cassandra_config import (
    CassandraConfig,
)
from custom_components.wattkeeper.recorder.cassandra_session import (
    CassandraSession,
)
from custom_components.wattkeeper.recorder.timeconv import to_us

SITE = "cluster-check"
READINGS = 600  # ten minutes of 1-second readings per series


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("contact_points", help="comma-separated hosts of the cluster")
    parser.add_argument("--port", type=int, default=9042)
    parser.add_argument("--dc", default="datacenter1", help="the local datacenter")
    parser.add_argument("--username")
    parser.add_argument("--password")
    parser.add_argument("--ca-file", help="CA certificate for TLS")
    parser.add_argument("--consistency", default="LOCAL_QUORUM")
    return parser.parse_args()


def sample_batch(start: datetime) -> tuple[RecordBatch, SeriesInfo, SeriesInfo]:
    meter = MeterIdentity(
        kind=MeterKind.HOMEWIZARD, serial="checkcluster", model="HWE-P1",
        manufacturer="HomeWizard", name="Cluster check",
    )  # fmt: skip
    power = SeriesInfo.for_meter(SITE, meter, QuantityKey(Quantity.POWER))
    energy = SeriesInfo.for_meter(SITE, meter, QuantityKey(Quantity.ENERGY_IMPORT))
    t0 = to_us(start)
    samples = [(1, t0 + i * 1_000_000, 400.0 + i % 50) for i in range(READINGS)]
    samples += [(2, t0 + i * 1_000_000, 1000.0 + i / 3600) for i in range(READINGS)]
    return RecordBatch({1: power, 2: energy}, samples), power, energy


async def check(args: argparse.Namespace) -> None:
    config = CassandraConfig(
        contact_points=tuple(args.contact_points.split(",")),
        port=args.port,
        local_datacenter=args.dc,
        username=args.username,
        password=args.password,
        tls_ca_file=args.ca_file,
        consistency=args.consistency,
        keyspace=f"wattkeeper_check_{uuid.uuid4().hex[:8]}",
        site=SITE,
    )
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    window = (start - timedelta(days=1), start + timedelta(days=1))
    backend = CassandraBackend(config)
    print(f"connecting to {args.contact_points} (keyspace {config.keyspace})")
    await backend.open()
    try:
        await backend.check()
        print("schema and permissions: ok")
        records, power, energy = sample_batch(start)
        result = await backend.write(records)
        assert result.samples_written == 2 * READINGS, result
        replay = await backend.write(records)
        assert replay.samples_written == 0, replay
        print(f"wrote {result.samples_written} readings; a replay stored none again")
        stored = await backend.read_samples(power.key, *window)
        assert len(stored) == READINGS, len(stored)
        [hour] = await backend.read_rollups(energy.key, RollupPeriod.HOUR, *window)
        assert hour.count == READINGS, hour
        print(f"read {len(stored)} readings back; hourly rollup of {hour.count} readings")
    finally:
        session = CassandraSession(config)
        await session.connect()
        await session.execute(f"DROP KEYSPACE IF EXISTS {config.keyspace}")
        await session.close()
        await backend.close()
    print("the cluster is ready for Wattkeeper")


if __name__ == "__main__":
    asyncio.run(check(arguments()))
