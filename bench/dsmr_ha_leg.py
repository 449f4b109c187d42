"""The Home Assistant leg of bench/dsmr_latency.py: last byte on the socket → entity state.

Runs in a child process of its own (Home Assistant bootstraps once per
process): a real Home Assistant (no test harness) with a DSMR entry added
through the config flow, reading a sender thread that writes pre-rendered
telegrams to 127.0.0.1 at a steady pace. For every telegram it measures the
time from just before its bytes are handed to the socket to the moment the
power entity's state is written (state_changed or state_reported), paired
by the telegram's own time stamp, and the event loop's CPU time per
telegram over the measured window. The baseline, dsmr-parser's parse time of
the same telegrams at the same pace, is measured in the same process.

Prints one JSON line. Used by bench/dsmr_latency.py; alone:

    .venv/bin/python bench/dsmr_ha_leg.py 5 --telegrams 200 --pace 0.1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from homeassistant import bootstrap  # noqa: E402
from homeassistant.const import EVENT_STATE_CHANGED, EVENT_STATE_REPORTED  # noqa: E402
from homeassistant.core import Event, HomeAssistant, callback  # noqa: E402
from homeassistant.helpers import entity_registry as er  # noqa: E402
from homeassistant.runner import RuntimeConfig  # noqa: E402

from bench.dsmr_latency import Figures, measure_parser, render  # noqa: E402
from custom_components.wattkeeper.const import DOMAIN  # noqa: E402

# Telegrams sent before measuring: the flow's probe, setup, entity creation.
WARMUP = 30
CHOICES = {"4": "v4", "5": "v5", "5B": "v5b", "5S": "v5s"}


class Sender(threading.Thread):
    """Serves one client at a time with the next telegrams of one shared sequence.

    The config flow's probe connects first and hangs up; the entry connects
    next. A telegram's send time is kept under its own time stamp.
    """

    def __init__(self, telegrams: list[tuple[datetime, bytes]], pace: float) -> None:
        super().__init__(daemon=True)
        self.telegrams = telegrams
        self.pace = pace
        # Telegram time stamp → (its index in the sequence, when it was sent).
        self.sent_at: dict[datetime, tuple[int, float]] = {}
        self.sent = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]

    def run(self) -> None:
        next_at = time.perf_counter()
        with self._server:
            while self.sent < len(self.telegrams):
                conn, _ = self._server.accept()
                with conn:
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    while self.sent < len(self.telegrams):
                        measured_at, data = self.telegrams[self.sent]
                        time.sleep(max(0.0, next_at - time.perf_counter()))
                        next_at = max(next_at + self.pace, time.perf_counter())
                        self.sent_at[measured_at] = (self.sent, time.perf_counter())
                        try:
                            conn.sendall(data)
                        except OSError:
                            break  # the client hung up: serve the next one
                        self.sent += 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def prepare_config(config_dir: Path) -> None:
    (config_dir / "configuration.yaml").write_text(
        f"homeassistant:\n  name: bench\nhttp:\n  server_host: 127.0.0.1\n"
        f"  server_port: {free_port()}\n"
    )
    os.symlink(ROOT / "custom_components", config_dir / "custom_components")


async def add_entry(hass: HomeAssistant, port: int, version: str) -> Any:
    flow = await hass.config_entries.flow.async_init(DOMAIN, context={"source": "user"})
    for step in ("dsmr", "dsmr_tcp"):
        flow = await hass.config_entries.flow.async_configure(
            flow["flow_id"], {"next_step_id": step}
        )
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"host": "127.0.0.1", "port": port, "version": CHOICES[version]}
    )
    if "result" not in result:
        raise RuntimeError(f"adding the meter failed: {result}")
    await hass.async_block_till_done()
    return result["result"]


async def measure(version: str, count: int, pace: float, config_dir: Path) -> dict[str, Any]:
    rendered = render(version, count + WARMUP)
    telegrams = [(measured_at, data) for measured_at, data in rendered]
    baseline = measure_parser(version, rendered, pace)
    sender = Sender(telegrams, pace)
    sender.start()
    latencies: dict[int, float] = {}
    hass = await bootstrap.async_setup_hass(
        RuntimeConfig(config_dir=str(config_dir), skip_pip=True, safe_mode=False)
    )
    assert hass is not None
    await hass.async_start()
    entry = await add_entry(hass, sender.port, version)
    coordinator = entry.runtime_data.coordinator
    power = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"{coordinator.identity.serial}_power"
    )
    first = len(telegrams)  # no telegram is measured until the warm-up is over

    @callback
    def is_power(data: Any) -> bool:
        return bool(data["entity_id"] == power)

    @callback
    def on_write(event: Event[Any]) -> None:
        written = time.perf_counter()
        sent = sender.sent_at.get(coordinator.data.measured_at)
        # The first write of each measured telegram (not the link going down at the end).
        if coordinator.last_update_success and sent is not None and sent[0] >= first:
            latencies.setdefault(sent[0], written - sent[1])

    hass.bus.async_listen(EVENT_STATE_CHANGED, on_write, is_power)
    hass.bus.async_listen(EVENT_STATE_REPORTED, on_write, is_power)
    while sender.sent < WARMUP:  # noqa: ASYNC110  (the sender is a thread)
        await asyncio.sleep(pace)
    cpu_start, first = time.thread_time(), sender.sent
    while sender.is_alive():  # noqa: ASYNC110
        await asyncio.sleep(pace)
    await asyncio.sleep(1)  # the last telegram's state
    cpu = time.thread_time() - cpu_start
    measured = sender.sent - first
    meter = entry.runtime_data.meter
    errors = {"crc": meter.crc_errors, "parse": meter.parse_errors}
    await hass.async_stop()
    if errors != {"crc": 0, "parse": 0} or len(latencies) < measured * 0.95:
        raise RuntimeError(f"{len(latencies)} of {measured} telegrams measured; errors {errors}")
    return {
        "version": version,
        "telegrams": len(latencies),
        "pace_s": pace,
        "ha_latency": asdict(Figures.of(list(latencies.values()))),
        "ha_loop_cpu_per_telegram_ms": round(cpu / measured * 1e3, 4),
        "baseline_parse": {name: asdict(fig) for name, fig in baseline.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version", choices=sorted(CHOICES))
    parser.add_argument("--telegrams", type=int, default=200)
    parser.add_argument("--pace", type=float, default=0.1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as config_dir:
        prepare_config(Path(config_dir))
        result = asyncio.run(measure(args.version, args.telegrams, args.pace, Path(config_dir)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
