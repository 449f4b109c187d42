"""Diagnostic entities of the external recorder, on a device of its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
)
from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfTime
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import CONF_SITE, DOMAIN
from .recorder import RecorderHealth
from .recorder_runtime import HealthCoordinator, RecorderConfigEntry


@dataclass(frozen=True, kw_only=True)
class HealthSensorDescription(SensorEntityDescription):
    value_fn: Callable[[RecorderHealth], float | int | datetime | None]
    attributes_fn: Callable[[RecorderHealth], dict[str, int]] | None = None


def waiting(health: RecorderHealth) -> int:
    """Everything in the outbox still to send: raw readings and forwarded statistics."""
    return health.backlog + health.backlog_statistics


HEALTH_SENSORS: tuple[HealthSensorDescription, ...] = (
    HealthSensorDescription(
        key="backlog",
        translation_key="backlog",
        native_unit_of_measurement="readings",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=waiting,
        attributes_fn=lambda health: {
            "readings": health.backlog,
            "statistics": health.backlog_statistics,
        },
    ),
    HealthSensorDescription(
        key="oldest_unsent_age",
        translation_key="oldest_unsent_age",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=lambda health: health.oldest_unsent_age or 0,
    ),
    HealthSensorDescription(
        key="last_success",
        translation_key="last_success",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda health: health.last_success,
    ),
    HealthSensorDescription(
        key="write_rate",
        translation_key="write_rate",
        native_unit_of_measurement="readings/s",
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        value_fn=lambda health: health.write_rate,
    ),
    HealthSensorDescription(
        key="dropped",
        translation_key="dropped",
        native_unit_of_measurement="readings",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda health: health.dropped,
    ),
    HealthSensorDescription(
        key="rejected",
        translation_key="rejected",
        native_unit_of_measurement="readings",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_registry_enabled_default=False,
        value_fn=lambda health: health.rejected,
    ),
    HealthSensorDescription(
        key="outbox_used",
        translation_key="outbox_used",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        value_fn=lambda health: 100 * health.quota_fraction,
    ),
)


class RecorderEntity(CoordinatorEntity[HealthCoordinator]):
    _attr_has_entity_name = True
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(self, coordinator: HealthCoordinator, key: str) -> None:
        super().__init__(coordinator)
        entry = coordinator.config_entry
        self._attr_unique_id = f"recorder_{entry.entry_id}_{key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, f"recorder_{entry.entry_id}")},
            name=f"Wattkeeper recorder ({entry.data[CONF_SITE]})",
            manufacturer="Wattkeeper",
            model=entry.title,
            entry_type=DeviceEntryType.SERVICE,
        )


class HealthSensor(RecorderEntity, SensorEntity):
    entity_description: HealthSensorDescription

    def __init__(
        self, coordinator: HealthCoordinator, description: HealthSensorDescription
    ) -> None:
        super().__init__(coordinator, description.key)
        self.entity_description = description

    @property
    def native_value(self) -> float | int | datetime | None:
        return self.entity_description.value_fn(self.coordinator.data)

    @property
    def extra_state_attributes(self) -> dict[str, int] | None:
        if (attributes := self.entity_description.attributes_fn) is None:
            return None
        return attributes(self.coordinator.data)


class DatabaseConnectedSensor(RecorderEntity, BinarySensorEntity):
    """On while the backend accepts writes; the outbox keeps readings when it is off."""

    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY
    _attr_translation_key = "database_connected"

    def __init__(self, coordinator: HealthCoordinator) -> None:
        super().__init__(coordinator, "connected")

    @property
    def is_on(self) -> bool:
        return self.coordinator.data.connected

    @property
    def extra_state_attributes(self) -> dict[str, str | None]:
        return {"last_error": self.coordinator.data.last_error}


def add_recorder_sensors(
    entry: RecorderConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    health = entry.runtime_data.health
    async_add_entities(HealthSensor(health, description) for description in HEALTH_SENSORS)
    if (statistics := entry.runtime_data.statistics) is not None:
        from .statistics_sensor import BackfillProgressSensor  # noqa: PLC0415 (import cycle)

        async_add_entities([BackfillProgressSensor(health, statistics.backfill)])


def add_recorder_binary_sensors(
    entry: RecorderConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    async_add_entities([DatabaseConnectedSensor(entry.runtime_data.health)])
