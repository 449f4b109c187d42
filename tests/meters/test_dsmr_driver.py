"""The DSMR driver against the simulator, over TCP and over a pseudo-terminal.

The simulator sends 20 telegrams a second here. The driver is told to expect
one every quarter second, so its watchdog (three intervals) does not trip when
this shared machine stalls the test for a moment.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import serial_asyncio_fast

from custom_components.wattkeeper.meters.base import StreamingMeter
from custom_components.wattkeeper.meters.dsmr import DsmrMeter, detect_version
from custom_components.wattkeeper.meters.dsmr_versions import (
    SERIAL_9600_7E1,
    SERIAL_115200_8N1,
    DsmrVersion,
)
from custom_components.wattkeeper.meters.dsmr_versions import VERSIONS as VERSION_INFO
from custom_components.wattkeeper.meters.errors import (
    MeterAuthError,
    MeterConnectionError,
)
from custom_components.wattkeeper.meters.model import MeterKind, Snapshot
from simulators.dsmr import DsmrSimulator, Fault
from simulators.dsmr_telegram import IDENTITIES
from simulators.dsmr_uart import SerialLine

VERSIONS = [v.value for v in DsmrVersion]
INTERVAL = 0.05
WATCHDOG_INTERVAL = 0.25
SMARTY_KEY = "000102030405060708090A0B0C0D0E0F"


@pytest.fixture
async def sims() -> AsyncIterator[list[DsmrSimulator]]:
    started: list[DsmrSimulator] = []
    yield started
    for sim in started:
        await sim.stop()


@pytest.fixture
async def meters() -> AsyncIterator[list[DsmrMeter]]:
    opened: list[DsmrMeter] = []
    yield opened
    for meter in opened:
        await meter.close()


async def take(meter: DsmrMeter, count: int) -> list[Snapshot]:
    out: list[Snapshot] = []
    async with asyncio.timeout(10):
        async for snapshot in meter.stream():
            out.append(snapshot)
            if len(out) == count:
                break
    return out


def assert_ground_truth(sim: DsmrSimulator, snapshots: list[Snapshot]) -> None:
    for snapshot in snapshots:
        assert sim.truth_of(snapshot).mismatches(snapshot) == []


async def tcp_pair(
    sims: list[DsmrSimulator], meters: list[DsmrMeter], version: str | None, **sim_kwargs: Any
) -> tuple[DsmrSimulator, DsmrMeter]:
    sim = DsmrSimulator(
        sim_kwargs.pop("sim_version", version or "5"), interval=INTERVAL, **sim_kwargs
    )
    sims.append(sim)
    port = await sim.start_tcp()
    meter = DsmrMeter(
        host="127.0.0.1",
        port=port,
        version=version,
        interval=WATCHDOG_INTERVAL,
        detect_timeout=5,
        decryption_key=sim_kwargs.get("key"),
    )
    meters.append(meter)
    return sim, meter


@pytest.mark.parametrize("version", VERSIONS)
async def test_tcp_values_equal_ground_truth(
    version: str, sims: list[DsmrSimulator], meters: list[DsmrMeter]
) -> None:
    sim, meter = await tcp_pair(sims, meters, version)
    assert isinstance(meter, StreamingMeter)
    identity = await meter.identify()
    ident = IDENTITIES[version]
    assert identity.kind is MeterKind.DSMR
    assert identity.serial == (ident.equipment_id or ident.header.lstrip("/"))
    assert identity.address == f"127.0.0.1:{sim.port}"
    snapshots = await take(meter, 6)
    assert_ground_truth(sim, snapshots)
    assert all(s.identity is identity for s in snapshots)
    assert (meter.crc_errors, meter.parse_errors, meter.stats.discarded_bytes) == (0, 0, 0)


@pytest.mark.parametrize("version", VERSIONS)
async def test_pty_values_equal_ground_truth(
    version: str,
    sims: list[DsmrSimulator],
    meters: list[DsmrMeter],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = DsmrSimulator(version, interval=INTERVAL, key=SMARTY_KEY if version == "5L" else None)
    sims.append(sim)
    path = await sim.start_pty()
    line = VERSION_INFO[DsmrVersion(version)].serial
    if line == SERIAL_9600_7E1:
        # A pty cannot take 7E1 (pyserial gets EINVAL): the stand-in opens it
        # at 8N1 and delivers what a 7E1 UART would (tests/meters/test_dsmr_serial.py).
        uart = SerialLine(line)
        monkeypatch.setattr(
            serial_asyncio_fast, "create_serial_connection", uart.create_serial_connection
        )
    meter = DsmrMeter(
        device=path,
        version=version,
        interval=WATCHDOG_INTERVAL,
        decryption_key=SMARTY_KEY if version == "5L" else None,
    )
    meters.append(meter)
    assert (await meter.identify()).address == path
    snapshots = await take(meter, 6)
    assert_ground_truth(sim, snapshots)
    assert (meter.crc_errors, meter.parse_errors) == (0, 0)


async def test_forced_line_settings_override_the_versions(
    sims: list[DsmrSimulator], meters: list[DsmrMeter]
) -> None:
    """For converters that present a 9600 7E1 meter at 8N1: the forced settings win."""
    sim = DsmrSimulator("2.2", interval=INTERVAL)
    sims.append(sim)
    path = await sim.start_pty()
    meter = DsmrMeter(
        device=path, version="2.2", interval=WATCHDOG_INTERVAL, serial_settings=SERIAL_115200_8N1
    )
    meters.append(meter)
    assert meter.serial_settings() == SERIAL_115200_8N1
    assert_ground_truth(sim, await take(meter, 3))


@pytest.mark.parametrize("version", VERSIONS)
async def test_auto_detect_over_tcp(
    version: str, sims: list[DsmrSimulator], meters: list[DsmrMeter]
) -> None:
    sim, meter = await tcp_pair(sims, meters, None, sim_version=version)
    assert meter.version is None
    assert meter.stall_timeout is None
    await meter.identify()
    assert meter.version == version
    assert meter.stall_timeout == pytest.approx(3 * WATCHDOG_INTERVAL)
    assert_ground_truth(sim, await take(meter, 3))


async def test_auto_detect_over_pty(sims: list[DsmrSimulator], meters: list[DsmrMeter]) -> None:
    sim = DsmrSimulator("5B", interval=INTERVAL)
    sims.append(sim)
    path = await sim.start_pty()
    meter = DsmrMeter(device=path, interval=WATCHDOG_INTERVAL, detect_timeout=5)
    meters.append(meter)
    assert meter.serial_settings() == SERIAL_115200_8N1
    await meter.identify()
    assert meter.version == DsmrVersion.V5B
    assert_ground_truth(sim, await take(meter, 3))
    assert meter.stats.connects == 1


async def test_detect_version_helper(sims: list[DsmrSimulator]) -> None:
    sim = DsmrSimulator("Q3D", interval=INTERVAL)
    sims.append(sim)
    port = await sim.start_tcp()
    version, identity = await detect_version(host="127.0.0.1", port=port, timeout=5)
    assert version == DsmrVersion.Q3D
    assert identity.serial == IDENTITIES["Q3D"].equipment_id
    assert identity.manufacturer == "EasyMeter"


def test_serial_settings_follow_the_version() -> None:
    slow = {DsmrVersion.V2_2, DsmrVersion.Q3D}
    for version in DsmrVersion:
        meter = DsmrMeter(device="/dev/null", version=version)
        want = SERIAL_9600_7E1 if version in slow else SERIAL_115200_8N1
        assert meter.serial_settings() == want
    assert str(SERIAL_9600_7E1) == "9600 7E1"
    assert SERIAL_9600_7E1.as_kwargs() == {
        "baudrate": 9600,
        "bytesize": 7,
        "parity": "E",
        "stopbits": 1,
        "xonxoff": False,
        "rtscts": False,
    }


async def test_identify_keeps_its_reading_for_the_stream(
    sims: list[DsmrSimulator], meters: list[DsmrMeter]
) -> None:
    sim = DsmrSimulator("5", interval=0.2)
    sims.append(sim)
    port = await sim.start_tcp()
    meter = DsmrMeter(host="127.0.0.1", port=port, version="5", interval=0.2)
    meters.append(meter)
    identity = await meter.identify()
    sim.set_fault(Fault.SILENCE)
    first = await anext(meter.stream())
    assert first.identity is identity
    assert first.measured_at == sim.last.measured_at
    assert meter.stats.telegrams == 1


async def test_encrypted_smarty_over_tcp_and_pty(
    sims: list[DsmrSimulator], meters: list[DsmrMeter]
) -> None:
    sim = DsmrSimulator("5L", interval=INTERVAL, key=SMARTY_KEY)
    sims.append(sim)
    port = await sim.start_tcp()
    path = await sim.start_pty()
    for meter in (
        DsmrMeter(
            host="127.0.0.1", port=port, decryption_key=SMARTY_KEY, interval=WATCHDOG_INTERVAL
        ),
        DsmrMeter(device=path, decryption_key=SMARTY_KEY, interval=WATCHDOG_INTERVAL),
    ):
        meters.append(meter)
        assert meter.version == DsmrVersion.V5L
        assert_ground_truth(sim, await take(meter, 4))
        assert meter.stats.decrypt_errors == 0


async def test_wrong_smarty_key_is_an_auth_error(
    sims: list[DsmrSimulator], meters: list[DsmrMeter]
) -> None:
    sim, _ = await tcp_pair(sims, meters, "5L", key=SMARTY_KEY)
    wrong = DsmrMeter(host="127.0.0.1", port=sim.port, decryption_key="FF" * 16, interval=INTERVAL)
    meters.append(wrong)
    with pytest.raises(MeterAuthError, match="decryption key"):
        await take(wrong, 1)
    assert wrong.stats.decrypt_errors >= 1
    assert wrong.stats.telegrams == 0


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="either"):
        DsmrMeter()
    with pytest.raises(ValueError, match="either"):
        DsmrMeter(device="/dev/ttyUSB0", host="127.0.0.1", port=1)
    with pytest.raises(ValueError, match="32 hexadecimal"):
        DsmrMeter(device="/dev/ttyUSB0", decryption_key="1234")
    with pytest.raises(ValueError, match="5L"):
        DsmrMeter(device="/dev/ttyUSB0", version="5", decryption_key=SMARTY_KEY)


async def test_refused_connection(meters: list[DsmrMeter]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    meter = DsmrMeter(host="127.0.0.1", port=port, version="5")
    meters.append(meter)
    with pytest.raises(MeterConnectionError, match="Cannot open"):
        await meter.identify()
    assert not meter.connected


async def test_missing_serial_port(meters: list[DsmrMeter], tmp_path: Any) -> None:
    meter = DsmrMeter(device=str(tmp_path / "ttyUSB9"), version="5")
    meters.append(meter)
    with pytest.raises(MeterConnectionError, match="Cannot open"):
        await meter.identify()


async def test_close_releases_the_link(sims: list[DsmrSimulator], meters: list[DsmrMeter]) -> None:
    sim, meter = await tcp_pair(sims, meters, "5")
    await meter.identify()
    assert meter.connected
    await meter.close()
    assert not meter.connected
    async with asyncio.timeout(5):
        await sim.no_clients.wait()
    # The meter can be used again: the next read reconnects.
    assert_ground_truth(sim, await take(meter, 1))
    assert meter.stats.connects == 2
