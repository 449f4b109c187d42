"""What the outbox reports and hands out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from .records import RecordBatch


class QuotaLevel(StrEnum):
    """How full the outbox is: WARNING from 80 %; FULL when it drops the oldest readings."""

    OK = "ok"
    WARNING = "warning"
    FULL = "full"


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxStatus:
    backlog_samples: int
    backlog_statistics: int
    oldest_unsent: datetime | None
    used_bytes: int
    quota_bytes: int
    dropped: int
    rejected: int
    level: QuotaLevel

    @property
    def fraction(self) -> float:
        return self.used_bytes / self.quota_bytes


@dataclass(frozen=True, slots=True)
class AppendResult:
    accepted: int
    rejected: int


@dataclass(frozen=True, slots=True)
class OutboxBatch:
    """Records leased to the sender; `ack` deletes them, `release` gives them back.

    `sample_hi`/`statistic_hi` are the highest row ids in the lease (rows hold
    chunks of readings, respectively single statistics)."""

    records: RecordBatch
    sample_hi: int | None
    statistic_hi: int | None

    def __len__(self) -> int:
        return len(self.records.samples) + len(self.records.statistics)
