"""Which SUN2000 fields to read: those of enabled entities, so disabled ones cost no Modbus traffic.

A field's entity has the unique id `<serial>_<quantity key id>` (numbers) or
`<serial>_<text key>` (status and alarms), where the serial is the
inverter's, or the inverter's with `-meter` / `-battery` for the parts that
are sub-devices. A field nobody has registered an entity for yet is read
too: that first reading is what creates its entity (disabled, when its
description says so; the next registry event then drops it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from homeassistant.const import Platform
from homeassistant.helpers import entity_registry as er

from .meters.model import QuantityKey
from .meters.sun2000 import Sun2000Device, part_serial
from .meters.sun2000_registers import PRODUCTS_BY_FIELD, RUNTIME_BY_FIELD, Part
from .sensor import is_shown
from .sun2000_status import text_unique_id

# Text fields shown as entities of their own (sun2000_status.py), by platform.
TEXT_ENTITIES: Final[Mapping[str, Platform]] = {
    "inverter.device_status": Platform.SENSOR,
    "inverter.alarms": Platform.BINARY_SENSOR,
    "battery.battery_status": Platform.SENSOR,
}


@dataclass(frozen=True, slots=True)
class _Field:
    id: str
    part: Part
    key: QuantityKey | None  # None: a text (status, alarms)
    text: str | None


def _describe(field: str) -> _Field:
    if (register := RUNTIME_BY_FIELD.get(field)) is not None:
        return _Field(field, register.part, register.key, register.text)
    product = PRODUCTS_BY_FIELD[field]
    return _Field(field, product.part, product.key, None)


def unique_id(device: Sun2000Device, part: Part, key: QuantityKey) -> str:
    """The unique id of the sensor that shows `key` of `part` (as sensor.py builds it)."""
    return f"{part_serial(device.identity.serial, part)}_{key.id}"


def enabled_fields(device: Sun2000Device, entries: Iterable[er.RegistryEntry]) -> tuple[str, ...]:
    """The fields worth reading, given the entity registry entries of the config entry."""
    disabled = {
        (e.domain, e.unique_id): e.disabled_by is not None
        for e in entries
        if e.domain in (Platform.SENSOR, Platform.BINARY_SENSOR)
    }
    fields = [_describe(f) for f in device.fields]
    numbers = [
        f
        for f in fields
        if f.key is not None
        and is_shown(f.key)
        and not disabled.get((Platform.SENSOR, unique_id(device, f.part, f.key)), False)
    ]
    texts = [
        f
        for f in fields
        if f.text is not None
        and (platform := TEXT_ENTITIES.get(f.id)) is not None
        and not disabled.get((platform, text_unique_id(device, f.part, f.text)), False)
    ]
    # The meter's status has no entity: it comes with the meter's numbers (registers_for).
    return tuple(f.id for f in (*numbers, *texts))
