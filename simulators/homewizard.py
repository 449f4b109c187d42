"""A HomeWizard Energy device twin serving the local API v1 over real HTTP.

Each simulated device starts from a fixture of real response shapes and then
evolves like the device: power wanders, energy counters integrate it, water
flows. Faults can be switched at run time from Python or over HTTP
(`PUT /_sim/fault` with `{"fault": "http_500"}`) so tests and the demo share
one twin.

Run: python -m simulators.homewizard --device p1:18001 --device socket:18002
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

FIXTURES = Path(__file__).parent / "fixtures" / "homewizard"
DEVICE_TYPES = ("p1", "kwh1", "kwh3", "water", "socket")


class Fault(StrEnum):
    """What the twin does wrong, on purpose."""

    NONE = "none"
    HTTP_500 = "http_500"
    TIMEOUT = "timeout"  # accept the request, never answer
    INVALID_JSON = "invalid_json"
    API_DISABLED = "api_disabled"  # 403, the app's "local API" switch is off
    SLOW = "slow"  # answer after `slow_seconds`


def load_fixture(device_type: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{device_type}.json").read_text())
    return data


class ConnectionWatch:
    """The TCP connections clients hold open to a twin's HTTP server, idle keep-alive ones too."""

    def __init__(self) -> None:
        self._open: set[RequestHandler] = set()
        self._changed = asyncio.Event()

    def attach(self, runner: web.AppRunner) -> None:
        """Follow the server of a set-up runner: aiohttp tells it of every connection."""
        server = runner.server
        assert server is not None
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler: RequestHandler, transport: asyncio.Transport) -> None:
            self._open.add(handler)
            made(handler, transport)

        def connection_lost(handler: RequestHandler, exc: BaseException | None = None) -> None:
            lost(handler, exc)
            self._open.discard(handler)
            self._changed.set()

        # aiohttp has no hook for this; the server's own callbacks are wrapped instead.
        server.connection_made = connection_made  # type: ignore[method-assign]
        server.connection_lost = connection_lost  # type: ignore[method-assign]

    def changed(self) -> None:
        """Something else a twin counts as a connection (a TLS handshake) has ended."""
        self._changed.set()

    @property
    def count(self) -> int:
        return len(self._open)

    async def wait_until(self, count: Callable[[], int]) -> None:
        """Return once `count()` is zero; it is looked at again after every closed connection."""
        while True:
            self._changed.clear()
            if not count():
                return
            await self._changed.wait()


@dataclass
class HomeWizardSimulator:
    """One simulated device on 127.0.0.1."""

    device_type: str
    port: int = 0
    serial: str | None = None
    seed: int = 1
    slow_seconds: float = 2.0
    requests: int = 0
    fixture: dict[str, Any] = field(init=False)
    _runner: web.AppRunner | None = field(init=False, default=None)
    _rng: random.Random = field(init=False)
    _step: int = field(init=False, default=0)
    _released: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    _stopping: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    _connections: ConnectionWatch = field(init=False, default_factory=ConnectionWatch)
    _fault: Fault = field(init=False, default=Fault.NONE)

    def __post_init__(self) -> None:
        self.fixture = copy.deepcopy(load_fixture(self.device_type))
        if self.serial is not None:
            self.fixture["device"]["serial"] = self.serial
        self._rng = random.Random(self.seed)

    # The ground truth the tests compare entities with.
    @property
    def device(self) -> dict[str, Any]:
        return dict(self.fixture["device"])

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.fixture["data"])

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def open_connections(self) -> int:
        """TCP connections clients hold open to the twin now (idle keep-alive ones too)."""
        return self._connections.count

    async def wait_for_no_connections(self) -> None:
        """Return once every client has closed its connections; bound it with a timeout."""
        await self._connections.wait_until(lambda: self.open_connections)

    async def start(self) -> None:
        self._stopping.clear()
        app = web.Application()
        app.router.add_get("/api", self._handle_device)
        app.router.add_get("/api/v1/data", self._handle_data)
        app.router.add_get("/api/v1/system", self._handle_system)
        app.router.add_put("/api/v1/system", self._handle_system)
        app.router.add_get("/api/v1/state", self._handle_state)
        app.router.add_put("/api/v1/state", self._handle_state)
        app.router.add_put("/api/v1/identify", self._handle_identify)
        app.router.add_put("/_sim/fault", self._handle_fault)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        self._connections.attach(self._runner)
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        server = site._server  # aiohttp keeps the bound socket here
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._stopping.set()
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def fault(self) -> Fault:
        return self._fault

    @fault.setter
    def fault(self, fault: Fault) -> None:
        self._fault = fault
        if fault is Fault.TIMEOUT:
            self._released.clear()
        else:
            self._released.set()

    def step(self, seconds: float = 1.0) -> None:
        """Advance the device by `seconds`: new power, counters integrate it."""
        self._step += 1
        data = self.fixture["data"]
        wave = math.sin(self._step / 30)
        if "active_power_w" in data:
            base = abs(data["active_power_w"]) or 100.0
            power = round(max(0.0, base * (1 + 0.05 * wave) + self._rng.uniform(-5, 5)), 1)
            if self.fixture.get("state", {}).get("power_on") is False:
                power = 0.0
            data["active_power_w"] = power
            if "active_power_l1_w" in data and "active_power_l2_w" not in data:
                data["active_power_l1_w"] = power
            kwh = power * seconds / 3_600_000
            for key in ("total_power_import_kwh", "total_power_import_t1_kwh"):
                if key in data:
                    data[key] = round(data[key] + kwh, 6)
            if "total_power_import_t2_kwh" in data:
                # P1 meters count into the active tariff only.
                tariff_key = f"total_power_import_t{data.get('active_tariff', 1)}_kwh"
                data[tariff_key] = round(data[tariff_key] + kwh, 6)
                data["total_power_import_t1_kwh"] = round(
                    data["total_power_import_kwh"] - data["total_power_import_t2_kwh"], 6
                )
        # Voltages and phase powers wander too: a real grid never holds still.
        for phase in (1, 2, 3):
            voltage_key = f"active_voltage_l{phase}_v"
            if voltage_key in data:
                data[voltage_key] = round(230.0 + 2 * math.sin(self._step / 7 + phase), 1)
        if "active_power_l2_w" in data:
            total = data["active_power_w"]
            data["active_power_l1_w"] = round(total * 0.5, 1)
            data["active_power_l2_w"] = round(total * 0.3, 1)
            data["active_power_l3_w"] = round(
                total - data["active_power_l1_w"] - data["active_power_l2_w"], 1
            )
        if "active_voltage_v" in data:
            data["active_voltage_v"] = round(230.0 + 2 * math.sin(self._step / 7), 1)
        if "active_liter_lpm" in data:
            flow = round(max(0.0, 6.0 + 2 * wave), 2)
            data["active_liter_lpm"] = flow
            data["total_liter_m3"] = round(data["total_liter_m3"] + flow * seconds / 60_000, 6)

    async def _answer(self, payload: Any) -> web.StreamResponse:
        self.requests += 1
        match self.fault:
            case Fault.HTTP_500:
                return web.Response(status=500, text="Internal Server Error")
            case Fault.API_DISABLED:
                return web.json_response(
                    {"error": {"id": 202, "description": "API not enabled"}}, status=403
                )
            case Fault.INVALID_JSON:
                return web.Response(text='{"active_power_w": 12', content_type="application/json")
            case Fault.TIMEOUT:
                # Hold the request until the fault clears or the twin stops.
                await self._released.wait()
            case Fault.SLOW:
                # Slow, but a stopping twin does not make shutdown wait.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.slow_seconds):
                        await self._stopping.wait()
            case Fault.NONE:
                pass
        return web.json_response(payload)

    async def _handle_device(self, _: web.Request) -> web.StreamResponse:
        return await self._answer(self.fixture["device"])

    async def _handle_data(self, _: web.Request) -> web.StreamResponse:
        if "data" not in self.fixture:
            # A HomeWizard product without measurements answers 404 here.
            self.requests += 1
            return web.json_response({"error": {"id": 404}}, status=404)
        return await self._answer(self.fixture["data"])

    async def _handle_system(self, request: web.Request) -> web.StreamResponse:
        system = self.fixture["system"]
        if request.method == "PUT":
            system.update(await request.json())
        # API v1 reports only the cloud switch here.
        return await self._answer({"cloud_enabled": system.get("cloud_enabled", True)})

    async def _handle_state(self, request: web.Request) -> web.StreamResponse:
        if "state" not in self.fixture:
            self.requests += 1
            return web.json_response({"error": {"id": 404}}, status=404)
        if request.method == "PUT":
            self.fixture["state"].update(await request.json())
            if self.fixture["state"]["power_on"] is False:
                self.fixture["data"]["active_power_w"] = 0.0
        return await self._answer(self.fixture["state"])

    async def _handle_identify(self, _: web.Request) -> web.StreamResponse:
        return await self._answer({"identify": "ok"})

    async def _handle_fault(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.fault = Fault(body["fault"])
        return web.json_response({"fault": self.fault.value})


class Twin(Protocol):
    """What the command-line runner needs of a twin (v1 here, v2 in homewizard_v2)."""

    device_type: str

    @property
    def host(self) -> str: ...

    @property
    def open_connections(self) -> int: ...

    async def wait_for_no_connections(self) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def step(self, seconds: float = 1.0) -> None: ...


async def serve(twins: Sequence[Twin], interval: float, scheme: str) -> None:
    """Start the twins, advance them every `interval` seconds until cancelled."""
    for twin in twins:
        await twin.start()
        print(f"HomeWizard {twin.device_type} twin on {scheme}://{twin.host}", flush=True)
    try:
        while True:
            await asyncio.sleep(interval)
            for twin in twins:
                twin.step(interval)
    finally:
        for twin in twins:
            await twin.stop()


def device_arguments(description: str) -> argparse.ArgumentParser:
    """The command line both twins share: --device TYPE:PORT (repeatable), --interval."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--device",
        action="append",
        required=True,
        help="TYPE:PORT, TYPE one of " + ", ".join(DEVICE_TYPES),
    )
    parser.add_argument("--interval", type=float, default=1.0)
    return parser


def parse_devices(values: Sequence[str]) -> list[tuple[str, int]]:
    return [(kind, int(port)) for kind, port in (value.split(":") for value in values)]


def main() -> None:
    args = device_arguments(__doc__.splitlines()[0]).parse_args()
    twins: list[HomeWizardSimulator] = []
    for i, (kind, port) in enumerate(parse_devices(args.device)):
        seen = sum(1 for twin in twins if twin.device_type == kind)
        # A second twin of a type needs a serial of its own to be a different device.
        serial = None if seen == 0 else f"{load_fixture(kind)['device']['serial'][:-4]}{1000 + i}"
        twins.append(HomeWizardSimulator(kind, port, serial=serial, seed=i))
    asyncio.run(serve(twins, args.interval, "http"))


if __name__ == "__main__":
    main()
