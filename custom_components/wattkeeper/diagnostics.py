"""Diagnostics: what the meter reports, with everything personal redacted."""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_HOST, CONF_IP_ADDRESS, CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant

from .const import CONF_CONTACT_POINTS, CONF_KIND, CONF_TOKEN, KIND_RECORDER
from .coordinator import WattkeeperConfigEntry
from .meters.model import Snapshot
from .recorder_runtime import RecorderConfigEntry

TO_REDACT = {
    CONF_HOST,
    CONF_PASSWORD,
    CONF_USERNAME,
    "dsn",
    CONF_IP_ADDRESS,
    CONF_TOKEN,
    "address",
    "serial",
    "label_serial",
    "unique_id",
    "wifi_ssid",
    "meter_id",
    "equipment_id",
    "device_id",  # CT boards are named after the host
    "decryption_key",  # Luxembourg Smarty meters
    "device",  # a P1 cable's /dev/serial/by-id path holds its USB serial number
    "title",
    CONF_CONTACT_POINTS,  # a research cluster's addresses
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


def _meter_stats(meter: object) -> dict[str, Any]:
    """A driver's own counters (telegrams, CRC errors, reconnects), when it keeps them."""
    stats = getattr(meter, "stats", None)
    if stats is None or not is_dataclass(stats) or isinstance(stats, type):
        return {}
    return {"meter_stats": asdict(stats)}


def _entry(entry: WattkeeperConfigEntry | RecorderConfigEntry) -> dict[str, Any]:
    return {"title": entry.title, "data": dict(entry.data), "options": dict(entry.options)}


def _recorder_diagnostics(entry: RecorderConfigEntry) -> dict[str, Any]:
    """The recorder's health as its entities show it, and what it has seen so far."""
    runtime = entry.runtime_data
    health = runtime.health.current_health()
    return async_redact_data(
        {
            "entry": _entry(entry),
            "health": {
                **asdict(health),
                "last_success": health.last_success.isoformat() if health.last_success else None,
            },
            "series_seen": len(runtime.known),
            "meters_recorded": len(runtime.meters) or "all",
            "statistics_forwarding": runtime.statistics is not None,
        },
        TO_REDACT,
    )


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: WattkeeperConfigEntry
) -> dict[str, Any]:
    if entry.data[CONF_KIND] == KIND_RECORDER:
        recorder_entry: RecorderConfigEntry = entry  # type: ignore[assignment]
        return _recorder_diagnostics(recorder_entry)
    coordinator = entry.runtime_data.coordinator
    data = coordinator.data
    return async_redact_data(
        {
            "entry": _entry(entry),
            "last_update_success": coordinator.last_update_success,
            **_meter_stats(entry.runtime_data.meter),
            "snapshot": _snapshot(data),
        },
        TO_REDACT,
    )
