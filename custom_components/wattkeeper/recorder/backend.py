"""The contract every backend (SQLite, PostgreSQL, Cassandra) fulfils.

A backend stores what the sender hands it, idempotently: writing the same
batch twice stores it once (raw readings keyed by (series, timestamp), statistics
by (site, statistic id, period, start), where a rewrite replaces the row). A
reading whose (series, timestamp) is stored already is a duplicate even with
another value: the first one written wins, within a batch as across batches. One
`write` is atomic where the database allows it; the outbox keeps a batch until
`write` returned, so a crash anywhere loses nothing. Rollups of the buckets a
write touched are brought up to date by the same write.

Errors: `BackendUnavailableError` for anything a retry may fix (the database is
down, a connection broke), `BackendAuthError` for refused credentials, other
`BackendError`s for the rest. NaN and infinite values are counted as rejected in
the `WriteResult`, never raised.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

from .records import (
    RecordBatch,
    RollupPeriod,
    RollupRow,
    Sample,
    SeriesInfo,
    SeriesKey,
    SiteRow,
    StatisticPeriod,
    StatisticRow,
    WriteResult,
)
from .statistics_rollups import StatisticRollupRow
from .statistics_rows import StatisticMeta

type CommitHook = Callable[[], Awaitable[None]]


class Backend(Protocol):
    """A database the recorder writes to."""

    # Awaited inside `write` after the batch is in the database and before it
    # commits; fault tests use it to kill or cancel the writer at that moment.
    before_commit_hook: CommitHook | None
    # How many `write`s the sender may have running at once (batches in lease order);
    # a backend without the attribute takes one at a time.
    concurrent_writes: int

    async def open(self) -> None:
        """Connect and create or migrate the schema. Safe to call again after a failure."""

    async def close(self) -> None:
        """Release connections; the backend may be opened again."""

    async def schema_version(self) -> int:
        """The schema version recorded in the database."""

    async def write(self, batch: RecordBatch) -> WriteResult:
        """Store a batch (readings, statistics) and update the rollups it touches."""

    async def heartbeat(self, site: str, version: str, backlog: int) -> None:
        """Record that `site` is alive, its Wattkeeper version and its outbox backlog."""

    async def recompute_rollups(self, start: datetime, end: datetime) -> int:
        """Rebuild every rollup bucket of the backend's site holding readings in
        [start, end) from raw data.

        A bucket retention purged is what it purged merged with the raw readings that
        arrived since (rollup_math.aggregate_bucket); one without either stays as it is.
        Returns how many 15-minute buckets holding raw readings were recomputed.
        """

    async def apply_retention(self, days: int, now: datetime | None = None) -> int:
        """Delete raw readings of the backend's site older than `days` (0 keeps them
        forever), but only in 15-minute buckets whose rollup matches the raw data; they
        are folded into the bucket's purged aggregate first, so later readings for the
        bucket add to its rollup. Returns how many were deleted."""

    async def read_series(self) -> list[SeriesInfo]:
        """Every series of the backend's site (`site` of its config; None: every site)."""

    async def read_samples(self, key: SeriesKey, start: datetime, end: datetime) -> list[Sample]:
        """Raw readings of one series in [start, end), oldest first."""

    async def read_rollups(
        self, key: SeriesKey, period: RollupPeriod, start: datetime, end: datetime
    ) -> list[RollupRow]:
        """Rollup rows of one series whose bucket starts in [start, end), oldest first."""

    async def read_statistics(
        self,
        site: str,
        statistic_id: str,
        period: StatisticPeriod,
        start: datetime,
        end: datetime,
    ) -> list[StatisticRow]:
        """Forwarded statistics rows starting in [start, end), oldest first."""

    async def read_statistic_rollups(
        self,
        site: str,
        statistic_id: str,
        period: RollupPeriod,
        start: datetime,
        end: datetime,
    ) -> list[StatisticRollupRow]:
        """Day, week or month rollups of a forwarded statistic starting in [start, end),
        oldest first (see statistics_rollups.py)."""

    async def read_statistics_meta(self, site: str) -> list[StatisticMeta]:
        """What `ha_statistics_meta` holds for the statistics of `site`, by statistic id."""

    async def read_sites(self) -> list[SiteRow]:
        """Heartbeats of all sites."""
