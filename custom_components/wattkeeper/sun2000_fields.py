"""Which SUN2000 fields to read: those of enabled entities, so disabled ones cost no Modbus traffic.

A field's entity has the unique id `<serial>_<quantity key id>`, where the
serial is the inverter's, or the inverter's with `-meter` / `-battery` for the
parts that are sub-devices. A field nobody has registered an entity for yet
is read too: that first reading is what creates its entity (disabled, when
its description says so; the next registry event then drops it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from homeassistant.const import Platform
from homeassistant.helpers import entity_registry as er

from .meters.model import QuantityKey
from .meters.sun2000 import Sun2000Device
from .meters.sun2000_registers import PRODUCTS_BY_FIELD, RUNTIME_BY_FIELD, Part
from .sensor import is_shown


@dataclass(frozen=True, slots=True)
class _Field:
    id: str
    part: Part
    key: QuantityKey | None  # None: a text (status, alarms), shown in diagnostics


def _describe(field: str) -> _Field:
    if (register := RUNTIME_BY_FIELD.get(field)) is not None:
        return _Field(field, register.part, register.key)
    product = PRODUCTS_BY_FIELD[field]
    return _Field(field, product.part, product.key)


def unique_id(device: Sun2000Device, part: Part, key: QuantityKey) -> str:
    """The unique id of the sensor that shows `key` of `part` (as sensor.py builds it)."""
    serial = device.identity.serial
    if part is not Part.INVERTER:
        serial = f"{serial}-{part.value}"
    return f"{serial}_{key.id}"


def enabled_fields(device: Sun2000Device, entries: Iterable[er.RegistryEntry]) -> tuple[str, ...]:
    """The fields worth reading, given the entity registry entries of the config entry."""
    disabled = {
        e.unique_id: e.disabled_by is not None for e in entries if e.domain == Platform.SENSOR
    }
    fields = [_describe(f) for f in device.fields]
    numbers = [
        f
        for f in fields
        if f.key is not None
        and is_shown(f.key)
        and not disabled.get(unique_id(device, f.part, f.key), False)
    ]
    parts = {f.part for f in numbers}
    # The inverter's status and alarms are always read (a few registers inside
    # blocks read anyway); a part's status only when something of it is read.
    texts = [f for f in fields if f.key is None and (f.part is Part.INVERTER or f.part in parts)]
    return tuple(f.id for f in (*numbers, *texts))
