"""Rollup bucket boundaries.

15-minute and hourly buckets are fixed UTC intervals. Days, ISO weeks (starting
Monday) and months follow the site's IANA time zone, so a day can last 23 or 25
hours. Every zone in use today has an offset that is a multiple of 15 minutes,
so each 15-minute bucket lies inside exactly one local day: coarse buckets are
built from 15-minute rows, never from raw readings again.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from .records import RollupPeriod
from .timeconv import HOUR_US, QUARTER_HOUR_US, SECOND_US, to_us

# (start, end) in UTC microseconds; end is exclusive.
Span = tuple[int, int]


def floor_quarter(us: int) -> int:
    return us - us % QUARTER_HOUR_US


def floor_hour(us: int) -> int:
    return us - us % HOUR_US


class LocalCalendar:
    """Day, week and month spans in one time zone, cached per local date."""

    def __init__(self, time_zone: str) -> None:
        self.time_zone = time_zone
        self._zone = ZoneInfo(time_zone)
        # Each instance caches its own zone's spans; bounded because dates repeat.
        self._day_of = lru_cache(maxsize=4096)(self._local_date)
        self._span_of = lru_cache(maxsize=4096)(self._date_span)

    def _local_date(self, quarter_start_us: int) -> date:
        return datetime.fromtimestamp(quarter_start_us / SECOND_US, self._zone).date()

    def _midnight(self, day: date) -> int:
        # fold=0 on a skipped midnight gives the first real instant of that day.
        return to_us(datetime.combine(day, time(0), tzinfo=self._zone))

    def _date_span(self, first: date, days: int) -> Span:
        return self._midnight(first), self._midnight(first + timedelta(days=days))

    def local_date(self, us: int) -> date:
        """The local date of the 15-minute bucket holding `us`."""
        return self._day_of(floor_quarter(us))

    def day(self, us: int) -> Span:
        return self._span_of(self.local_date(us), 1)

    def week(self, us: int) -> Span:
        local = self.local_date(us)
        return self._span_of(local - timedelta(days=local.weekday()), 7)

    def month(self, us: int) -> Span:
        local = self.local_date(us)
        first = local.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return self._span_of(first, (following - first).days)

    def span(self, period: RollupPeriod, us: int) -> Span:
        """The bucket of `period` that holds `us`."""
        match period:
            case RollupPeriod.QUARTER_HOUR:
                start = floor_quarter(us)
                return start, start + QUARTER_HOUR_US
            case RollupPeriod.HOUR:
                start = floor_hour(us)
                return start, start + HOUR_US
            case RollupPeriod.DAY:
                return self.day(us)
            case RollupPeriod.WEEK:
                return self.week(us)
            case RollupPeriod.MONTH:
                return self.month(us)
