"""What the recorder stores: readings, the series they belong to, forwarded statistics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from custom_components.wattkeeper.meters.model import MeterIdentity, QuantityKey


class StatisticPeriod(StrEnum):
    """Home Assistant's long-term statistics periods that can be forwarded."""

    FIVE_MINUTES = "5m"
    HOUR = "1h"


class RollupPeriod(StrEnum):
    """Aggregation levels kept per series. 15m and 1h are UTC; the rest use the site's zone."""

    QUARTER_HOUR = "15m"
    HOUR = "1h"
    DAY = "1d"
    WEEK = "1w"
    MONTH = "1mo"


class SeriesKey(NamedTuple):
    """What identifies a series everywhere: the site, the meter's serial, the quantity key id.

    A named tuple, because it is hashed once per appended reading.
    """

    site: str
    device: str
    quantity: str

    def __str__(self) -> str:
        return f"{self.site}/{self.device}/{self.quantity}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SeriesInfo:
    """A series and its descriptive attributes; re-registering updates the attributes.

    `entity_id` and `unit` may change over time (a renamed entity) without making a
    new series: the key stays `(site, device, quantity)`.
    """

    site: str
    device: str
    meter_kind: str
    quantity: str
    unit: str | None
    is_counter: bool
    entity_id: str | None = None

    @property
    def key(self) -> SeriesKey:
        return SeriesKey(self.site, self.device, self.quantity)

    @classmethod
    def for_meter(
        cls,
        site: str,
        identity: MeterIdentity,
        quantity: QuantityKey,
        entity_id: str | None = None,
    ) -> SeriesInfo:
        """The series of one quantity of one meter, with unit and counter flag from the model."""
        return cls(
            site=site,
            device=identity.serial,
            meter_kind=identity.kind.value,
            quantity=quantity.id,
            unit=quantity.unit,
            is_counter=quantity.is_counter,
            entity_id=entity_id,
        )


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading: a value of a series at a moment (timezone-aware; stored in UTC)."""

    series: SeriesKey
    ts: datetime
    value: float


@dataclass(frozen=True, slots=True, kw_only=True)
class StatisticRow:
    """One row of Home Assistant's long-term statistics, forwarded as is.

    Measurements carry mean/min/max, meters carry state/sum; the rest is None.
    """

    site: str
    statistic_id: str
    period: StatisticPeriod
    start: datetime
    mean: float | None = None
    min: float | None = None
    max: float | None = None
    state: float | None = None
    sum: float | None = None
    unit: str | None = None
    source: str = "recorder"

    @property
    def key(self) -> tuple[str, str, str, datetime]:
        """What makes a row unique in the backend (a correction replaces the row)."""
        return (self.site, self.statistic_id, self.period.value, self.start)


@dataclass(frozen=True, slots=True, kw_only=True)
class RollupRow:
    """One aggregated bucket of a series. `delta` is set for counters only."""

    series: SeriesKey
    period: RollupPeriod
    start: datetime
    count: int
    min: float
    max: float
    mean: float
    first: float
    last: float
    delta: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteRow:
    """The heartbeat of one site (one Home Assistant instance) in the central database."""

    site: str
    last_seen: datetime
    version: str
    backlog: int
    time_zone: str


# A raw reading as the outbox hands it to a backend: (series ref, UTC microseconds, value).
# Plain tuples, because batches hold up to hundreds of thousands of them.
RawRow = tuple[int, int, float]


@dataclass(frozen=True, slots=True)
class RecordBatch:
    """What a backend writes in one transaction.

    `series` resolves the series refs used in `samples` (the outbox's own ids).
    """

    series: Mapping[int, SeriesInfo]
    samples: Sequence[RawRow]
    statistics: Sequence[StatisticRow] = ()


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one backend write did. Duplicates were already stored (idempotent replay)."""

    samples_written: int = 0
    samples_duplicate: int = 0
    samples_rejected: int = 0
    statistics_written: int = 0
    statistics_rejected: int = 0
