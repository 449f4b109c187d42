"""Benchmark: how long a DSMR telegram takes from the wire to a Snapshot.

For each version asked for, the same pre-rendered telegrams are measured twice
in one run:

- baseline: dsmr-parser's own TelegramParser.parse() of each telegram text
  (wall time and CPU time per telegram), back to back and at the stream's
  pace; the paced figures are the fair baseline, since a parse after 10 ms of
  idling costs about twice one right after another;
- driver: a plain sender thread writes each telegram to a TCP socket on
  127.0.0.1 at a fixed pace; DsmrMeter reads it in this process's event loop.
  Latency runs from just before the telegram's bytes are handed to the socket
  (a loopback send of ~1 KiB is one system call) to the moment `stream()`
  yields its Snapshot; event-loop CPU is the loop thread's CPU time over the
  run divided by the telegrams read (framing, parsing, mapping, queueing).

- Home Assistant: the same path up to the power entity's state being written
  in a real Home Assistant, in a child process (bench/dsmr_ha_leg.py), at a
  slower pace (`--ha-pace`, default 0.1 s) since each telegram writes dozens
  of entity states; its own paced-parse baseline is measured in that child.
  Versions whose telegrams carry no time stamp (2.2, Q3D) are left out of it:
  their states cannot be paired with the telegram that produced them.

It prints median and p99 of all, and the ratios to the baselines, and writes
bench/results/dsmr_latency.json.

    .venv/bin/python bench/dsmr_latency.py [--versions 5 5B] [--telegrams 300] [--no-ha]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dsmr_parser.parsers import TelegramParser  # noqa: E402

from custom_components.wattkeeper.meters.dsmr import DsmrMeter  # noqa: E402
from custom_components.wattkeeper.meters.dsmr_versions import VERSIONS, DsmrVersion  # noqa: E402
from simulators.dsmr import DsmrSimulator  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "dsmr_latency.json"


@dataclass
class Figures:
    median_ms: float
    p99_ms: float

    @classmethod
    def of(cls, seconds: list[float]) -> Figures:
        ordered = sorted(seconds)
        p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
        return cls(round(statistics.median(ordered) * 1e3, 4), round(p99 * 1e3, 4))


def render(version: str, count: int) -> list[tuple[Any, bytes]]:
    """`count` consecutive telegrams of a meter stepping one second each."""
    sim = DsmrSimulator(version, step_seconds=1.0, seed=42)
    out = []
    for _ in range(count):
        truth = sim.next_telegram()
        out.append((truth.measured_at, truth.text.encode("ascii")))
    return out


def measure_parser(
    version: str, telegrams: list[tuple[Any, bytes]], pace: float
) -> dict[str, Figures]:
    """dsmr-parser's parse time per telegram: back to back ("hot"), and at the
    stream's pace ("paced"), where caches and clocks have cooled down between
    telegrams just as they have when the driver reads a live meter."""
    parser = TelegramParser(VERSIONS[DsmrVersion(version)].specification)
    texts = [data.decode("ascii") for _, data in telegrams]
    for text in texts[:20]:  # warm up regex caches
        parser.parse(text)
    out: dict[str, Figures] = {}
    for name, gap in (("hot", 0.0), ("paced", pace)):
        wall: list[float] = []
        cpu: list[float] = []
        gc.collect()
        for text in texts:
            if gap:
                time.sleep(gap)
            c0, t0 = time.thread_time(), time.perf_counter()
            parser.parse(text)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.thread_time() - c0)
        out[f"{name}_wall"] = Figures.of(wall)
        out[f"{name}_cpu"] = Figures.of(cpu)
    return out


class Sender(threading.Thread):
    """Writes telegrams to the one client that connects, at a steady pace."""

    def __init__(self, telegrams: list[tuple[Any, bytes]], pace: float) -> None:
        super().__init__(daemon=True)
        self.telegrams = telegrams
        self.pace = pace
        self.sent_at: list[float] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]

    def run(self) -> None:
        conn, _ = self._server.accept()
        with conn, self._server:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            next_at = time.perf_counter() + 0.2
            for _, data in self.telegrams:
                time.sleep(max(0.0, next_at - time.perf_counter()))
                self.sent_at.append(time.perf_counter())
                conn.sendall(data)
                next_at += self.pace
            # Let the last telegram be read before the socket closes.
            time.sleep(0.5)


async def measure_driver(
    version: str, telegrams: list[tuple[Any, bytes]], pace: float
) -> dict[str, Any]:
    sender = Sender(telegrams, pace)
    sender.start()
    # The meter's own interval is irrelevant here; keep the watchdog out of the way.
    meter = DsmrMeter(host="127.0.0.1", port=sender.port, version=version, interval=10)
    # In order: TCP loses nothing, and a telegram the driver refused shows in its counters.
    received: list[float] = []
    gc.collect()
    cpu0 = time.thread_time()
    try:
        async with asyncio.timeout(len(telegrams) * pace + 30):
            async for _ in meter.stream():
                received.append(time.perf_counter())
                if len(received) == len(telegrams):
                    break
    finally:
        cpu = time.thread_time() - cpu0
        await meter.close()
        sender.join()
    if meter.crc_errors or meter.parse_errors:
        raise RuntimeError(f"The driver refused telegrams: {meter.stats}")
    latencies = [got - sent for got, sent in zip(received, sender.sent_at, strict=True)]
    return {
        "latency": Figures.of(latencies),
        "loop_cpu_per_telegram_ms": round(cpu / len(received) * 1e3, 4),
        "telegrams": len(received),
        "crc_errors": meter.crc_errors,
        "parse_errors": meter.parse_errors,
    }


# Versions whose telegrams carry their own time stamp (the Home Assistant leg pairs by it).
HA_VERSIONS = ("4", "5", "5B", "5S")


def run_ha_leg(version: str, count: int, pace: float) -> dict[str, Any]:
    """bench/dsmr_ha_leg.py in a child process: Home Assistant bootstraps once per process."""
    args = [sys.executable, str(ROOT / "bench" / "dsmr_ha_leg.py"), version]
    args += ["--telegrams", str(count), "--pace", str(pace)]
    done = subprocess.run(args, cwd=ROOT, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the Home Assistant leg failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def report_ha_leg(leg: dict[str, Any]) -> dict[str, Any]:
    """Print the Home Assistant leg; its figures and ratios for the JSON report."""
    latency, parse = leg["ha_latency"], leg["baseline_parse"]["paced_wall"]
    cpu, parse_cpu = leg["ha_loop_cpu_per_telegram_ms"], leg["baseline_parse"]["paced_cpu"]
    ratios = {
        "latency_median_vs_parse_median": round(latency["median_ms"] / parse["median_ms"], 2),
        "latency_p99_vs_parse_p99": round(latency["p99_ms"] / parse["p99_ms"], 2),
        "loop_cpu_vs_parse_cpu": round(cpu / parse_cpu["median_ms"], 2),
    }
    print(
        f"  Home Assistant, last byte sent -> power state written ({leg['telegrams']} telegrams "
        f"every {leg['pace_s'] * 1e3:g} ms): {latency['median_ms']:.3f} ms median, "
        f"{latency['p99_ms']:.3f} ms p99; event-loop CPU {cpu:.3f} ms per telegram"
    )
    print(
        f"  ratio Home Assistant/parse (parse paced alike, {parse['median_ms']:.3f} ms): "
        f"median x{ratios['latency_median_vs_parse_median']}, "
        f"p99 x{ratios['latency_p99_vs_parse_p99']}, CPU x{ratios['loop_cpu_vs_parse_cpu']}"
    )
    return {**leg, "ratios": ratios}


async def run(
    versions: list[str], count: int, pace: float, ha: tuple[int, float] | None = None
) -> dict[str, Any]:
    report: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "telegrams_per_version": count,
        "pace_s": pace,
        "versions": {},
    }
    for version in versions:
        telegrams = render(version, count)
        baseline = measure_parser(version, telegrams, pace)
        driver = await measure_driver(version, telegrams, pace)
        paced, paced_cpu = baseline["paced_wall"], baseline["paced_cpu"]
        latency: Figures = driver["latency"]
        loop_cpu: float = driver["loop_cpu_per_telegram_ms"]
        # Ratios against the paced baseline: same telegrams, same pace, same process.
        ratios = {
            "latency_median_vs_parse_median": round(latency.median_ms / paced.median_ms, 2),
            "latency_p99_vs_parse_p99": round(latency.p99_ms / paced.p99_ms, 2),
            "loop_cpu_vs_parse_cpu": round(loop_cpu / paced_cpu.median_ms, 2),
            "latency_median_vs_hot_parse_median": round(
                latency.median_ms / baseline["hot_wall"].median_ms, 2
            ),
        }
        size = round(statistics.mean(len(d) for _, d in telegrams))
        report["versions"][version] = {
            "telegram_bytes": size,
            "baseline_parse": {name: asdict(fig) for name, fig in baseline.items()},
            "driver_latency": asdict(latency),
            "driver_loop_cpu_per_telegram_ms": loop_cpu,
            "driver_errors": {"crc": driver["crc_errors"], "parse": driver["parse_errors"]},
            "ratios": ratios,
        }
        print(f"DSMR {version} ({size} B per telegram, {count} telegrams every {pace * 1e3:g} ms)")
        print(
            f"  dsmr-parser parse, paced: {paced.median_ms:.3f} ms median, "
            f"{paced.p99_ms:.3f} ms p99, CPU {paced_cpu.median_ms:.3f} ms "
            f"(back to back: {baseline['hot_wall'].median_ms:.3f} ms median)"
        )
        print(
            f"  driver, last byte sent -> Snapshot: {latency.median_ms:.3f} ms median, "
            f"{latency.p99_ms:.3f} ms p99; event-loop CPU {loop_cpu:.3f} ms per telegram"
        )
        print(
            f"  ratio driver/parse: median x{ratios['latency_median_vs_parse_median']}, "
            f"p99 x{ratios['latency_p99_vs_parse_p99']}, CPU x{ratios['loop_cpu_vs_parse_cpu']}"
        )
        if ha is not None and version in HA_VERSIONS:
            leg = run_ha_leg(version, *ha)
            report["versions"][version]["home_assistant"] = report_ha_leg(leg)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", nargs="+", default=["5", "5B", "2.2"])
    parser.add_argument("--telegrams", type=int, default=300)
    parser.add_argument("--pace", type=float, default=0.01, help="seconds between telegrams")
    parser.add_argument("--ha-telegrams", type=int, default=200)
    parser.add_argument("--ha-pace", type=float, default=0.1, help="pace of the HA leg")
    parser.add_argument("--no-ha", action="store_true", help="skip the Home Assistant leg")
    args = parser.parse_args()
    ha = None if args.no_ha else (args.ha_telegrams, args.ha_pace)
    report = asyncio.run(run(args.versions, args.telegrams, args.pace, ha))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
