"""What differs between the DSMR flavours: telegram layout, serial line, pace.

Each version names one dsmr-parser telegram specification. The serial
settings follow the P1 companion standards: DSMR 2.2 (and 3) run at
9600 baud 7E1, DSMR 4 and later at 115200 baud 8N1. The EasyMeter Q3D's
optical interface also speaks 9600 7E1 (dsmr-parser's own reader opens it
at 115200 8N1, which the meter does not send). The interval is how often
the meter sends a telegram; the stall watchdog waits three of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from dsmr_parser import telegram_specifications
from dsmr_parser.parsers import ProfileGenericParser, TelegramParser
from dsmr_parser.profile_generic_specifications import PG_HEAD_PARSERS

# The authentication key every Luxembourg Smarty meter uses in its GCM
# additional data (published in the Smarty P1 specification).
SMARTY_AUTHENTICATION_KEY: Final = "00112233445566778899AABBCCDDEEFF"


class DsmrVersion(StrEnum):
    """The protocol versions a user can pick (values are dsmr-parser's names)."""

    V2_2 = "2.2"
    V4 = "4"
    V5 = "5"
    V5B = "5B"  # Belgium, Fluvius e-MUCS
    V5L = "5L"  # Luxembourg, Smarty (AES-GCM encrypted on the wire)
    V5S = "5S"  # Sweden
    Q3D = "Q3D"  # EasyMeter Q3D


@dataclass(frozen=True, slots=True)
class SerialSettings:
    """Keyword arguments for pyserial; the literals equal pyserial's constants."""

    baudrate: int
    bytesize: int
    parity: str
    stopbits: int

    def __str__(self) -> str:
        return f"{self.baudrate} {self.bytesize}{self.parity}{self.stopbits}"

    def as_kwargs(self) -> dict[str, Any]:
        return {
            "baudrate": self.baudrate,
            "bytesize": self.bytesize,
            "parity": self.parity,
            "stopbits": self.stopbits,
            "xonxoff": False,
            "rtscts": False,
        }


SERIAL_9600_7E1: Final = SerialSettings(baudrate=9600, bytesize=7, parity="E", stopbits=1)
SERIAL_115200_8N1: Final = SerialSettings(baudrate=115200, bytesize=8, parity="N", stopbits=1)


@dataclass(frozen=True, slots=True)
class VersionInfo:
    specification: Mapping[str, Any]
    serial: SerialSettings
    # Seconds between telegrams the meter promises.
    interval: float
    # Whether telegrams end in a CRC16 ("!XXXX"); auto-detect leans on it.
    checksum: bool


VERSIONS: Final[Mapping[DsmrVersion, VersionInfo]] = {
    DsmrVersion.V2_2: VersionInfo(telegram_specifications.V2_2, SERIAL_9600_7E1, 10.0, False),
    DsmrVersion.V4: VersionInfo(telegram_specifications.V4, SERIAL_115200_8N1, 10.0, True),
    DsmrVersion.V5: VersionInfo(telegram_specifications.V5, SERIAL_115200_8N1, 1.0, True),
    DsmrVersion.V5B: VersionInfo(
        telegram_specifications.BELGIUM_FLUVIUS, SERIAL_115200_8N1, 1.0, True
    ),
    DsmrVersion.V5L: VersionInfo(
        telegram_specifications.LUXEMBOURG_SMARTY, SERIAL_115200_8N1, 10.0, True
    ),
    DsmrVersion.V5S: VersionInfo(telegram_specifications.SWEDEN, SERIAL_115200_8N1, 10.0, True),
    # EasyMeter pushes every 1-2 s; take the slower so the watchdog stays quiet.
    DsmrVersion.Q3D: VersionInfo(telegram_specifications.Q3D, SERIAL_9600_7E1, 2.0, False),
}

# Auto-detect tries the versions in this order: the ones with a distinctive
# line first, the permissive checksum-less layouts last (see signature()).
DETECT_ORDER: Final[tuple[DsmrVersion, ...]] = (
    DsmrVersion.V5B,
    DsmrVersion.V5L,
    DsmrVersion.Q3D,
    DsmrVersion.V5S,
    DsmrVersion.V5,
    DsmrVersion.V4,
    DsmrVersion.V2_2,
)

# Serial line settings auto-detect tries, most common first.
DETECT_SERIAL: Final[tuple[SerialSettings, ...]] = (SERIAL_115200_8N1, SERIAL_9600_7E1)


class VersionParser:
    """dsmr-parser's TelegramParser for one version, minus a memory leak.

    dsmr-parser 1.4.2's ProfileGenericParser (the 99.97.0 power-failure log)
    appends to its own list of value parsers on every parse, and that parser
    lives in the shared specification: left alone it grows by a few entries
    per telegram, forever. We cut it back to its fixed head after each parse.
    """

    def __init__(self, version: DsmrVersion) -> None:
        self.version = version
        spec = VERSIONS[version].specification
        self._parser = TelegramParser(spec)
        self._profiles = [
            obj["value_parser"]
            for obj in spec["objects"]
            if isinstance(obj["value_parser"], ProfileGenericParser)
        ]

    def parse(self, text: str) -> Any:
        """The dsmr-parser Telegram; raises ParseError / InvalidChecksumError."""
        try:
            return self._parser.parse(text)
        finally:
            for parser in self._profiles:
                del parser.value_formats[len(PG_HEAD_PARSERS) :]


def has_checksum(text: str) -> bool:
    """True when the telegram ends in `!` plus four hex digits."""
    bang = text.rfind("!")
    return bang != -1 and len(text) >= bang + 5 and _is_hex(text[bang + 1 : bang + 5])


def signature(version: DsmrVersion, text: str, telegram: Any) -> bool:
    """Whether a telegram that parsed under `version` really is that version.

    A DSMR 5 parser also reads Belgian telegrams, and the checksum-less
    parsers read nearly anything, so each version needs its own proof: a line
    only it has, the P1 version number, or the checksum's absence.
    """
    names = {name for name, _ in telegram}
    match version:
        case DsmrVersion.V5B:
            return "BELGIUM_VERSION_INFORMATION" in names
        case DsmrVersion.V5L:
            return "LUXEMBOURG_EQUIPMENT_IDENTIFIER" in names
        case DsmrVersion.Q3D:
            return not has_checksum(text) and bool(
                names & {"Q3D_EQUIPMENT_IDENTIFIER", "Q3D_EQUIPMENT_SERIALNUMBER"}
            )
        case DsmrVersion.V5:
            return _p1_version(telegram).startswith("5")
        case DsmrVersion.V4:
            return _p1_version(telegram).startswith(("4", "3"))
        case DsmrVersion.V5S:
            # Sweden reports total registers and no equipment identifier at all.
            return (
                "ELECTRICITY_IMPORTED_TOTAL" in names
                and ":96.1.1(" not in text
                and ":96.1.4(" not in text
            )
        case DsmrVersion.V2_2:
            return not has_checksum(text) and bool(
                names & {"ELECTRICITY_USED_TARIFF_1", "EQUIPMENT_IDENTIFIER"}
            )


def _p1_version(telegram: Any) -> str:
    header = getattr(telegram, "P1_MESSAGE_HEADER", None)
    value = getattr(header, "value", None)
    return str(value) if value is not None else ""


def _is_hex(text: str) -> bool:
    return all(c in "0123456789ABCDEFabcdef" for c in text)
