"""Diagnostics: what the meter reports, with everything personal redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_HOST, CONF_IP_ADDRESS
from homeassistant.core import HomeAssistant

from .const import CONF_TOKEN
from .coordinator import WattkeeperConfigEntry
from .meters.model import Snapshot

TO_REDACT = {
    CONF_HOST,
    CONF_IP_ADDRESS,
    CONF_TOKEN,
    "address",
    "serial",
    "unique_id",
    "wifi_ssid",
    "meter_id",
    "equipment_id",
    "title",
}


def _snapshot(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "identity": asdict(snapshot.identity),
        "measured_at": snapshot.measured_at.isoformat(),
        "values": {key.id: snapshot.values[key] for key in sorted(snapshot.values)},
        "texts": dict(snapshot.texts),
        "switch_on": snapshot.switch_on,
        "sub_meters": [_snapshot(sub) for sub in snapshot.sub_meters],
    }


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: WattkeeperConfigEntry
) -> dict[str, Any]:
    coordinator = entry.runtime_data.coordinator
    data = coordinator.data
    return async_redact_data(
        {
            "entry": {
                "title": entry.title,
                "data": dict(entry.data),
                "options": dict(entry.options),
            },
            "last_update_success": coordinator.last_update_success,
            "snapshot": _snapshot(data),
        },
        TO_REDACT,
    )
