"""The serial line settings the driver opens, per version: chosen, auto-detected
(115200 8N1 first, then 9600 7E1), and reopened after detecting on a lenient line.

serial_asyncio_fast.create_serial_connection is replaced by simulators.dsmr_uart's
SerialLine, which records the keyword arguments of every open and delivers the
twin's pty bytes as a UART set that way would receive them from the meter, so
the 7E1 path is opened (and read) although a pty cannot take 7E1 itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import serial_asyncio_fast

from custom_components.wattkeeper.meters import dsmr
from custom_components.wattkeeper.meters.dsmr import DsmrMeter
from custom_components.wattkeeper.meters.dsmr_versions import DsmrVersion
from custom_components.wattkeeper.meters.model import Snapshot
from simulators.dsmr import DsmrSimulator
from simulators.dsmr_uart import SerialLine, received, settings_of

INTERVAL = 0.05
WATCHDOG_INTERVAL = 0.25
SMARTY_KEY = "000102030405060708090A0B0C0D0E0F"
# Guards a wait so a broken link fails the test instead of hanging it; never asserted on.
GUARD = 20.0

# Written out from the P1 companion standards and EasyMeter's Q3D documentation,
# not taken from the driver's table.
L7E1 = {"baudrate": 9600, "bytesize": 7, "parity": "E", "stopbits": 1}
L8N1 = {"baudrate": 115200, "bytesize": 8, "parity": "N", "stopbits": 1}
NO_FLOW_CONTROL = {"xonxoff": False, "rtscts": False}
LINE = {
    "2.2": L7E1,
    "4": L8N1,
    "5": L8N1,
    "5B": L8N1,
    "5L": L8N1,
    "5S": L8N1,
    "Q3D": L7E1,
}
PLAIN = [v for v in LINE if v != "5L"]


def test_every_version_has_its_line_here() -> None:
    assert set(LINE) == {v.value for v in DsmrVersion}


def kwargs(path: str, line: dict[str, Any]) -> dict[str, Any]:
    return {"url": path, **line, **NO_FLOW_CONTROL}


@pytest.fixture
async def sim(request: pytest.FixtureRequest) -> AsyncIterator[DsmrSimulator]:
    version = request.param
    twin = DsmrSimulator(version, interval=INTERVAL, key=SMARTY_KEY if version == "5L" else None)
    await twin.start_pty()
    yield twin
    await twin.stop()


def serial_line(
    monkeypatch: pytest.MonkeyPatch, version: str, *, lenient: bool = False
) -> SerialLine:
    """The twin speaks its version's own line; the driver's opens go through the stand-in."""
    line = SerialLine(settings_of(LINE[version]), lenient=lenient)
    monkeypatch.setattr(
        serial_asyncio_fast, "create_serial_connection", line.create_serial_connection
    )
    return line


async def take(meter: DsmrMeter, sim: DsmrSimulator, count: int) -> list[Snapshot]:
    out: list[Snapshot] = []
    async with asyncio.timeout(GUARD):
        async for snapshot in meter.stream():
            out.append(snapshot)
            if len(out) == count:
                break
    for snapshot in out:
        assert sim.truth_of(snapshot).mismatches(snapshot) == []
    return out


@pytest.mark.parametrize("sim", list(LINE), indirect=True)
async def test_a_chosen_version_opens_its_own_line(
    sim: DsmrSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = sim.version
    line = serial_line(monkeypatch, version)
    key = SMARTY_KEY if version == "5L" else None
    meter = DsmrMeter(
        device=sim.pty_path, version=version, decryption_key=key, interval=WATCHDOG_INTERVAL
    )
    try:
        await take(meter, sim, 3)
    finally:
        await meter.close()
    assert line.opens == [kwargs(sim.pty_path, LINE[version])]
    assert (meter.crc_errors, meter.parse_errors, meter.stats.discarded_bytes) == (0, 0, 0)


@pytest.mark.parametrize("sim", PLAIN, indirect=True)
async def test_auto_detect_tries_115200_8n1_then_9600_7e1(
    sim: DsmrSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real cable passes the meter's line as is: at the wrong speed only noise arrives.

    The detect timeout is an hour, so a 9600 meter is only found in time because
    the 115200 attempt gives up on noise alone.
    """
    version = sim.version
    line = serial_line(monkeypatch, version)
    meter = DsmrMeter(device=sim.pty_path, interval=WATCHDOG_INTERVAL, detect_timeout=3600)
    try:
        async with asyncio.timeout(GUARD):
            await meter.identify()
        await take(meter, sim, 2)
    finally:
        await meter.close()
    assert meter.version == version
    if LINE[version] is L7E1:
        assert line.opens == [kwargs(sim.pty_path, L8N1), kwargs(sim.pty_path, L7E1)]
        # The first attempt heard nothing but noise and left before its timeout.
        assert meter.stats.discarded_bytes >= dsmr.NOISE_BEFORE_NEXT_SETTINGS
        assert meter.stats.stalls == 0
    else:
        assert line.opens == [kwargs(sim.pty_path, L8N1)]
        assert meter.stats.discarded_bytes == 0
    assert meter.stats.connects == len(line.opens)


@pytest.mark.parametrize("sim", PLAIN, indirect=True)
async def test_detected_on_a_lenient_line_the_port_is_reopened_with_the_versions_own(
    sim: DsmrSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A converter (or pty) that passes telegrams whatever we ask: detection at
    115200 8N1 works, then the port is opened again the way the version wants."""
    version = sim.version
    line = serial_line(monkeypatch, version, lenient=True)
    meter = DsmrMeter(device=sim.pty_path, interval=WATCHDOG_INTERVAL, detect_timeout=5)
    try:
        await meter.identify()
        await take(meter, sim, 2)
    finally:
        await meter.close()
    assert meter.version == version
    first = kwargs(sim.pty_path, L8N1)
    if LINE[version] is L7E1:
        assert line.opens == [first, kwargs(sim.pty_path, L7E1)]
    else:
        assert line.opens == [first]
    assert meter.stats.connects == len(line.opens)


@pytest.mark.parametrize("sim", ["5"], indirect=True)
async def test_noise_on_the_right_line_does_not_change_the_settings(
    sim: DsmrSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Garbage between telegrams is far less than the telegrams' own text."""
    line = serial_line(monkeypatch, "5")
    sim.set_fault("garbage")
    meter = DsmrMeter(device=sim.pty_path, interval=WATCHDOG_INTERVAL, detect_timeout=5)
    try:
        await meter.identify()
        await take(meter, sim, 4)
    finally:
        await meter.close()
    assert line.opens == [kwargs(sim.pty_path, L8N1)]
    assert meter.stats.discarded_bytes > 0


def test_what_a_uart_makes_of_another_line() -> None:
    text = b"/KMP5 ZABF001587315111\r\n0-0:96.1.1(205C4D246333034353537383234323121)\r\n!"
    slow_7e1, fast_8n1 = settings_of(L7E1), settings_of(L8N1)
    slow_8n1 = settings_of({**L8N1, "baudrate": 9600})
    assert received(text, slow_7e1, slow_7e1) == text
    # ASCII sent 8N1 reads the same at 7E1: bit 7 is 0 and parity is not checked.
    assert received(text, slow_8n1, slow_7e1) == text
    # 7E1 read at 8N1: the parity bit arrives as bit 7 ("/" has five one bits, "0" two).
    with_parity = received(text, slow_7e1, slow_8n1)
    assert with_parity[0] == ord("/") | 0x80
    assert with_parity[text.index(b"0-0")] == ord("0")
    assert bytes(b & 0x7F for b in with_parity) == text
    # Another speed: framing errors only, never a "/", "!" or line end.
    faster = received(text, slow_7e1, fast_8n1)
    assert len(faster) == len(text)
    assert all(b >= 0x80 for b in faster)
    slower = received(text, fast_8n1, slow_7e1)
    assert 0 < len(slower) < len(text) / 6
    assert all(b >= 0x80 for b in slower)
