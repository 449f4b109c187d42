"""Benchmark: one full SUN2000 poll, batched versus one request per register.

Runs the Modbus twin (inverter with two PV strings, power meter and battery)
in this process and polls it with the real driver, both ways, in the same run:

- dongle-like: every answer takes `--latency-ms` (the SDongle's hop to the
  inverter) and the driver keeps its default 50 ms cooldown between requests;
- loopback: no latency and no cooldown, the protocol and decoding alone.

For each it prints requests and wall time per poll (the requests counted from
the twin's request log) and the ratio per-register / batched. Writes
bench/results/modbus_poll.json.

    .venv/bin/python bench/modbus_poll.py [--polls 3] [--latency-ms 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from custom_components.wattkeeper.meters.sun2000 import Sun2000Meter  # noqa: E402
from custom_components.wattkeeper.meters.sun2000_connection import (  # noqa: E402
    ConnectionOptions,
    Sun2000Connection,
)
from simulators.sun2000 import SimClock, Sun2000Simulator, running  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "modbus_poll.json"


async def measure(
    sim: Sun2000Simulator, options: ConnectionOptions, *, batched: bool, polls: int
) -> dict[str, float]:
    connection = Sun2000Connection("127.0.0.1", sim.port, options)
    meter = Sun2000Meter(connection, 1, batched=batched)
    try:
        await meter.identify()
        await meter.read()  # warm up: connection open, plan made
        walls: list[float] = []
        requests: list[int] = []
        for _ in range(polls):
            before = len(sim.requests)
            started = time.perf_counter()
            await meter.read()
            walls.append(time.perf_counter() - started)
            requests.append(len(sim.requests) - before)
    finally:
        await connection.close()
    if len(set(requests)) != 1:
        raise RuntimeError(f"requests per poll varied: {requests}")
    return {
        "requests_per_poll": requests[0],
        "registers_per_poll": sum(r.count for r in meter.plan),
        "wall_ms_per_poll": 1000 * statistics.median(walls),
        "wall_ms_min": 1000 * min(walls),
    }


async def compare(latency: float, cooldown: float, polls: int) -> dict[str, Any]:
    options = ConnectionOptions(cooldown=cooldown, wait_after_connect=0.1, timeout=5)
    clock = SimClock(datetime(2025, 6, 21, 13, 0, tzinfo=UTC))
    async with running(clock=clock, latency=latency, max_registers=64) as sim:
        batched = await measure(sim, options, batched=True, polls=polls)
        single = await measure(sim, options, batched=False, polls=polls)
    return {
        "latency_ms": 1000 * latency,
        "cooldown_ms": 1000 * cooldown,
        "batched": batched,
        "per_register": single,
        "ratio_requests": single["requests_per_poll"] / batched["requests_per_poll"],
        "ratio_wall": single["wall_ms_per_poll"] / batched["wall_ms_per_poll"],
    }


def report(name: str, run: dict[str, Any]) -> None:
    print(f"{name} (answer latency {run['latency_ms']:g} ms, cooldown {run['cooldown_ms']:g} ms)")
    for mode in ("batched", "per_register"):
        figures = run[mode]
        print(
            f"  {mode:<13} {figures['requests_per_poll']:>3} requests/poll  "
            f"{figures['wall_ms_per_poll']:8.1f} ms/poll (min {figures['wall_ms_min']:.1f})"
        )
    print(
        f"  per-register / batched: {run['ratio_requests']:.1f}x requests, "
        f"{run['ratio_wall']:.1f}x wall time"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--polls", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--cooldown-ms", type=float, default=50.0)
    args = parser.parse_args()
    runs = {
        "dongle_like": await compare(args.latency_ms / 1000, args.cooldown_ms / 1000, args.polls),
        "loopback": await compare(0.0, 0.0, args.polls),
    }
    for name, run in runs.items():
        report(name, run)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"polls": args.polls, **runs}, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
