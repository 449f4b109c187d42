"""Forwards Home Assistant's long-term statistics into the recorder entry's outbox.

After each 5-minute and hourly compile the recorder fires an event; each one
reads the rows newer than a persisted cursor per statistic and period, appends
them to the outbox (the same durability as readings), and only then moves the
cursor. The recorder compiles runs in order, so the row after the cursor is
the first one not forwarded yet: restarts, outages and late compiles skip
nothing, and a crash between append and cursor save only re-sends rows, which
the backends store idempotently.

Before reading, the recorder is asked for each statistic's newest row (one
indexed row each): a statistic that stopped producing rows costs no reads, and
its cursor stays where its rows ended, so rows an integration imports later
(external statistics arrive late) are still forwarded.

Corrections: Home Assistant fires no event when a user adjusts a sum, so at
every hourly compile the newest forwarded sum of each statistic is compared
with the recorder's; on a mismatch the ledger (statistics_ledger.py) finds
from where history changed and the cursors move back there, so the next reads
forward it again (the backends replace rows by their key).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from functools import partial
from typing import Final, NotRequired, TypedDict

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
from .statistics_ledger import Checkpoint, StoredLedger, SumLedger, first_changed
from .statistics_reader import (
    PERIOD_LENGTH,
    async_newest_starts,
    async_read_statistics,
    async_recorder_ready,
)

CONF_STATISTICS: Final = "statistics"
CONF_ENERGY_SOURCES: Final = "energy_sources"
STORAGE_VERSION: Final = 1
# One read covers at most this much time: bounded memory after a long outage.
READ_SPAN: Final = {
    StatisticPeriod.FIVE_MINUTES: timedelta(days=1),
    StatisticPeriod.HOUR: timedelta(days=31),
}
HOUR: Final = timedelta(hours=1)

type IdSource = Callable[[], Awaitable[set[str]]]


class CursorData(TypedDict):
    cursors: dict[str, str]  # "<period>|<statistic id>" → ISO start of the next row to send
    sums: NotRequired[StoredLedger]  # checkpoints of the forwarded hourly sums


def _key(period: StatisticPeriod, statistic_id: str) -> str:
    return f"{period.value}|{statistic_id}"


def cursor_store(hass: HomeAssistant, entry_id: str) -> Store[CursorData]:
    return Store(hass, STORAGE_VERSION, f"wattkeeper.statistics_cursor.{entry_id}")


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
        self._store = cursor_store(hass, entry_id)
        self._cursors: dict[str, datetime] = {}
        self.ledger = SumLedger()
        self._lock = asyncio.Lock()
        self.forwarded = 0
        self.corrections = 0

    async def async_load(self) -> None:
        stored = await self._store.async_load()
        if stored is not None:
            self._cursors = {
                key: dt_util.parse_datetime(value, raise_on_error=True)
                for key, value in stored["cursors"].items()
            }
            self.ledger = SumLedger.from_store(stored.get("sums", {}))

    def cursor(self, period: StatisticPeriod, statistic_id: str) -> datetime | None:
        return self._cursors.get(_key(period, statistic_id))

    async def forward(self, period: StatisticPeriod) -> int:
        """Send every compiled row after the cursors; returns how many rows went out."""
        async with self._lock:
            ids = sorted(await self._statistic_ids())
            now = dt_util.utcnow()
            # A statistic seen for the first time starts with the previous full hour;
            # older history is what the backfill action is for.
            first = now.replace(minute=0, second=0, microsecond=0) - HOUR
            moved = False
            for statistic_id in ids:
                if (key := _key(period, statistic_id)) not in self._cursors:
                    # Remembered at once, so rows compiled before the next read count.
                    self._cursors[key] = first
                    moved = True
            if period is StatisticPeriod.HOUR:
                moved = await self._rewind_corrected(ids) or moved
            if moved:
                await self._save()
            newest = await async_newest_starts(self.hass, ids, period)
            groups: dict[datetime, list[str]] = defaultdict(list)
            for statistic_id in ids:
                cursor = self._cursors[_key(period, statistic_id)]
                if statistic_id in newest and newest[statistic_id] >= cursor:
                    groups[cursor].append(statistic_id)
            sent = 0
            for start, group in sorted(groups.items()):
                bound = max(newest[statistic_id] for statistic_id in group) + PERIOD_LENGTH[period]
                sent += await self._forward_range(period, group, start, bound)
            self.forwarded += sent
            return sent

    async def record_backfilled(self, rows: Iterable[StatisticRow]) -> None:
        """Remember the sums a backfill forwarded, so corrections of them are found too."""
        async with self._lock:
            self.ledger.record(rows)
            await self._save()

    async def _forward_range(
        self, period: StatisticPeriod, ids: list[str], start: datetime, bound: datetime
    ) -> int:
        sent = 0
        position = start
        while position < bound:
            end = min(position + READ_SPAN[period], bound)
            rows = await async_read_statistics(self.hass, self.site, ids, period, position, end)
            if rows:
                await self.outbox.append_statistics(rows)
                self._advance(period, rows)
                self.ledger.record(rows)
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

    async def _rewind_corrected(self, ids: list[str]) -> bool:
        """Move the cursors of statistics whose forwarded sums changed in the recorder
        back to where they changed; True when any moved."""
        newest = {sid: point for sid in ids if (point := self.ledger.newest(sid)) is not None}
        moved = False
        for statistic_id in await self._changed(newest):
            restart = await first_changed(
                self.ledger.checkpoints(statistic_id), partial(self._differs, statistic_id)
            )
            LOGGER.info(
                "Statistic %s changed in Home Assistant from about %s on; forwarding it again",
                statistic_id,
                restart.isoformat(),
            )
            self.corrections += 1
            for period in StatisticPeriod:
                key = _key(period, statistic_id)
                if key in self._cursors and self._cursors[key] > restart:
                    self._cursors[key] = restart
                    moved = True
        return moved

    async def _changed(self, newest: dict[str, Checkpoint]) -> list[str]:
        """The statistics whose newest checkpoint's sum is no longer the recorder's."""
        by_start: dict[datetime, list[str]] = defaultdict(list)
        for statistic_id, (start, _) in newest.items():
            by_start[start].append(statistic_id)
        changed: list[str] = []
        for start, group in sorted(by_start.items()):
            rows = await async_read_statistics(
                self.hass, self.site, group, StatisticPeriod.HOUR, start, start + HOUR
            )
            sums = {row.statistic_id: row.sum for row in rows}
            # A statistic without a row there now was cleared: nothing to forward again.
            changed.extend(sid for sid in group if sid in sums and sums[sid] != newest[sid][1])
        return changed

    async def _differs(self, statistic_id: str, point: Checkpoint) -> bool:
        rows = await async_read_statistics(
            self.hass, self.site, [statistic_id], StatisticPeriod.HOUR, point[0], point[0] + HOUR
        )
        return not rows or rows[0].sum != point[1]

    async def _save(self) -> None:
        await self._store.async_save(
            {
                "cursors": {key: value.isoformat() for key, value in self._cursors.items()},
                "sums": self.ledger.to_store(),
            }
        )


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
