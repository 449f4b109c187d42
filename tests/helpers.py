"""Helpers that drive Wattkeeper through Home Assistant as a user would."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.wattkeeper.const import DOMAIN
from simulators.homewizard import HomeWizardSimulator


async def add_homewizard(hass: HomeAssistant, sim: HomeWizardSimulator) -> ConfigEntry:
    """Add a HomeWizard entry through the config flow's menu and host step."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": "user"})
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "homewizard"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: sim.host}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    entry = hass.config_entries.async_get_entry(result["result"].entry_id)
    assert entry is not None
    return entry
