"""DSMR P1 smart meters over a serial port (USB P1 cable) or TCP (ser2net, bridges).

One `DsmrMeter` is one P1 port; it is a StreamingMeter. Telegrams are cut from
the byte stream by dsmr_framing, decrypted first on Luxembourg Smarty meters
(dsmr_cipher), parsed by dsmr-parser's TelegramParser for the version
(dsmr_versions) and mapped onto a Snapshot (dsmr_mapping; its docstring lists
the quantities and the `texts` keys).

Versions: "2.2", "4", "5", "5B", "5L", "5S", "Q3D", or None/"auto" to try
them against the first telegrams; `version` holds the one found. On a serial
port auto-detect also tries 115200 8N1 before 9600 7E1 (moving on early once
the port has delivered only line noise: a UART at the wrong speed turns every
character into bytes outside printable ASCII), and reopens the port with the
detected version's settings when they differ.

The link is serial_asyncio_fast (the transport dsmr-parser's asyncio readers
use too) with our own framer rather than those readers: they close the link
on one non-ASCII byte, drop cut-off telegrams without counting them, and
have no stall watchdog; see dsmr_framing.

Bad input never ends the stream: telegrams with a wrong CRC count in
`crc_errors`, unreadable or cut-off ones in `parse_errors`, bytes between
telegrams in `stats.discarded_bytes`. The stream ends with MeterTimeoutError
when no valid telegram arrived for `stall_intervals` expected intervals
(the link is closed first, so a silent-but-connected bridge gets reopened by
the next `stream()`), with MeterConnectionError when the link drops, and with
MeterAuthError when a Smarty key never decrypts a frame. Reconnecting with
backoff is the caller's job: see meters/backoff.py.
"""

from __future__ import annotations

import asyncio
import logging
import termios
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final

import serial_asyncio_fast

from .dsmr_cipher import CipherError, SmartyCipher
from .dsmr_framing import CipherFramer, Framer, TextFramer
from .dsmr_reader import ChecksumError, TelegramReader, UnknownVersionError, UnreadableError
from .dsmr_versions import (
    DETECT_SERIAL,
    SMARTY_AUTHENTICATION_KEY,
    VERSIONS,
    DsmrVersion,
    SerialSettings,
)
from .errors import (
    MeterAuthError,
    MeterConnectionError,
    MeterError,
    MeterTimeoutError,
    MeterUnsupportedError,
)
from .model import MeterIdentity, Snapshot

LOGGER = logging.getLogger(__name__)

AUTO: Final = "auto"
DEFAULT_STALL_INTERVALS: Final = 3
# Long enough for two telegrams of a 10-second meter, whatever the phase.
DEFAULT_DETECT_TIMEOUT: Final = 25.0
DEFAULT_CONNECT_TIMEOUT: Final = 10.0
# Snapshots kept for a consumer that fell behind; older ones are dropped.
QUEUE_SIZE: Final = 300
# Frames that fail to decrypt, with none ever decrypting, before we blame the key.
DECRYPT_FAILURES_FOR_AUTH: Final = 3
# Auto-detect on a serial port: bytes outside printable ASCII, with no telegram
# read yet and outnumbering the text bytes, after which these line settings
# are taken to be wrong. A meter on the right settings sends next to none; the
# wrong speed turns nearly every character into one, so this is a fraction of
# the first telegram.
NOISE_BEFORE_NEXT_SETTINGS: Final = 64
_TEXT_BYTES: Final = bytes(range(0x20, 0x7F)) + b"\r\n"


@dataclass(slots=True)
class DsmrStats:
    """What the driver saw since it was created; public for diagnostics."""

    telegrams: int = 0
    # Every byte the link delivered, telegram or not.
    received_bytes: int = 0
    crc_errors: int = 0
    parse_errors: int = 0
    decrypt_errors: int = 0
    discarded_bytes: int = 0
    # Snapshots dropped because the consumer did not keep up.
    dropped: int = 0
    stalls: int = 0
    disconnects: int = 0
    connects: int = 0


@dataclass(eq=False, slots=True)
class _Link:
    """One open connection and what arrived on it."""

    framer: Framer
    serial: SerialSettings | None
    opened_at: float
    last_valid: float
    closed: asyncio.Future[None]
    queue: asyncio.Queue[Snapshot | MeterError]
    transport: asyncio.BaseTransport | None = None
    # Set when we close it ourselves, so connection_lost is not a disconnect.
    closing: bool = False
    # Auto-detect found a version whose serial settings differ from these.
    reopen: bool = False
    # Frames that matched no version while auto-detecting.
    unmatched: int = 0
    truncated_seen: int = 0
    # Auto-detect may move on to the next serial settings when this link is noise.
    watch_noise: bool = False
    noise: int = 0
    text: int = 0


class _WrongLineSettings(MeterError):
    """Only line noise on this serial link while detecting: try the next settings."""


class _P1Protocol(asyncio.Protocol):
    def __init__(self, meter: DsmrMeter, link: _Link) -> None:
        self._meter = meter
        self._link = link

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._link.transport = transport

    def data_received(self, data: bytes) -> None:
        self._meter._on_data(self._link, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._meter._on_lost(self._link, exc)


class DsmrMeter:
    """One P1 port; a StreamingMeter. Give `device`, or `host` and `port`."""

    def __init__(
        self,
        *,
        device: str | None = None,
        host: str | None = None,
        port: int | None = None,
        version: DsmrVersion | str | None = None,
        decryption_key: str | None = None,
        authentication_key: str = SMARTY_AUTHENTICATION_KEY,
        interval: float | None = None,
        stall_intervals: int = DEFAULT_STALL_INTERVALS,
        detect_timeout: float = DEFAULT_DETECT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        serial_settings: SerialSettings | None = None,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        if (device is None) == (host is None) or (host is not None and port is None):
            raise ValueError("Give either a serial device, or a host and a port")
        self._device = device
        self._host = host
        self._port = port
        self._tcp = (host, port) if host is not None and port is not None else None
        # Forced line settings, for converters that do not pass the meter's own through.
        self._serial_settings = serial_settings
        self._queue_size = queue_size
        chosen = None if version in (None, AUTO) else DsmrVersion(str(version))
        self._cipher: SmartyCipher | None = None
        if decryption_key:
            if chosen not in (None, DsmrVersion.V5L):
                raise ValueError("Only Luxembourg Smarty (5L) telegrams are encrypted")
            self._cipher = SmartyCipher(decryption_key, authentication_key)
            chosen = DsmrVersion.V5L
        self._reader = TelegramReader(chosen, self.address)
        self._interval = interval
        self._stall_intervals = stall_intervals
        self._detect_timeout = detect_timeout
        self._connect_timeout = connect_timeout
        self.stats = DsmrStats()
        self._decrypted_any = False
        self._pending: deque[Snapshot] = deque()
        self._link: _Link | None = None
        self._lock = asyncio.Lock()
        self._serial_candidate = 0
        self._logged_failure = False

    # -- public -------------------------------------------------------------------

    @property
    def address(self) -> str:
        return self._device if self._device is not None else f"{self._host}:{self._port}"

    @property
    def version(self) -> DsmrVersion | None:
        """The protocol version: as configured, or as detected; None until detected."""
        return self._reader.version

    @property
    def crc_errors(self) -> int:
        return self.stats.crc_errors

    @property
    def parse_errors(self) -> int:
        return self.stats.parse_errors

    @property
    def connected(self) -> bool:
        return self._link is not None and not self._link.closed.done()

    @property
    def stall_timeout(self) -> float | None:
        """Seconds without a valid telegram before the stream gives up; None until detected."""
        if self.version is None:
            return None
        interval = self._interval if self._interval is not None else VERSIONS[self.version].interval
        return self._stall_intervals * interval

    async def identify(self) -> MeterIdentity:
        """Connect if needed and wait for the first valid telegram (detecting the version)."""
        if self._reader.identity is None:
            # Keep the snapshot for stream(): identifying must not lose a reading.
            self._pending.appendleft(await self._next())
        assert self._reader.identity is not None
        return self._reader.identity

    async def stream(self) -> AsyncIterator[Snapshot]:
        while True:
            yield await self._next()

    async def close(self) -> None:
        self._pending.clear()
        link, self._link = self._link, None
        if link is not None:
            await self._drop(link)

    # -- reading --------------------------------------------------------------------

    async def _next(self) -> Snapshot:
        while True:
            if self._pending:
                return self._pending.popleft()
            link = await self._ensure_link()
            if link.reopen:
                await self._drop(link)
                continue
            try:
                async with asyncio.timeout_at(self._deadline(link)):
                    item = await link.queue.get()
            except TimeoutError:
                await self._drop(link)
                if self.version is None and self._try_next_serial_settings():
                    continue
                self._serial_candidate = 0
                self.stats.stalls += 1
                raise self._silence_error(link) from None
            if isinstance(item, _WrongLineSettings) and self._try_next_serial_settings():
                await self._drop(link)
                continue
            if isinstance(item, MeterError):
                await self._drop(link)
                raise item
            return item

    def _deadline(self, link: _Link) -> float:
        timeout = self.stall_timeout
        if timeout is None:
            return link.opened_at + self._detect_timeout
        return link.last_valid + timeout

    def _silence_error(self, link: _Link) -> MeterError:
        if self._cipher is not None and self.stats.decrypt_errors and not self._decrypted_any:
            return MeterAuthError(f"The decryption key does not fit {self.address}")
        if self.version is not None:
            return MeterTimeoutError(
                f"No valid telegram from {self.address} for {self.stall_timeout:g} s"
            )
        if link.unmatched:
            return MeterUnsupportedError(
                f"Telegrams from {self.address} match no supported DSMR version"
            )
        return MeterTimeoutError(
            f"No telegram from {self.address} within {self._detect_timeout:g} s"
        )

    def serial_settings(self) -> SerialSettings:
        """The line settings the next serial open uses."""
        if self._serial_settings is not None:
            return self._serial_settings
        if self.version is not None:
            return VERSIONS[self.version].serial
        return DETECT_SERIAL[self._serial_candidate]

    def _has_next_serial_settings(self) -> bool:
        return (
            self._device is not None
            and self._serial_settings is None
            and self._serial_candidate + 1 < len(DETECT_SERIAL)
        )

    def _try_next_serial_settings(self) -> bool:
        if not self._has_next_serial_settings():
            return False
        self._serial_candidate += 1
        return True

    # -- the link -------------------------------------------------------------------

    async def _ensure_link(self) -> _Link:
        async with self._lock:
            if self._link is None or self._link.closed.done():
                self._link = await self._open()
            return self._link

    async def _open(self) -> _Link:
        loop = asyncio.get_running_loop()
        settings = self.serial_settings() if self._device is not None else None
        now = loop.time()
        link = _Link(
            framer=CipherFramer() if self._cipher is not None else TextFramer(),
            serial=settings,
            opened_at=now,
            last_valid=now,
            closed=loop.create_future(),
            queue=asyncio.Queue(self._queue_size),
        )
        if self.version is None and self._has_next_serial_settings():
            link.watch_noise = True

        def factory() -> asyncio.Protocol:
            return _P1Protocol(self, link)

        transport: asyncio.BaseTransport
        try:
            async with asyncio.timeout(self._connect_timeout):
                if self._tcp is not None:
                    transport, _ = await loop.create_connection(factory, *self._tcp)
                else:
                    transport, _ = await serial_asyncio_fast.create_serial_connection(
                        loop,
                        factory,
                        self.address,
                        **(settings or self.serial_settings()).as_kwargs(),
                    )
        except TimeoutError as err:
            raise MeterTimeoutError(
                f"No connection to {self.address} within {self._connect_timeout:g} s"
            ) from err
        except (OSError, ValueError, termios.error) as err:
            # pyserial raises SerialException (an OSError) or ValueError, and lets
            # termios.error through when a port refuses the line settings.
            raise MeterConnectionError(f"Cannot open {self.address}: {err}") from err
        link.transport = transport
        self.stats.connects += 1
        return link

    async def _drop(self, link: _Link) -> None:
        """Close a link and wait until the transport has really let go."""
        link.closing = True
        if link.transport is not None and not link.closed.done():
            link.transport.close()
            try:
                async with asyncio.timeout(5):
                    await asyncio.shield(link.closed)
            except TimeoutError:
                if isinstance(link.transport, asyncio.Transport):
                    link.transport.abort()
        if self._link is link:
            self._link = None

    def _on_lost(self, link: _Link, exc: Exception | None) -> None:
        if not link.closed.done():
            link.closed.set_result(None)
        if link.closing:
            return
        self.stats.disconnects += 1
        reason = f": {exc}" if exc else ""
        self._put(link, MeterConnectionError(f"The link to {self.address} dropped{reason}"))

    def _put(self, link: _Link, item: Snapshot | MeterError) -> None:
        if link.queue.full():
            link.queue.get_nowait()
            self.stats.dropped += 1
        link.queue.put_nowait(item)

    # -- telegrams ------------------------------------------------------------------

    def _on_data(self, link: _Link, data: bytes) -> None:
        # Runs inside data_received: nothing may escape, or asyncio closes the link.
        try:
            self.stats.received_bytes += len(data)
            if link.watch_noise:
                self._count_noise(link, data)
            frames = link.framer.feed(data)
            framer_stats = link.framer.stats
            self.stats.discarded_bytes += framer_stats.discarded_bytes
            framer_stats.discarded_bytes = 0
            self.stats.parse_errors += framer_stats.truncated - link.truncated_seen
            link.truncated_seen = framer_stats.truncated
            for frame in frames:
                self._on_frame(link, frame)
        except Exception:
            self.stats.parse_errors += 1
            if not self._logged_failure:
                self._logged_failure = True
                LOGGER.exception("Unexpected failure reading a telegram from %s", self.address)

    def _count_noise(self, link: _Link, data: bytes) -> None:
        noise = len(data.translate(None, _TEXT_BYTES))
        link.noise += noise
        link.text += len(data) - noise
        if link.noise >= NOISE_BEFORE_NEXT_SETTINGS and link.noise > link.text:
            link.watch_noise = False
            self._put(
                link, _WrongLineSettings(f"Only line noise from {self.address} at {link.serial}")
            )

    def _on_frame(self, link: _Link, frame: bytes) -> None:
        if self._cipher is not None:
            try:
                frame = self._cipher.decrypt(frame)
            except CipherError:
                self.stats.decrypt_errors += 1
                if (
                    not self._decrypted_any
                    and self.stats.decrypt_errors >= DECRYPT_FAILURES_FOR_AUTH
                ):
                    self._put(
                        link, MeterAuthError(f"The decryption key does not fit {self.address}")
                    )
                return
            self._decrypted_any = True
        try:
            text = frame.decode("ascii")
        except UnicodeDecodeError:
            self.stats.parse_errors += 1
            return
        detecting = self._reader.version is None
        try:
            snapshot = self._reader.read(text)
        except UnknownVersionError as err:
            link.unmatched += 1
            if err.checksum_failed:
                self.stats.crc_errors += 1
            else:
                self.stats.parse_errors += 1
            return
        except ChecksumError:
            self.stats.crc_errors += 1
            return
        except UnreadableError:
            self.stats.parse_errors += 1
            return
        # A telegram read: these settings are not noise (or close enough to work).
        link.watch_noise = False
        if detecting and link.serial is not None and link.serial != self.serial_settings():
            # Detected on the wrong line settings (a pty or a lenient adapter): reopen.
            link.reopen = True
        self.stats.telegrams += 1
        link.last_valid = asyncio.get_running_loop().time()
        self._put(link, snapshot)


async def detect_version(
    *,
    device: str | None = None,
    host: str | None = None,
    port: int | None = None,
    decryption_key: str | None = None,
    timeout: float = DEFAULT_DETECT_TIMEOUT,
) -> tuple[DsmrVersion, MeterIdentity]:
    """Listen to a P1 port until a telegram shows its version; for config flows."""
    meter = DsmrMeter(
        device=device,
        host=host,
        port=port,
        decryption_key=decryption_key,
        detect_timeout=timeout,
    )
    try:
        identity = await meter.identify()
    finally:
        await meter.close()
    assert meter.version is not None
    return meter.version, identity
