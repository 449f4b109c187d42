"""The base of every Wattkeeper meter entity: device info and availability."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import SnapshotCoordinator
from .meters.model import MeterIdentity, Snapshot


def device_info(identity: MeterIdentity, parent: MeterIdentity | None) -> DeviceInfo:
    """Device registry data; sub-meters hang below the meter they report through."""
    info = DeviceInfo(
        identifiers={(DOMAIN, identity.serial)},
        manufacturer=identity.manufacturer,
        model=identity.model,
        name=identity.name,
        serial_number=identity.serial_number,
        sw_version=identity.firmware,
    )
    if parent is not None:
        info["via_device"] = (DOMAIN, parent.serial)
    return info


class WattkeeperEntity(CoordinatorEntity[SnapshotCoordinator]):
    """An entity that shows one value of one (sub-)meter of a coordinator."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: SnapshotCoordinator, meter: MeterIdentity) -> None:
        super().__init__(coordinator)
        self.meter_serial = meter.serial
        root = coordinator.identity
        self._attr_device_info = device_info(meter, None if meter.serial == root.serial else root)

    @property
    def snapshot(self) -> Snapshot | None:
        """The latest snapshot of this entity's (sub-)meter, if it reported."""
        for meter in self.coordinator.data.all_meters():
            if meter.identity.serial == self.meter_serial:
                return meter
        return None

    @property
    def available(self) -> bool:
        return super().available and self.snapshot is not None
