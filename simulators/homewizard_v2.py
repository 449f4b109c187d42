"""A HomeWizard Energy device twin serving the local API v2 over HTTPS.

The device data and how it evolves come from the v1 twin (`simulators.homewizard`),
which this twin wraps without starting; here it is only re-shaped into the v2
payloads and guarded the way a v2 device guards it: HTTPS with a certificate from a
HomeWizard-style CA, a bearer token on every request, and tokens handed out only
within 30 s of a press on the device's button.

All twins of a process share one test CA (as every real device shares HomeWizard's);
clients trust it by using `twin_ca().pem` where the library expects HomeWizard's CA
(`homewizard_energy.v2.CACERT`).

Run: python -m simulators.homewizard_v2 --device p1:18443 --ca-out /tmp/twin-ca.pem
then press the button with `curl -k -X POST https://127.0.0.1:18443/_sim/button`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import ipaddress
import json
import secrets
import ssl
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .homewizard import (
    ConnectionWatch,
    Fault,
    HomeWizardSimulator,
    device_arguments,
    parse_devices,
    serve,
)

API_VERSION: Final = "2.0.0"
BUTTON_WINDOW_SECONDS: Final = 30.0
USER_PREFIX: Final = "local/"
MAX_USER_NAME: Final = 40  # characters after the prefix

# Part of the common name a device's certificate carries: appliance/<id>/<serial>.
_APPLIANCE_IDS: Final = {
    "HWE-P1": "p1dongle",
    "HWE-SKT": "energysocket",
    "HWE-WTR": "watermeter",
    "HWE-KWH1": "energymeter",
    "HWE-KWH3": "energymeter",
}

# v1 names that v2 renamed outright; prefixes are handled in `_v2_name`.
_RENAMED: Final = {
    "smr_version": "protocol_version",
    "active_tariff": "tariff",
    "active_power_average_w": "average_power_15m_w",
    "montly_power_peak_w": "monthly_power_peak_w",  # v1's typo is gone in v2
    "montly_power_peak_timestamp": "monthly_power_peak_timestamp",
}
# v1 measurement fields with no v2 counterpart (Wi-Fi moved to /api/system).
_V1_ONLY: Final = frozenset({"wifi_ssid", "wifi_strength", "total_liter_offset_m3"})
# v1 fields whose "active_" prefix v2 kept.
_KEPT_ACTIVE: Final = frozenset({"active_liter_lpm"})
_SYSTEM_SETTINGS: Final = frozenset(
    {"cloud_enabled", "status_led_brightness_pct", "api_v1_enabled"}
)

# A v1 timestamp: YYMMDDhhmmss as an integer, local meter time.
_V1_TIMESTAMP: Final = "%y%m%d%H%M%S"


@dataclass(frozen=True, slots=True)
class TwinCA:
    """A certificate authority standing in for HomeWizard's appliance CA."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def issue(self, common_name: str) -> tuple[bytes, bytes]:
        """A server certificate for 127.0.0.1 with the device's common name: (cert, key) PEM."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            # Only an IP name: clients that verify the appliance identifier fall back
            # to the common name, which OpenSSL does only without DNS names.
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return cert.public_bytes(serialization.Encoding.PEM), key_pem


@functools.cache
def twin_ca() -> TwinCA:
    """The one CA of this process, made on first use."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Wattkeeper twins"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Appliance Access CA (test)"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return TwinCA(key=key, cert=cert)


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _server_context(common_name: str) -> ssl.SSLContext:
    """TLS for one twin; blocking (key generation, files), so run it in an executor."""
    cert_pem, key_pem = twin_ca().issue(common_name)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # The ssl module loads certificates only from files.
    with tempfile.TemporaryDirectory(prefix="hw-twin-") as folder:
        cert_file, key_file = Path(folder) / "cert.pem", Path(folder) / "key.pem"
        cert_file.write_bytes(cert_pem)
        key_file.write_bytes(key_pem)
        context.load_cert_chain(cert_file, key_file)
    return context


class _TlsAcceptor(asyncio.Protocol):
    """One accepted TCP connection: TLS handshake, then aiohttp's handler on top.

    asyncio's own TLS server reports every failed handshake to the loop's exception
    handler in debug mode, which Home Assistant's tests run in and fail on; yet a
    client refusing the certificate, or speaking plain HTTP to the port, is a normal
    event for a device (and one the tests provoke). Upgrading with `start_tls`
    ourselves lets the twin drop such connections quietly, as a device does.
    """

    def __init__(
        self,
        handler: Callable[[], asyncio.Protocol],
        context: ssl.SSLContext,
        tasks: set[asyncio.Task[None]],
        connections: ConnectionWatch,
    ) -> None:
        self._handler = handler
        self._context = context
        self._tasks = tasks
        self._connections = connections
        self._early: list[bytes] = []
        self._eof = False
        self._lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        # Leave the client's hello in the socket until TLS takes over the transport.
        transport.pause_reading()
        task = asyncio.get_running_loop().create_task(self._upgrade(transport))
        self._tasks.add(task)
        task.add_done_callback(self._handshake_done)

    def _handshake_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._connections.changed()

    # Between the end of the handshake and the handover, early data waits here.
    def data_received(self, data: bytes) -> None:
        self._early.append(data)

    def eof_received(self) -> None:
        self._eof = True

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True

    async def _upgrade(self, transport: asyncio.Transport) -> None:
        try:
            tls = await asyncio.get_running_loop().start_tls(
                transport, self, self._context, server_side=True, ssl_handshake_timeout=10
            )
        except OSError:  # ssl.SSLError, resets and handshake timeouts are all OSErrors
            transport.close()
            return
        if tls is None or self._lost:
            return
        handler = self._handler()
        tls.set_protocol(handler)
        handler.connection_made(tls)
        for chunk in self._early:
            handler.data_received(chunk)
        if self._eof:
            handler.eof_received()


def _v2_name(v1_name: str) -> str:
    if v1_name in _RENAMED:
        return _RENAMED[v1_name]
    if v1_name.startswith("total_power_"):
        return "energy_" + v1_name.removeprefix("total_power_")
    if v1_name.startswith("active_") and v1_name not in _KEPT_ACTIVE:
        return v1_name.removeprefix("active_")
    return v1_name


def _v2_timestamp(value: Any) -> Any:
    """v1 sends YYMMDDhhmmss integers, v2 ISO 8601 text (still without a zone)."""
    if isinstance(value, int):
        return dt.datetime.strptime(f"{value:012d}", _V1_TIMESTAMP).isoformat()
    return value


def _v2_external(device: dict[str, Any]) -> dict[str, Any]:
    return {**device, "timestamp": _v2_timestamp(device["timestamp"])}


def _error(status: int, code: str) -> web.Response:
    return web.json_response({"error": code}, status=status)


type _Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class HomeWizardV2Simulator:
    """One simulated v2 device on 127.0.0.1, over HTTPS."""

    device_type: str
    port: int = 0
    serial: str | None = None
    seed: int = 1
    slow_seconds: float = 2.0
    button_window: float = BUTTON_WINDOW_SECONDS
    # When the button window closes is read from here; tests pass a clock they move.
    clock: Callable[[], float] = time.monotonic
    requests: int = 0
    _twin: HomeWizardSimulator = field(init=False)
    _tokens: dict[str, str] = field(init=False, default_factory=dict)
    _button_until: float | None = field(init=False, default=None)
    _fault: Fault = field(init=False, default=Fault.NONE)
    _released: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    _stopping: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    _runner: web.AppRunner | None = field(init=False, default=None)
    _server: asyncio.Server | None = field(init=False, default=None)
    _tls: ssl.SSLContext | None = field(init=False, default=None)
    _handshakes: set[asyncio.Task[None]] = field(init=False, default_factory=set)
    _arrivals: asyncio.Condition = field(init=False, default_factory=asyncio.Condition)
    _connections: ConnectionWatch = field(init=False, default_factory=ConnectionWatch)

    def __post_init__(self) -> None:
        # Not started: it only keeps the device's values and moves them on.
        self._twin = HomeWizardSimulator(self.device_type, serial=self.serial, seed=self.seed)
        self._released.set()

    # The ground truth, in v2 shapes, that tests compare entities with.
    @property
    def device(self) -> dict[str, Any]:
        v1 = self._twin.fixture["device"]
        return {
            "product_name": v1["product_name"],
            "product_type": v1["product_type"],
            "serial": v1["serial"],
            "firmware_version": v1["firmware_version"],
            "api_version": API_VERSION,
        }

    @property
    def measurement(self) -> dict[str, Any]:
        measurement: dict[str, Any] = {}
        for name, value in self._twin.fixture["data"].items():
            if name in _V1_ONLY:
                continue
            v2_name = _v2_name(name)
            if v2_name == "external":
                measurement[v2_name] = [_v2_external(device) for device in value]
            elif v2_name.endswith("timestamp"):
                measurement[v2_name] = _v2_timestamp(value)
            else:
                measurement[v2_name] = value
        return measurement

    @property
    def system(self) -> dict[str, Any]:
        v1 = self._twin.fixture["system"]
        system: dict[str, Any] = {
            "wifi_ssid": v1.get("wifi_ssid"),
            # v2 reports the signal in dBm; HomeWizard's percentage is 2 × (dBm + 100).
            "wifi_rssi_db": int(v1.get("wifi_strength_pct", 0)) // 2 - 100,
            "cloud_enabled": v1.get("cloud_enabled", True),
            "status_led_brightness_pct": v1.get("status_led_brightness_pct", 100),
            "api_v1_enabled": v1.get("api_v1_enabled", True),
        }
        if "uptime_s" in v1:
            system["uptime_s"] = v1["uptime_s"]
        return system

    @property
    def fixture(self) -> dict[str, Any]:
        """The device's values in v1 shape; edit them to change what the twin reports."""
        return self._twin.fixture

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def open_connections(self) -> int:
        """Connections clients hold open now: past the TLS handshake, and in it."""
        return self._connections.count + len(self._handshakes)

    async def wait_for_no_connections(self) -> None:
        """Return once every client has closed its connections; bound it with a timeout."""
        await self._connections.wait_until(lambda: self.open_connections)

    @property
    def identifier(self) -> str:
        """The appliance identifier in the certificate's common name."""
        device = self.device
        return f"appliance/{_APPLIANCE_IDS[device['product_type']]}/{device['serial']}"

    @property
    def tokens(self) -> dict[str, str]:
        """Issued tokens by user name ("local/<name>")."""
        return dict(self._tokens)

    @property
    def button_window_open(self) -> bool:
        return self._button_until is not None and self.clock() < self._button_until

    async def wait_for_requests(self, count: int) -> None:
        """Return once the twin has received `count` API requests in all."""
        async with self._arrivals:
            await self._arrivals.wait_for(lambda: self.requests >= count)

    def press_button(self) -> None:
        """The user presses the device's button: token requests succeed for a while."""
        self._button_until = self.clock() + self.button_window

    def revoke_tokens(self) -> None:
        """Forget every token, as a factory reset or the app's "remove user" does."""
        self._tokens.clear()

    def step(self, seconds: float = 1.0) -> None:
        """Advance the device by `seconds`, as the v1 twin does."""
        self._twin.step(seconds)

    @property
    def fault(self) -> Fault:
        return self._fault

    @fault.setter
    def fault(self, fault: Fault) -> None:
        if fault is Fault.API_DISABLED:
            # v2 has no "local API" switch; its tokens are the access control.
            raise ValueError("API v2 cannot be disabled")
        self._fault = fault
        if fault is Fault.TIMEOUT:
            self._released.clear()
        else:
            self._released.set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tls = await loop.run_in_executor(None, _server_context, self.identifier)
        app = web.Application()
        app.router.add_get("/api", self._authorized(self._handle_device))
        app.router.add_get("/api/measurement", self._authorized(self._handle_measurement))
        app.router.add_get("/api/system", self._authorized(self._handle_system))
        app.router.add_put("/api/system", self._authorized(self._handle_system))
        app.router.add_put("/api/system/identify", self._authorized(self._handle_no_content))
        app.router.add_post("/api/user", self._guarded(self._handle_create_user))
        app.router.add_delete("/api/user", self._authorized(self._handle_delete_user))
        app.router.add_put("/_sim/fault", self._handle_fault)
        app.router.add_post("/_sim/button", self._handle_button)
        # Handlers end when the twin stops (see `_guard`); the timeout only bounds surprises.
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        assert self._runner.server is not None
        self._connections.attach(self._runner)
        self._stopping.clear()
        self._server = await loop.create_server(
            functools.partial(
                _TlsAcceptor, self._runner.server, self._tls, self._handshakes, self._connections
            ),
            "127.0.0.1",
            self.port,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._stopping.set()
        self._released.set()
        if self._server is not None:
            self._server.close()  # no new connections
        handshakes = list(self._handshakes)
        for task in handshakes:
            task.cancel()
        await asyncio.gather(*handshakes, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._server is not None:
            # What the handlers did not close (TLS still shutting down) goes now.
            self._server.abort_clients()
            await self._server.wait_closed()
            self._server = None

    def _guarded(self, handler: _Handler) -> _Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            # Not `or`: an aiohttp response with no user data is falsy.
            if (refused := await self._guard(request)) is not None:
                return refused
            return await handler(request)

        return guarded

    def _authorized(self, handler: _Handler) -> _Handler:
        async def authorized(request: web.Request) -> web.StreamResponse:
            if (refused := await self._guard(request)) is not None:
                return refused
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme != "Bearer" or token not in self._tokens.values():
                return _error(401, "user:unauthorized")
            return await handler(request)

        return authorized

    async def _guard(self, _: web.Request) -> web.StreamResponse | None:
        """The current fault; a response here ends the request."""
        self.requests += 1
        async with self._arrivals:
            self._arrivals.notify_all()
        match self._fault:
            case Fault.HTTP_500:
                return web.Response(status=500, text="Internal Server Error")
            case Fault.INVALID_JSON:
                return web.Response(text='{"power_w": 12', content_type="application/json")
            case Fault.TIMEOUT:
                # Hold the request until the fault clears or the twin stops.
                await self._released.wait()
            case Fault.SLOW:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.slow_seconds):
                        await self._stopping.wait()
            case Fault.NONE | Fault.API_DISABLED:
                pass
        if self._stopping.is_set():
            return web.Response(status=503, text="Shutting down")
        return None

    async def _handle_device(self, _: web.Request) -> web.StreamResponse:
        return web.json_response(self.device)

    async def _handle_measurement(self, _: web.Request) -> web.StreamResponse:
        return web.json_response(self.measurement)

    async def _handle_system(self, request: web.Request) -> web.StreamResponse:
        if request.method == "PUT":
            body = await _json_body(request)
            if not isinstance(body, dict) or not body or set(body) - _SYSTEM_SETTINGS:
                return _error(400, "request:invalid-body")
            self._twin.fixture["system"].update(body)
        return web.json_response(self.system)

    async def _handle_no_content(self, _: web.Request) -> web.StreamResponse:
        return web.Response(status=204)

    async def _handle_create_user(self, request: web.Request) -> web.StreamResponse:
        body = await _json_body(request)
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not _valid_user_name(name):
            return _error(400, "user:invalid-name")
        if not self.button_window_open:
            return _error(403, "user:creation-not-enabled")
        # Asking again under the same name replaces that user's token.
        self._tokens[name] = secrets.token_hex(16).upper()
        return web.json_response({"token": self._tokens[name], "name": name})

    async def _handle_delete_user(self, request: web.Request) -> web.StreamResponse:
        body = await _json_body(request) if request.can_read_body else None
        if isinstance(body, dict) and isinstance(body.get("name"), str):
            if self._tokens.pop(body["name"], None) is None:
                return _error(404, "user:not-found")
            return web.Response(status=204)
        # No name: the caller removes itself.
        token = request.headers["Authorization"].partition(" ")[2]
        self._tokens = {n: t for n, t in self._tokens.items() if t != token}
        return web.Response(status=204)

    async def _handle_fault(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        try:
            self.fault = Fault(body["fault"])
        except ValueError as err:
            return web.json_response({"error": str(err)}, status=400)
        return web.json_response({"fault": self.fault.value})

    async def _handle_button(self, _: web.Request) -> web.StreamResponse:
        self.press_button()
        return web.json_response({"button_window_s": self.button_window})


async def _json_body(request: web.Request) -> Any:
    try:
        return json.loads(await request.text() or "null")
    except ValueError:
        return None


def _valid_user_name(name: str) -> bool:
    suffix = name.removeprefix(USER_PREFIX)
    return name.startswith(USER_PREFIX) and 0 < len(suffix) <= MAX_USER_NAME


def main() -> None:
    parser = device_arguments(__doc__.splitlines()[0])
    parser.add_argument("--ca-out", type=Path, help="write the twins' CA certificate here")
    args = parser.parse_args()
    twins = [
        HomeWizardV2Simulator(kind, port, seed=i)
        for i, (kind, port) in enumerate(parse_devices(args.device))
    ]
    if args.ca_out is not None:
        args.ca_out.write_text(twin_ca().pem)
        print(f"CA certificate written to {args.ca_out}", flush=True)
    asyncio.run(serve(twins, args.interval, "https"))


if __name__ == "__main__":
    main()
