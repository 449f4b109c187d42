"""Turn SUN2000 register words into values (and back, for round-trip checks).

Huawei sends 32-bit values high word first and marks a value it cannot give
with the type's largest positive number (0xFFFF, 0x7FFF, 0xFFFFFFFF,
0x7FFFFFFF); those decode to None so a missing reading is never a number.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from .sun2000_registers import DataType, Register

NO_ALARMS: Final = "none"
ALARM_SEPARATOR: Final = "; "
INVALID: Final = {
    DataType.U16: 0xFFFF,
    DataType.I16: 0x7FFF,
    DataType.U32: 0xFFFFFFFF,
    DataType.I32: 0x7FFFFFFF,
}


def raw_int(register: Register, words: Sequence[int]) -> int | None:
    """The integer a numeric register holds, or None for Huawei's "no value"."""
    if len(words) != register.count:
        raise ValueError(f"{register.name}: expected {register.count} words, got {len(words)}")
    value = 0
    for word in words:
        value = (value << 16) | (word & 0xFFFF)
    dtype = register.dtype
    if dtype not in INVALID:
        raise ValueError(f"{register.name} is {dtype}, not a number")
    if value == INVALID[dtype]:
        return None
    bits = 16 * len(words)
    if dtype in (DataType.I16, DataType.I32) and value >= 1 << (bits - 1):
        value -= 1 << bits
    return value


def number(register: Register, words: Sequence[int]) -> float | None:
    """The register's value in Wattkeeper's unit and sign convention."""
    raw = raw_int(register, words)
    if raw is None:
        return None
    return (register.sign * raw) / register.gain


def text(register: Register, words: Sequence[int]) -> str:
    """A string, enumeration or bit-field register as text."""
    if register.dtype is DataType.STR:
        data = b"".join(w.to_bytes(2, "big") for w in words)
        return data.split(b"\0", 1)[0].decode("ascii", "replace").strip()
    if register.dtype is DataType.BITS:
        set_bits = [
            label
            for word, bit, label in register.bits
            if word < len(words) and words[word] >> bit & 1
        ]
        return ALARM_SEPARATOR.join(set_bits) if set_bits else NO_ALARMS
    raw = raw_int(register, words)
    if raw is None:
        return "unknown"
    return dict(register.labels).get(raw, f"unknown ({raw:#06x})")


def encode_int(register: Register, raw: int) -> list[int]:
    """Words for a raw integer (two's complement for signed types)."""
    bits = 16 * register.count
    if not -(1 << bits) < raw < 1 << bits:
        raise ValueError(f"{register.name}: {raw} does not fit {register.dtype}")
    raw &= (1 << bits) - 1
    return [(raw >> (16 * (register.count - 1 - i))) & 0xFFFF for i in range(register.count)]


def encode_text(register: Register, value: str) -> list[int]:
    """Words for an ASCII string, NUL padded to the register's length."""
    data = value.encode("ascii")
    if len(data) > 2 * register.count:
        raise ValueError(f"{register.name}: {value!r} is longer than {register.count} words")
    data = data.ljust(2 * register.count, b"\0")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
