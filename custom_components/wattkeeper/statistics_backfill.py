"""Backfill: forward statistics history already in Home Assistant, in the background.

A job (statistic ids, start, end) walks its range in chunks, hourly rows first,
then the 5-minute rows Home Assistant still keeps. The job and its position are
saved after every chunk, so a restart resumes where it stopped; the backends
store rows idempotently, so a chunk sent twice is stored once. A chunk that
fails (the recorder's database busy, the outbox closed) is retried from the
saved position with growing delays, with a repair issue saying so meanwhile.
Progress is shown by a sensor on the recorder device and a persistent
notification.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, TypedDict
from uuid import uuid4

from homeassistant.components import persistent_notification
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.storage import Store
from homeassistant.helpers.translation import async_get_translations
from homeassistant.util import dt as dt_util

from .const import DOMAIN, LOGGER
from .recorder import BackoffPolicy, Outbox, StatisticPeriod, StatisticRow
from .statistics_reader import async_read_statistics, async_recorder_ready

STORAGE_VERSION: Final = 1
# A failed chunk is tried again after 1 minute, then 2, 4 … up to an hour.
RETRY: Final = BackoffPolicy(initial=60.0, maximum=3600.0)
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


def backfill_store(hass: HomeAssistant, entry_id: str) -> Store[list[StoredJob]]:
    return Store(hass, STORAGE_VERSION, f"wattkeeper.statistics_backfill.{entry_id}")


def issue_id(entry_id: str) -> str:
    return f"statistics_backfill_{entry_id}"


class BackfillRunner:
    """Runs backfill jobs one after the other; survives restarts through its store."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        site: str,
        outbox: Outbox,
        on_progress: Callable[[], None] | None = None,
        on_rows: Callable[[list[StatisticRow]], Awaitable[None]] | None = None,
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.site = site
        self.outbox = outbox
        self.on_progress = on_progress
        self.on_rows = on_rows
        self.jobs: list[BackfillJob] = []
        self.rows_forwarded = 0
        self.failures = 0  # consecutive failed attempts of the current job
        self._store = backfill_store(hass, entry.entry_id)
        self._task: asyncio.Task[None] | None = None
        self._retry: CALLBACK_TYPE | None = None
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
        """Until every queued job is done or waits for a retry (tests, and the action's
        optional wait)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    @callback
    def stop(self) -> None:
        """No retry after the entry unloaded (its task is cancelled with the entry)."""
        if self._retry is not None:
            self._retry()
            self._retry = None

    def _start(self) -> None:
        if self._retry is not None:
            return  # a retry is scheduled; the new job runs after the one that failed
        if self._task is None or self._task.done():
            self._task = self.entry.async_create_background_task(
                self.hass, self._run(), "wattkeeper statistics backfill"
            )

    @callback
    def _retry_now(self, _: datetime) -> None:
        self._retry = None
        self._start()

    async def _run(self) -> None:
        if not await async_recorder_ready(self.hass):
            return
        while self.jobs:
            job = self.jobs[0]
            try:
                await self._run_job(job)
            except Exception as err:  # the job keeps its saved position: try it again later
                self._failed(job, err)
                return
            self.jobs.pop(0)
            await self._save()
            await self._notify(translation_key="backfill_done", rows=str(job.rows))
        self._report()

    def _failed(self, job: BackfillJob, err: Exception) -> None:
        self.failures += 1
        delay = RETRY.delay(self.failures)
        if self.failures == 1:
            LOGGER.warning(
                "Statistics backfill %s failed (%s: %s); retrying from where it stopped",
                job.id, type(err).__name__, err, exc_info=err,
            )  # fmt: skip
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id(self.entry.entry_id),
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="statistics_backfill_failed",
            translation_placeholders={
                "error": f"{type(err).__name__}: {err}",
                "minutes": f"{max(1, round(delay / 60))}",
                "progress": f"{100 * job.progress:.0f}",
            },
        )
        self._retry = async_call_later(self.hass, delay, self._retry_now)
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
                    if self.on_rows is not None:
                        await self.on_rows(rows)
                job.rows += len(rows)
                self.rows_forwarded += len(rows)
                job.positions[period] = end
                await self._save()
                if self.failures:  # going again: the trouble is over
                    self.failures = 0
                    ir.async_delete_issue(self.hass, DOMAIN, issue_id(self.entry.entry_id))
                await self._notify(
                    translation_key="backfill_progress",
                    statistics=str(len(job.statistic_ids)),
                    percent=f"{100 * job.progress:.0f}",
                    rows=str(job.rows),
                )
                self._report()

    async def _notify(self, *, translation_key: str, **placeholders: str) -> None:
        # Home Assistant has no translation category for notifications; their texts
        # live with the messages, in the user's language.
        texts = await async_get_translations(
            self.hass, self.hass.config.language, "exceptions", {DOMAIN}
        )
        message = _text(texts, translation_key=translation_key).format(**placeholders)
        title = _text(texts, translation_key="backfill_title")
        persistent_notification.async_create(self.hass, message, title, self._notification_id)

    def _report(self) -> None:
        if self.on_progress is not None:
            self.on_progress()

    async def _save(self) -> None:
        await self._store.async_save([job.to_store() for job in self.jobs])


def _text(texts: dict[str, str], *, translation_key: str) -> str:
    return texts.get(f"component.{DOMAIN}.exceptions.{translation_key}.message", translation_key)
