"""Benchmark: what polling 20 HomeWizard meters at 1 s costs one Home Assistant instance.

A real Home Assistant (bootstrap, no test harness) runs in this process; the
twins run in a separate process so their CPU is not counted. Two runs:

- baseline: one P1 entry with only its power sensor enabled;
- load: 20 entries (P1, kWh, water and socket twins), every default entity.

For each run it prints the CPU time of the event-loop thread per wall-clock
second (``time.thread_time`` read on the loop), the CPU time of the whole
process beside it (the loop plus Home Assistant's executor and other threads),
and the median / p99 time from the moment the driver has the device's answer to
the moment the power sensor's new state is written. Home Assistant's HTTP server
(a dependency of Wattkeeper) listens on a free port of 127.0.0.1, never 8123.
Writes bench/results/poll_overhead.json.

    .venv/bin/python bench/poll_overhead.py [--seconds 20] [--meters 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from homeassistant import bootstrap  # noqa: E402
from homeassistant.const import EVENT_STATE_CHANGED  # noqa: E402
from homeassistant.core import Event, HomeAssistant, callback  # noqa: E402
from homeassistant.helpers import entity_registry as er  # noqa: E402
from homeassistant.runner import RuntimeConfig  # noqa: E402

from custom_components.wattkeeper.const import CONF_SCAN_INTERVAL, DOMAIN  # noqa: E402
from custom_components.wattkeeper.meters import homewizard  # noqa: E402

DEVICE_MIX = ("p1", "kwh3", "kwh1", "water", "socket")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_twins(count: int) -> tuple[subprocess.Popen[bytes], list[str]]:
    devices = [(DEVICE_MIX[i % len(DEVICE_MIX)], free_port()) for i in range(count)]
    args = [sys.executable, "-m", "simulators.homewizard"]
    for kind, port in devices:
        args += ["--device", f"{kind}:{port}"]
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL)
    return process, [f"127.0.0.1:{port}" for _, port in devices]


async def wait_for_port(host: str) -> None:
    address, port = host.split(":")
    for _ in range(100):
        try:
            _, writer = await asyncio.open_connection(address, int(port))
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise SystemExit(f"twin at {host} did not start")


class LatencyProbe:
    """Pairs each driver answer with the power state it produces."""

    def __init__(self) -> None:
        self.answered: dict[str, float] = {}
        self.latencies: list[float] = []
        self.power_entities: dict[str, str] = {}
        original = homewizard.HomeWizardMeter.read

        async def timed_read(meter: homewizard.HomeWizardMeter) -> Any:
            snapshot = await original(meter)
            self.answered[snapshot.identity.serial] = time.perf_counter()
            return snapshot

        homewizard.HomeWizardMeter.read = timed_read  # type: ignore[method-assign]

    @callback
    def on_state(self, event: Event) -> None:
        serial = self.power_entities.get(event.data["entity_id"])
        if serial is not None and (started := self.answered.pop(serial, None)) is not None:
            self.latencies.append(time.perf_counter() - started)


async def add_entry(hass: HomeAssistant, host: str) -> str:
    flow = await hass.config_entries.flow.async_init(DOMAIN, context={"source": "user"})
    flow = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"next_step_id": "homewizard"}
    )
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {"host": host})
    if "result" not in result:
        raise RuntimeError(f"adding {host} failed: {result}")
    entry = result["result"]
    hass.config_entries.async_update_entry(entry, options={CONF_SCAN_INTERVAL: 1})
    await hass.config_entries.async_reload(entry.entry_id)
    return str(entry.entry_id)


def prepare_config(config_dir: Path) -> None:
    # http comes in as Wattkeeper's dependency; keep it off 8123 and off the network.
    (config_dir / "configuration.yaml").write_text(
        "homeassistant:\n  name: bench\n"
        f"http:\n  server_host: 127.0.0.1\n  server_port: {free_port()}\n"
    )
    os.symlink(ROOT / "custom_components", config_dir / "custom_components")


async def measure(hosts: list[str], seconds: float, only_power: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as config_dir:
        prepare_config(Path(config_dir))
        hass = await bootstrap.async_setup_hass(
            RuntimeConfig(config_dir=config_dir, skip_pip=True, safe_mode=False)
        )
        assert hass is not None
        await hass.async_start()
        probe = LatencyProbe()
        hass.bus.async_listen(EVENT_STATE_CHANGED, probe.on_state)
        registry = er.async_get(hass)
        for host in hosts:
            entry_id = await add_entry(hass, host)
            for entity in er.async_entries_for_config_entry(registry, entry_id):
                if entity.unique_id.endswith("_power") or entity.unique_id.endswith("_water"):
                    serial = entity.unique_id.rsplit("_", 1)[0]
                    probe.power_entities[entity.entity_id] = serial
                elif only_power and not entity.disabled_by:
                    registry.async_update_entity(
                        entity.entity_id, disabled_by=er.RegistryEntryDisabler.USER
                    )
            if only_power:
                await hass.config_entries.async_reload(entry_id)
        await asyncio.sleep(3)  # settle: first polls, entity creation
        probe.latencies.clear()
        # This coroutine runs on the event loop's thread: thread_time is the loop's CPU.
        loop_start, cpu_start = time.thread_time(), time.process_time()
        wall_start = time.perf_counter()
        await asyncio.sleep(seconds)
        loop_cpu = time.thread_time() - loop_start
        cpu = time.process_time() - cpu_start
        wall = time.perf_counter() - wall_start
        await hass.async_stop()
    latencies = sorted(probe.latencies)
    return {
        "meters": len(hosts),
        "loop_cpu_ms_per_second": 1000 * loop_cpu / wall,
        "loop_cpu_share_of_one_core": loop_cpu / wall,
        "process_cpu_ms_per_second": 1000 * cpu / wall,
        "state_updates": len(latencies),
        "latency_median_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "latency_p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))]
        if latencies
        else float("nan"),
    }


def run_child(hosts: list[str], seconds: float, only_power: bool) -> dict[str, float]:
    """One Home Assistant per run: it can only be bootstrapped once per process."""
    args = [sys.executable, __file__, "--child", "--seconds", str(seconds), *hosts]
    if only_power:
        args.append("--only-power")
    done = subprocess.run(args, cwd=ROOT, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"benchmark run failed:\n{done.stderr[-3000:]}")
    output = done.stdout
    result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--meters", type=int, default=20)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--only-power", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("hosts", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.child:
        print(json.dumps(await measure(args.hosts, args.seconds, args.only_power)))
        return
    process, hosts = start_twins(args.meters)
    try:
        for host in hosts:
            await wait_for_port(host)
        baseline = run_child(hosts[:1], args.seconds, only_power=True)
        load = run_child(hosts, args.seconds, only_power=False)
    finally:
        process.terminate()
        process.wait()
    per_meter = load["loop_cpu_ms_per_second"] / args.meters
    result = {
        "baseline_one_sensor": baseline,
        "load": load,
        "loop_cpu_ms_per_meter_second": per_meter,
        "ratio_loop_cpu_per_meter_vs_baseline": per_meter / baseline["loop_cpu_ms_per_second"],
        "ratio_loop_cpu_vs_baseline": load["loop_cpu_ms_per_second"]
        / baseline["loop_cpu_ms_per_second"],
        "ratio_latency_median_vs_baseline": load["latency_median_ms"]
        / baseline["latency_median_ms"],
    }
    for name, run in (("baseline (1 meter, 1 sensor)", baseline), ("load", load)):
        print(
            f"{name:30} meters={run['meters']:3d}  "
            f"event loop {run['loop_cpu_ms_per_second']:6.1f} ms/s "
            f"({100 * run['loop_cpu_share_of_one_core']:.1f} % of a core), "
            f"process {run['process_cpu_ms_per_second']:6.1f} ms/s  "
            f"answer→state median {run['latency_median_ms']:.2f} ms, "
            f"p99 {run['latency_p99_ms']:.2f} ms  ({run['state_updates']} updates)"
        )
    print(
        f"event-loop CPU: {result['ratio_loop_cpu_vs_baseline']:.1f}× the one-sensor baseline "
        f"for {args.meters} meters, {per_meter:.1f} ms/s per meter = "
        f"{result['ratio_loop_cpu_per_meter_vs_baseline']:.2f}× baseline; "
        f"median latency {result['ratio_latency_median_vs_baseline']:.2f}× baseline"
    )
    out = ROOT / "bench" / "results" / "poll_overhead.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
