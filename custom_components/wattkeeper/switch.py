"""The relay of a HomeWizard energy socket."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchDeviceClass, SwitchEntity
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .coordinator import SnapshotCoordinator, WattkeeperConfigEntry
from .entity import WattkeeperEntity
from .meters.errors import MeterError
from .meters.homewizard import HomeWizardMeter

PARALLEL_UPDATES = 1  # one command at a time to a device


async def async_setup_entry(
    hass: HomeAssistant,
    entry: WattkeeperConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    coordinator = entry.runtime_data.coordinator
    meter = entry.runtime_data.meter
    if isinstance(meter, HomeWizardMeter) and coordinator.data.switch_on is not None:
        async_add_entities([RelaySwitch(coordinator, meter)])


class RelaySwitch(WattkeeperEntity, SwitchEntity):
    """Switches the socket's relay; the state comes from the next poll."""

    _attr_device_class = SwitchDeviceClass.OUTLET
    _attr_translation_key = "relay"

    def __init__(self, coordinator: SnapshotCoordinator, meter: HomeWizardMeter) -> None:
        super().__init__(coordinator, coordinator.identity)
        self._meter = meter
        self._attr_unique_id = f"{coordinator.identity.serial}_relay"

    @property
    def is_on(self) -> bool | None:
        snapshot = self.snapshot
        return None if snapshot is None else snapshot.switch_on

    async def async_turn_on(self, **kwargs: Any) -> None:
        await self._switch(True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        await self._switch(False)

    async def _switch(self, on: bool) -> None:
        try:
            await self._meter.set_switch(on)
        except MeterError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="switch_failed",
                translation_placeholders={"error": str(err)},
            ) from err
        await self.coordinator.async_request_refresh()
