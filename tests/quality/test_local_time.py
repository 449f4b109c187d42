"""Local quarter hours and months across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from custom_components.wattkeeper.quality.errors import QualityConfigError
from custom_components.wattkeeper.quality.local_time import (
    load_zone,
    month_key,
    month_start,
    months_before,
    quarter_start,
)

BRUSSELS = load_zone("Europe/Brussels")


def test_quarters_floor_in_local_time() -> None:
    moment = datetime(2025, 6, 10, 10, 44, 59, 999999, tzinfo=UTC)  # 12:44:59 local
    assert quarter_start(moment, BRUSSELS) == datetime(2025, 6, 10, 10, 30, tzinfo=UTC)


def test_the_repeated_autumn_hour_has_two_sets_of_quarters() -> None:
    # 26 Oct 2025: 02:00–03:00 local happens twice (CEST, then CET).
    first = datetime(2025, 10, 26, 0, 20, tzinfo=UTC)  # 02:20 CEST
    second = datetime(2025, 10, 26, 1, 20, tzinfo=UTC)  # 02:20 CET
    assert quarter_start(first, BRUSSELS) == datetime(2025, 10, 26, 0, 15, tzinfo=UTC)
    assert quarter_start(second, BRUSSELS) == datetime(2025, 10, 26, 1, 15, tzinfo=UTC)


def test_months_follow_local_midnight() -> None:
    assert month_key(datetime(2025, 9, 30, 21, 59, tzinfo=UTC), BRUSSELS) == "2025-09"
    assert month_key(datetime(2025, 9, 30, 22, 0, tzinfo=UTC), BRUSSELS) == "2025-10"
    assert month_key(datetime(2025, 10, 31, 23, 0, tzinfo=UTC), BRUSSELS) == "2025-11"
    assert month_start("2025-10", BRUSSELS) == datetime(2025, 9, 30, 22, 0, tzinfo=UTC)
    assert month_start("2025-11", BRUSSELS) == datetime(2025, 10, 31, 23, 0, tzinfo=UTC)


def test_months_before_wraps_years() -> None:
    assert months_before("2025-03", 0) == "2025-03"
    assert months_before("2025-03", 3) == "2024-12"
    assert months_before("2025-03", 14) == "2024-01"


def test_unknown_zone_is_a_config_error() -> None:
    with pytest.raises(QualityConfigError):
        load_zone("Europe/Atlantis")
