"""HomeWizard API v2 through Home Assistant: button press, token, reauth, over real TLS.

The v2 twin serves HTTPS with a certificate from a test CA; the library is made to
trust that CA instead of HomeWizard's (the one thing patched), so every request
below does a real TLS handshake with certificate verification.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import homewizard_energy.v2
import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_RECONFIGURE,
    SOURCE_ZEROCONF,
    ConfigEntry,
    ConfigEntryState,
)
from homeassistant.const import CONF_HOST, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.util import dt as dt_util
from homewizard_energy import HomeWizardEnergyV2
from homewizard_energy.errors import DisabledError, InvalidUserNameError, UnauthorizedError
from homewizard_energy.v2.cacert import CACERT as HOMEWIZARD_CA
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.wattkeeper.const import CONF_KIND, CONF_TOKEN, DOMAIN
from custom_components.wattkeeper.flow_homewizard import TOKEN_NAME
from simulators.homewizard import DEVICE_TYPES, Fault, HomeWizardSimulator
from simulators.homewizard_v2 import HomeWizardV2Simulator, twin_ca

from .helpers import V1_SERVICE, V2_SERVICE, add_homewizard, announcement

USER = f"local/{TOKEN_NAME}"


@dataclass
class FakeClock:
    """Monotonic time for the twin's button window, moved by the test."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def v2_sim(
    request: pytest.FixtureRequest, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[HomeWizardV2Simulator]:
    """A running v2 twin the library trusts; parametrise indirectly with the device type."""
    sim = HomeWizardV2Simulator(getattr(request, "param", "p1"), clock=clock)
    await sim.start()
    monkeypatch.setattr(homewizard_energy.v2, "CACERT", twin_ca().pem)
    yield sim
    await sim.stop()


async def _authorize_step(hass: HomeAssistant, sim: HomeWizardV2Simulator) -> str:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": "user"})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "homewizard"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: sim.host}
    )
    assert result["type"] is FlowResultType.FORM, result
    assert result["step_id"] == "homewizard_authorize"
    assert result["description_placeholders"] == {"host": sim.host}
    return str(result["flow_id"])


async def _add_v2(hass: HomeAssistant, sim: HomeWizardV2Simulator) -> ConfigEntry:
    flow_id = await _authorize_step(hass, sim)
    sim.press_button()
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    entry = hass.config_entries.async_get_entry(result["result"].entry_id)
    assert entry is not None
    return entry


async def _poll(hass: HomeAssistant, entry: ConfigEntry) -> None:
    async_fire_time_changed(hass, dt_util.utcnow() + entry.runtime_data.coordinator.update_interval)
    # Coordinators refresh in background tasks; wait for the HTTPS round trip.
    await hass.async_block_till_done(wait_background_tasks=True)


def _state(hass: HomeAssistant, serial: str, key: str) -> str:
    entity_id = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"{serial}_{key}")
    assert entity_id is not None, f"no entity for {serial}_{key}"
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state


def _sensors(hass: HomeAssistant, entry: ConfigEntry) -> dict[str, dict[str, Any]]:
    """Every sensor of an entry by unique id: registry data, and the state if enabled."""
    sensors: dict[str, dict[str, Any]] = {}
    for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id):
        if e.domain != "sensor":
            continue
        state = hass.states.get(e.entity_id)
        sensors[e.unique_id] = {
            "translation_key": e.translation_key,
            "unit": e.unit_of_measurement,
            "disabled_by": e.disabled_by,
            "state": None if state is None else {"state": state.state, **state.attributes},
        }
    return sensors


def _reauth_flow(hass: HomeAssistant, entry: ConfigEntry) -> dict[str, Any]:
    flows = list(entry.async_get_active_flows(hass, {SOURCE_REAUTH}))
    assert len(flows) == 1, flows
    return dict(flows[0])


async def test_user_flow_asks_for_the_button_then_stores_the_token(
    hass: HomeAssistant, v2_sim: HomeWizardV2Simulator
) -> None:
    flow_id = await _authorize_step(hass, v2_sim)

    result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "authorization_failed"}
    assert v2_sim.tokens == {}

    v2_sim.press_button()
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "P1 meter"
    assert result["result"].unique_id == v2_sim.device["serial"]
    assert result["data"] == {
        CONF_KIND: "homewizard",
        CONF_HOST: v2_sim.host,
        CONF_TOKEN: v2_sim.tokens[USER],
    }
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED


async def test_button_window_closes_after_30_seconds(
    hass: HomeAssistant, v2_sim: HomeWizardV2Simulator, clock: FakeClock
) -> None:
    flow_id = await _authorize_step(hass, v2_sim)
    v2_sim.press_button()
    clock.advance(31)
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["errors"] == {"base": "authorization_failed"}

    v2_sim.press_button()
    clock.advance(29)
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_twin_certificate_is_verified(
    hass: HomeAssistant, v2_sim: HomeWizardV2Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trusting only HomeWizard's real CA, the library refuses the twin's certificate."""
    monkeypatch.setattr(homewizard_energy.v2, "CACERT", HOMEWIZARD_CA)
    # The v2 probe does not verify certificates, so the flow still reaches the button step.
    flow_id = await _authorize_step(hass, v2_sim)
    v2_sim.press_button()
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["errors"] == {"base": "cannot_connect"}
    assert v2_sim.tokens == {}  # the request never got past the handshake


@pytest.mark.parametrize(
    ("homewizard_sim", "v2_sim"), [(kind, kind) for kind in DEVICE_TYPES], indirect=True
)
async def test_same_sensors_as_api_v1(
    hass: HomeAssistant,
    homewizard_sim: HomeWizardSimulator,
    v2_sim: HomeWizardV2Simulator,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The same device read over v1 and over v2 gives identical sensors and states."""
    # Capacity-tariff states depend on the time within the quarter hour: read both at one.
    freezer.move_to("2026-06-10T16:07:30+00:00")
    v1_entry = await add_homewizard(hass, homewizard_sim)
    over_v1 = _sensors(hass, v1_entry)
    assert await hass.config_entries.async_remove(v1_entry.entry_id)
    await hass.async_block_till_done()

    v2_entry = await _add_v2(hass, v2_sim)
    over_v2 = _sensors(hass, v2_entry)
    assert any(s["state"] for s in over_v1.values())  # not two empty sets
    if v2_sim.device_type == "p1":
        # v2 reports uptime in /api/system; v1 has no such field.
        assert over_v2.pop(f"{v2_sim.device['serial']}_uptime")["state"] is None  # disabled
    assert over_v2 == over_v1


async def test_states_follow_the_v2_meter(
    hass: HomeAssistant, v2_sim: HomeWizardV2Simulator
) -> None:
    entry = await _add_v2(hass, v2_sim)
    serial = v2_sim.device["serial"]
    for _ in range(3):
        v2_sim.step(5)
        await _poll(hass, entry)
        truth = v2_sim.measurement
        assert float(_state(hass, serial, "power")) == truth["power_w"]
        assert float(_state(hass, serial, "energy_import")) == truth["energy_import_kwh"]
        assert float(_state(hass, serial, "energy_import_t2")) == truth["energy_import_t2_kwh"]
        assert _state(hass, serial, "tariff") == str(truth["tariff"])
    gas = truth["external"][0]
    assert float(_state(hass, "G0039001652050216", "gas")) == gas["value"]


async def test_revoked_token_starts_reauth_and_new_token_reloads(
    hass: HomeAssistant, v2_sim: HomeWizardV2Simulator, clock: FakeClock
) -> None:
    entry = await _add_v2(hass, v2_sim)
    serial = v2_sim.device["serial"]
    old_token = entry.data[CONF_TOKEN]
    clock.advance(60)  # the button window of the setup is long closed

    v2_sim.revoke_tokens()
    await _poll(hass, entry)
    assert _state(hass, serial, "power") == STATE_UNAVAILABLE
    flow = _reauth_flow(hass, entry)
    assert flow["step_id"] == "homewizard_authorize"

    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {})
    assert result["errors"] == {"base": "authorization_failed"}

    v2_sim.press_button()
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()

    assert entry.data[CONF_TOKEN] == v2_sim.tokens[USER]
    assert entry.data[CONF_TOKEN] != old_token
    assert entry.state is ConfigEntryState.LOADED  # reloaded with the new token
    v2_sim.step(5)
    await _poll(hass, entry)
    assert float(_state(hass, serial, "power")) == v2_sim.measurement["power_w"]
    assert not list(entry.async_get_active_flows(hass, {SOURCE_REAUTH}))


async def test_reauth_against_another_device_aborts(
    hass: HomeAssistant, v2_sim: HomeWizardV2Simulator, clock: FakeClock
) -> None:
    entry = await _add_v2(hass, v2_sim)
    token = entry.data[CONF_TOKEN]
    clock.advance(60)
    # Another HomeWizard device now answers at the entry's address; it knows no token of ours.
    port = v2_sim.port
    await v2_sim.stop()
    other = HomeWizardV2Simulator("kwh3", port=port, clock=clock)
    await other.start()
    try:
        await _poll(hass, entry)
        flow = _reauth_flow(hass, entry)
        other.press_button()
        result = await hass.config_entries.flow.async_configure(flow["flow_id"], {})
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "wrong_device"
        assert entry.data[CONF_TOKEN] == token
        assert USER in other.tokens  # the other device did hand out a token
    finally:
        await other.stop()


async def test_reconfigure_keeps_the_token(
    hass: HomeAssistant, v2_sim: HomeWizardV2Simulator
) -> None:
    entry = await _add_v2(hass, v2_sim)
    token = entry.data[CONF_TOKEN]
    # The same device (same tokens) comes back at a new address.
    await v2_sim.stop()
    v2_sim.port = 0
    await v2_sim.start()
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: v2_sim.host}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_HOST] == v2_sim.host
    assert entry.data[CONF_TOKEN] == token
    assert entry.state is ConfigEntryState.LOADED
    serial = v2_sim.device["serial"]
    assert float(_state(hass, serial, "power")) == v2_sim.measurement["power_w"]


@pytest.mark.parametrize("service", [V1_SERVICE, V2_SERVICE])
async def test_zeroconf_v2_device_goes_to_the_button_step(
    hass: HomeAssistant, v2_sim: HomeWizardV2Simulator, service: str
) -> None:
    """A v2 device announces itself as _homewizard (and, with v1 still on, as _hwenergy)."""
    discovery = announcement("127.0.0.1", v2_sim.port, service, v2_sim.device)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=discovery
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "homewizard_authorize"
    flow = hass.config_entries.flow.async_get(result["flow_id"])
    assert flow["context"]["title_placeholders"] == {"name": "P1 meter"}
    v2_sim.press_button()
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_TOKEN] == v2_sim.tokens[USER]
    await hass.async_block_till_done()


async def test_v2_device_added_twice_aborts(
    hass: HomeAssistant, v2_sim: HomeWizardV2Simulator, clock: FakeClock
) -> None:
    """Its serial is known only once it has a token; then the entry takes the new token."""
    entry = await _add_v2(hass, v2_sim)
    clock.advance(60)
    flow_id = await _authorize_step(hass, v2_sim)
    v2_sim.press_button()
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    await hass.async_block_till_done()
    # Asking again under our name replaced the old token on the device.
    assert entry.data[CONF_TOKEN] == v2_sim.tokens[USER]
    assert entry.state is ConfigEntryState.LOADED
    v2_sim.step(5)
    await _poll(hass, entry)
    assert float(_state(hass, v2_sim.device["serial"], "power")) == v2_sim.measurement["power_w"]
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


async def test_known_v2_device_announcing_itself_aborts(
    hass: HomeAssistant, v2_sim: HomeWizardV2Simulator
) -> None:
    entry = await _add_v2(hass, v2_sim)
    data = dict(entry.data)
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_ZEROCONF},
        data=announcement("127.0.0.1", v2_sim.port, V2_SERVICE, v2_sim.device),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data == data


async def test_reconfigure_with_a_refused_token_says_so(
    hass: HomeAssistant, v2_sim: HomeWizardV2Simulator
) -> None:
    entry = await _add_v2(hass, v2_sim)
    v2_sim.revoke_tokens()  # e.g. a factory reset
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: v2_sim.host}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}


async def test_unload_leaves_no_connection(
    hass: HomeAssistant, v2_sim: HomeWizardV2Simulator
) -> None:
    """As over v1: once the shared pool lets go, the twin sees no connection of ours."""
    entry = await _add_v2(hass, v2_sim)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert v2_sim.open_connections > 0  # the shared pool's idle keep-alives
    # Drop the pool as Home Assistant does when it stops: close the shared connector.
    connector = async_get_clientsession(hass).connector
    assert connector is not None
    await connector.close()
    await asyncio.wait_for(v2_sim.wait_for_no_connections(), timeout=30)
    assert v2_sim.open_connections == 0


# Every fault but API_DISABLED: v2 has no local-API switch.
@pytest.mark.parametrize("fault", [Fault.HTTP_500, Fault.INVALID_JSON, Fault.TIMEOUT, Fault.SLOW])
async def test_fault_makes_entities_unavailable_then_recovers(
    hass: HomeAssistant,
    v2_sim: HomeWizardV2Simulator,
    homewizard_timeout: float,
    fault: Fault,
    caplog: pytest.LogCaptureFixture,
) -> None:
    v2_sim.slow_seconds = 4 * homewizard_timeout
    entry = await _add_v2(hass, v2_sim)
    serial = v2_sim.device["serial"]
    v2_sim.fault = fault
    caplog.clear()
    for _ in range(3):
        await _poll(hass, entry)
    assert _state(hass, serial, "power") == STATE_UNAVAILABLE
    assert not list(entry.async_get_active_flows(hass, {SOURCE_REAUTH}))  # not an auth problem
    errors = [r for r in caplog.records if r.levelname == "ERROR" and "wattkeeper" in r.name]
    assert len(errors) == 1, [r.getMessage() for r in errors]  # logged once, not per poll

    v2_sim.fault = Fault.NONE
    v2_sim.step(5)
    await _poll(hass, entry)
    assert float(_state(hass, serial, "power")) == v2_sim.measurement["power_w"]
    assert any("recovered" in r.getMessage() for r in caplog.records)


async def test_stop_releases_a_held_request(v2_sim: HomeWizardV2Simulator) -> None:
    """A request held by the timeout fault ends when the twin stops; shutdown never waits."""
    v2_sim.fault = Fault.TIMEOUT
    async with aiohttp.ClientSession() as session:
        request = asyncio.create_task(session.get(f"https://{v2_sim.host}/api", ssl=False))
        await asyncio.wait_for(v2_sim.wait_for_requests(1), timeout=30)
        await asyncio.wait_for(v2_sim.stop(), timeout=30)
        response = await asyncio.wait_for(request, timeout=30)
        assert response.status == 503
        response.release()


def test_api_v2_has_no_disable_switch() -> None:
    sim = HomeWizardV2Simulator("p1")
    with pytest.raises(ValueError, match="cannot be disabled"):
        sim.fault = Fault.API_DISABLED


async def test_library_token_lifecycle(v2_sim: HomeWizardV2Simulator) -> None:
    """The twin's user and system endpoints as python-homewizard-energy uses them."""
    async with aiohttp.ClientSession() as session:
        client = HomeWizardEnergyV2(v2_sim.host, clientsession=session)
        with pytest.raises(DisabledError):
            await client.get_token("tester")
        v2_sim.press_button()
        with pytest.raises(InvalidUserNameError):
            await client.get_token("x" * 41)
        token = await client.get_token("tester")
        assert v2_sim.tokens == {"local/tester": token}

        system = await client.system(status_led_brightness_pct=40, cloud_enabled=True)
        assert system.status_led_brightness_pct == 40
        assert system.wifi_strength_pct == 92  # from the dBm the twin reports
        assert v2_sim.system["cloud_enabled"] is True

        await client.delete_token()
        assert v2_sim.tokens == {}
        with pytest.raises(UnauthorizedError):
            await HomeWizardEnergyV2(v2_sim.host, token=token, clientsession=session).device()
