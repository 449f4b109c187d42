"""Cutting P1 byte streams into telegrams, whatever the chunking and noise."""

from __future__ import annotations

from custom_components.wattkeeper.meters.dsmr_framing import (
    MAX_TELEGRAM,
    CipherFramer,
    TextFramer,
)
from simulators.dsmr_meter import MeterModel
from simulators.dsmr_telegram import encrypt_smarty, render

KEY = bytes.fromhex("0F0E0D0C0B0A09080706050403020100")


def _telegrams(version: str, count: int) -> list[bytes]:
    model = MeterModel(seed=7)
    out = []
    for _ in range(count):
        model.step()
        out.append(render(version, model).text.encode("ascii"))
    return out


def test_byte_by_byte_gives_the_same_frames() -> None:
    telegrams = _telegrams("5", 3)
    framer = TextFramer()
    frames: list[bytes] = []
    for byte in b"".join(telegrams):
        frames += framer.feed(bytes([byte]))
    assert frames == telegrams
    assert framer.stats.truncated == 0
    assert framer.stats.discarded_bytes == 0


def test_telegram_without_checksum_ends_at_its_bang_line() -> None:
    telegrams = _telegrams("2.2", 2)
    framer = TextFramer()
    assert framer.feed(b"".join(telegrams)) == telegrams


def test_cut_off_telegram_is_counted_and_the_next_one_kept() -> None:
    first, second = _telegrams("5", 2)
    framer = TextFramer()
    frames = framer.feed(first[: len(first) // 2] + second)
    assert frames == [second]
    assert framer.stats.truncated == 1


def test_cut_inside_the_checksum_line() -> None:
    first, second = _telegrams("5", 2)
    framer = TextFramer()
    bang = first.rindex(b"!")
    assert framer.feed(first[: bang + 3] + second) == [second]
    assert framer.stats.truncated == 1


def test_garbage_between_telegrams_is_counted_but_line_ends_are_not() -> None:
    first, second = _telegrams("4", 2)
    framer = TextFramer()
    frames = framer.feed(b"\r\n\x00" + first + b"\x95\x13noise" + second + b"\r\n")
    assert frames == [first, second]
    assert framer.stats.discarded_bytes == len(b"\x95\x13noise")


def test_a_bang_without_line_end_is_not_a_telegram() -> None:
    (telegram,) = _telegrams("5", 1)
    framer = TextFramer()
    assert framer.feed(b"/XYZ5 broken!0000 and no line end here at all" + telegram) == [telegram]
    assert framer.stats.truncated == 1


def test_endless_telegram_is_dropped() -> None:
    framer = TextFramer()
    assert framer.feed(b"/" + b"1" * (MAX_TELEGRAM + 10)) == []
    assert framer.stats.truncated == 1
    (telegram,) = _telegrams("5", 1)
    assert framer.feed(telegram) == [telegram]


def test_clear_forgets_a_partial_telegram() -> None:
    first, second = _telegrams("5", 2)
    framer = TextFramer()
    framer.feed(first[:100])
    framer.clear()
    assert framer.feed(first[100:] + second) == [second]


def test_cipher_frames_split_anywhere() -> None:
    plain = _telegrams("5L", 3)
    frames = [
        encrypt_smarty(t, KEY, b"SAG\x01\x02\x03\x04\x05", 10 + i) for i, t in enumerate(plain)
    ]
    framer = CipherFramer()
    got: list[bytes] = []
    stream = b"\x00\x01garbage" + b"".join(frames)
    for i in range(0, len(stream), 7):
        got += framer.feed(stream[i : i + 7])
    assert got == frames
    assert framer.stats.discarded_bytes == len(b"\x00\x01garbage")


def test_cipher_framer_skips_a_false_header() -> None:
    (plain,) = _telegrams("5L", 1)
    frame = encrypt_smarty(plain, KEY, b"SAG\x01\x02\x03\x04\x05", 1)
    # 0xDB 0x08 in noise, but no 0x82 long-form length where one must be.
    noise = b"\xdb\x08" + bytes(12)
    framer = CipherFramer()
    assert framer.feed(noise + frame) == [frame]
    assert framer.stats.discarded_bytes == len(noise)
