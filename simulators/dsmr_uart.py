"""The serial line between the DSMR twin's pty and the driver, with real line settings.

A pseudo-terminal takes only 8N1 here: Linux resets a pty's character size
and parity, and pyserial's next reconfigure then fails with EINVAL, so the
9600 7E1 the driver asks for on DSMR 2.2 and EasyMeter Q3D cannot be opened
on one. `SerialLine` stands in for serial_asyncio_fast.create_serial_connection:
it records the settings of every open, opens the pty at 8N1, and hands the
driver what a UART set as asked would receive from a meter that speaks
`meter_line`:

- the same settings: the bytes as sent;
- the same speed, a 7E1 meter read at 8N1: the parity bit lands in bit 7, so
  every character with an odd number of one bits arrives with its high bit set;
- the same speed, an 8N1 meter read at 7E1: the characters arrive as sent (the
  eighth bit of ASCII is 0 and pyserial does not check parity);
- another speed: framing errors, bytes outside printable ASCII, about one per
  character when the UART is faster than the meter, one per twelve when slower.

`lenient=True` is a converter that sets the meter's line itself (or a bare
pty): every byte passes, whatever the driver asks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final

import serial_asyncio_fast

from custom_components.wattkeeper.meters.dsmr_versions import SERIAL_115200_8N1, SerialSettings

# What the pty is really opened with.
PTY_LINE: Final = SERIAL_115200_8N1
# 115200 / 9600: bit times of the fast side in one of the slow side.
_SPEED_RATIO: Final = 12


def settings_of(kwargs: dict[str, Any]) -> SerialSettings:
    """The line settings in one open's keyword arguments."""
    return SerialSettings(
        baudrate=kwargs["baudrate"],
        bytesize=kwargs["bytesize"],
        parity=kwargs["parity"],
        stopbits=kwargs["stopbits"],
    )


def received(data: bytes, sent_as: SerialSettings, read_as: SerialSettings) -> bytes:
    """What a UART set to `read_as` makes of bytes a meter sends with `sent_as`."""
    if read_as.baudrate != sent_as.baudrate:
        # Framing errors: the high bit set, never a `/`, `!` or line end.
        noise = bytes(0x80 | (byte ^ 0x2A) for byte in data)
        return noise if read_as.baudrate > sent_as.baudrate else noise[::_SPEED_RATIO]
    if sent_as.bytesize == 7 and read_as.bytesize == 8:
        return bytes(byte | (bin(byte).count("1") & 1) << 7 for byte in data)
    return data


class _Received(asyncio.Protocol):
    """Wraps the driver's protocol; changes what arrives, nothing else."""

    def __init__(self, inner: asyncio.Protocol, change: Callable[[bytes], bytes]) -> None:
        self.inner = inner
        self._change = change

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        changed = self._change(data)
        if changed:
            self.inner.data_received(changed)

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class SerialLine:
    """A stand-in for serial_asyncio_fast.create_serial_connection (patch it in)."""

    def __init__(self, meter_line: SerialSettings, *, lenient: bool = False) -> None:
        self.meter_line = meter_line
        self.lenient = lenient
        # The keyword arguments of every open, the port's path as `url`.
        self.opens: list[dict[str, Any]] = []
        self._open = serial_asyncio_fast.create_serial_connection

    @property
    def settings(self) -> list[SerialSettings]:
        """The line settings of every open, in order."""
        return [settings_of(kwargs) for kwargs in self.opens]

    async def create_serial_connection(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol_factory: Callable[[], asyncio.Protocol],
        url: str,
        **kwargs: Any,
    ) -> tuple[asyncio.BaseTransport, asyncio.Protocol]:
        self.opens.append({"url": url, **kwargs})
        asked = settings_of(kwargs)
        meter = self.meter_line

        def change(data: bytes) -> bytes:
            return data if self.lenient else received(data, meter, asked)

        def factory() -> asyncio.Protocol:
            return _Received(protocol_factory(), change)

        transport, protocol = await self._open(
            loop, factory, url, **{**kwargs, **PTY_LINE.as_kwargs()}
        )
        assert isinstance(protocol, _Received)
        return transport, protocol.inner
