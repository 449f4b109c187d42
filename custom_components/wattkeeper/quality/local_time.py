"""Local-time quarter hours and months, the units the capacity tariff counts in.

Quarter hours start at :00/:15/:30/:45 local time and month boundaries are
local midnights. Arithmetic happens in UTC: adding 15 minutes to an aware local
datetime in Python is wall-clock arithmetic and goes wrong across a DST change.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import QualityConfigError

QUARTER: Final = timedelta(minutes=15)


def load_zone(name: str) -> ZoneInfo:
    """The IANA time zone the glue passes (Home Assistant's configured zone)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise QualityConfigError(f"unknown time zone {name!r}") from err


def quarter_start(moment: datetime, zone: ZoneInfo) -> datetime:
    """Start (UTC) of the local quarter hour that holds `moment`."""
    local = moment.astimezone(zone)
    # replace() keeps `fold`, so the repeated hour of an autumn DST change
    # floors to the right one of its two occurrences.
    floored = local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0)
    return floored.astimezone(UTC)


def month_key(moment: datetime, zone: ZoneInfo) -> str:
    """ "YYYY-MM" of the local month that holds `moment`."""
    local = moment.astimezone(zone)
    return f"{local.year:04d}-{local.month:02d}"


def month_start(key: str, zone: ZoneInfo) -> datetime:
    """Start (UTC) of a local month."""
    year, month = _split(key)
    return datetime(year, month, 1, tzinfo=zone).astimezone(UTC)


def months_before(key: str, count: int) -> str:
    """The month `count` months before `key` (0 gives `key`)."""
    year, month = _split(key)
    index = year * 12 + month - 1 - count
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _split(key: str) -> tuple[int, int]:
    year, _, month = key.partition("-")
    return int(year), int(month)
