"""Reads Home Assistant's long-term statistics through the recorder's public API.

Everything here runs in the recorder's executor (the database belongs to it).
Rows are read in the unit they are stored in, not the display unit a user may
have picked for the entity, so the external database holds what the recorder holds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from homeassistant.components.energy.data import async_get_manager
from homeassistant.components.recorder.statistics import (
    STATISTIC_UNIT_TO_UNIT_CONVERTER,
    async_list_statistic_ids,
    get_last_short_term_statistics,
    get_last_statistics,
    get_metadata,
    statistics_during_period,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance

from .recorder import StatisticPeriod, StatisticRow

type HaPeriod = Literal["5minute", "hour"]

PERIOD_LENGTH: Final = {
    StatisticPeriod.FIVE_MINUTES: timedelta(minutes=5),
    StatisticPeriod.HOUR: timedelta(hours=1),
}
_HA_PERIOD: Final[dict[StatisticPeriod, HaPeriod]] = {
    StatisticPeriod.FIVE_MINUTES: "5minute",
    StatisticPeriod.HOUR: "hour",
}
_TYPES: Final[set[Literal["change", "last_reset", "max", "mean", "min", "state", "sum"]]] = {
    "mean",
    "min",
    "max",
    "state",
    "sum",
}


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def read_statistics(
    hass: HomeAssistant,
    site: str,
    statistic_ids: Iterable[str],
    period: StatisticPeriod,
    start: datetime,
    end: datetime,
) -> list[StatisticRow]:
    """Rows of `statistic_ids` starting in [start, end), in their stored unit. Executor only."""
    metadata = get_metadata(hass, statistic_ids=set(statistic_ids))
    # `units` applies per unit class to the whole query: group statistics by stored unit.
    groups: dict[tuple[str | None, str | None], set[str]] = defaultdict(set)
    for statistic_id, (_, meta) in metadata.items():
        unit = meta["unit_of_measurement"]
        converter = STATISTIC_UNIT_TO_UNIT_CONVERTER.get(unit)
        groups[(converter.UNIT_CLASS if converter else None, unit)].add(statistic_id)
    rows: list[StatisticRow] = []
    for (unit_class, unit), ids in groups.items():
        units = {unit_class: unit} if unit_class is not None and unit is not None else None
        found = statistics_during_period(hass, start, end, ids, _HA_PERIOD[period], units, _TYPES)
        for statistic_id, stats in found.items():
            meta = metadata[statistic_id][1]
            rows.extend(
                StatisticRow(
                    site=site,
                    statistic_id=statistic_id,
                    period=period,
                    start=datetime.fromtimestamp(stat["start"], UTC),
                    mean=_number(stat.get("mean")),
                    min=_number(stat.get("min")),
                    max=_number(stat.get("max")),
                    state=_number(stat.get("state")),
                    sum=_number(stat.get("sum")),
                    unit=meta["unit_of_measurement"],
                    source=meta["source"],
                )
                for stat in stats
            )
    rows.sort(key=lambda row: (row.start, row.statistic_id))
    return rows


async def async_recorder_ready(hass: HomeAssistant) -> bool:
    """Wait until the recorder's database is usable; False when it never will be."""
    return await get_instance(hass).async_db_ready


async def async_read_statistics(
    hass: HomeAssistant,
    site: str,
    statistic_ids: Iterable[str],
    period: StatisticPeriod,
    start: datetime,
    end: datetime,
) -> list[StatisticRow]:
    """`read_statistics` in the recorder's executor."""
    ids = list(statistic_ids)
    return await get_instance(hass).async_add_executor_job(
        read_statistics, hass, site, ids, period, start, end
    )


def newest_starts(
    hass: HomeAssistant, statistic_ids: Iterable[str], period: StatisticPeriod
) -> dict[str, datetime]:
    """When the newest row of each statistic starts (absent: it has none). Executor only.

    One indexed row per statistic: what tells a forward whether a statistic has
    anything new at all, so statistics that stopped producing rows cost no reads."""
    last = get_last_statistics if period is StatisticPeriod.HOUR else get_last_short_term_statistics
    newest: dict[str, datetime] = {}
    for statistic_id in statistic_ids:
        found = last(hass, 1, statistic_id, False, {"sum"}).get(statistic_id)
        if found:
            newest[statistic_id] = datetime.fromtimestamp(found[0]["start"], UTC)
    return newest


async def async_newest_starts(
    hass: HomeAssistant, statistic_ids: Iterable[str], period: StatisticPeriod
) -> dict[str, datetime]:
    """`newest_starts` in the recorder's executor."""
    ids = list(statistic_ids)
    return await get_instance(hass).async_add_executor_job(newest_starts, hass, ids, period)


async def async_statistic_choices(hass: HomeAssistant) -> list[tuple[str, str]]:
    """(statistic id, label) of every statistic the recorder knows, for a selector."""
    listed = await async_list_statistic_ids(hass)
    choices = [
        (str(item["statistic_id"]), f"{item.get('name') or item['statistic_id']}")
        for item in listed
    ]
    return sorted(choices, key=lambda choice: choice[0])


def _stat_ids(node: Any) -> Iterable[str]:
    """Every `stat_*` value in the Energy preferences (grid, solar, battery, gas, water,
    device consumption, and their cost statistics)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key.startswith("stat_") and isinstance(value, str) and value:
                yield value
            else:
                yield from _stat_ids(value)
    elif isinstance(node, list):
        for item in node:
            yield from _stat_ids(item)


async def async_energy_statistic_ids(hass: HomeAssistant) -> set[str]:
    """The statistics the Energy dashboard is configured with."""
    manager = await async_get_manager(hass)
    if manager.data is None:
        return set()
    return set(_stat_ids(dict(manager.data)))
