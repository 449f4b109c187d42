"""The hourly sums Wattkeeper forwarded, remembered at a few points per statistic.

Home Assistant fires no event when a user adjusts a sum (developer tools →
statistics → adjust sum): the recorder just adds the adjustment to every sum
from the chosen hour on. Comparing the sum the recorder has now with the sum
forwarded at a remembered hour tells whether history changed; a binary search
over the remembered hours tells from where to forward it again.

The checkpoints are the last forwarded hour of each UTC day for the last
RECENT_DAYS, and of each month before that, plus the first hour ever
forwarded, so a correction anywhere is found and at most a day (a month for
old history) is forwarded more than strictly needed — idempotently.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Final

from homeassistant.util import dt as dt_util

from .recorder import StatisticPeriod, StatisticRow

RECENT_DAYS: Final = 62

type Checkpoint = tuple[datetime, float]  # (hour start, forwarded sum)
type StoredLedger = dict[str, list[list[str | float]]]  # statistic id → [[iso start, sum]]


class SumLedger:
    """Checkpoints of forwarded hourly sums, per statistic, oldest first."""

    def __init__(self, checkpoints: dict[str, list[Checkpoint]] | None = None) -> None:
        self._checkpoints = checkpoints or {}

    def record(self, rows: Iterable[StatisticRow]) -> None:
        """Remember the sums of forwarded hourly rows (a re-forward replaces them)."""
        new: dict[str, dict[datetime, float]] = {}
        for row in rows:
            if row.period is StatisticPeriod.HOUR and row.sum is not None:
                new.setdefault(row.statistic_id, {})[row.start] = row.sum
        for statistic_id, sums in new.items():
            merged = dict(self._checkpoints.get(statistic_id, ())) | sums
            self._checkpoints[statistic_id] = _thinned(sorted(merged.items()))

    def checkpoints(self, statistic_id: str) -> list[Checkpoint]:
        return list(self._checkpoints.get(statistic_id, ()))

    def newest(self, statistic_id: str) -> Checkpoint | None:
        points = self._checkpoints.get(statistic_id)
        return points[-1] if points else None

    def to_store(self) -> StoredLedger:
        return {
            statistic_id: [[start.isoformat(), total] for start, total in points]
            for statistic_id, points in self._checkpoints.items()
        }

    @classmethod
    def from_store(cls, stored: StoredLedger) -> SumLedger:
        return cls(
            {
                statistic_id: [
                    (dt_util.parse_datetime(str(start), raise_on_error=True), float(total))
                    for start, total in points
                ]
                for statistic_id, points in stored.items()
            }
        )


def _thinned(points: list[Checkpoint]) -> list[Checkpoint]:
    """The first point, and the last of each day (recent) or month (older)."""
    recent = points[-1][0] - timedelta(days=RECENT_DAYS)
    last_of: dict[tuple[int, int, int], Checkpoint] = {}
    for point in points[1:]:
        start = point[0]
        key = (start.year, start.month, start.day if start >= recent else 0)
        last_of[key] = point  # points are sorted: the last one of the key wins
    return [points[0], *sorted(last_of.values())] if len(points) > 1 else points


async def first_changed(
    checkpoints: list[Checkpoint], changed: Callable[[Checkpoint], Awaitable[bool]]
) -> datetime:
    """From where to forward again, when the newest checkpoint no longer matches the
    recorder: an adjusted sum shifts every later one, so a binary search finds the
    first checkpoint that changed; forwarding starts after the one before it."""
    low, high = 0, len(checkpoints) - 1  # checkpoints[high] is known to have changed
    while low < high:
        middle = (low + high) // 2
        if await changed(checkpoints[middle]):
            high = middle
        else:
            low = middle + 1
    if low == 0:
        return checkpoints[0][0]  # nothing before it was ever forwarded
    return checkpoints[low - 1][0] + timedelta(hours=1)
