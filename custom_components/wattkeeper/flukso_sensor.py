"""What a Fluksometer's driver had to throw away: error counters and a wrong-unit repair issue.

Garbage payloads and readings in a unit the firmware never publishes are
dropped by the driver (meters/flukso.py) and counted in its stats. Two
diagnostic counters show them, like a DSMR port's telegram errors
(dsmr_sensor.py): they stay available while the link is down, and are
re-read every few seconds, since a dropped reading brings no coordinator
update. A sensor that keeps publishing in a wrong unit is a setup problem, not
noise: a repair issue names the sensor and the unit until its readings are
right again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from homeassistant.components.sensor import (
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_track_time_interval

from .const import CONF_KIND, DOMAIN
from .coordinator import SnapshotCoordinator, WattkeeperConfigEntry
from .entity import WattkeeperEntity
from .meters.flukso import FluksoMeter, FluksoStats
from .meters.model import MeterKind

RECOUNT_INTERVAL: Final = timedelta(seconds=5)


@dataclass(frozen=True, kw_only=True)
class DroppedReadingsDescription(SensorEntityDescription):
    value_fn: Callable[[FluksoStats], int]
    attributes_fn: Callable[[FluksoMeter], dict[str, Any] | None] = lambda _meter: None


def _wrong_now(meter: FluksoMeter) -> dict[str, Any] | None:
    """Which sensors are in a wrong unit right now, as the repair issue says."""
    problems = meter.stats.wrong_units
    return {"sensors": wrong_units_text(meter, problems)} if problems else None


DROPPED_SENSORS: Final = (
    DroppedReadingsDescription(
        key="unreadable_messages",
        translation_key="unreadable_messages",
        entity_category=EntityCategory.DIAGNOSTIC,
        state_class=SensorStateClass.TOTAL_INCREASING,
        # A configuration topic that does not parse is as unreadable as a reading.
        value_fn=lambda stats: stats.bad_payloads + stats.bad_configs,
    ),
    DroppedReadingsDescription(
        key="wrong_unit_readings",
        translation_key="wrong_unit_readings",
        entity_category=EntityCategory.DIAGNOSTIC,
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda stats: stats.bad_units,
        attributes_fn=_wrong_now,
    ),
)


def add_flukso_sensors(
    entry: WattkeeperConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """The error counters, and the repair issue kept in step with the driver's stats."""
    if entry.data[CONF_KIND] != MeterKind.FLUKSO:
        return
    coordinator = entry.runtime_data.coordinator
    meter = entry.runtime_data.meter
    assert isinstance(meter, FluksoMeter)
    async_add_entities(
        DroppedReadingsSensor(coordinator, meter, description) for description in DROPPED_SENSORS
    )
    hass = coordinator.hass
    issue_id = f"flukso_wrong_units_{entry.entry_id}"
    shown: dict[str, str] = {}

    @callback
    def sync_issue(_now: datetime | None = None) -> None:
        problems = dict(meter.stats.wrong_units)
        if problems == shown:
            return
        shown.clear()
        shown.update(problems)
        _sync_wrong_units_issue(hass, issue_id, coordinator.identity.name, meter, problems)

    entry.async_on_unload(coordinator.async_add_listener(sync_issue))
    entry.async_on_unload(async_track_time_interval(hass, sync_issue, RECOUNT_INTERVAL))
    entry.async_on_unload(lambda: ir.async_delete_issue(hass, DOMAIN, issue_id))


def wrong_units_text(meter: FluksoMeter, problems: dict[str, str]) -> str:
    """`Consumption (gauge): "Wh"; …` from the driver's {"<sensor id>/<kind>": unit}."""
    parts = []
    for topic, unit in sorted(problems.items()):
        sensor_id, _, kind = topic.partition("/")
        parts.append(f'{meter.channel_name(sensor_id) or sensor_id} ({kind}): "{unit}"')
    return "; ".join(parts)


def _sync_wrong_units_issue(
    hass: HomeAssistant, issue_id: str, name: str, meter: FluksoMeter, problems: dict[str, str]
) -> None:
    if not problems:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key="flukso_wrong_units",
        translation_placeholders={"name": name, "sensors": wrong_units_text(meter, problems)},
    )


class DroppedReadingsSensor(WattkeeperEntity, SensorEntity):
    """Messages the driver dropped since the entry was loaded; written when the count changes."""

    entity_description: DroppedReadingsDescription

    def __init__(
        self,
        coordinator: SnapshotCoordinator,
        meter: FluksoMeter,
        description: DroppedReadingsDescription,
    ) -> None:
        super().__init__(coordinator, coordinator.identity)
        self.entity_description = description
        self._meter = meter
        self._attr_unique_id = f"{coordinator.identity.serial}_{description.key}"
        self._shown: tuple[Any, ...] | None = None

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        self.async_on_remove(async_track_time_interval(self.hass, self._recount, RECOUNT_INTERVAL))

    @callback
    def _recount(self, _now: datetime) -> None:
        self._handle_coordinator_update()

    @callback
    def _handle_coordinator_update(self) -> None:
        shown = (self.native_value, self.extra_state_attributes)
        if shown != self._shown:
            self._shown = shown
            super()._handle_coordinator_update()

    @property
    def available(self) -> bool:
        return True

    @property
    def native_value(self) -> int:
        return self.entity_description.value_fn(self._meter.stats)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        return self.entity_description.attributes_fn(self._meter)
