"""SUN2000 status and alarms as entities: inverter and battery status, and the active alarms.

The statuses are ENUM sensors whose states are translated (i18n/*/sun2000.json);
a status code the register map does not know shows as unknown. The alarms are
a problem binary sensor, on while any alarm bit is set, with the alarms'
names (and Huawei's alarm IDs) as its `alarms` attribute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeassistant.components.binary_sensor import BinarySensorDeviceClass, BinarySensorEntity
from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import CONF_KIND
from .coordinator import SnapshotCoordinator, WattkeeperConfigEntry
from .entity import WattkeeperEntity
from .meters.model import MeterIdentity, MeterKind
from .meters.sun2000 import Sun2000Device, Sun2000Meter, alarm_names, part_serial
from .meters.sun2000_registers import BATTERY_STATUS, DEVICE_STATUS, Part


@dataclass(frozen=True, kw_only=True)
class StatusDescription(SensorEntityDescription):
    """A status text of one part; `key` is the driver's text key."""

    part: Part


STATUS_SENSORS = (
    StatusDescription(
        key="device_status",
        translation_key="device_status",
        part=Part.INVERTER,
        device_class=SensorDeviceClass.ENUM,
        options=list(DEVICE_STATUS.values()),
    ),
    StatusDescription(
        key="battery_status",
        translation_key="battery_status",
        part=Part.BATTERY,
        device_class=SensorDeviceClass.ENUM,
        options=list(BATTERY_STATUS.values()),
    ),
)


def _device(entry: WattkeeperConfigEntry) -> Sun2000Device | None:
    if entry.data[CONF_KIND] != MeterKind.SUN2000:
        return None
    meter = entry.runtime_data.meter
    return meter.device if isinstance(meter, Sun2000Meter) else None


def text_unique_id(device: Sun2000Device, part: Part, text: str) -> str:
    """The unique id of the entity that shows the text `text` of `part`."""
    return f"{part_serial(device.identity.serial, part)}_{text}"


def add_sun2000_sensors(
    entry: WattkeeperConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """The status sensors of the parts the inverter has."""
    if (device := _device(entry)) is None:
        return
    coordinator = entry.runtime_data.coordinator
    async_add_entities(
        StatusSensor(coordinator, device, identity, description)
        for description in STATUS_SENSORS
        if (identity := device.part_identity(description.part)) is not None
    )


def add_sun2000_binary_sensors(
    entry: WattkeeperConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """The inverter's alarm sensor."""
    if (device := _device(entry)) is not None:
        async_add_entities([AlarmSensor(entry.runtime_data.coordinator, device)])


class _TextEntity(WattkeeperEntity):
    """Shows one text of one (sub-)meter's snapshot; unavailable while it is missing."""

    _text_key: str

    @property
    def text(self) -> str | None:
        snapshot = self.snapshot
        return None if snapshot is None else snapshot.texts.get(self._text_key)

    @property
    def available(self) -> bool:
        return super().available and self.text is not None


class StatusSensor(_TextEntity, SensorEntity):
    """The status of the inverter or of its battery, one of the description's options."""

    entity_description: StatusDescription

    def __init__(
        self,
        coordinator: SnapshotCoordinator,
        device: Sun2000Device,
        identity: MeterIdentity,
        description: StatusDescription,
    ) -> None:
        super().__init__(coordinator, identity)
        self.entity_description = description
        self._text_key = description.key
        self._attr_unique_id = text_unique_id(device, description.part, description.key)

    @property
    def native_value(self) -> str | None:
        text = self.text
        options = self.entity_description.options or []
        return text if text in options else None


class AlarmSensor(_TextEntity, BinarySensorEntity):
    """On while the inverter reports any alarm; their names are the `alarms` attribute."""

    _attr_device_class = BinarySensorDeviceClass.PROBLEM
    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_translation_key = "alarms"
    _text_key = "alarms"

    def __init__(self, coordinator: SnapshotCoordinator, device: Sun2000Device) -> None:
        super().__init__(coordinator, device.identity)
        self._attr_unique_id = text_unique_id(device, Part.INVERTER, self._text_key)

    @property
    def is_on(self) -> bool | None:
        text = self.text
        return None if text is None else bool(alarm_names(text))

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        text = self.text
        return {"alarms": [] if text is None else alarm_names(text)}
