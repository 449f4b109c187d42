"""Starts statistics forwarding and backfill for a loaded recorder entry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN, LOGGER
from .statistics_backfill import BackfillRunner, backfill_store, issue_id
from .statistics_forwarder import (
    CONF_ENERGY_SOURCES,
    CONF_STATISTICS,
    StatisticsForwarder,
    async_start_forwarding,
    cursor_store,
)
from .statistics_reader import async_energy_statistic_ids

if TYPE_CHECKING:
    from .recorder_runtime import RecorderConfigEntry, RecorderRuntime


@dataclass
class StatisticsRuntime:
    forwarder: StatisticsForwarder
    backfill: BackfillRunner


async def async_setup_statistics(
    hass: HomeAssistant, entry: RecorderConfigEntry, runtime: RecorderRuntime
) -> StatisticsRuntime | None:
    """Forward the chosen statistics after every compile; resume unfinished backfills."""
    if "recorder" not in hass.config.components:
        if entry.options.get(CONF_STATISTICS) or entry.options.get(CONF_ENERGY_SOURCES):
            LOGGER.warning("Statistics are chosen for forwarding, but the recorder is not loaded")
        return None

    async def statistic_ids() -> set[str]:
        # Options and Energy preferences are read at every compile, so a change
        # applies without a reload and sources added later count too.
        ids = set(entry.options.get(CONF_STATISTICS, []))
        if entry.options.get(CONF_ENERGY_SOURCES, False):
            ids |= await async_energy_statistic_ids(hass)
        return ids

    forwarder = StatisticsForwarder(
        hass, entry.entry_id, runtime.site, runtime.outbox, statistic_ids
    )
    await forwarder.async_load()
    async_start_forwarding(hass, entry, forwarder)
    backfill = BackfillRunner(
        hass,
        entry,
        runtime.site,
        runtime.outbox,
        on_progress=runtime.health.async_update_listeners,
        on_rows=forwarder.record_backfilled,
    )
    entry.async_on_unload(backfill.stop)
    await backfill.async_load()
    return StatisticsRuntime(forwarder=forwarder, backfill=backfill)


async def async_remove_statistics(hass: HomeAssistant, entry_id: str) -> None:
    """Forget a removed recorder entry's cursors, sums and backfill jobs."""
    await cursor_store(hass, entry_id).async_remove()
    await backfill_store(hass, entry_id).async_remove()
    ir.async_delete_issue(hass, DOMAIN, issue_id(entry_id))
