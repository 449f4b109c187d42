"""Backfill: forward statistics history already in Home Assistant, in the background.

A job (statistic ids, start, end) walks its range in chunks, hourly rows first,
then the 5-minute rows Home Assistant still keeps. The job and its position are
saved after every chunk, so a restart resumes where it stopped; the backends
store rows idempotently, so a chunk sent twice is stored once. Progress is
shown by a sensor on the recorder device and a persistent notification.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, TypedDict
from uuid import uuid4

from homeassistant.components import persistent_notification
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .const import LOGGER
from .recorder import Outbox, StatisticPeriod
from .statistics_reader import async_read_statistics, async_recorder_ready

STORAGE_VERSION: Final = 1
CHUNK: Final = {
    StatisticPeriod.HOUR: timedelta(days=14),
    StatisticPeriod.FIVE_MINUTES: timedelta(days=1),
}
# Hourly rows first: they are what long-term history is made of.
ORDER: Final = (StatisticPeriod.HOUR, StatisticPeriod.FIVE_MINUTES)


class StoredJob(TypedDict):
    id: str
    statistic_ids: list[str]
    start: str
    end: str
    positions: dict[str, str]
    rows: int


@dataclass
class BackfillJob:
    id: str
    statistic_ids: list[str]
    start: datetime
    end: datetime
    positions: dict[StatisticPeriod, datetime]
    rows: int = 0

    @property
    def progress(self) -> float:
        """Done fraction, 0 to 1, over both periods."""
        span = (self.end - self.start).total_seconds() * len(ORDER)
        done = sum((self.positions[p] - self.start).total_seconds() for p in ORDER)
        return 1.0 if span <= 0 else min(1.0, done / span)

    @property
    def finished(self) -> bool:
        return all(self.positions[period] >= self.end for period in ORDER)

    def to_store(self) -> StoredJob:
        return StoredJob(
            id=self.id,
            statistic_ids=self.statistic_ids,
            start=self.start.isoformat(),
            end=self.end.isoformat(),
            positions={p.value: t.isoformat() for p, t in self.positions.items()},
            rows=self.rows,
        )

    @classmethod
    def from_store(cls, stored: StoredJob) -> BackfillJob:
        def parse(text: str) -> datetime:
            return dt_util.parse_datetime(text, raise_on_error=True)

        return cls(
            id=stored["id"],
            statistic_ids=list(stored["statistic_ids"]),
            start=parse(stored["start"]),
            end=parse(stored["end"]),
            positions={StatisticPeriod(p): parse(t) for p, t in stored["positions"].items()},
            rows=stored["rows"],
        )


class BackfillRunner:
    """Runs backfill jobs one after the other; survives restarts through its store."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        site: str,
        outbox: Outbox,
        on_progress: Callable[[], None] | None = None,
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.site = site
        self.outbox = outbox
        self.on_progress = on_progress
        self.jobs: list[BackfillJob] = []
        self.rows_forwarded = 0
        self._store: Store[list[StoredJob]] = Store(
            hass, STORAGE_VERSION, f"wattkeeper.statistics_backfill.{entry.entry_id}"
        )
        self._task: asyncio.Task[None] | None = None
        self._notification_id = f"wattkeeper_backfill_{entry.entry_id}"

    @property
    def progress(self) -> float | None:
        """Percent done over all queued jobs; None when nothing is queued."""
        if not self.jobs:
            return None
        return round(100 * sum(job.progress for job in self.jobs) / len(self.jobs), 1)

    async def async_load(self) -> None:
        """Resume the jobs a previous run did not finish."""
        stored = await self._store.async_load() or []
        self.jobs = [BackfillJob.from_store(item) for item in stored]
        if self.jobs:
            self._start()

    async def add(self, statistic_ids: list[str], start: datetime, end: datetime) -> str:
        job = BackfillJob(
            id=uuid4().hex,
            statistic_ids=sorted(set(statistic_ids)),
            start=start,
            end=end,
            positions=dict.fromkeys(ORDER, start),
        )
        self.jobs.append(job)
        await self._save()
        self._start()
        return job.id

    async def wait(self) -> None:
        """Until every queued job is done (tests, and the action's optional wait)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = self.entry.async_create_background_task(
                self.hass, self._run(), "wattkeeper statistics backfill"
            )

    async def _run(self) -> None:
        if not await async_recorder_ready(self.hass):
            return
        while self.jobs:
            job = self.jobs[0]
            try:
                await self._run_job(job)
            except Exception:
                # Keep the job: it resumes from its saved position at the next start.
                LOGGER.exception("Statistics backfill %s stopped; it resumes on restart", job.id)
                return
            self.jobs.pop(0)
            await self._save()
            self._notify(f"Backfill done: {job.rows} statistics rows forwarded.")
        self._report()

    async def _run_job(self, job: BackfillJob) -> None:
        for period in ORDER:
            while job.positions[period] < job.end:
                position = job.positions[period]
                end = min(position + CHUNK[period], job.end)
                rows = await async_read_statistics(
                    self.hass, self.site, job.statistic_ids, period, position, end
                )
                if rows:
                    await self.outbox.append_statistics(rows)
                job.rows += len(rows)
                self.rows_forwarded += len(rows)
                job.positions[period] = end
                await self._save()
                self._notify(
                    f"Backfilling {len(job.statistic_ids)} statistics: "
                    f"{100 * job.progress:.0f} % ({job.rows} rows)."
                )
                self._report()

    def _notify(self, message: str) -> None:
        persistent_notification.async_create(
            self.hass, message, "Wattkeeper statistics backfill", self._notification_id
        )

    def _report(self) -> None:
        if self.on_progress is not None:
            self.on_progress()

    async def _save(self) -> None:
        await self._store.async_save([job.to_store() for job in self.jobs])
