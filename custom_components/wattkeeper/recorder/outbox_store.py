"""The outbox's SQLite tables and bookkeeping. Runs on the outbox's worker thread only.

Readings are stored in chunks (see outbox_chunks.py), statistics one per row.
Chunk ids come from a counter whose high-water mark is saved with every append,
so ids only ever grow, also across restarts and after the table was emptied.
A lease is an id range handed to the sender; leases follow each other, the
quota never drops leased rows, and an acknowledgement deletes exactly the rows
up to the lease's highest id (all newer rows have higher ids).
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Sequence

from .outbox_chunks import pack, unpack
from .outbox_types import AppendResult, OutboxBatch, OutboxStatus, QuotaLevel
from .records import RecordBatch, Sample, SeriesInfo, SeriesKey, StatisticPeriod, StatisticRow
from .timeconv import from_us, to_us

_LOGGER = logging.getLogger(__name__)

SCHEMA_VERSION = 1
WARNING_FRACTION = 0.8
# Dropping stops a little below the quota, so a full outbox does not drop on every append.
DROP_TARGET_FRACTION = 0.98
# A drained outbox gives free pages back to the file system once this many are free.
VACUUM_FREE_PAGES = 256

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS series (
        id INTEGER PRIMARY KEY,
        site TEXT NOT NULL,
        device TEXT NOT NULL,
        quantity TEXT NOT NULL,
        meter_kind TEXT NOT NULL,
        unit TEXT,
        entity_id TEXT,
        is_counter INTEGER NOT NULL,
        UNIQUE (site, device, quantity)
    )""",
    """CREATE TABLE IF NOT EXISTS sample_chunks (
        id INTEGER PRIMARY KEY,
        count INTEGER NOT NULL,
        first_ts INTEGER NOT NULL,
        series BLOB NOT NULL,
        ts BLOB NOT NULL,
        value BLOB NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS statistics (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        site TEXT NOT NULL,
        statistic_id TEXT NOT NULL,
        period TEXT NOT NULL,
        start INTEGER NOT NULL,
        mean REAL, min REAL, max REAL, state REAL, sum REAL,
        unit TEXT,
        source TEXT NOT NULL
    )""",
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
)


class OutboxStore:
    """Thread-side state; plain attributes the event loop may read for status."""

    def __init__(self, quota_bytes: int, synchronous: str) -> None:
        self.quota_bytes = quota_bytes
        self._synchronous = synchronous
        self.series_ids: dict[SeriesKey, int] = {}
        self.series_infos: dict[int, SeriesInfo] = {}
        self.backlog_samples = 0
        self.backlog_statistics = 0
        self.dropped = 0
        self.rejected = 0
        self.oldest_ts: int | None = None
        self.used_bytes = 0
        self.dropping = False
        # Highest ids handed out in leases that are neither acknowledged nor released.
        self._lease_hi: int | None = None
        self._stats_lease_hi: int | None = None
        self._last_id = 0
        self._logged: set[tuple[str, str]] = set()

    # -- setup -----------------------------------------------------------------

    def setup(self, conn: sqlite3.Connection) -> None:
        # auto_vacuum only takes effect before the first table exists.
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"outbox schema {version} is newer than this version understands"
            )
        conn.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
        self.resync(conn)

    def resync(self, conn: sqlite3.Connection) -> None:
        """Reload everything from disk (at open, and after a failed commit)."""
        self.series_ids.clear()
        self.series_infos.clear()
        for row in conn.execute(
            "SELECT id, site, device, quantity, meter_kind, unit, entity_id, is_counter FROM series"
        ):
            info = SeriesInfo(
                site=row[1],
                device=row[2],
                quantity=row[3],
                meter_kind=row[4],
                unit=row[5],
                entity_id=row[6],
                is_counter=bool(row[7]),
            )
            self.series_ids[info.key] = row[0]
            self.series_infos[row[0]] = info
        self.backlog_samples = conn.execute(
            "SELECT coalesce(sum(count), 0) FROM sample_chunks"
        ).fetchone()[0]
        self.backlog_statistics = conn.execute("SELECT count(*) FROM statistics").fetchone()[0]
        counters = dict(conn.execute("SELECT name, value FROM counters").fetchall())
        self.dropped = counters.get("dropped", 0)
        self.rejected = counters.get("rejected", 0)
        newest = conn.execute("SELECT max(id) FROM sample_chunks").fetchone()[0] or 0
        self._last_id = max(newest, counters.get("last_chunk_id", 0))
        self._lease_hi = None
        self._stats_lease_hi = None
        self._refresh_oldest(conn)
        self._measure(conn)

    # -- series ------------------------------------------------------------------

    def register(self, conn: sqlite3.Connection, infos: Sequence[SeriesInfo]) -> None:
        for info in infos:
            if self.series_infos.get(self.series_ids.get(info.key, -1)) == info:
                continue
            row = conn.execute(
                """INSERT INTO series (site, device, quantity, meter_kind, unit, entity_id,
                       is_counter) VALUES (?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (site, device, quantity) DO UPDATE SET
                       meter_kind = excluded.meter_kind, unit = excluded.unit,
                       entity_id = excluded.entity_id, is_counter = excluded.is_counter
                   RETURNING id""",
                (
                    info.site,
                    info.device,
                    info.quantity,
                    info.meter_kind,
                    info.unit,
                    info.entity_id,
                    int(info.is_counter),
                ),
            ).fetchone()
            self.series_ids[info.key] = row[0]
            self.series_infos[row[0]] = info

    # -- appends -----------------------------------------------------------------

    def append_samples(self, conn: sqlite3.Connection, samples: Sequence[Sample]) -> AppendResult:
        columns, rejected = pack(samples, self.series_ids)
        for sample, reason in rejected:
            self._log_once(str(sample.series), reason)
        if columns:
            rows = []
            for chunk in columns.chunks():
                self._last_id += 1
                rows.append((self._last_id, *chunk))
            conn.executemany(
                "INSERT INTO sample_chunks (id, count, first_ts, series, ts, value) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._save_counter(conn, "last_chunk_id", self._last_id)
            if self.backlog_samples == 0:
                self.oldest_ts = rows[0][2]
            self.backlog_samples += len(columns)
        self._count_rejected(conn, len(rejected))
        self._enforce_quota(conn)
        return AppendResult(len(columns), len(rejected))

    def append_statistics(
        self, conn: sqlite3.Connection, statistics: Sequence[StatisticRow]
    ) -> AppendResult:
        rows = []
        rejected = 0
        for stat in statistics:
            numbers = (stat.mean, stat.min, stat.max, stat.state, stat.sum)
            if any(n is not None and not math.isfinite(n) for n in numbers):
                rejected += 1
                self._log_once(stat.statistic_id, "a value is NaN or infinite")
                continue
            try:
                start = to_us(stat.start)
            except ValueError:
                rejected += 1
                self._log_once(stat.statistic_id, "the start has no time zone")
                continue
            rows.append(
                (stat.site, stat.statistic_id, stat.period.value, start, *numbers, stat.unit,
                 stat.source)
            )  # fmt: skip
        if rows:
            conn.executemany(
                """INSERT INTO statistics (site, statistic_id, period, start, mean, min, max,
                       state, sum, unit, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                rows,
            )
            self.backlog_statistics += len(rows)
        self._count_rejected(conn, rejected)
        self._enforce_quota(conn)
        return AppendResult(len(rows), rejected)

    def _count_rejected(self, conn: sqlite3.Connection, rejected: int) -> None:
        if rejected:
            self.rejected += rejected
            self._save_counter(conn, "rejected", self.rejected)

    def _log_once(self, what: str, reason: str) -> None:
        if (what, reason) not in self._logged:
            self._logged.add((what, reason))
            _LOGGER.warning("Outbox rejected a reading of %s: %s", what, reason)

    # -- the sender's side -------------------------------------------------------

    def lease(self, conn: sqlite3.Connection, limit: int) -> OutboxBatch | None:
        """At least `limit` readings (whole chunks) and up to `limit` statistics, after
        those already leased; None when there is nothing more."""
        after = self._lease_hi or 0
        chunks: list[tuple[bytes, bytes, bytes]] = []
        sample_hi: int | None = None
        count = 0
        cursor = conn.execute(
            "SELECT id, count, series, ts, value FROM sample_chunks WHERE id > ? ORDER BY id",
            (after,),
        )
        for chunk_id, readings, series, ts, value in cursor:
            chunks.append((series, ts, value))
            sample_hi = chunk_id
            count += readings
            if count >= limit:
                break
        cursor.close()
        stats_after = self._stats_lease_hi or 0
        statistics = [
            (row[0], _statistic_from_row(row[1:]))
            for row in conn.execute(
                """SELECT id, site, statistic_id, period, start, mean, min, max, state, sum,
                       unit, source FROM statistics WHERE id > ? ORDER BY id LIMIT ?""",
                (stats_after, limit),
            )
        ]
        if sample_hi is None and not statistics:
            return None
        statistic_hi = statistics[-1][0] if statistics else None
        if sample_hi is not None:
            self._lease_hi = sample_hi
        if statistic_hi is not None:
            self._stats_lease_hi = statistic_hi
        records = RecordBatch(
            dict(self.series_infos), unpack(chunks), [stat for _, stat in statistics]
        )
        return OutboxBatch(records, sample_hi, statistic_hi)

    def ack(self, conn: sqlite3.Connection, batch: OutboxBatch) -> None:
        """Delete a committed batch; batches are acknowledged in the order they were leased."""
        if batch.sample_hi is not None:
            gone = conn.execute(
                "SELECT coalesce(sum(count), 0) FROM sample_chunks WHERE id <= ?",
                (batch.sample_hi,),
            ).fetchone()[0]
            conn.execute("DELETE FROM sample_chunks WHERE id <= ?", (batch.sample_hi,))
            self.backlog_samples -= gone
            self._refresh_oldest(conn)
            if self._lease_hi is not None and self._lease_hi <= batch.sample_hi:
                self._lease_hi = None
        if batch.statistic_hi is not None:
            deleted = conn.execute("DELETE FROM statistics WHERE id <= ?", (batch.statistic_hi,))
            self.backlog_statistics -= deleted.rowcount
            if self._stats_lease_hi is not None and self._stats_lease_hi <= batch.statistic_hi:
                self._stats_lease_hi = None
        self._measure(conn)
        if self.backlog_samples == 0 and self.backlog_statistics == 0:
            free = conn.execute("PRAGMA freelist_count").fetchone()[0]
            if free >= VACUUM_FREE_PAGES:
                conn.execute("PRAGMA incremental_vacuum").fetchall()
                self._measure(conn)

    def release(self, conn: sqlite3.Connection) -> None:
        """End every outstanding lease; their rows are leased again next time."""
        del conn  # nothing on disk changes
        self._lease_hi = None
        self._stats_lease_hi = None

    # -- quota -------------------------------------------------------------------

    def _measure(self, conn: sqlite3.Connection) -> None:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        self.used_bytes = (pages - free) * size
        if self.used_bytes < self.quota_bytes * 0.95:
            self.dropping = False

    def _enforce_quota(self, conn: sqlite3.Connection) -> None:
        self._measure(conn)
        if self.used_bytes <= self.quota_bytes:
            return
        self.dropping = True
        target = self.quota_bytes * DROP_TARGET_FRACTION
        floor = self._lease_hi or 0
        dropped = 0
        while self.used_bytes > target and self.backlog_samples > 0:
            excess = (self.used_bytes - target) / self.used_bytes
            wanted = max(1, math.ceil(self.backlog_samples * excess))
            victims = 0
            last_id = None
            cursor = conn.execute(
                "SELECT id, count FROM sample_chunks WHERE id > ? ORDER BY id", (floor,)
            )
            for chunk_id, readings in cursor:
                victims += readings
                last_id = chunk_id
                if victims >= wanted:
                    break
            cursor.close()
            if last_id is None:
                break  # only leased rows (or statistics) left: nothing may go
            conn.execute("DELETE FROM sample_chunks WHERE id > ? AND id <= ?", (floor, last_id))
            dropped += victims
            self.backlog_samples -= victims
            self._measure(conn)
        if dropped:
            self.dropped += dropped
            self._save_counter(conn, "dropped", self.dropped)
            self._refresh_oldest(conn)
            _LOGGER.warning(
                "Outbox quota of %d bytes reached: dropped the %d oldest readings (%d in total)",
                self.quota_bytes,
                dropped,
                self.dropped,
            )

    def _refresh_oldest(self, conn: sqlite3.Connection) -> None:
        row = conn.execute("SELECT first_ts FROM sample_chunks ORDER BY id LIMIT 1").fetchone()
        self.oldest_ts = None if row is None else row[0]

    @staticmethod
    def _save_counter(conn: sqlite3.Connection, name: str, value: int) -> None:
        conn.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    def status(self) -> OutboxStatus:
        fraction = self.used_bytes / self.quota_bytes
        if self.dropping or fraction >= 1.0:
            level = QuotaLevel.FULL
        elif fraction >= WARNING_FRACTION:
            level = QuotaLevel.WARNING
        else:
            level = QuotaLevel.OK
        oldest = self.oldest_ts
        return OutboxStatus(
            backlog_samples=self.backlog_samples,
            backlog_statistics=self.backlog_statistics,
            oldest_unsent=None if oldest is None else from_us(oldest),
            used_bytes=self.used_bytes,
            quota_bytes=self.quota_bytes,
            dropped=self.dropped,
            rejected=self.rejected,
            level=level,
        )


def _statistic_from_row(row: tuple[object, ...]) -> StatisticRow:
    site, statistic_id, period, start, mean, low, high, state, total, unit, source = row
    return StatisticRow(
        site=str(site),
        statistic_id=str(statistic_id),
        period=StatisticPeriod(str(period)),
        start=from_us(int(start)),  # type: ignore[call-overload]
        mean=_opt(mean),
        min=_opt(low),
        max=_opt(high),
        state=_opt(state),
        sum=_opt(total),
        unit=None if unit is None else str(unit),
        source=str(source),
    )


def _opt(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
