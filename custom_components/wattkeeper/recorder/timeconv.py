"""UTC microseconds since the epoch: the one time representation inside the recorder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
SECOND_US = 1_000_000
QUARTER_HOUR_US = 900 * SECOND_US
HOUR_US = 3600 * SECOND_US
DAY_US = 86_400 * SECOND_US


def to_us(moment: datetime) -> int:
    """Exact microseconds since the epoch of a timezone-aware datetime."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware")
    return (moment - EPOCH) // MICROSECOND


def from_us(us: int) -> datetime:
    """The UTC datetime of microseconds since the epoch."""
    return EPOCH + timedelta(microseconds=us)
