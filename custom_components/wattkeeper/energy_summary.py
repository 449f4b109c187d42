"""The `wattkeeper.get_energy_summary` action.

The change of counters (energy, gas, water) over a period, from Home
Assistant's long-term statistics through the recorder's public API: what the
daily-summary blueprint reports. Energy is given in kWh whatever unit the
statistics are kept in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import voluptuous as vol
from homeassistant.components.recorder.statistics import get_metadata, statistic_during_period
from homeassistant.const import ATTR_ENTITY_ID, UnitOfEnergy
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import EnergyConverter

from .const import DOMAIN

SERVICE_GET_ENERGY_SUMMARY: Final = "get_energy_summary"
ATTR_START: Final = "start"
ATTR_END: Final = "end"

SUMMARY_SCHEMA: Final = vol.Schema(
    {
        vol.Required(ATTR_ENTITY_ID): cv.entity_ids,
        vol.Required(ATTR_START): cv.datetime,
        vol.Required(ATTR_END): cv.datetime,
    }
)


@callback
def async_setup_energy_summary(hass: HomeAssistant) -> None:
    hass.services.async_register(
        DOMAIN,
        SERVICE_GET_ENERGY_SUMMARY,
        _async_get_energy_summary,
        schema=SUMMARY_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )


def _aware(moment: datetime) -> datetime:
    """A time without zone is Home Assistant's local time, as the UI shows it."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt_util.get_default_time_zone())
    return moment


async def _async_get_energy_summary(call: ServiceCall) -> ServiceResponse:
    hass = call.hass
    start = _aware(call.data[ATTR_START])
    end = _aware(call.data[ATTR_END])
    if end <= start:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="summary_period_invalid",
            translation_placeholders={"start": start.isoformat(), "end": end.isoformat()},
        )
    if "recorder" not in hass.config.components:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="summary_needs_recorder"
        )
    entity_ids: list[str] = call.data[ATTR_ENTITY_ID]
    changes = await get_instance(hass).async_add_executor_job(
        _changes, hass, entity_ids, dt_util.as_utc(start), dt_util.as_utc(end)
    )
    return {"entities": changes}


def _changes(
    hass: HomeAssistant, entity_ids: list[str], start: datetime, end: datetime
) -> dict[str, Any]:
    """Runs in the recorder's executor. Entities without statistics are left out."""
    metadata = get_metadata(hass, statistic_ids=set(entity_ids))
    result: dict[str, Any] = {}
    for entity_id in entity_ids:
        if entity_id not in metadata:
            continue
        unit = metadata[entity_id][1]["unit_of_measurement"]
        units: dict[str, str] | None = None
        if unit in EnergyConverter.VALID_UNITS:
            unit = UnitOfEnergy.KILO_WATT_HOUR.value
            units = {EnergyConverter.UNIT_CLASS: unit}
        change = statistic_during_period(hass, start, end, entity_id, {"change"}, units).get(
            "change"
        )
        if change is not None:
            result[entity_id] = {"change": float(change), "unit": unit or ""}
    return result
