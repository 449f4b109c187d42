"""The relay of a HomeWizard energy socket."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchDeviceClass, SwitchEntity
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .coordinator import MeterCoordinator, WattkeeperConfigEntry
from .entity import WattkeeperEntity
from .meters.errors import MeterError
from .meters.homewizard import HomeWizardMeter
from .meters.model import MeterIdentity

PARALLEL_UPDATES = 1  # one command at a time to a device


async def async_setup_entry(
    hass: HomeAssistant,
    entry: WattkeeperConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    coordinator = entry.runtime_data.coordinator
    snapshot = coordinator.data
    if isinstance(coordinator.meter, HomeWizardMeter) and snapshot.switch_on is not None:
        async_add_entities([RelaySwitch(coordinator, snapshot.identity)])


class RelaySwitch(WattkeeperEntity, SwitchEntity):
    """Switches the socket's relay; the state comes from the next poll."""

    _attr_device_class = SwitchDeviceClass.OUTLET
    _attr_translation_key = "relay"

    def __init__(self, coordinator: MeterCoordinator, meter: MeterIdentity) -> None:
        super().__init__(coordinator, meter)
        self._attr_unique_id = f"{meter.serial}_relay"

    @property
    def is_on(self) -> bool | None:
        snapshot = self.snapshot
        return None if snapshot is None else snapshot.switch_on

    async def async_turn_on(self, **kwargs: Any) -> None:
        await self._switch(True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        await self._switch(False)

    async def _switch(self, on: bool) -> None:
        meter = self.coordinator.meter
        assert isinstance(meter, HomeWizardMeter)
        try:
            await meter.set_switch(on)
        except MeterError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="switch_failed",
                translation_placeholders={"error": str(err)},
            ) from err
        await self.coordinator.async_request_refresh()
