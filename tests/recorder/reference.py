"""Brute-force rollups straight from raw readings, to check the backends against.

Written independently of the library: every period is bucketed from each
reading's own timestamp (never from finer rollups), with the documented
semantics: the counter delta of a bucket sums the increases of the steps that
end in it, the step into its first reading included; a drop below 90 % of the
previous reading is a meter reset and adds the new reading (counted from 0), a
smaller drop adds nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from custom_components.wattkeeper.recorder import RollupPeriod


@dataclass
class Bucket:
    count: int = 0
    min: float = float("inf")
    max: float = float("-inf")
    total: float = 0.0
    first: float | None = None
    last: float | None = None
    delta: float = 0.0

    @property
    def mean(self) -> float:
        return self.total / self.count


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def bucket_start(period: RollupPeriod, moment: datetime, zone: ZoneInfo) -> datetime:
    if period is RollupPeriod.QUARTER_HOUR:
        return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)
    if period is RollupPeriod.HOUR:
        return moment.replace(minute=0, second=0, microsecond=0)
    local = moment.astimezone(zone).date()
    if period is RollupPeriod.DAY:
        return _midnight(local, zone)
    if period is RollupPeriod.WEEK:
        return _midnight(local - timedelta(days=local.weekday()), zone)
    return _midnight(local.replace(day=1), zone)


def _step(previous: float, value: float) -> float:
    if value >= previous:
        return value - previous
    return max(value, 0.0) if value < 0.9 * previous else 0.0


def rollups(
    readings: Mapping[datetime, float], *, counter: bool, time_zone: str
) -> dict[RollupPeriod, dict[datetime, Bucket]]:
    zone = ZoneInfo(time_zone)
    result: dict[RollupPeriod, dict[datetime, Bucket]] = {period: {} for period in RollupPeriod}
    previous: float | None = None
    for moment in sorted(readings):
        value = readings[moment]
        for period in RollupPeriod:
            bucket = result[period].setdefault(bucket_start(period, moment, zone), Bucket())
            bucket.count += 1
            bucket.min = min(bucket.min, value)
            bucket.max = max(bucket.max, value)
            bucket.total += value
            if bucket.first is None:
                bucket.first = value
            bucket.last = value
            if counter and previous is not None:
                bucket.delta += _step(previous, value)
        previous = value
    return result
