"""The energy totals Home Assistant last recorded for a CT entry's sensors.

The entry's Store is written once a minute; after a crash it can be up to that
minute behind what the sensors last showed, and a total_increasing sensor that
restarts lower reads as a meter reset in the Energy dashboard. The recorder's
last state of each energy sensor is the second witness: the glue restarts
every total from the larger of the two. Without the recorder, or with nothing
recorded, the Store alone counts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from homeassistant.components.recorder import history
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT, UnitOfEnergy
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.recorder import get_instance
from homeassistant.util.unit_conversion import EnergyConverter

from .const import DOMAIN, LOGGER
from .meters.ct_energy import EnergyTotals
from .meters.model import Quantity, QuantityKey

_COUNTERS = (Quantity.ENERGY_IMPORT, Quantity.ENERGY_EXPORT)
# States read back when the last one is no reading.
_LOOK_BACK = 4


async def async_recorded_totals(
    hass: HomeAssistant, serial: str, channels: Iterable[int]
) -> dict[int, EnergyTotals]:
    """Per channel, the last recorded import and export (0 where none was recorded)."""
    if "recorder" not in hass.config.components:
        return {}
    registry = er.async_get(hass)
    sensors: dict[str, tuple[int, Quantity]] = {}
    for channel in channels:
        for quantity in _COUNTERS:
            unique_id = f"{serial}_{QuantityKey(quantity, channel=str(channel)).id}"
            entity_id = registry.async_get_entity_id("sensor", DOMAIN, unique_id)
            if entity_id is not None:
                sensors[entity_id] = (channel, quantity)
    if not sensors:
        return {}
    recorder = get_instance(hass)
    try:
        if not await recorder.async_db_ready:
            return {}
        states = await recorder.async_add_executor_job(_last_states, hass, list(sensors))
    except Exception:  # the Store still counts: start from it alone
        LOGGER.exception("Cannot read the last recorded energy of %s", serial)
        return {}
    found: dict[int, dict[Quantity, float]] = {}
    for entity_id, state in states.items():
        kwh = _kwh(state)
        if kwh is not None:
            channel, quantity = sensors[entity_id]
            found.setdefault(channel, {})[quantity] = kwh
    return {
        channel: EnergyTotals(
            values.get(Quantity.ENERGY_IMPORT, 0.0), values.get(Quantity.ENERGY_EXPORT, 0.0)
        )
        for channel, values in found.items()
    }


def _last_states(hass: HomeAssistant, entity_ids: list[str]) -> dict[str, State]:
    """In the recorder's executor: each entity's last recorded reading.

    The last state is usually it; a start that took long may have recorded an
    "unavailable" placeholder (and an unload a removal) after it, so a few more
    are read then (the recorder's fast path reads one).
    """
    last: dict[str, State] = {}
    for entity_id in entity_ids:
        for count in (1, _LOOK_BACK):
            states = history.get_last_state_changes(hass, count, entity_id).get(entity_id, [])
            readings = [state for state in states if _kwh(state) is not None]
            if readings:
                last[entity_id] = readings[-1]  # the list runs oldest first
                break
    return last


def _kwh(state: State) -> float | None:
    """The state in kWh (the user may show it in another unit); None if not a reading."""
    try:
        value = float(state.state)
    except ValueError:
        return None  # unavailable, unknown, or the removal an unload records
    unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT, UnitOfEnergy.KILO_WATT_HOUR)
    if unit != UnitOfEnergy.KILO_WATT_HOUR:
        if unit not in EnergyConverter.VALID_UNITS:
            return None
        value = EnergyConverter.convert(value, unit, UnitOfEnergy.KILO_WATT_HOUR)
    return value if math.isfinite(value) and value >= 0 else None
