"""Sensors only a DSMR P1 port has: telegram error counters and the meter's peak history.

The error counters are diagnostics that stay available while the link is
down, which is when they explain something. The peak history shows the
Belgian meter's own 13 months of monthly peaks (0-0:98.1.0) as attributes,
one per month, and as its state the average the capacity tariff bills:
the mean of the last 12 monthly peaks, this month's (1-0:1.6.0) included,
each at least 2.5 kW (quality/fluvius.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, UnitOfPower
from homeassistant.core import callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.util import dt as dt_util

from .const import CONF_KIND
from .coordinator import SnapshotCoordinator, WattkeeperConfigEntry
from .entity import WattkeeperEntity
from .meters.dsmr import DsmrMeter, DsmrStats
from .meters.dsmr_mapping import TEXT_MAX_DEMAND_HISTORY
from .meters.model import MeterKind, Quantity, QuantityKey, Snapshot
from .quality.fluvius import rolling_average

# Capacity-tariff months are Belgian calendar months.
METER_ZONE: Final = ZoneInfo("Europe/Brussels")
ERROR_RECOUNT_INTERVAL: Final = timedelta(seconds=5)
PEAK_TIMES: Final = "peak_times"
MONTHS_AVERAGED: Final = "months_averaged"


@dataclass(frozen=True, kw_only=True)
class TelegramErrorDescription(SensorEntityDescription):
    value_fn: Callable[[DsmrStats], int]


ERROR_SENSORS: Final = (
    TelegramErrorDescription(
        key="crc_errors",
        translation_key="crc_errors",
        entity_category=EntityCategory.DIAGNOSTIC,
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda stats: stats.crc_errors,
    ),
    TelegramErrorDescription(
        key="parse_errors",
        translation_key="parse_errors",
        entity_category=EntityCategory.DIAGNOSTIC,
        state_class=SensorStateClass.TOTAL_INCREASING,
        # A Smarty frame that does not decrypt is as unreadable as a cut-off one.
        value_fn=lambda stats: stats.parse_errors + stats.decrypt_errors,
    ),
)


def add_dsmr_sensors(
    entry: WattkeeperConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Error counters now; the peak history once a telegram carries one."""
    if entry.data[CONF_KIND] != MeterKind.DSMR:
        return
    coordinator = entry.runtime_data.coordinator
    meter = entry.runtime_data.meter
    assert isinstance(meter, DsmrMeter)
    async_add_entities(
        TelegramErrorSensor(coordinator, meter, description) for description in ERROR_SENSORS
    )
    added = False

    @callback
    def add_history() -> None:
        nonlocal added
        if not added and TEXT_MAX_DEMAND_HISTORY in coordinator.data.texts:
            added = True
            async_add_entities([PeakHistorySensor(coordinator)])

    add_history()
    entry.async_on_unload(coordinator.async_add_listener(add_history))


class _WrittenOnChange(WattkeeperEntity, SensorEntity):
    """Writes its state only when what it shows changed, not on every telegram."""

    _shown: tuple[Any, ...] | None = None

    def _showing(self) -> tuple[Any, ...]:
        return (self.available, self.native_value, self.extra_state_attributes)

    @callback
    def _handle_coordinator_update(self) -> None:
        shown = self._showing()
        if shown != self._shown:
            self._shown = shown
            super()._handle_coordinator_update()


class TelegramErrorSensor(_WrittenOnChange):
    """Telegrams the driver could not use since the entry was loaded.

    Bad telegrams bring no coordinator update, and a coordinator that is
    already down tells its listeners nothing new, so the count is also
    looked at every few seconds.
    """

    entity_description: TelegramErrorDescription

    def __init__(
        self,
        coordinator: SnapshotCoordinator,
        meter: DsmrMeter,
        description: TelegramErrorDescription,
    ) -> None:
        super().__init__(coordinator, coordinator.identity)
        self.entity_description = description
        self._stats = meter.stats
        self._attr_unique_id = f"{coordinator.identity.serial}_{description.key}"

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        self.async_on_remove(
            async_track_time_interval(self.hass, self._recount, ERROR_RECOUNT_INTERVAL)
        )

    @callback
    def _recount(self, _now: datetime) -> None:
        self._handle_coordinator_update()

    @property
    def available(self) -> bool:
        return True

    @property
    def native_value(self) -> int:
        return self.entity_description.value_fn(self._stats)


class PeakHistorySensor(_WrittenOnChange):
    """The meter's monthly peaks of the last 13 months, and the 12-month average it bills."""

    _attr_translation_key = "peak_history"
    _attr_device_class = SensorDeviceClass.POWER
    _attr_native_unit_of_measurement = UnitOfPower.WATT
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_suggested_display_precision = 0

    def __init__(self, coordinator: SnapshotCoordinator) -> None:
        super().__init__(coordinator, coordinator.identity)
        self._attr_unique_id = f"{coordinator.identity.serial}_peak_history"
        # The history is parsed once per snapshot, not once per property.
        self._read_from: Snapshot | None = None
        self._read: tuple[float | None, dict[str, Any]] | None = None

    def _history(self) -> tuple[float | None, dict[str, Any]] | None:
        """(state, attributes) of the latest snapshot; None when it carries no history."""
        snapshot = self.snapshot
        if snapshot is not self._read_from:
            self._read_from = snapshot
            self._read = read_history(snapshot) if snapshot is not None else None
        return self._read

    @property
    def available(self) -> bool:
        return super().available and self._history() is not None

    @property
    def native_value(self) -> float | None:
        history = self._history()
        return history[0] if history is not None else None

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        history = self._history()
        return history[1] if history is not None else None


def read_history(snapshot: Snapshot) -> tuple[float | None, dict[str, Any]] | None:
    """The billed 12-month average and the per-month attributes of one snapshot."""
    if TEXT_MAX_DEMAND_HISTORY not in snapshot.texts:
        return None
    rows: list[Mapping[str, Any]] = json.loads(snapshot.texts[TEXT_MAX_DEMAND_HISTORY])
    attributes: dict[str, Any] = history_peaks(rows)
    peaks = dict(attributes)
    current = snapshot.measured_at.astimezone(METER_ZONE).strftime("%Y-%m")
    this_month = snapshot.values.get(QuantityKey(Quantity.MONTHLY_PEAK))
    if this_month is not None:
        peaks[current] = this_month
    average = rolling_average(peaks, current)
    attributes[PEAK_TIMES] = {
        month_of(row): dt_util.parse_datetime(str(row["at"])) for row in rows if row.get("at")
    }
    attributes[MONTHS_AVERAGED] = average.months if average is not None else 0
    return (round(average.average_w, 1) if average is not None else None), attributes


def month_of(row: Mapping[str, Any]) -> str:
    """The month a history row's peak belongs to: the local month it happened in.

    Meters stamp each row with its month's boundary, and not all take the same
    one (the start, or the first instant of the next month); the peak's own
    time is unambiguous. Without it, the row's stamp is all there is.
    """
    at = row.get("at")
    if at:
        moment: datetime | None = dt_util.parse_datetime(str(at))
        if moment is not None:
            return moment.astimezone(METER_ZONE).strftime("%Y-%m")
    return str(row["month"])


def history_peaks(rows: list[Mapping[str, Any]]) -> dict[str, float]:
    """{"YYYY-MM": W} from the meter's history rows, oldest first."""
    peaks = {month_of(row): float(row["value"]) for row in rows}
    return dict(sorted(peaks.items()))
