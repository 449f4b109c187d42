"""Day, week and month rollups of forwarded hourly statistics, as Home Assistant computes them.

What the Energy dashboard shows for a day, week or month is Home Assistant's
`statistics_during_period` with that period: the hourly rows grouped by local
calendar bucket (the site's time zone, weeks from Monday), and per bucket

- mean: the plain mean of the hourly means; min and max: of the hourly ones;
- state and sum: those of the bucket's last hourly row;
- change: that sum minus the sum of the last hourly row before the bucket,
  which is what the Energy dashboard plots for meters.

One difference, on purpose: where the database holds no row before a bucket
(the first bucket a statistic has there), Home Assistant counts the change
from 0, which is right only at the very start of its own history; forwarding
and backfills usually start later, so that bucket's change is left empty
rather than made the whole running sum.

Days are reduced from hourly rows exactly as Home Assistant does. Weeks and
months are combined from day rows (every week and month boundary is a local
midnight), the mean weighted by the hours that had one, so a write reads at
most a day of hourly rows per touched day; their means agree with Home
Assistant's to rounding, everything else exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from .records import RollupPeriod, StatisticRow

# The periods statistics are rolled up to; their `RollupPeriod` values name them everywhere.
STATISTIC_ROLLUP_PERIODS: Final = (RollupPeriod.DAY, RollupPeriod.WEEK, RollupPeriod.MONTH)
COARSE_PERIODS: Final = (RollupPeriod.WEEK, RollupPeriod.MONTH)


@dataclass(frozen=True, slots=True, kw_only=True)
class StatisticRollupRow:
    """One day, week or month of one forwarded statistic (`start`: local midnight, in UTC)."""

    site: str
    statistic_id: str
    period: RollupPeriod
    start: datetime
    count: int  # hourly rows in the bucket
    mean_count: int  # of them, rows with a mean: the weight of `mean` in coarser buckets
    mean: float | None = None
    min: float | None = None
    max: float | None = None
    state: float | None = None
    sum: float | None = None
    change: float | None = None


def _change(last_sum: float | None, before: float | None) -> float | None:
    """Home Assistant's change; none without a sum, or without one before to count from."""
    return None if last_sum is None or before is None else last_sum - before


def reduce_day(
    hours: Sequence[StatisticRow], start: datetime, sum_before: float | None
) -> StatisticRollupRow:
    """The day starting at `start` from its hourly rows (oldest first), as Home Assistant
    reduces them; `sum_before` is the sum of the last hourly row before the day."""
    first = hours[0]
    means = [row.mean for row in hours if row.mean is not None]
    mins = [row.min for row in hours if row.min is not None]
    maxes = [row.max for row in hours if row.max is not None]
    last = hours[-1]
    return StatisticRollupRow(
        site=first.site,
        statistic_id=first.statistic_id,
        period=RollupPeriod.DAY,
        start=start,
        count=len(hours),
        mean_count=len(means),
        # sum()/len() in the same order as Home Assistant's mean(): the same float.
        mean=sum(means) / len(means) if means else None,
        min=min(mins) if mins else None,
        max=max(maxes) if maxes else None,
        state=last.state,
        sum=last.sum,
        change=_change(last.sum, sum_before),
    )


def combine_days(
    days: Sequence[StatisticRollupRow],
    period: RollupPeriod,
    start: datetime,
    sum_before: float | None,
) -> StatisticRollupRow:
    """A week or month from its day rows (oldest first); `sum_before` is the sum of the
    last day before it (so of the last hourly row before it)."""
    first = days[0]
    mean_count = sum(day.mean_count for day in days)
    weighted = sum(day.mean * day.mean_count for day in days if day.mean is not None)
    mins = [day.min for day in days if day.min is not None]
    maxes = [day.max for day in days if day.max is not None]
    last = days[-1]
    return StatisticRollupRow(
        site=first.site,
        statistic_id=first.statistic_id,
        period=period,
        start=start,
        count=sum(day.count for day in days),
        mean_count=mean_count,
        mean=weighted / mean_count if mean_count else None,
        min=min(mins) if mins else None,
        max=max(maxes) if maxes else None,
        state=last.state,
        sum=last.sum,
        change=_change(last.sum, sum_before),
    )
