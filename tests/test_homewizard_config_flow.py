"""HomeWizard config flow: every step and error, over real HTTP to the twin."""

from __future__ import annotations

import json
from pathlib import Path
from unittest.mock import patch

import pytest
from homeassistant.config_entries import SOURCE_RECONFIGURE, SOURCE_ZEROCONF, ConfigEntryState
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components import wattkeeper
from custom_components.wattkeeper.const import CONF_KIND, CONF_SCAN_INTERVAL, CONF_TOKEN, DOMAIN
from custom_components.wattkeeper.flow_homewizard import PROBE_ERRORS
from simulators.homewizard import Fault, HomeWizardSimulator

from .helpers import V1_SERVICE, V2_SERVICE, add_homewizard, announcement


async def _host_step(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": "user"})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "homewizard"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "homewizard"
    return str(result["flow_id"])


def _zeroconf(sim: HomeWizardSimulator, **properties: str) -> ZeroconfServiceInfo:
    return announcement("127.0.0.1", sim.port, V1_SERVICE, sim.device, **properties)


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
        (Fault.TIMEOUT, "cannot_connect"),
        (Fault.SLOW, "cannot_connect"),
    ],
)
async def test_user_flow_errors_then_recovers(
    hass: HomeAssistant,
    homewizard_sim: HomeWizardSimulator,
    homewizard_timeout: float,
    fault: Fault,
    error: str,
) -> None:
    homewizard_sim.slow_seconds = 4 * homewizard_timeout
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


async def test_user_flow_unsupported_device(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    """A device that answers in an API version other than v1 over plain HTTP."""
    homewizard_sim.fixture["device"]["api_version"] = "v3"
    flow_id = await _host_step(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: homewizard_sim.host}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "unsupported_device"}


def test_every_probe_error_has_texts() -> None:
    """A failed probe is a form error (host steps) or an abort (discovery): both need texts."""
    component = Path(__file__).parent.parent / "custom_components" / "wattkeeper"
    for texts in (component / "strings.json", *(component / "translations").glob("*.json")):
        config = json.loads(texts.read_text("utf-8"))["config"]
        for reason in {*PROBE_ERRORS.values(), "unknown"}:
            assert config["error"].get(reason), f"{texts.name}: config.error.{reason}"
            assert config["abort"].get(reason), f"{texts.name}: config.abort.{reason}"


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


async def test_zeroconf_names_the_flow(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=_zeroconf(homewizard_sim)
    )
    flow = hass.config_entries.flow.async_get(result["flow_id"])
    assert flow["context"]["title_placeholders"] == {"name": "P1 meter"}


@pytest.mark.parametrize("service", [V1_SERVICE, V2_SERVICE])
async def test_zeroconf_keeps_the_bare_address(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator, service: str
) -> None:
    """A device announces v1 on 80 and v2 on 443: either way its host stays the bare address."""
    device = homewizard_sim.device
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=device["serial"],
        title=device["product_name"],
        data={CONF_KIND: "homewizard", CONF_HOST: "192.0.2.10", CONF_TOKEN: "T" * 32},
    )
    entry.add_to_hass(hass)
    ports = {V1_SERVICE: 80, V2_SERVICE: 443}
    other = V2_SERVICE if service == V1_SERVICE else V1_SERVICE
    # Both announcements of the one device, in turn: the host never changes, so no reload.
    for announced in (service, other, service):
        result = await hass.config_entries.flow.async_init(
            DOMAIN,
            context={"source": SOURCE_ZEROCONF},
            data=announcement("192.0.2.10", ports[announced], announced, device),
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "already_configured"
        assert entry.data[CONF_HOST] == "192.0.2.10"
    # A new address still reaches the entry, without the port; the token stays.
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_ZEROCONF},
        data=announcement("192.0.2.11", ports[service], service, device),
    )
    assert result["reason"] == "already_configured"
    assert entry.data == {CONF_KIND: "homewizard", CONF_HOST: "192.0.2.11", CONF_TOKEN: "T" * 32}


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


@pytest.mark.parametrize("fault", [Fault.HTTP_500, Fault.TIMEOUT])
async def test_zeroconf_unreachable_device_aborts(
    hass: HomeAssistant,
    homewizard_sim: HomeWizardSimulator,
    homewizard_timeout: float,
    fault: Fault,
) -> None:
    homewizard_sim.fault = fault
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=_zeroconf(homewizard_sim)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "cannot_connect"


async def test_zeroconf_unsupported_device_aborts(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    homewizard_sim.fixture["device"]["api_version"] = "v3"
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=_zeroconf(homewizard_sim)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "unsupported_device"


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
        with patch.object(
            wattkeeper, "async_setup_entry", wraps=wattkeeper.async_setup_entry
        ) as setups:
            result = await hass.config_entries.flow.async_configure(
                result["flow_id"], {CONF_HOST: moved.host}
            )
            await hass.async_block_till_done()
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "reconfigure_successful"
        assert entry.data[CONF_HOST] == moved.host
        # Reconfigure reloads the entry itself; the options listener must not do it again.
        assert setups.call_count == 1
        assert entry.state is ConfigEntryState.LOADED
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
