"""Checks and derived data for forwarded statistics, shared by all backends."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .records import StatisticRow


@dataclass(frozen=True, slots=True, kw_only=True)
class StatisticMeta:
    """What `ha_statistics_meta` holds for one forwarded statistic."""

    site: str
    statistic_id: str
    unit: str | None
    source: str
    has_mean: bool
    has_sum: bool


def _finite(row: StatisticRow) -> bool:
    numbers = (row.mean, row.min, row.max, row.state, row.sum)
    return all(number is None or math.isfinite(number) for number in numbers)


def valid_statistics(rows: Iterable[StatisticRow]) -> tuple[list[StatisticRow], int]:
    """The rows without NaN/inf, and how many were rejected."""
    valid = []
    rejected = 0
    for row in rows:
        if _finite(row):
            valid.append(row)
        else:
            rejected += 1
    return valid, rejected


def dedupe_statistics(rows: Sequence[StatisticRow]) -> list[StatisticRow]:
    """One row per key, the last one winning: a correction sent later replaces the earlier."""
    return list({row.key: row for row in rows}.values())


def statistics_meta(rows: Iterable[StatisticRow]) -> list[StatisticMeta]:
    """One meta row per statistic in `rows`; the last row's unit and source win."""
    metas: dict[tuple[str, str], StatisticMeta] = {}
    for row in rows:
        key = (row.site, row.statistic_id)
        previous = metas.get(key)
        metas[key] = StatisticMeta(
            site=row.site,
            statistic_id=row.statistic_id,
            unit=row.unit,
            source=row.source,
            has_mean=row.mean is not None or (previous is not None and previous.has_mean),
            has_sum=row.sum is not None or (previous is not None and previous.has_sum),
        )
    return list(metas.values())
