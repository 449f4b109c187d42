"""Forwards Home Assistant's long-term statistics into the recorder entry's outbox.

After each 5-minute and hourly compile the recorder fires an event; each one
reads the rows newer than a persisted cursor per statistic and period, appends
them to the outbox (the same durability as readings), and only then moves the
cursor. The recorder compiles runs in order, so the row after the cursor is
the first one not forwarded yet: restarts, outages and late compiles skip
nothing, and a crash between append and cursor save only re-sends rows, which
the backends store idempotently.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Final, TypedDict

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import (
    EVENT_RECORDER_5MIN_STATISTICS_GENERATED,
    EVENT_RECORDER_HOURLY_STATISTICS_GENERATED,
)
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .const import LOGGER
from .recorder import Outbox, StatisticPeriod, StatisticRow
from .statistics_reader import PERIOD_LENGTH, async_read_statistics, async_recorder_ready

CONF_STATISTICS: Final = "statistics"
CONF_ENERGY_SOURCES: Final = "energy_sources"
STORAGE_VERSION: Final = 1
# One read covers at most this much time: bounded memory after a long outage.
READ_SPAN: Final = {
    StatisticPeriod.FIVE_MINUTES: timedelta(days=1),
    StatisticPeriod.HOUR: timedelta(days=31),
}

type IdSource = Callable[[], Awaitable[set[str]]]


class CursorData(TypedDict):
    cursors: dict[str, str]  # "<period>|<statistic id>" → ISO start of the next row to send


def _key(period: StatisticPeriod, statistic_id: str) -> str:
    return f"{period.value}|{statistic_id}"


class StatisticsForwarder:
    """Moves new statistics rows of the chosen statistics into the outbox."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        site: str,
        outbox: Outbox,
        statistic_ids: IdSource,
    ) -> None:
        self.hass = hass
        self.site = site
        self.outbox = outbox
        self._statistic_ids = statistic_ids
        self._store: Store[CursorData] = Store(
            hass, STORAGE_VERSION, f"wattkeeper.statistics_cursor.{entry_id}"
        )
        self._cursors: dict[str, datetime] = {}
        self._lock = asyncio.Lock()
        self.forwarded = 0

    async def async_load(self) -> None:
        stored = await self._store.async_load()
        if stored is not None:
            self._cursors = {
                key: dt_util.parse_datetime(value, raise_on_error=True)
                for key, value in stored["cursors"].items()
            }

    def cursor(self, period: StatisticPeriod, statistic_id: str) -> datetime | None:
        return self._cursors.get(_key(period, statistic_id))

    async def forward(self, period: StatisticPeriod) -> int:
        """Send every compiled row after the cursors; returns how many rows went out."""
        async with self._lock:
            ids = await self._statistic_ids()
            now = dt_util.utcnow()
            # A statistic seen for the first time starts with the previous full hour;
            # older history is what the backfill action is for.
            first = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
            new = False
            groups: dict[datetime, list[str]] = defaultdict(list)
            for statistic_id in sorted(ids):
                if (key := _key(period, statistic_id)) not in self._cursors:
                    # Remembered at once, so rows compiled before the next read count.
                    self._cursors[key] = first
                    new = True
                groups[self._cursors[key]].append(statistic_id)
            if new:
                await self._save()
            sent = 0
            for start, group in sorted(groups.items()):
                sent += await self._forward_range(period, group, start, now)
            self.forwarded += sent
            return sent

    async def _forward_range(
        self, period: StatisticPeriod, ids: list[str], start: datetime, now: datetime
    ) -> int:
        sent = 0
        position = start
        while position <= now:
            end = position + READ_SPAN[period]
            rows = await async_read_statistics(self.hass, self.site, ids, period, position, end)
            if rows:
                await self.outbox.append_statistics(rows)
                self._advance(period, rows)
                await self._save()
                sent += len(rows)
            position = end
        return sent

    def _advance(self, period: StatisticPeriod, rows: Iterable[StatisticRow]) -> None:
        step = PERIOD_LENGTH[period]
        for row in rows:
            key = _key(period, row.statistic_id)
            following = row.start + step
            if key not in self._cursors or self._cursors[key] < following:
                self._cursors[key] = following

    async def _save(self) -> None:
        await self._store.async_save(
            {"cursors": {key: value.isoformat() for key, value in self._cursors.items()}}
        )

    async def async_remove(self) -> None:
        await self._store.async_remove()


def async_start_forwarding(
    hass: HomeAssistant, entry: ConfigEntry, forwarder: StatisticsForwarder
) -> None:
    """Catch up now, then forward after every compile until the entry unloads."""

    def run(period: StatisticPeriod) -> None:
        entry.async_create_background_task(
            hass, _forward_logged(forwarder, period), f"wattkeeper statistics {period.value}"
        )

    @callback
    def on_five_minutes(_: Event) -> None:
        run(StatisticPeriod.FIVE_MINUTES)

    @callback
    def on_hour(_: Event) -> None:
        run(StatisticPeriod.HOUR)

    entry.async_on_unload(
        hass.bus.async_listen(EVENT_RECORDER_5MIN_STATISTICS_GENERATED, on_five_minutes)
    )
    entry.async_on_unload(
        hass.bus.async_listen(EVENT_RECORDER_HOURLY_STATISTICS_GENERATED, on_hour)
    )

    async def catch_up() -> None:
        if not await async_recorder_ready(hass):
            return
        for period in StatisticPeriod:
            await _forward_logged(forwarder, period)

    entry.async_create_background_task(hass, catch_up(), "wattkeeper statistics catch-up")


async def _forward_logged(forwarder: StatisticsForwarder, period: StatisticPeriod) -> None:
    try:
        sent = await forwarder.forward(period)
    except Exception:  # the cursor did not move: the next compile retries the same rows
        LOGGER.exception("Forwarding %s statistics failed; will retry", period.value)
    else:
        LOGGER.debug("Forwarded %d %s statistics rows", sent, period.value)
