"""Actions of the external recorder: send now, and recompute rollups for a time range."""

from __future__ import annotations

from typing import Any, Final, cast

import voluptuous as vol
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util

from .const import CONF_KIND, DOMAIN, KIND_RECORDER
from .recorder import BackendError
from .recorder_runtime import RecorderConfigEntry

SERVICE_FLUSH: Final = "flush"
SERVICE_RECOMPUTE_ROLLUPS: Final = "recompute_rollups"
ATTR_CONFIG_ENTRY: Final = "config_entry_id"
ATTR_TIMEOUT: Final = "timeout"
ATTR_START: Final = "start"
ATTR_END: Final = "end"

FLUSH_SCHEMA = vol.Schema(
    {
        vol.Optional(ATTR_CONFIG_ENTRY): cv.string,
        vol.Optional(ATTR_TIMEOUT, default=30): vol.All(vol.Coerce(float), vol.Range(0, 3600)),
    }
)
RECOMPUTE_SCHEMA = vol.Schema(
    {
        vol.Optional(ATTR_CONFIG_ENTRY): cv.string,
        vol.Required(ATTR_START): cv.datetime,
        vol.Required(ATTR_END): cv.datetime,
    }
)


def _recorders(hass: HomeAssistant, call: ServiceCall) -> list[RecorderConfigEntry]:
    """The loaded recorder entries the call is about (all when none is named)."""
    wanted = call.data.get(ATTR_CONFIG_ENTRY)
    entries = [
        cast("RecorderConfigEntry", entry)
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.data.get(CONF_KIND) == KIND_RECORDER
        and entry.state is ConfigEntryState.LOADED
        and (wanted is None or entry.entry_id == wanted)
    ]
    if not entries:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_recorder")
    return entries


async def _flush(call: ServiceCall) -> ServiceResponse:
    result: dict[str, Any] = {}
    for entry in _recorders(call.hass, call):
        runtime = entry.runtime_data
        empty = await runtime.sender.flush(call.data[ATTR_TIMEOUT])
        status = runtime.outbox.status()
        # As the backlog sensor counts it: readings and forwarded statistics still to send.
        result[entry.entry_id] = {
            "empty": empty,
            "backlog": status.backlog_samples + status.backlog_statistics,
            "readings": status.backlog_samples,
            "statistics": status.backlog_statistics,
        }
        await runtime.health.async_refresh()
    return result


async def _recompute(call: ServiceCall) -> ServiceResponse:
    start = dt_util.as_utc(call.data[ATTR_START])
    end = dt_util.as_utc(call.data[ATTR_END])
    if end <= start:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="empty_range")
    result: dict[str, Any] = {}
    for entry in _recorders(call.hass, call):
        try:
            buckets = await entry.runtime_data.backend.recompute_rollups(start, end)
        except BackendError as err:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="backend_failed",
                translation_placeholders={"error": str(err)},
            ) from err
        result[entry.entry_id] = {"buckets": buckets}
    return result


def async_register_recorder_services(hass: HomeAssistant) -> None:
    hass.services.async_register(
        DOMAIN, SERVICE_FLUSH, _flush, FLUSH_SCHEMA, supports_response=SupportsResponse.OPTIONAL
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_RECOMPUTE_ROLLUPS,
        _recompute,
        RECOMPUTE_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
