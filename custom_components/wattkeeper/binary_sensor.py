"""Is the meter's link up? A diagnostic that stays available when the meter is not."""

from __future__ import annotations

from typing import cast

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import CONF_KIND, KIND_RECORDER
from .coordinator import SnapshotCoordinator, WattkeeperConfigEntry
from .entity import WattkeeperEntity
from .quality_entity import async_setup_quality_sensors
from .recorder_entities import add_recorder_binary_sensors
from .recorder_runtime import RecorderConfigEntry
from .sun2000_status import add_sun2000_binary_sensors

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: WattkeeperConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    if entry.data[CONF_KIND] == KIND_RECORDER:
        add_recorder_binary_sensors(cast("RecorderConfigEntry", entry), async_add_entities)
        return
    coordinator = entry.runtime_data.coordinator
    async_add_entities([ConnectedSensor(coordinator)])
    async_setup_quality_sensors(hass, entry, async_add_entities)
    add_sun2000_binary_sensors(entry, async_add_entities)


class ConnectedSensor(WattkeeperEntity, BinarySensorEntity):
    """On while readings arrive; off when polls fail or a stream went silent."""

    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY
    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_translation_key = "connected"

    def __init__(self, coordinator: SnapshotCoordinator) -> None:
        super().__init__(coordinator, coordinator.identity)
        self._attr_unique_id = f"{coordinator.identity.serial}_connected"

    @property
    def available(self) -> bool:
        return True

    @property
    def is_on(self) -> bool:
        return self.coordinator.last_update_success
