"""The DSMR twin itself: a plausible meter, valid telegrams, working links and faults."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from dsmr_parser import telegram_specifications
from dsmr_parser.parsers import TelegramParser

from custom_components.wattkeeper.meters.model import Quantity, QuantityKey
from simulators.dsmr import DsmrSimulator, Fault
from simulators.dsmr_meter import MBUS_GAS, QUARTER, MeterModel
from simulators.dsmr_telegram import (
    CHECKSUM_VERSIONS,
    VERSIONS,
    crc16,
    encrypt_smarty,
    fmt,
    render,
    stamp,
)

REPO = Path(__file__).resolve().parents[2]


def test_counters_only_grow_and_follow_the_power() -> None:
    model = MeterModel(seed=3, step_seconds=30)
    start_import, start_export = sum(model.import_wh), sum(model.export_wh)
    net_wh = 0.0
    previous = (list(model.import_wh), list(model.export_wh))
    for _ in range(2000):
        model.step()
        net_wh += model.net_total_w * model.step_seconds / 3600.0
        for before, now in zip(
            previous[0] + previous[1], model.import_wh + model.export_wh, strict=True
        ):
            assert now >= before
        previous = (list(model.import_wh), list(model.export_wh))
    grown = (sum(model.import_wh) - start_import) - (sum(model.export_wh) - start_export)
    assert grown == pytest.approx(net_wh, abs=1e-6)
    # Sixteen hours from 22:58: night import and daytime export both happened.
    assert sum(model.import_wh) > start_import
    assert sum(model.export_wh) > start_export


def test_telegram_power_matches_the_counter_slope() -> None:
    model = MeterModel(seed=5, step_seconds=10)
    truths = []
    for _ in range(30):
        model.step()
        truths.append(render("5", model))
    energy = [t.values[_key("energy_import")] - t.values[_key("energy_export")] for t in truths]
    power = [t.values[_key("power")] for t in truths]
    integrated_kwh = sum(p * 10 / 3600 / 1000 for p in power[1:])
    # Four registers printed in whole Wh: under 4 Wh of rounding between two telegrams.
    assert energy[-1] - energy[0] == pytest.approx(integrated_kwh, abs=0.004)


def test_tariff_switches_at_night() -> None:
    nl = MeterModel(step_seconds=60)
    be = MeterModel(step_seconds=60, day_tariff=1)
    assert (nl.tariff, be.tariff) == (2, 1)
    for _ in range(3):
        nl.step()
        be.step()
    assert nl.now.hour == 23
    assert (nl.tariff, be.tariff) == (1, 2)


def test_mbus_readings_are_captured_on_their_period() -> None:
    model = MeterModel(
        step_seconds=20, mbus=((1, MBUS_GAS, "G1"),), capture_period=timedelta(minutes=5)
    )
    gas = model.mbus[0]
    captures = set()
    for _ in range(60):
        model.step()
        assert gas.captured_at is not None
        assert gas.captured_at.minute % 5 == 0
        assert gas.captured_at.second == 0
        assert gas.captured <= gas.register
        captures.add(gas.captured_at)
    assert len(captures) >= 3


def test_capacity_tariff_peaks_and_history() -> None:
    model = MeterModel(step_seconds=60, seed=11)
    demand = model.demand
    assert len(demand.history) == 13
    start_peak = demand.month_peak_w
    for _ in range(timedelta(days=30) // timedelta(minutes=1)):
        model.step()
        assert demand.block_start <= model.now < demand.block_start + QUARTER
        assert demand.current_average_w() >= 0
    # The month turned over once: history still 13 long, its newest entry March 2024.
    assert len(demand.history) == 13
    assert demand.history[-1][0].strftime("%Y-%m") == "2024-03"
    assert demand.history[-1][2] >= start_peak
    assert demand.month_peak_at is not None


@pytest.mark.parametrize("version", VERSIONS)
def test_every_version_renders_a_telegram_its_parser_reads(version: str) -> None:
    model = MeterModel(seed=2, phases=1 if version == "2.2" else 3)
    model.step()
    text = render(version, model).text
    assert text.startswith("/")
    assert text.endswith("\r\n")
    if version in CHECKSUM_VERSIONS:
        bang = text.rindex("!")
        assert int(text[bang + 1 : bang + 5], 16) == crc16(text[: bang + 1].encode())
        TelegramParser.validate_checksum(text)
    else:
        assert text.endswith("!\r\n")


def test_crc_matches_dsmr_parser() -> None:
    for sample in ("/abc!", "/ISK5\\2M550T-1012\r\n\r\n1-3:0.2.8(50)\r\n!"):
        assert crc16(sample.encode()) == TelegramParser.crc16(sample)


def test_number_formats() -> None:
    assert fmt(1.2345, 2, 3) == "01.235"
    assert fmt(1.2349, 2, 3, floor=True) == "01.234"
    assert fmt(-977.1, 6, 2, signed=True) == "-000977.10"
    assert fmt(-3.0, 2, 3) == "00.000"
    assert fmt(7.0, 5, 0) == "00007"
    model = MeterModel()
    assert stamp(model.now) == "240304225800W"


def test_smarty_frames_decrypt_with_dsmr_parser() -> None:
    model = MeterModel()
    model.step()
    truth = render("5L", model)
    key = "00112233445566778899AABBCCDDEE0F"
    frame = encrypt_smarty(truth.text.encode(), bytes.fromhex(key), b"SAG\x00\x00\x00\x00\x01", 99)
    assert frame[:2] == b"\xdb\x08"
    assert frame[10] == 0x82
    assert int.from_bytes(frame[11:13], "big") == len(frame) - 13
    spec = {**telegram_specifications.LUXEMBOURG_SMARTY, "general_global_cipher": True}
    telegram = TelegramParser(spec).parse(frame.hex(), key, "00112233445566778899AABBCCDDEEFF")
    assert Decimal(telegram.ELECTRICITY_IMPORTED_TOTAL.value) == Decimal(
        str(truth.values[_key("energy_import")])
    )


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="version"):
        DsmrSimulator("6")
    with pytest.raises(ValueError, match="5L"):
        DsmrSimulator("5", key="00" * 16)
    with pytest.raises(ValueError, match="checksum"):
        DsmrSimulator("2.2").set_fault(Fault.BAD_CRC)


async def _read_telegrams(reader: asyncio.StreamReader, count: int) -> list[bytes]:
    out = []
    async with asyncio.timeout(5):
        while len(out) < count:
            line = await reader.readuntil(b"!")
            out.append(line + await reader.readuntil(b"\r\n"))
    return out


async def test_tcp_clients_all_get_the_stream() -> None:
    sim = DsmrSimulator("5", interval=0.02)
    port = await sim.start_tcp()
    try:
        first = await asyncio.open_connection("127.0.0.1", port)
        second = await asyncio.open_connection("127.0.0.1", port)
        for reader, _ in (first, second):
            for telegram in await _read_telegrams(reader, 2):
                TelegramParser.validate_checksum(telegram[telegram.index(b"/") :].decode())
        assert sim.connections == 2
        for _, writer in (first, second):
            writer.close()
            await writer.wait_closed()
    finally:
        await sim.stop()
    assert sim.history[-1].text.endswith("\r\n")


async def test_pty_path_survives_a_disconnect() -> None:
    sim = DsmrSimulator("5", interval=0.02)
    path = await sim.start_pty()
    try:
        sim.set_fault(Fault.DISCONNECT)
        assert not _is_pty(path)
        sim.set_fault(Fault.NONE)
        assert _is_pty(path)
        sim.disconnect()
        assert _is_pty(path)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        try:
            data = b""
            async with asyncio.timeout(5):
                while b"!" not in data:
                    await asyncio.sleep(0.02)
                    try:
                        data += os.read(fd, 4096)
                    except BlockingIOError:
                        continue
        finally:
            os.close(fd)
    finally:
        await sim.stop()
    assert not _is_pty(path)


def test_cli_serves_telegrams() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulators.dsmr",
            "--port",
            "0",
            "--version",
            "5B",
            "--interval",
            "0.05",
        ],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert banner.startswith("DSMR 5B telegrams on tcp://127.0.0.1:")
        port = int(banner.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            data = b""
            while data.count(b"!") < 2:
                data += conn.recv(4096)
        assert b"0-0:96.1.4(50217)" in data
        assert proc.stdin is not None
        proc.stdin.write("silence\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "fault: silence"
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def _is_pty(path: str) -> bool:
    """The simulator's stable path exists and leads to a pseudo-terminal."""
    return os.path.exists(path) and os.path.realpath(path).startswith("/dev/pts/")


def _key(quantity: str) -> QuantityKey:
    return QuantityKey(Quantity(quantity))
