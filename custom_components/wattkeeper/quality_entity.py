"""The "data quality" problem binary sensor of every (sub-)meter.

On while a check fails; the failing checks are its attributes (`failing`, as
QualityReport.attributes() gives them with a `message` in Home Assistant's
language, and `persistent`). It stays available
while the meter is down: that is when the gap check has something to say.
"""

from __future__ import annotations

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import WattkeeperConfigEntry
from .entity import device_info
from .meters.model import MeterIdentity
from .quality_glue import EntryQuality, async_start_quality


@callback
def async_setup_quality_sensors(
    hass: HomeAssistant,
    entry: WattkeeperConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Start the entry's quality watch; one sensor per (sub-)meter as each appears."""
    quality = async_start_quality(hass, entry)
    known: set[str] = set()

    @callback
    def add_new_meters() -> None:
        new: list[DataQualitySensor] = []
        for serial, watched in quality.meters.items():
            if serial not in known:
                known.add(serial)
                new.append(DataQualitySensor(quality, watched.identity, watched.parent))
        if new:
            async_add_entities(new)

    add_new_meters()
    entry.async_on_unload(quality.async_add_listener(add_new_meters))


class DataQualitySensor(BinarySensorEntity):
    """Problem sensor: on while any data-quality check of the meter fails."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    _attr_device_class = BinarySensorDeviceClass.PROBLEM
    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_translation_key = "data_quality"

    def __init__(
        self, quality: EntryQuality, meter: MeterIdentity, parent: MeterIdentity | None
    ) -> None:
        self._quality = quality
        self._serial = meter.serial
        self._attr_unique_id = f"{meter.serial}_data_quality"
        self._attr_device_info = device_info(meter, parent)
        self._attr_extra_state_attributes = {}
        self._load()

    async def async_added_to_hass(self) -> None:
        self.async_on_remove(self._quality.async_add_listener(self._refresh))

    def _load(self) -> bool:
        """Take the latest report; True when what the sensor shows changed."""
        report = self._quality.report(self._serial)
        is_on = report.problem if report is not None else False
        attributes = self._quality.attributes(self._serial)
        changed = is_on != self._attr_is_on or attributes != self._attr_extra_state_attributes
        self._attr_is_on = is_on
        self._attr_extra_state_attributes = attributes
        return changed

    @callback
    def _refresh(self) -> None:
        if self._load():
            self.async_write_ha_state()
