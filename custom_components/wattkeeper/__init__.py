"""Wattkeeper: every home energy meter in Home Assistant, every reading kept."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from .capacity_glue import async_remove_capacity_state
from .const import CONF_KIND, CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL, DOMAIN, KIND_RECORDER
from .coordinator import (
    MeterCoordinator,
    SnapshotCoordinator,
    WattkeeperConfigEntry,
    WattkeeperRuntime,
)
from .ct_meter import async_remove_ct_energy
from .meter_factory import create_meter
from .meters.base import StreamingMeter
from .meters.errors import MeterAuthError, MeterError
from .meters.model import MeterKind
from .recorder_hub import DATA_HUB, async_setup_hub
from .recorder_runtime import RecorderConfigEntry, async_recorder_updated, async_setup_recorder
from .services import async_setup_services
from .stream_coordinator import (
    FIRST_SNAPSHOT_TIMEOUT,
    StreamCoordinator,
    async_forget_offline,
    async_setup_failed,
)

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

RECORDER_PLATFORMS = [Platform.BINARY_SENSOR, Platform.SENSOR]
PLATFORMS = [Platform.BINARY_SENSOR, Platform.SENSOR, Platform.SWITCH]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Actions exist from start-up, whether or not an entry is loaded (rule action-setup).

    The snapshot hub listens before any meter entry loads, so a recorder entry that
    loads later (or reloads) still gets every reading since start-up."""
    async_setup_services(hass)
    async_setup_hub(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: WattkeeperConfigEntry) -> bool:
    if entry.data[CONF_KIND] == KIND_RECORDER:
        recorder = cast("RecorderConfigEntry", entry)
        await async_setup_recorder(hass, recorder)
        entry.async_on_unload(recorder.add_update_listener(async_recorder_updated))
        await hass.config_entries.async_forward_entry_setups(entry, RECORDER_PLATFORMS)
        return True
    meter = create_meter(hass, entry)
    try:
        identity = await meter.identify()
    except MeterAuthError as err:
        await meter.close()
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN,
            translation_key="auth_failed",
            translation_placeholders={"error": str(err)},
        ) from err
    except MeterError as err:
        await meter.close()
        if isinstance(meter, StreamingMeter):
            async_setup_failed(hass, entry, err)
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="setup_failed",
            translation_placeholders={"error": str(err)},
        ) from err
    coordinator: SnapshotCoordinator
    if isinstance(meter, StreamingMeter):
        coordinator = StreamCoordinator(hass, entry, meter, identity)
        try:
            await coordinator.async_wait_first_snapshot(FIRST_SNAPSHOT_TIMEOUT)
        except Exception:
            await meter.close()
            raise
    else:
        interval = timedelta(
            seconds=entry.options.get(CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL.total_seconds())
        )
        coordinator = MeterCoordinator(hass, entry, meter, identity, interval)
        try:
            await coordinator.async_config_entry_first_refresh()
        except Exception:
            await meter.close()
            raise
    entry.runtime_data = WattkeeperRuntime(
        coordinator=coordinator, meter=meter, options=dict(entry.options)
    )
    entry.async_on_unload(meter.close)
    if isinstance(coordinator, StreamCoordinator):
        # Unload runs these last-first: the stream stops before its meter closes.
        entry.async_on_unload(coordinator.stop)
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def _async_options_updated(hass: HomeAssistant, entry: WattkeeperConfigEntry) -> None:
    """Reload for new options. Reauth, reconfigure and discovery reload by themselves
    after changing the data; reloading here too would set the meter up twice."""
    if dict(entry.options) != entry.runtime_data.options:
        await hass.config_entries.async_reload(entry.entry_id)


async def async_unload_entry(hass: HomeAssistant, entry: WattkeeperConfigEntry) -> bool:
    if entry.data[CONF_KIND] == KIND_RECORDER:
        return await hass.config_entries.async_unload_platforms(entry, RECORDER_PLATFORMS)
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: WattkeeperConfigEntry) -> None:
    """Clean up what an entry kept outside Home Assistant's registries."""
    await async_remove_capacity_state(hass, entry.entry_id)
    async_forget_offline(hass, entry.entry_id)
    if entry.data[CONF_KIND] == KIND_RECORDER and (hub := hass.data.get(DATA_HUB)) is not None:
        hub.forget(entry.entry_id)
    if entry.data[CONF_KIND] == MeterKind.CT_CLAMP:
        await async_remove_ct_energy(hass, entry.entry_id)
    if entry.data[CONF_KIND] == KIND_RECORDER:
        from .statistics_setup import async_remove_statistics  # noqa: PLC0415 (loads the recorder)

        await async_remove_statistics(hass, entry.entry_id)
