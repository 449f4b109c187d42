"""Wattkeeper: every home energy meter in Home Assistant, every reading kept."""

from __future__ import annotations

from datetime import timedelta

from homeassistant.const import CONF_HOST, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryNotReady
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from .const import CONF_KIND, CONF_SCAN_INTERVAL, CONF_TOKEN, DEFAULT_SCAN_INTERVAL, DOMAIN
from .coordinator import MeterCoordinator, WattkeeperConfigEntry, WattkeeperRuntime
from .meters.base import PolledMeter
from .meters.errors import MeterAuthError, MeterError
from .meters.homewizard import HomeWizardMeter
from .meters.model import MeterKind

PLATFORMS = [Platform.BINARY_SENSOR, Platform.SENSOR, Platform.SWITCH]


def create_meter(hass: HomeAssistant, entry: WattkeeperConfigEntry) -> PolledMeter:
    """The driver for an entry's meter kind."""
    kind = MeterKind(entry.data[CONF_KIND])
    match kind:
        case MeterKind.HOMEWIZARD:
            return HomeWizardMeter(
                entry.data[CONF_HOST],
                async_get_clientsession(hass),
                token=entry.data.get(CONF_TOKEN),
            )
    raise NotImplementedError(f"meter kind {kind} has no driver in this release")


async def async_setup_entry(hass: HomeAssistant, entry: WattkeeperConfigEntry) -> bool:
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
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="setup_failed",
            translation_placeholders={"error": str(err)},
        ) from err
    interval = timedelta(
        seconds=entry.options.get(CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL.total_seconds())
    )
    coordinator = MeterCoordinator(hass, entry, meter, identity, interval)
    try:
        await coordinator.async_config_entry_first_refresh()
    except Exception:
        await meter.close()
        raise
    entry.runtime_data = WattkeeperRuntime(coordinator=coordinator, meter=meter)
    entry.async_on_unload(meter.close)
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def _async_options_updated(hass: HomeAssistant, entry: WattkeeperConfigEntry) -> None:
    await hass.config_entries.async_reload(entry.entry_id)


async def async_unload_entry(hass: HomeAssistant, entry: WattkeeperConfigEntry) -> bool:
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
