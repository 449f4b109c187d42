"""Which rollup buckets a write touched, shared by all backends.

A backend recomputes the touched 15-minute buckets from raw readings first, then
the coarser buckets that contain them from the finer rollup rows. Recomputing a
whole bucket (rather than adding to it) is what makes late data and replays
idempotent: the same raw data always gives the same row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .buckets import LocalCalendar, floor_quarter
from .records import RawRow, RollupPeriod
from .timeconv import HOUR_US

# (series id, bucket start, bucket end) in UTC microseconds.
Bucket = tuple[int, int, int]

# The table of each period, the same in every SQL backend.
ROLLUP_TABLES: dict[RollupPeriod, str] = {
    RollupPeriod.QUARTER_HOUR: "rollups_15m",
    RollupPeriod.HOUR: "rollups_1h",
    RollupPeriod.DAY: "rollups_1d",
    RollupPeriod.WEEK: "rollups_1w",
    RollupPeriod.MONTH: "rollups_1mo",
}

# What retention removed from each 15-minute bucket, as one aggregate (rollup_math.fold);
# the same columns as the rollup tables.
PURGED_TABLE = "purged_15m"

# Each coarse period and the finer period whose rows it combines.
COARSE_SOURCES: tuple[tuple[RollupPeriod, RollupPeriod], ...] = (
    (RollupPeriod.HOUR, RollupPeriod.QUARTER_HOUR),
    (RollupPeriod.DAY, RollupPeriod.QUARTER_HOUR),
    (RollupPeriod.WEEK, RollupPeriod.DAY),
    (RollupPeriod.MONTH, RollupPeriod.DAY),
)


def touched_quarters(rows: Iterable[RawRow]) -> set[tuple[int, int]]:
    """The (series, 15-minute bucket start) pairs that raw rows fall into."""
    return {(series, floor_quarter(ts)) for series, ts, _ in rows}


@dataclass(slots=True)
class CoarsePlan:
    """Coarse buckets to recompute, per period, in dependency order (see COARSE_SOURCES)."""

    buckets: dict[RollupPeriod, set[Bucket]] = field(default_factory=dict)

    def for_period(self, period: RollupPeriod) -> list[Bucket]:
        return sorted(self.buckets.get(period, ()))


def plan_coarse(calendar: LocalCalendar, quarters: Iterable[tuple[int, int]]) -> CoarsePlan:
    """The hour, day, week and month buckets holding the given 15-minute buckets."""
    plan = CoarsePlan({period: set() for period, _ in COARSE_SOURCES})
    for series, start in quarters:
        hour = start - start % HOUR_US
        plan.buckets[RollupPeriod.HOUR].add((series, hour, hour + HOUR_US))
        for period in (RollupPeriod.DAY, RollupPeriod.WEEK, RollupPeriod.MONTH):
            span = calendar.span(period, start)
            plan.buckets[period].add((series, span[0], span[1]))
    return plan
