"""Fluksometers (FLM02, FLM03) through the MQTT broker each meter runs itself.

Topics read (payload shapes: flukso_config.py for config, flukso_readings.py
for readings):
- `/device/<device>/config/sensor` (retained JSON object): the sensor list.
- `/device/<device>/config/flx` (retained, FLM03 only): port names and the
  phase mode.
- `/sensor/<sensor id>/gauge` `[timestamp, value, unit]`: W, L/min, and on an
  FLM03 also V, A, VAR, power factor; about once a second.
- `/sensor/<sensor id>/counter` `[timestamp, value, unit]`: Wh, L (VARh on an
  FLM03); about once a minute.

Every Fluksometer gets its own client and connection. The meter publishes each
sensor separately, all stamped with the same second; readings are gathered
until a later second starts or the burst goes quiet (`settle`) and then become
one Snapshot stamped with the meter's time, holding the latest value of every
sensor plus the role totals (flukso_roles.py). Gauges older than
`gauge_max_age` meter seconds are left out, so a sensor that fell silent goes
unavailable instead of freezing.

Bad input never ends the stream: garbage payloads, wrong units, readings of
unknown sensors and out-of-order readings are counted in `stats` and logged
once. A wrong unit also drops that sensor's last value. No valid reading for
`stall_intervals` intervals ends the stream with MeterTimeoutError; a broken
link with MeterConnectionError. `stream_forever` reconnects with the shared
backoff policy (backoff.py).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import aiomqtt

from .backoff import Backoff, reconnecting
from .errors import (
    MeterAuthError,
    MeterConnectionError,
    MeterError,
    MeterTimeoutError,
)
from .flukso_config import (
    FluksoConfigError,
    FluksoDevice,
    decode_json_object,
    is_flm03,
    parse_device,
    sensor_names,
)
from .flukso_readings import (
    Kind,
    RawReading,
    Reading,
    ReadingError,
    UnitError,
    decode_payload,
    interpret,
)
from .flukso_roles import SensorRole, snapshot_values
from .model import MeterIdentity, MeterKind, Snapshot

LOGGER = logging.getLogger(__name__)

MANUFACTURER: Final = "Flukso"
DEFAULT_PORT: Final = 1883

TOPIC_CONFIG: Final = "/device/{device}/config/+"
TOPIC_GAUGE: Final = "/sensor/+/gauge"
TOPIC_COUNTER: Final = "/sensor/+/counter"

# MQTT 3.1.1 CONNACK 4/5 and MQTT 5 reason codes 134/135: credentials refused.
_AUTH_CODES: Final = frozenset({4, 5, 134, 135})
# Readings kept for sensors we do not know yet (config not received).
_EARLY_LIMIT: Final = 512


@dataclass(slots=True)
class FluksoStats:
    """What the driver saw; public so the glue can show it in diagnostics."""

    messages: int = 0
    readings: int = 0
    snapshots: int = 0
    bad_payloads: int = 0
    bad_units: int = 0
    bad_configs: int = 0
    unknown_sensors: int = 0
    stale_readings: int = 0
    reconnects: int = 0
    # "<sensor id>/<gauge|counter>" → the unit it publishes that we do not accept;
    # cleared when that topic brings a good reading again.
    wrong_units: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Update:
    sensor_id: str
    kind: Kind
    reading: Reading


class FluksoMeter:
    """One Fluksometer on its own MQTT broker; a StreamingMeter.

    `interval` is how often the meter publishes its gauges (1 s on real
    meters); the stream stalls after `stall_intervals` of them without a valid
    reading. `settle` (default interval/4) is the quiet time that closes a
    burst. `device_id` picks one Fluksometer when several are bridged onto one
    broker; by default the first configuration seen wins. `roles` maps sensor
    ids to their role and sign (flukso_roles.py).
    """

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_PORT,
        *,
        username: str | None = None,
        password: str | None = None,
        device_id: str | None = None,
        roles: Mapping[str, SensorRole] | None = None,
        interval: float = 1.0,
        stall_intervals: int = 3,
        settle: float | None = None,
        gauge_max_age: int = 10,
        discovery_timeout: float = 10.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self._username = username
        self._password = password
        self._device_filter = device_id.lower() if device_id else None
        self._roles: dict[str, SensorRole] = {k.lower(): v for k, v in (roles or {}).items()}
        self._stall = interval * stall_intervals
        self._settle = settle if settle is not None else interval / 4
        self._gauge_max_age = gauge_max_age
        self._discovery_timeout = discovery_timeout
        self._connect_timeout = connect_timeout
        self.stats = FluksoStats()
        self.device: FluksoDevice | None = None
        self._configs: dict[str, dict[str, dict[str, Any]]] = {}
        self._latest: dict[tuple[str, Kind], Reading] = {}
        self._early: dict[tuple[str, Kind], RawReading] = {}
        self._batch_ts: int | None = None
        self._logged: set[tuple[str, str]] = set()
        self._stack: AsyncExitStack | None = None
        self._client: aiomqtt.Client | None = None
        self._receiving: asyncio.Future[aiomqtt.Message] | None = None
        self._names: tuple[FluksoDevice, dict[str, str]] | None = None

    # -- StreamingMeter ---------------------------------------------------------

    async def identify(self) -> MeterIdentity:
        """Connect and wait for the retained configuration topics."""
        client = await self._connect()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._discovery_timeout
        try:
            while not self._discovery_complete():
                message = await self._next_message(client, deadline - loop.time())
                if message is None:
                    break
                if (update := self._dispatch(message)) is not None:
                    self._apply(update)
        except aiomqtt.MqttError as err:
            await self._disconnect()
            raise MeterConnectionError(f"Fluksometer at {self.host} dropped the link") from err
        if self.device is None:
            await self._disconnect()
            raise MeterTimeoutError(
                f"No Fluksometer configuration on the broker at {self.host}:{self.port} "
                f"within {self._discovery_timeout:g} s"
            )
        return self.identity

    async def stream(self) -> AsyncIterator[Snapshot]:
        """Yield one snapshot per meter second; raise when the link breaks or stalls."""
        if self._client is None or self.device is None:
            await self.identify()
        client = self._client
        assert client is not None
        try:
            async for snapshot in self._snapshots(client):
                yield snapshot
        except MeterError:
            await self._disconnect()
            raise

    async def close(self) -> None:
        await self._disconnect()

    # -- extras for the glue ----------------------------------------------------

    @property
    def identity(self) -> MeterIdentity:
        if self.device is None:
            raise RuntimeError("identify() the Fluksometer first")
        return MeterIdentity(
            kind=MeterKind.FLUKSO,
            serial=self.device.device_id,
            model=self.device.model,
            manufacturer=MANUFACTURER,
            name=f"Fluksometer {self.device.model}",
            address=f"{self.host}:{self.port}",
        )

    def channel_name(self, channel: str) -> str | None:
        """The readable name of a sensor's series (channel = sensor id), for entity names."""
        if self.device is None:
            return None
        if self._names is None or self._names[0] is not self.device:
            self._names = (self.device, sensor_names(self.device))
        return self._names[1].get(channel)

    @property
    def connected(self) -> bool:
        """Whether the driver holds a connection to the broker."""
        return self._client is not None

    @property
    def roles(self) -> Mapping[str, SensorRole]:
        return dict(self._roles)

    def set_roles(self, roles: Mapping[str, SensorRole]) -> None:
        """Apply new roles/signs from the options flow; takes effect at the next snapshot."""
        self._roles = {k.lower(): v for k, v in roles.items()}

    def stream_forever(
        self,
        backoff: Backoff | None = None,
        on_error: Callable[[MeterError], None] | None = None,
    ) -> AsyncIterator[Snapshot]:
        """Like stream(), but reconnect with backoff after link errors and stalls.

        Uses the shared policy in backoff.py: credentials refused still end it,
        and `on_error` hears every transient error so availability can follow
        the link.
        """

        def heard(err: MeterError) -> None:
            self.stats.reconnects += 1
            if on_error is not None:
                on_error(err)

        return reconnecting(self.stream, backoff, on_error=heard)

    # -- connection -------------------------------------------------------------

    async def _connect(self) -> aiomqtt.Client:
        if self._client is not None:
            return self._client
        client = aiomqtt.Client(
            self.host,
            self.port,
            username=self._username,
            password=self._password,
            # Unique per connection: two Wattkeeper meters must not kick each other off.
            identifier=f"wattkeeper-{uuid.uuid4().hex[:12]}",
            keepalive=30,
            timeout=self._connect_timeout,
        )
        stack = AsyncExitStack()
        try:
            async with asyncio.timeout(self._connect_timeout):
                await stack.enter_async_context(client)
                device = self._device_filter or "+"
                await client.subscribe(
                    [(TOPIC_CONFIG.format(device=device), 0), (TOPIC_GAUGE, 0), (TOPIC_COUNTER, 0)]
                )
        except aiomqtt.MqttCodeError as err:
            await _close_quietly(stack)
            if _code(err) in _AUTH_CODES:
                raise MeterAuthError(f"The broker at {self.host} refused the credentials") from err
            raise MeterConnectionError(f"Cannot connect to {self.host}:{self.port}: {err}") from err
        except aiomqtt.MqttError as err:
            await _close_quietly(stack)
            raise MeterConnectionError(f"Cannot connect to {self.host}:{self.port}: {err}") from err
        except TimeoutError as err:
            await _close_quietly(stack)
            raise MeterTimeoutError(
                f"No answer from the broker at {self.host}:{self.port}"
            ) from err
        self._stack = stack
        self._client = client
        # A new connection gets the retained config again; start the batch afresh.
        self._batch_ts = None
        return client

    async def _next_message(self, client: aiomqtt.Client, timeout: float) -> aiomqtt.Message | None:
        """The next message, or None after `timeout` seconds.

        The receive stays pending across timeouts instead of being cancelled:
        cancelling it could drop a message already taken off the queue.
        """
        if self._receiving is None:
            self._receiving = asyncio.ensure_future(anext(client.messages))
        done, _ = await asyncio.wait({self._receiving}, timeout=max(timeout, 0.0))
        if not done:
            return None
        receiving, self._receiving = self._receiving, None
        return receiving.result()

    async def _disconnect(self) -> None:
        receiving, self._receiving = self._receiving, None
        if receiving is not None:
            receiving.cancel()
            with suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await receiving
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await _close_quietly(stack)

    # -- the message loop -------------------------------------------------------

    async def _snapshots(self, client: aiomqtt.Client) -> AsyncIterator[Snapshot]:
        loop = asyncio.get_running_loop()
        stall_deadline = loop.time() + self._stall
        settle_deadline = 0.0
        while True:
            now = loop.time()
            pending = self._batch_ts is not None
            deadline = min(stall_deadline, settle_deadline) if pending else stall_deadline
            try:
                message = await self._next_message(client, deadline - now)
            except aiomqtt.MqttError as err:
                raise MeterConnectionError(
                    f"Lost the broker at {self.host}:{self.port}: {err}"
                ) from err
            if message is None:
                if pending and loop.time() >= settle_deadline:
                    if (snapshot := self._flush()) is not None:
                        yield snapshot
                    continue
                # Messages already queued mean a busy loop, not a silent meter.
                if loop.time() >= stall_deadline and not len(client.messages):
                    raise MeterTimeoutError(
                        f"No reading from the Fluksometer at {self.host} for {self._stall:g} s"
                    )
                continue
            update = self._dispatch(message)
            if update is None:
                continue
            later = self._batch_ts is not None and update.reading.timestamp > self._batch_ts
            if later and (snapshot := self._flush()) is not None:
                yield snapshot
            self._apply(update)
            now = loop.time()
            stall_deadline = now + self._stall
            settle_deadline = now + self._settle

    def _flush(self) -> Snapshot | None:
        batch_ts, self._batch_ts = self._batch_ts, None
        if batch_ts is None or self.device is None:
            return None
        oldest_gauge = batch_ts - self._gauge_max_age
        latest = {
            key: reading
            for key, reading in self._latest.items()
            if key[1] is Kind.COUNTER or reading.timestamp >= oldest_gauge
        }
        values = snapshot_values(self.device, self._roles, latest)
        if not values:
            return None
        self.stats.snapshots += 1
        return Snapshot(
            identity=self.identity,
            measured_at=datetime.fromtimestamp(batch_ts, UTC),
            values=values,
        )

    def _apply(self, update: _Update) -> None:
        self._latest[(update.sensor_id, update.kind)] = update.reading
        self.stats.readings += 1
        ts = update.reading.timestamp
        self._batch_ts = ts if self._batch_ts is None else max(self._batch_ts, ts)

    # -- decoding ---------------------------------------------------------------

    def _dispatch(self, message: aiomqtt.Message) -> _Update | None:
        """Handle config messages in place; return a reading ready to apply."""
        self.stats.messages += 1
        parts = message.topic.value.split("/")
        payload: bytes = message.payload
        if len(parts) == 5 and parts[1] == "device" and parts[3] == "config":
            self._on_config(parts[2].lower(), parts[4], payload)
            return None
        if len(parts) == 4 and parts[1] == "sensor" and parts[3] in (Kind.GAUGE, Kind.COUNTER):
            return self._on_reading(parts[2].lower(), Kind(parts[3]), payload)
        return None

    def _on_config(self, device_id: str, section: str, payload: bytes) -> None:
        if section not in ("sensor", "flx"):
            return
        if self.device is not None and device_id != self.device.device_id:
            return  # another Fluksometer bridged onto this broker
        if not payload:
            return  # a retained topic being cleared
        try:
            self._configs.setdefault(device_id, {})[section] = decode_json_object(payload)
            configs = self._configs[device_id]
            if "sensor" not in configs:
                return
            device = parse_device(device_id, configs["sensor"], configs.get("flx"))
        except FluksoConfigError as err:
            self.stats.bad_configs += 1
            self._log_once(
                device_id, f"config/{section}", "Unreadable Fluksometer config from %s: %s", err
            )
            return
        if device != self.device:
            LOGGER.debug("Fluksometer %s: %d sensors discovered", device_id, len(device.sensors))
        self.device = device
        # Values of sensors that left the config must not linger in snapshots.
        self._latest = {k: v for k, v in self._latest.items() if k[0] in device.sensors}
        early, self._early = self._early, {}
        for (sensor_id, kind), raw in early.items():
            if (update := self._interpret(sensor_id, kind, raw)) is not None:
                self._apply_if_newer(update)

    def _on_reading(self, sensor_id: str, kind: Kind, payload: bytes) -> _Update | None:
        try:
            raw = decode_payload(payload)
        except ReadingError as err:
            self._bad_payload(f"/sensor/{sensor_id}/{kind}", str(err))
            return None
        if self.device is None:
            if len(self._early) < _EARLY_LIMIT or (sensor_id, kind) in self._early:
                self._early[(sensor_id, kind)] = raw
            return None
        update = self._interpret(sensor_id, kind, raw)
        if update is None:
            return None
        previous = self._latest.get((sensor_id, kind))
        if previous is not None and update.reading.timestamp < previous.timestamp:
            self.stats.stale_readings += 1
            return None
        return update

    def _interpret(self, sensor_id: str, kind: Kind, raw: RawReading) -> _Update | None:
        assert self.device is not None
        sensor = self.device.sensors.get(sensor_id)
        if sensor is None or not sensor.enabled:
            self.stats.unknown_sensors += 1
            return None
        try:
            reading = interpret(sensor, kind, raw)
        except UnitError as err:
            self.stats.bad_units += 1
            self.stats.wrong_units[f"{sensor_id}/{kind}"] = raw.unit
            # The sensor's value is now in doubt: drop it until a good reading.
            self._latest.pop((sensor_id, kind), None)
            self._log_once(sensor_id, f"unit {raw.unit}", "Fluksometer sensor %s: %s", err)
            return None
        self.stats.wrong_units.pop(f"{sensor_id}/{kind}", None)
        return None if reading is None else _Update(sensor_id, kind, reading)

    def _apply_if_newer(self, update: _Update) -> None:
        previous = self._latest.get((update.sensor_id, update.kind))
        if previous is None or update.reading.timestamp >= previous.timestamp:
            self._apply(update)

    def _discovery_complete(self) -> bool:
        if self.device is None:
            return False
        configs = self._configs.get(self.device.device_id, {})
        # An FLM03's port names and phase mode come with config/flx.
        return "flx" in configs or not is_flm03(configs.get("sensor", {}))

    def _bad_payload(self, topic: str, reason: str) -> None:
        self.stats.bad_payloads += 1
        self._log_once(topic, "payload", "Ignoring an unreadable payload on %s: %s", reason)

    def _log_once(self, subject: str, what: str, message: str, detail: object) -> None:
        key = (subject, what)
        level = logging.DEBUG if key in self._logged else logging.WARNING
        self._logged.add(key)
        LOGGER.log(level, message, subject, detail)


def _code(err: aiomqtt.MqttCodeError) -> int | None:
    rc = err.rc
    if isinstance(rc, int):
        return rc
    value = getattr(rc, "value", None)
    return value if isinstance(value, int) else None


async def _close_quietly(stack: AsyncExitStack) -> None:
    # The broker may already be gone; disconnecting is best effort.
    with suppress(aiomqtt.MqttError, OSError, TimeoutError):
        await stack.aclose()
