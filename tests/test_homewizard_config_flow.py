"""HomeWizard config flow: every step and error, over real HTTP to the twin."""

from __future__ import annotations

from ipaddress import ip_address

import pytest
from homeassistant.config_entries import SOURCE_RECONFIGURE, SOURCE_ZEROCONF
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo

from custom_components.wattkeeper.const import CONF_KIND, CONF_SCAN_INTERVAL, DOMAIN
from simulators.homewizard import Fault, HomeWizardSimulator

from .helpers import add_homewizard


async def _host_step(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": "user"})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "homewizard"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "homewizard"
    return str(result["flow_id"])


def _zeroconf(sim: HomeWizardSimulator, **properties: str) -> ZeroconfServiceInfo:
    return ZeroconfServiceInfo(
        ip_address=ip_address("127.0.0.1"),
        ip_addresses=[ip_address("127.0.0.1")],
        hostname="p1meter-aa0001.local.",
        name="p1meter-aa0001._hwenergy._tcp.local.",
        port=sim.port,
        type="_hwenergy._tcp.local.",
        properties={
            "api_enabled": "1",
            "path": "/api/v1",
            "product_name": sim.device["product_name"],
            "product_type": sim.device["product_type"],
            "serial": sim.device["serial"],
            **properties,
        },
    )


async def test_user_flow_creates_entry(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    entry = await add_homewizard(hass, homewizard_sim)
    assert entry.unique_id == homewizard_sim.device["serial"]
    assert entry.title == "P1 meter"
    assert entry.data == {CONF_KIND: "homewizard", CONF_HOST: homewizard_sim.host}


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.API_DISABLED, "api_not_enabled"),
        (Fault.HTTP_500, "cannot_connect"),
        (Fault.INVALID_JSON, "unknown"),
    ],
)
async def test_user_flow_errors_then_recovers(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator, fault: Fault, error: str
) -> None:
    flow_id = await _host_step(hass)
    homewizard_sim.fault = fault
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: homewizard_sim.host}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}

    homewizard_sim.fault = Fault.NONE
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: homewizard_sim.host}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_user_flow_unreachable_host(hass: HomeAssistant) -> None:
    flow_id = await _host_step(hass)
    # A port nobody listens on: connection refused at once.
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_HOST: "127.0.0.1:9"})
    assert result["errors"] == {"base": "cannot_connect"}


async def test_same_device_twice_aborts(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    await add_homewizard(hass, homewizard_sim)
    flow_id = await _host_step(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: homewizard_sim.host}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_zeroconf_discovery_confirm(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=_zeroconf(homewizard_sim)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "homewizard_confirm"
    assert result["description_placeholders"] == {
        "name": "P1 meter",
        "host": homewizard_sim.host,
    }
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == homewizard_sim.device["serial"]


async def test_zeroconf_updates_host_of_known_device(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    entry = await add_homewizard(hass, homewizard_sim)
    # The device moved to a new address: a second twin with the same serial.
    moved = HomeWizardSimulator("p1", serial=homewizard_sim.device["serial"])
    await moved.start()
    try:
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_ZEROCONF}, data=_zeroconf(moved)
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "already_configured"
        assert entry.data[CONF_HOST] == moved.host
        await hass.async_block_till_done()
    finally:
        await moved.stop()


@pytest.mark.parametrize(
    ("properties", "reason"),
    [
        ({"serial": ""}, "invalid_discovery_parameters"),
        ({"api_enabled": "0"}, "api_not_enabled"),
    ],
)
async def test_zeroconf_aborts(
    hass: HomeAssistant,
    homewizard_sim: HomeWizardSimulator,
    properties: dict[str, str],
    reason: str,
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=_zeroconf(homewizard_sim, **properties)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == reason


async def test_zeroconf_unreachable_device_aborts(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    homewizard_sim.fault = Fault.HTTP_500
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=_zeroconf(homewizard_sim)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "cannot_connect"


async def test_reconfigure_moves_the_entry(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    entry = await add_homewizard(hass, homewizard_sim)
    moved = HomeWizardSimulator("p1", serial=homewizard_sim.device["serial"])
    await moved.start()
    try:
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
        )
        assert result["step_id"] == "homewizard_reconfigure"
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: "127.0.0.1:9"}
        )
        assert result["errors"] == {"base": "cannot_connect"}
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: moved.host}
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "reconfigure_successful"
        assert entry.data[CONF_HOST] == moved.host
        await hass.async_block_till_done()
    finally:
        await moved.stop()


@pytest.mark.parametrize("homewizard_sim", ["kwh1"], indirect=True)
async def test_reconfigure_to_another_device_aborts(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    entry = await add_homewizard(hass, homewizard_sim)
    other = HomeWizardSimulator("kwh3")
    await other.start()
    try:
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: other.host}
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "wrong_device"
        assert entry.data[CONF_HOST] == homewizard_sim.host
    finally:
        await other.stop()


async def test_options_set_the_polling_interval(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    entry = await add_homewizard(hass, homewizard_sim)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SCAN_INTERVAL: 1}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.runtime_data.coordinator.update_interval.total_seconds() == 1
