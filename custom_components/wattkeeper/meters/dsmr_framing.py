"""Cut a P1 byte stream into telegrams.

Our own framer instead of dsmr-parser's TelegramBuffer and asyncio readers
(dsmr-parser 1.4): the buffer forgets what it throws away (a truncated
telegram vanishes without a trace) and grows without bound while only noise
arrives; the reader's protocol lets one non-ASCII byte raise out of
data_received, which tears the connection down, and it has no stall
watchdog, no line-settings fallback and no Smarty cipher frames. Here every
dropped byte and every cut-off telegram is counted, the buffer is capped at
MAX_TELEGRAM, and frames stay bytes until the meter decides what to do with
them. The meter still parses with dsmr-parser's TelegramParser.

Plain telegrams run from `/` to `!`, then up to four CRC hex digits and CRLF.
Luxembourg Smarty meters wrap each telegram in a DLMS general-global-cipher
APDU: 0xDB, 0x08, an 8-byte system title, 0x82 and a 2-byte length, then that
many bytes (security byte, frame counter, ciphertext, GCM tag).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol

# A telegram is a few hundred bytes to ~2 KiB; beyond this it is not a telegram.
MAX_TELEGRAM: Final = 16 * 1024
_CIPHER_HEADER: Final = b"\xdb\x08"
# 0xDB 0x08, system title (8), 0x82, length (2).
_CIPHER_PREFIX_LEN: Final = 13
# Security byte + frame counter + GCM tag is the least a cipher body holds.
_CIPHER_MIN_BODY: Final = 17


@dataclass(slots=True)
class FramerStats:
    """Bytes and partial telegrams dropped while framing."""

    discarded_bytes: int = 0
    truncated: int = 0


class Framer(Protocol):
    stats: FramerStats

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the complete frames they finish."""
        ...

    def clear(self) -> None:
        """Forget any partial frame (a new connection starts clean)."""
        ...


class TextFramer:
    """Frames plain telegrams: `/` … `!` [CRC] CRLF."""

    def __init__(self) -> None:
        self.stats = FramerStats()
        self._buffer = bytearray()

    def clear(self) -> None:
        self._buffer.clear()

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buffer
        buf += data
        frames: list[bytes] = []
        while True:
            start = buf.find(b"/")
            if start == -1:
                self._discard(len(buf))
                break
            if start:
                self._discard(start)
            bang = buf.find(b"!", 1)
            restart = buf.find(b"/", 1)
            if restart != -1 and (bang == -1 or restart < bang):
                # A new telegram began before this one ended.
                self._drop_truncated(restart)
                continue
            if bang == -1:
                if len(buf) > MAX_TELEGRAM:
                    self._drop_truncated(len(buf))
                break
            end = buf.find(b"\n", bang)
            if restart != -1 and (end == -1 or restart < end):
                # Cut inside the checksum line and the next telegram followed.
                self._drop_truncated(restart)
                continue
            if end == -1:
                if len(buf) - bang > 8:
                    # No line end where the checksum line must end: not a telegram.
                    self._drop_truncated(bang + 1)
                    continue
                break
            frames.append(bytes(buf[: end + 1]))
            del buf[: end + 1]
        return frames

    def _discard(self, count: int) -> None:
        # Line ends and padding between telegrams are normal; count the rest.
        self.stats.discarded_bytes += len(self._buffer[:count].strip(b"\r\n\x00 \xff"))
        del self._buffer[:count]

    def _drop_truncated(self, count: int) -> None:
        self.stats.truncated += 1
        del self._buffer[:count]


class CipherFramer:
    """Frames DLMS general-global-cipher APDUs (Luxembourg Smarty)."""

    def __init__(self) -> None:
        self.stats = FramerStats()
        self._buffer = bytearray()

    def clear(self) -> None:
        self._buffer.clear()

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buffer
        buf += data
        frames: list[bytes] = []
        while True:
            start = buf.find(_CIPHER_HEADER)
            if start == -1:
                # Keep a trailing 0xDB: it may be the first half of a header.
                keep = 1 if buf.endswith(b"\xdb") else 0
                self._discard(len(buf) - keep)
                break
            if start:
                self._discard(start)
            if len(buf) < _CIPHER_PREFIX_LEN:
                break
            length = int.from_bytes(buf[11:13], "big")
            if buf[10] != 0x82 or not _CIPHER_MIN_BODY <= length <= MAX_TELEGRAM:
                # Not a header after all: skip its first byte and search on.
                self._discard(1)
                continue
            total = _CIPHER_PREFIX_LEN + length
            if len(buf) < total:
                break
            frames.append(bytes(buf[:total]))
            del buf[:total]
        return frames

    def _discard(self, count: int) -> None:
        self.stats.discarded_bytes += count
        del self._buffer[:count]
