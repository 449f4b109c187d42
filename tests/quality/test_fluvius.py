"""The rolling 12-month average with the 2.5 kW floor."""

from __future__ import annotations

import pytest

from custom_components.wattkeeper.quality.fluvius import RollingAverage, rolling_average


def test_low_months_count_as_two_and_a_half_kilowatt() -> None:
    peaks = {"2025-01": 4200.0, "2025-02": 1800.0, "2025-03": 0.0}
    assert rolling_average(peaks, "2025-03") == RollingAverage((4200 + 2500 + 2500) / 3, 3)


def test_twelve_months_including_the_current_one() -> None:
    peaks = {f"2024-{m:02d}": 3000.0 for m in range(1, 13)} | {"2025-01": 9000.0}
    result = rolling_average(peaks, "2025-01")
    assert result is not None
    # 2024-01 falls out; 2024-02 … 2025-01 are twelve months.
    assert result.months == 12
    assert result.average_w == pytest.approx((11 * 3000 + 9000) / 12)


def test_months_without_data_are_left_out() -> None:
    result = rolling_average({"2025-05": 5000.0, "2025-06": 3000.0}, "2025-06")
    assert result == RollingAverage(4000.0, 2)
    assert rolling_average({}, "2025-06") is None
    assert rolling_average({"2023-01": 5000.0}, "2025-06") is None
