"""The telegram corpus (tests/fixtures/dsmr): one telegram per version, expected by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from dsmr_parser import telegram_specifications
from dsmr_parser.parsers import TelegramParser

from custom_components.wattkeeper.meters.dsmr import DsmrMeter
from custom_components.wattkeeper.meters.dsmr_cipher import SmartyCipher
from custom_components.wattkeeper.meters.dsmr_reader import TelegramReader, read_telegram
from custom_components.wattkeeper.meters.errors import MeterDataError
from custom_components.wattkeeper.meters.model import Snapshot
from simulators.dsmr import DsmrSimulator
from simulators.dsmr_telegram import encrypt_smarty

FIXTURES = Path(__file__).parent.parent / "fixtures" / "dsmr"
CASES = sorted(path.stem for path in FIXTURES.glob("*.txt"))
SMARTY_KEY = "AA1122BB3344CC5566DD7788EE99FF00"


def load(name: str) -> tuple[str, dict[str, Any]]:
    text = (FIXTURES / f"{name}.txt").read_text().replace("\n", "\r\n")
    expected: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return text, expected


def assert_expected(snapshot: Snapshot, expected: dict[str, Any]) -> None:
    identity = snapshot.identity
    assert (identity.serial, identity.model, identity.manufacturer) == (
        expected["serial"],
        expected["model"],
        expected["manufacturer"],
    )
    assert {key.id: value for key, value in snapshot.values.items()} == expected["values"]
    if expected["measured_at"] is not None:
        assert snapshot.measured_at.isoformat() == expected["measured_at"]
    for key, want in expected["texts"].items():
        got = snapshot.texts[key]
        assert (json.loads(got) if isinstance(want, list | dict) else got) == want, key
    subs = {sub.identity.serial: sub for sub in snapshot.sub_meters}
    assert set(subs) == set(expected["sub_meters"])
    for serial, want in expected["sub_meters"].items():
        sub = subs[serial]
        assert sub.identity.model == want["model"]
        assert sub.measured_at.isoformat() == want["measured_at"]
        assert {key.id: value for key, value in sub.values.items()} == want["values"]


def test_corpus_covers_every_version() -> None:
    versions = {load(name)[1]["version"] for name in CASES}
    assert versions == {"2.2", "4", "5", "5B", "5L", "5S", "Q3D"}


@pytest.mark.parametrize("name", CASES)
def test_parses_into_the_expected_quantities(name: str) -> None:
    text, expected = load(name)
    assert_expected(read_telegram(text, expected["version"]), expected)


@pytest.mark.parametrize("name", CASES)
def test_auto_detect_names_the_version(name: str) -> None:
    text, expected = load(name)
    reader = TelegramReader()
    assert_expected(reader.read(text), expected)
    assert reader.version == expected["version"]


@pytest.mark.parametrize("name", CASES)
async def test_streams_over_tcp_with_auto_detect(name: str) -> None:
    text, expected = load(name)
    sim = DsmrSimulator(expected["version"], interval=0.05, replay=[text])
    port = await sim.start_tcp()
    meter = DsmrMeter(host="127.0.0.1", port=port, detect_timeout=5)
    try:
        identity = await meter.identify()
        snapshot = await anext(meter.stream())
    finally:
        await meter.close()
        await sim.stop()
    assert identity.serial == expected["serial"]
    assert meter.version == expected["version"]
    assert_expected(snapshot, expected)
    assert (meter.crc_errors, meter.parse_errors) == (0, 0)


@pytest.mark.parametrize("name", [n for n in CASES if load(n)[1]["version"] not in ("2.2", "Q3D")])
def test_a_damaged_checksum_is_refused(name: str) -> None:
    text, expected = load(name)
    bang = text.rindex("!")
    crc = int(text[bang + 1 : bang + 5], 16) ^ 1
    with pytest.raises(MeterDataError, match="CRC"):
        read_telegram(f"{text[: bang + 1]}{crc:04X}\r\n", expected["version"])


def test_smarty_frame_decrypts_like_dsmr_parser_does() -> None:
    text, expected = load("lu_smarty_5l")
    frame = encrypt_smarty(
        text.encode("ascii"), bytes.fromhex(SMARTY_KEY), b"SAG\x10\x30\x70\x00\x67", 4711
    )
    plain = SmartyCipher(SMARTY_KEY).decrypt(frame).decode("ascii")
    assert plain == text
    assert_expected(read_telegram(plain, "5L"), expected)
    # dsmr-parser's own decryption (through dlms-cosem) reads the same frame.
    spec = {**telegram_specifications.LUXEMBOURG_SMARTY, "general_global_cipher": True}
    telegram = TelegramParser(spec).parse(
        frame.hex(), SMARTY_KEY, "00112233445566778899AABBCCDDEEFF"
    )
    assert float(telegram.ELECTRICITY_IMPORTED_TOTAL.value) == expected["values"]["energy_import"]


async def test_encrypted_smarty_over_tcp() -> None:
    text, expected = load("lu_smarty_5l")
    sim = DsmrSimulator("5L", interval=0.05, key=SMARTY_KEY, replay=[text])
    port = await sim.start_tcp()
    meter = DsmrMeter(host="127.0.0.1", port=port, decryption_key=SMARTY_KEY)
    try:
        snapshot = await anext(meter.stream())
    finally:
        await meter.close()
        await sim.stop()
    assert_expected(snapshot, expected)
    assert meter.stats.decrypt_errors == 0
