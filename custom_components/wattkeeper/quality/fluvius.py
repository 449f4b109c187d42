"""The Flemish (Fluvius / VREG) capacity-tariff rule for the yearly average peak.

Rule implemented:
- A month's peak is the highest quarter-hour average import demand in that
  local calendar month (import only; export never offsets another quarter).
- The billed "average monthly peak" is the mean of the monthly peaks of the
  last 12 months, the current month included.
- Each month counts as at least 2.5 kW: a month with a lower peak (or a peak of
  zero) enters the mean as 2.5 kW. The monthly peak itself is reported as
  measured; the floor applies only inside the mean.
- Months without any data (before the meter, or before Wattkeeper, was
  installed) are left out, so the mean runs over the months that have data;
  with no month at all there is no average.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from .local_time import months_before

MINIMUM_MONTHLY_PEAK_W: Final = 2500.0
WINDOW_MONTHS: Final = 12


@dataclass(frozen=True, slots=True)
class RollingAverage:
    average_w: float
    months: int


def rolling_average(peaks: Mapping[str, float], current_month: str) -> RollingAverage | None:
    """Mean of the floored monthly peaks in the 12 months ending with `current_month`."""
    first = months_before(current_month, WINDOW_MONTHS - 1)
    # "YYYY-MM" strings sort like the months they name.
    counted = [
        max(peak, MINIMUM_MONTHLY_PEAK_W)
        for month, peak in peaks.items()
        if first <= month <= current_month
    ]
    if not counted:
        return None
    return RollingAverage(sum(counted) / len(counted), len(counted))
