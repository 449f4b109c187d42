"""From one complete telegram text to a Snapshot: detect, parse, map.

Kept apart from the link so tests, diagnostics and replays can read a single
telegram, and so the meter only decides what to count.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Final

from dsmr_parser.exceptions import InvalidChecksumError, ParseError

from .dsmr_mapping import identity_from, raw_equipment_id, snapshot_from
from .dsmr_versions import DETECT_ORDER, DsmrVersion, VersionParser, signature
from .errors import MeterDataError
from .model import MeterIdentity, Snapshot

LOGGER = logging.getLogger(__name__)

# What a broken telegram may raise out of dsmr-parser besides ParseError.
_PARSE_FAILURES: Final = (ParseError, ValueError, ArithmeticError, LookupError, TypeError)


class TelegramError(Exception):
    """This telegram cannot be used; the stream goes on."""


class ChecksumError(TelegramError):
    """The CRC does not match: damaged on the way."""


class UnreadableError(TelegramError):
    """Not a telegram we can read (garbage, cut off, nothing we know in it)."""


class UnknownVersionError(UnreadableError):
    """Auto-detect: no version's parser accepts this telegram."""

    def __init__(self, message: str, *, checksum_failed: bool) -> None:
        super().__init__(message)
        self.checksum_failed = checksum_failed


class TelegramReader:
    """Reads telegrams of one meter; detects the version first when not given."""

    def __init__(self, version: DsmrVersion | None = None, address: str | None = None) -> None:
        self.version = version
        self.address = address
        self.identity: MeterIdentity | None = None
        self._identity_source: tuple[str, str] | None = None
        self._parsers: dict[DsmrVersion, VersionParser] = {}

    def read(self, text: str, received_at: datetime | None = None) -> Snapshot:
        """Raises ChecksumError, UnknownVersionError or UnreadableError."""
        if self.version is None:
            version, telegram = self._detect(text)
            LOGGER.info("P1 port %s speaks DSMR %s", self.address, version)
            self.version = version
        else:
            version, telegram = self.version, self._parse(self.version, text)
        header = text[: text.find("\n")].strip() if "\n" in text else text.strip()
        self._refresh_identity(telegram, header, version)
        assert self.identity is not None
        snapshot = snapshot_from(
            telegram,
            self.identity,
            header=header,
            version=version,
            received_at=received_at or datetime.now(UTC),
        )
        if not snapshot.values:
            raise UnreadableError("The telegram holds no reading we know")
        return snapshot

    def _parse(self, version: DsmrVersion, text: str) -> Any:
        try:
            return self._parser(version).parse(text)
        except InvalidChecksumError as err:
            raise ChecksumError(str(err)) from None
        except _PARSE_FAILURES as err:
            raise UnreadableError(str(err)) from None

    def _detect(self, text: str) -> tuple[DsmrVersion, Any]:
        checksum_failed = False
        for version in DETECT_ORDER:
            try:
                telegram = self._parser(version).parse(text)
            except InvalidChecksumError:
                checksum_failed = True
                continue
            except _PARSE_FAILURES:
                continue
            if signature(version, text, telegram):
                return version, telegram
        raise UnknownVersionError(
            "No DSMR version reads this telegram", checksum_failed=checksum_failed
        )

    def _parser(self, version: DsmrVersion) -> VersionParser:
        parser = self._parsers.get(version)
        if parser is None:
            parser = self._parsers[version] = VersionParser(version)
        return parser

    def _refresh_identity(self, telegram: Any, header: str, version: DsmrVersion) -> None:
        """Build the identity once, and again only if the meter's id or header changes."""
        source = (raw_equipment_id(telegram) or "", header)
        if self.identity is None or self._identity_source != source:
            self.identity = identity_from(telegram, header, version, self.address)
            self._identity_source = source


def read_telegram(text: str, version: DsmrVersion | str | None = None) -> Snapshot:
    """One complete telegram to a Snapshot; MeterDataError when it cannot be read."""
    reader = TelegramReader(DsmrVersion(str(version)) if version else None)
    try:
        return reader.read(text)
    except TelegramError as err:
        raise MeterDataError(str(err)) from err
