"""The action `wattkeeper.backfill_statistics`: forward statistics history in the background."""

from __future__ import annotations

from typing import Any, Final

import voluptuous as vol
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util

from .const import DOMAIN
from .recorder_services import ATTR_CONFIG_ENTRY, ATTR_END, ATTR_START, _recorders

SERVICE_BACKFILL_STATISTICS: Final = "backfill_statistics"
ATTR_STATISTIC_IDS: Final = "statistic_ids"
ATTR_WAIT: Final = "wait"

BACKFILL_SCHEMA = vol.Schema(
    {
        vol.Optional(ATTR_CONFIG_ENTRY): cv.string,
        vol.Required(ATTR_STATISTIC_IDS): vol.All(cv.ensure_list, [cv.string], vol.Length(min=1)),
        vol.Required(ATTR_START): cv.datetime,
        vol.Optional(ATTR_END): cv.datetime,
        vol.Optional(ATTR_WAIT, default=False): cv.boolean,
    }
)


async def _backfill(call: ServiceCall) -> ServiceResponse:
    start = dt_util.as_utc(call.data[ATTR_START])
    end = dt_util.as_utc(call.data.get(ATTR_END) or dt_util.utcnow())
    if end <= start:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="empty_range")
    result: dict[str, Any] = {}
    for entry in _recorders(call.hass, call):
        statistics = entry.runtime_data.statistics
        if statistics is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="recorder_not_loaded"
            )
        job = await statistics.backfill.add(call.data[ATTR_STATISTIC_IDS], start, end)
        if call.data[ATTR_WAIT]:
            await statistics.backfill.wait()
        result[entry.entry_id] = {"job": job, "rows": statistics.backfill.rows_forwarded}
    return result


def async_register_statistics_services(hass: HomeAssistant) -> None:
    hass.services.async_register(
        DOMAIN,
        SERVICE_BACKFILL_STATISTICS,
        _backfill,
        BACKFILL_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
