"""Recorder throughput: readings per second from outbox append to committed in PostgreSQL.

Everything runs against one embedded PostgreSQL server (durable settings), in
one run:

- pipeline: `Outbox.append_samples` of the whole backlog (in chunks, as a
  catching-up site would) while a `Sender` drains it into the PostgreSQL
  backend, until `flush()` returns; includes staging, idempotent insert and the
  rollups of every touched bucket. Also timed: draining an outbox that already
  holds the backlog (after an outage).
- per-row baseline: one autocommitted INSERT per reading (what LTSS-style
  writers do), measured on a sample of the rows.
- bare COPY baseline (the ceiling): one COPY of the same rows into a table
  shaped like `samples` (same primary key), no staging, no conflict handling,
  no rollups; rows prepared before the clock starts.
- storage: bytes per reading in PostgreSQL, `pg_total_relation_size` of
  `samples` (heap, primary key, BRIN index, free-space and visibility maps, after
  a VACUUM) over the readings stored by the pipeline.

    .venv/bin/python bench/recorder_throughput.py            # 1 M readings, best of 3
    .venv/bin/python bench/recorder_throughput.py --rows 100000 --repeat 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from custom_components.wattkeeper.recorder import (  # noqa: E402
    Outbox,
    PostgresConfig,
    Sample,
    Sender,
    SeriesInfo,
    SslMode,
    create_backend,
)
from tests.recorder.pg_server import EmbeddedPostgres  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "recorder_throughput.json"
T0 = datetime(2025, 1, 1, tzinfo=UTC)
APPEND_CHUNK = 10_000
Row = tuple[int, datetime, float]
TABLE = """CREATE TABLE {name} (series integer NOT NULL, ts timestamptz NOT NULL,
    value double precision NOT NULL, PRIMARY KEY (series, ts))"""


def make_series(count: int) -> list[SeriesInfo]:
    return [
        SeriesInfo(site="bench", device=f"meter{i // 4}", meter_kind="homewizard",
                   quantity=("power", "voltage_l1", "current_l1", "energy_import_t1")[i % 4],
                   unit="W", is_counter=i % 4 == 3)
        for i in range(count)
    ]  # fmt: skip


def make_samples(series: list[SeriesInfo], rows: int) -> list[Sample]:
    """1 Hz readings of every series, counters increasing, others wandering. The readings
    of one second share one timestamp object, as those of one meter snapshot do."""
    width = len(series)
    moments = [T0 + timedelta(seconds=second) for second in range(-(-rows // width))]
    return [
        Sample(series[i % width].key, moments[i // width],
               (i // width) * 0.001 if series[i % width].is_counter else 230.0 + (i % 97) / 10)
        for i in range(rows)
    ]  # fmt: skip


async def create_database(server: EmbeddedPostgres, name: str) -> PostgresConfig:
    admin = await asyncpg.connect(server.dsn())
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return PostgresConfig(
        host=server.host, port=server.port, database=name, user="postgres",
        ssl_mode=SslMode.DISABLE,
    )  # fmt: skip


async def run_pipeline(
    config: PostgresConfig,
    folder: Path,
    series: list[SeriesInfo],
    samples: list[Sample],
    batch_size: int,
    *,
    prefill: bool,
) -> tuple[float, dict[str, int]]:
    """Seconds from the first append (or, with prefill, from starting the sender) to the
    last commit; and the sizes of `samples` in bytes."""
    outbox = Outbox(folder / f"outbox-{prefill}.db")
    await outbox.open()
    await outbox.register_series(*series)
    backend = create_backend(config)
    await backend.open()
    sender = Sender(outbox, backend, site="bench", batch_size=batch_size)
    if prefill:
        for start in range(0, len(samples), APPEND_CHUNK):
            await outbox.append_samples(samples[start : start + APPEND_CHUNK])
    started = time.perf_counter()
    await sender.start()
    if not prefill:
        for start in range(0, len(samples), APPEND_CHUNK):
            await outbox.append_samples(samples[start : start + APPEND_CHUNK])
    if not await sender.flush(timeout=3600):
        raise RuntimeError("the sender did not drain the outbox")
    elapsed = time.perf_counter() - started
    await sender.stop()
    await backend.close()
    await outbox.close()
    conn = await asyncpg.connect(
        host=config.host, port=config.port, database=config.database, user=config.user
    )
    try:
        stored = await conn.fetchval("SELECT count(*) FROM samples")
        await conn.execute("VACUUM samples")
        sizes = dict(
            await conn.fetchrow(
                "SELECT pg_total_relation_size('samples') AS total, "
                "pg_relation_size('samples') AS heap, pg_indexes_size('samples') AS indexes"
            )
        )
    finally:
        await conn.close()
    if stored != len(samples):
        raise RuntimeError(f"stored {stored} of {len(samples)} readings")
    return elapsed, sizes


def records_of(samples: list[Sample], series: list[SeriesInfo]) -> list[Row]:
    ids = {info.key: number for number, info in enumerate(series, start=1)}
    return [(ids[s.series], s.ts, s.value) for s in samples]


async def connect(config: PostgresConfig) -> asyncpg.Connection:
    return await asyncpg.connect(
        host=config.host, port=config.port, database=config.database, user=config.user
    )


async def run_bare_copy(config: PostgresConfig, records: list[Row], name: str) -> float:
    """Seconds for one COPY of all rows into a fresh table shaped like `samples`."""
    conn = await connect(config)
    try:
        await conn.execute(TABLE.format(name=name))
        started = time.perf_counter()
        await conn.copy_records_to_table(name, records=records)
        return time.perf_counter() - started
    finally:
        await conn.close()


async def run_per_row(config: PostgresConfig, records: list[Row]) -> float:
    """Seconds for one autocommitted INSERT per row."""
    conn = await connect(config)
    try:
        await conn.execute(TABLE.format(name="per_row"))
        started = time.perf_counter()
        for record in records:
            await conn.execute("INSERT INTO per_row (series, ts, value) VALUES ($1, $2, $3)",
                               *record)  # fmt: skip
        return time.perf_counter() - started
    finally:
        await conn.close()


async def main(args: argparse.Namespace) -> dict[str, object]:
    folder = Path(tempfile.mkdtemp(prefix="wattkeeper-bench-"))
    server = EmbeddedPostgres.in_temporary_folder(durable=True)
    server.setup()
    try:
        series = make_series(args.series)
        samples = make_samples(series, args.rows)
        records = records_of(samples, series)
        baseline_config = await create_database(server, "bench_baselines")
        # The machine is shared, so every figure is the best of `repeat` runs, taken in
        # turns; the ceiling gets one run more (a COPY before the first round and after
        # each).
        copies = [await run_bare_copy(baseline_config, records, "bare_copy_0")]
        pipelines, drains = [], []
        for round_ in range(1, args.repeat + 1):
            place = folder / str(round_)
            place.mkdir()
            config = await create_database(server, f"bench_pipeline_{round_}")
            seconds, sizes = await run_pipeline(
                config, place, series, samples, args.batch_size, prefill=False
            )
            pipelines.append(seconds)
            config = await create_database(server, f"bench_drain_{round_}")
            seconds, _ = await run_pipeline(
                config, place, series, samples, args.batch_size, prefill=True
            )
            drains.append(seconds)
            copies.append(await run_bare_copy(baseline_config, records, f"bare_copy_{round_}"))
        pipeline, drain, copy_seconds = min(pipelines), min(drains), min(copies)
        per_row_count = min(args.per_row, args.rows)
        row_seconds = await run_per_row(baseline_config, records[:per_row_count])
    finally:
        server.teardown()
        shutil.rmtree(folder, ignore_errors=True)
    pipeline_rate = args.rows / pipeline
    drain_rate = args.rows / drain
    copy_rate = args.rows / copy_seconds
    per_row_rate = per_row_count / row_seconds
    return {
        "rows": args.rows,
        "series": args.series,
        "batch_size": args.batch_size,
        "repeat": args.repeat,
        "pipeline_rates": [args.rows / seconds for seconds in pipelines],
        "drain_rates": [args.rows / seconds for seconds in drains],
        "bare_copy_rates": [args.rows / seconds for seconds in copies],
        "pipeline_rate": pipeline_rate,
        "drain_rate": drain_rate,
        "bare_copy_rate": copy_rate,
        "per_row_rate": per_row_rate,
        "per_row_sample": per_row_count,
        "ratio_vs_per_row": pipeline_rate / per_row_rate,
        "ratio_vs_bare_copy": pipeline_rate / copy_rate,
        "drain_ratio_vs_bare_copy": drain_rate / copy_rate,
        "bytes_per_reading": sizes["total"] / args.rows,
        "heap_bytes_per_reading": sizes["heap"] / args.rows,
        "index_bytes_per_reading": sizes["indexes"] / args.rows,
        "load_average_1min": os.getloadavg()[0],
        "cpus": os.cpu_count(),
    }


def report(result: dict[str, object]) -> None:
    print(f"readings: {result['rows']:,} over {result['series']} series, "
          f"batches of {result['batch_size']:,}, best of {result['repeat']} runs")  # fmt: skip
    print(f"pipeline (append → committed, with rollups): {result['pipeline_rate']:>10,.0f} /s")
    print(f"drain of a full outbox:                      {result['drain_rate']:>10,.0f} /s")
    print(f"bare COPY (ceiling):                         {result['bare_copy_rate']:>10,.0f} /s")
    print(f"one INSERT per reading ({result['per_row_sample']:,} rows):   "
          f"{result['per_row_rate']:>10,.0f} /s")  # fmt: skip
    print(f"ratio vs per-row INSERT: {result['ratio_vs_per_row']:.1f}x  (target ≥ 30x)")
    print(f"ratio vs bare COPY:      {result['ratio_vs_bare_copy']:.2f}x  (target ≥ 0.6x)")
    print(f"drain ratio vs bare COPY: {result['drain_ratio_vs_bare_copy']:.2f}x")
    print(f"PostgreSQL storage: {result['bytes_per_reading']:.1f} bytes per reading "
          f"(table {result['heap_bytes_per_reading']:.1f}, "
          f"indexes {result['index_bytes_per_reading']:.1f})")  # fmt: skip
    print(f"(load average {result['load_average_1min']:.1f} on {result['cpus']} CPUs)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--series", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=50_000)
    parser.add_argument("--per-row", type=int, default=20_000, help="rows for the per-row baseline")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts")
    outcome = asyncio.run(main(parser.parse_args()))
    report(outcome)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(outcome, indent=2) + "\n")
    print(f"written to {RESULTS.relative_to(ROOT)}")
