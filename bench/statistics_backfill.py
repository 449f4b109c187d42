"""Statistics backfill: hourly rows per second from Home Assistant's recorder into PostgreSQL.

One run, one real Home Assistant (no test harness) with its recorder on SQLite
in a temporary config folder, and one embedded PostgreSQL server (durable
settings):

- history: a year of hourly long-term statistics of 50 statistics (half meters
  with state and sum, half measurements with mean, min and max) imported into
  Home Assistant's recorder before anything is timed;
- backfill: `wattkeeper.backfill_statistics` for all of them through a
  PostgreSQL recorder entry added by its config flow, from the action call to
  the last row committed (`wattkeeper.flush`), day/week/month rollups included;
- baseline (the ceiling): the same reads through the recorder API alone, the
  same chunks in the same order (statistics_backfill.ORDER and CHUNK), rows
  built and dropped; the better of a pass before and one after the backfill.

    .venv/bin/python bench/statistics_backfill.py                 # 1 year × 50
    .venv/bin/python bench/statistics_backfill.py --days 30 --statistics 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from homeassistant import bootstrap  # noqa: E402
from homeassistant.components.recorder.models import (  # noqa: E402
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import (  # noqa: E402
    async_add_external_statistics,
)
from homeassistant.core import HomeAssistant  # noqa: E402
from homeassistant.helpers.recorder import get_instance  # noqa: E402
from homeassistant.runner import RuntimeConfig  # noqa: E402

from custom_components.wattkeeper.const import DOMAIN  # noqa: E402
from custom_components.wattkeeper.statistics_backfill import CHUNK, ORDER  # noqa: E402
from custom_components.wattkeeper.statistics_reader import async_read_statistics  # noqa: E402
from tests.recorder.pg_server import EmbeddedPostgres  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "statistics_backfill.json"
START = datetime(2025, 1, 1, tzinfo=UTC)
SITE = "bench"


def prepare_config(config_dir: Path) -> None:
    (config_dir / "configuration.yaml").write_text(
        "homeassistant:\n  name: bench\n  time_zone: Europe/Brussels\nrecorder:\n"
    )
    os.symlink(ROOT / "custom_components", config_dir / "custom_components")


def statistic_ids(count: int) -> list[str]:
    return [f"bench:{'meter' if i % 2 else 'power'}_{i:02d}" for i in range(count)]


async def import_history(hass: HomeAssistant, ids: list[str], hours: int) -> int:
    """Hourly rows for every statistic, imported as an integration would; their count."""
    for number, statistic_id in enumerate(ids):
        meter = statistic_id.startswith("bench:meter")
        meta = StatisticMetaData(
            has_mean=not meter,
            mean_type=StatisticMeanType.NONE if meter else StatisticMeanType.ARITHMETIC,
            has_sum=meter, name=None, source="bench", statistic_id=statistic_id,
            unit_of_measurement="kWh" if meter else "W",
        )  # fmt: skip
        rows = [
            StatisticData(start=START + timedelta(hours=h), state=h * 0.4, sum=h * 0.4)
            if meter
            else StatisticData(
                start=START + timedelta(hours=h),
                mean=200.0 + (h * 37 + number) % 900,
                min=100.0 + (h * 13) % 100,
                max=1200.0 + (h * 7) % 300,
            )
            for h in range(hours)
        ]
        async_add_external_statistics(hass, meta, rows)
    await get_instance(hass).async_block_till_done()
    return len(ids) * hours


async def add_recorder(hass: HomeAssistant, dsn: str) -> Any:
    flow = await hass.config_entries.flow.async_init(DOMAIN, context={"source": "user"})
    flow = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"next_step_id": "recorder"}
    )
    flow = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"backend": "postgresql", "site": SITE, "retention_days": 30}
    )
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {"dsn": dsn})
    if "result" not in result:
        raise RuntimeError(f"adding the recorder failed: {result}")
    await hass.async_block_till_done()
    return result["result"]


async def read_only_pass(hass: HomeAssistant, ids: list[str], end: datetime) -> tuple[int, float]:
    """(rows, seconds) reading what the backfill reads, the way it reads it."""
    rows = 0
    started = time.perf_counter()
    for period in ORDER:
        position = START
        while position < end:
            following = min(position + CHUNK[period], end)
            rows += len(await async_read_statistics(hass, SITE, ids, period, position, following))
            position = following
    return rows, time.perf_counter() - started


async def backfill(hass: HomeAssistant, ids: list[str], end: datetime) -> float:
    """Seconds from the action call to the last row committed in PostgreSQL."""
    started = time.perf_counter()
    await hass.services.async_call(
        DOMAIN, "backfill_statistics",
        {"statistic_ids": ids, "start": START.isoformat(), "end": end.isoformat(), "wait": True},
        blocking=True, return_response=True,
    )  # fmt: skip
    response = await hass.services.async_call(
        DOMAIN, "flush", {"timeout": 3600}, blocking=True, return_response=True
    )
    elapsed = time.perf_counter() - started
    if not all(answer["empty"] for answer in (response or {}).values()):  # type: ignore[index]
        raise RuntimeError(f"the outbox did not drain: {response}")
    return elapsed


async def stored(dsn: str) -> tuple[int, int]:
    """Hourly rows and day rollups in PostgreSQL."""
    conn = await asyncpg.connect(dsn)
    try:
        hourly = await conn.fetchval(
            "SELECT count(*) FROM ha_statistics WHERE site = $1 AND period = '1h'", SITE
        )
        days = await conn.fetchval(
            "SELECT count(*) FROM ha_statistics_rollups WHERE site = $1 AND period = '1d'", SITE
        )
    finally:
        await conn.close()
    return int(hourly), int(days)


async def measure(args: argparse.Namespace, config_dir: Path, dsn: str) -> dict[str, Any]:
    ids = statistic_ids(args.statistics)
    hours = args.days * 24
    end = START + timedelta(hours=hours)
    hass = await bootstrap.async_setup_hass(
        RuntimeConfig(config_dir=str(config_dir), skip_pip=True, safe_mode=False)
    )
    assert hass is not None
    await hass.async_start()
    try:
        expected = await import_history(hass, ids, hours)
        await add_recorder(hass, dsn)
        baseline_rows, before = await read_only_pass(hass, ids, end)
        backfill_seconds = await backfill(hass, ids, end)
        _, after = await read_only_pass(hass, ids, end)
    finally:
        await hass.async_stop()
    hourly, days = await stored(dsn)
    if baseline_rows != expected or hourly != expected:
        raise RuntimeError(f"read {baseline_rows} and stored {hourly} of {expected} rows")
    baseline_seconds = min(before, after)
    backfill_rate = expected / backfill_seconds
    baseline_rate = expected / baseline_seconds
    return {
        "statistics": args.statistics,
        "days": args.days,
        "hourly_rows": expected,
        "day_rollups": days,
        "backfill_seconds": backfill_seconds,
        "backfill_rate": backfill_rate,
        "read_only_seconds": baseline_seconds,
        "read_only_rate": baseline_rate,
        "ratio_vs_read_only": backfill_rate / baseline_rate,
        "load_average_1min": os.getloadavg()[0],
        "cpus": os.cpu_count(),
    }


def report(result: dict[str, Any]) -> None:
    print(f"hourly rows: {result['hourly_rows']:,} ({result['statistics']} statistics × "
          f"{result['days']} days), {result['day_rollups']:,} day rollups")  # fmt: skip
    print(f"backfill into PostgreSQL (with rollups): {result['backfill_rate']:>10,.0f} rows/s "
          f"({result['backfill_seconds']:.1f} s)")  # fmt: skip
    print(f"read-only pass, recorder API (ceiling):  {result['read_only_rate']:>10,.0f} rows/s "
          f"({result['read_only_seconds']:.1f} s)")  # fmt: skip
    print(f"ratio vs read-only: {result['ratio_vs_read_only']:.2f}x")
    print(f"(load average {result['load_average_1min']:.1f} on {result['cpus']} CPUs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--statistics", type=int, default=50)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    folder = Path(tempfile.mkdtemp(prefix="wattkeeper-bench-"))
    server = EmbeddedPostgres.in_temporary_folder(durable=True)
    server.setup()
    try:
        config_dir = folder / "config"
        config_dir.mkdir()
        prepare_config(config_dir)
        # TLS off: asyncpg would read client certificates inside Home Assistant's loop.
        dsn = f"{server.dsn('postgres')}?sslmode=disable"
        # Home Assistant's loop runs in a thread of its own: once started, it flags every
        # blocking call in its thread, and stopping the server here blocks.
        with ThreadPoolExecutor(1) as pool:
            result = pool.submit(asyncio.run, measure(args, config_dir, dsn)).result()
    finally:
        server.teardown()
        shutil.rmtree(folder, ignore_errors=True)
    report(result)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
