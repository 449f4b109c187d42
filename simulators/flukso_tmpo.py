"""A flukso.net tmpo API double: serves a sensor's counter history as tmpo blocks.

Blocks are laid out the way a Fluksometer leaves them: readings fall into
256-second level-8 blocks, and every span of a higher level (12, 16, 20) that
has fully elapsed before `now` is one compacted block of that level; the
level-8 block still open at `now` is not served yet. `stale_children=True`
also lists the level-8 blocks the recent level-12 blocks were made from, as a
server that has not pruned them yet would. Values are delta-encoded exactly like tmpod:
timestamps as integer steps, values as steps rounded to three decimals.

Routes (same as api.flukso.net): GET /sensor/{sid}/tmpo/sync?rid&lvl&bid and
GET /sensor/{sid}/tmpo/{rid}/{lvl}/{bid}, both checking the X-Token header.

Run: python -m simulators.flukso_tmpo --port 18880 --days 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import itertools
import json
import random
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

LEVELS = (20, 16, 12, 8)  # coarsest first


@dataclass(frozen=True, slots=True, order=True)
class Block:
    rid: int
    lvl: int
    bid: int

    @property
    def end(self) -> int:
        return self.bid + (1 << self.lvl)


@dataclass
class TmpoSensor:
    """One sensor's history: (timestamp, counter) points per recycle id."""

    sensor_id: str
    token: str
    points: dict[int, list[tuple[int, float]]]
    config: dict[str, Any] = field(default_factory=dict)


def generate_counter(
    start: int, end: int, *, seed: int = 1, step: int = 60, start_value: float = 1000.0
) -> list[tuple[int, float]]:
    """A plausible electricity counter in Wh: irregular steps, 100-3000 W loads."""
    rng = random.Random(seed)
    points: list[tuple[int, float]] = []
    timestamp, value = start, start_value
    while timestamp < end:
        points.append((timestamp, round(value, 3)))
        dt = step + rng.randint(-5, 5)
        value += rng.uniform(100, 3000) * dt / 3600
        timestamp += dt
    return points


def layout(points: Sequence[tuple[int, float]], now: int) -> dict[tuple[int, int], list[int]]:
    """Map (lvl, bid) → indexes of the points that block holds, as the meter compacts.

    A point sits in the coarsest block whose span has fully elapsed at `now`;
    points of the level-8 block still open are left out.
    """
    blocks: dict[tuple[int, int], list[int]] = {}
    for index, (timestamp, _value) in enumerate(points):
        for lvl in LEVELS:
            span = 1 << lvl
            if timestamp // span < now // span:
                blocks.setdefault((lvl, timestamp - timestamp % span), []).append(index)
                break
    return blocks


def encode_block(config: dict[str, Any], points: Sequence[tuple[int, float]]) -> bytes:
    """A gzip tmpo block: header with head/tail, then time and value deltas."""
    (t0, v0), (tn, vn) = points[0], points[-1]
    deltas_t = [0] + [b[0] - a[0] for a, b in itertools.pairwise(points)]
    deltas_v: list[float] = [0]
    for a, b in itertools.pairwise(points):
        delta = b[1] - a[1]
        deltas_v.append(int(delta) if delta == int(delta) else round(delta, 3))
    block = {
        "h": {"vsn": 1, "cfg": config, "head": [t0, v0], "tail": [tn, vn]},
        "t": deltas_t,
        "v": deltas_v,
    }
    return gzip.compress(json.dumps(block, separators=(",", ":")).encode(), mtime=0)


@dataclass
class TmpoServer:
    """The double on 127.0.0.1; add sensors, then start()."""

    now: int
    port: int = 0
    stale_children: bool = False
    corrupt: set[int] = field(default_factory=set)  # bids served as garbage
    # Serve HTTPS, as api.flukso.net does (a certificate from a CA of the test's own).
    ssl_context: ssl.SSLContext | None = None
    requests: int = 0
    _sensors: dict[str, TmpoSensor] = field(default_factory=dict)
    _blocks: dict[str, dict[Block, bytes]] = field(default_factory=dict)
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def add_sensor(self, sensor: TmpoSensor) -> None:
        self._sensors[sensor.sensor_id] = sensor
        blocks: dict[Block, bytes] = {}
        for rid, points in sensor.points.items():
            for (lvl, bid), indexes in layout(points, self.now).items():
                blocks[Block(rid, lvl, bid)] = encode_block(
                    sensor.config, [points[i] for i in indexes]
                )
                if self.stale_children and lvl == 12:
                    blocks.update(self._children(sensor, rid, [points[i] for i in indexes]))
        self._blocks[sensor.sensor_id] = blocks

    def blocks(self, sensor_id: str) -> list[Block]:
        return sorted(self._blocks[sensor_id], key=lambda b: (b.rid, b.bid, -b.lvl))

    def _children(
        self, sensor: TmpoSensor, rid: int, points: list[tuple[int, float]]
    ) -> dict[Block, bytes]:
        groups: dict[int, list[tuple[int, float]]] = {}
        for point in points:
            groups.setdefault(point[0] - point[0] % 256, []).append(point)
        return {Block(rid, 8, bid): encode_block(sensor.config, pts) for bid, pts in groups.items()}

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/sensor/{sid}/tmpo/sync", self._handle_sync)
        app.router.add_get("/sensor/{sid}/tmpo/{rid}/{lvl}/{bid}", self._handle_block)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=self.ssl_context)
        await site.start()
        server = site._server  # aiohttp keeps the bound socket here
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _authorised(self, request: web.Request) -> TmpoSensor | None:
        sensor = self._sensors.get(request.match_info["sid"])
        if sensor is None or request.headers.get("X-Token") != sensor.token:
            return None
        return sensor

    async def _handle_sync(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        sensor = self._authorised(request)
        if sensor is None:
            return web.json_response({"error": "forbidden"}, status=403)
        after = Block(
            int(request.query.get("rid", 0)),
            int(request.query.get("lvl", 0)),
            int(request.query.get("bid", 0)),
        )
        listing = [
            {"rid": b.rid, "lvl": b.lvl, "bid": b.bid, "ext": "gz"}
            for b in self.blocks(sensor.sensor_id)
            if after.bid == 0 or b.rid > after.rid or (b.rid == after.rid and b.end > after.end)
        ]
        return web.json_response(listing)

    async def _handle_block(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        sensor = self._authorised(request)
        if sensor is None:
            return web.json_response({"error": "forbidden"}, status=403)
        key = Block(
            int(request.match_info["rid"]),
            int(request.match_info["lvl"]),
            int(request.match_info["bid"]),
        )
        body = self._blocks[sensor.sensor_id].get(key)
        if body is None:
            return web.Response(status=404)
        if key.bid in self.corrupt:
            body = body[: len(body) // 2]
        return web.Response(body=body, content_type="application/gzip")


async def _serve(args: argparse.Namespace) -> None:
    now = int(time.time()) if args.now is None else args.now
    server = TmpoServer(now=now, port=args.port)
    sensor = TmpoSensor(
        sensor_id=args.sensor,
        token=args.token,
        points={0: generate_counter(now - args.days * 86_400, now)},
        config={"id": args.sensor, "type": "electricity", "data_type": "counter"},
    )
    server.add_sensor(sensor)
    await server.start()
    print(f"tmpo double on {server.base_url}: sensor {args.sensor}, token {args.token}")
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=18880)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--now", type=int, help="unix time the history ends (default: now)")
    parser.add_argument("--sensor", default="0" * 31 + "1")
    parser.add_argument("--token", default="demo-token")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
