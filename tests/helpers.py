"""Helpers that drive Wattkeeper through Home Assistant as a user would."""

from __future__ import annotations

from ipaddress import ip_address

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo

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


V1_SERVICE = "_hwenergy._tcp.local."
V2_SERVICE = "_homewizard._tcp.local."


def announcement(
    address: str, port: int, service: str, device: dict[str, str], **properties: str
) -> ZeroconfServiceInfo:
    """What a device announces: API v1 as _hwenergy (port 80), API v2 as _homewizard (443)."""
    by_service = (
        {"api_enabled": "1", "path": "/api/v1"}
        if service == V1_SERVICE
        else {"api_version": "2.0.0", "id": f"appliance/p1dongle/{device['serial']}"}
    )
    return ZeroconfServiceInfo(
        ip_address=ip_address(address),
        ip_addresses=[ip_address(address)],
        hostname="p1meter-aa0001.local.",
        name=f"p1meter-aa0001.{service}",
        port=port,
        type=service,
        properties={
            **by_service,
            "product_name": device["product_name"],
            "product_type": device["product_type"],
            "serial": device["serial"],
            **properties,
        },
    )
