"""Fluksometer config flow: broker, discovery, roles, errors, reauth, reconfigure, options."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from amqtt.broker import Broker
from homeassistant.config_entries import SOURCE_REAUTH, SOURCE_RECONFIGURE, ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.wattkeeper import flukso_entry
from custom_components.wattkeeper.const import CONF_KIND, DOMAIN
from custom_components.wattkeeper.flukso_entry import CONF_ROLES, CONF_TMPO_URL
from custom_components.wattkeeper.meters.flukso_tmpo import DEFAULT_BASE_URL
from simulators.flukso import FluksoSimulator

from .flukso_helpers import (
    add_flukso,
    parts,
    pumping,
    quick_meters,  # noqa: F401  (autouse)
    role_input,
    start_flukso_flow,
    state_of,
    steady_amqtt,  # noqa: F401  (autouse)
    tick,
)


@pytest.fixture
async def locked() -> AsyncIterator[FluksoSimulator]:
    """A Fluksometer whose broker asks for a login."""
    sim = FluksoSimulator("FLM02", counter_every=2, username="flukso", password="s3cret")
    await sim.start(autorun=False)
    yield sim
    await sim.stop()


@pytest.fixture
async def bare_broker() -> AsyncIterator[int]:
    """An MQTT broker with no Fluksometer behind it; yields its port."""
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": "127.0.0.1:0"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {}},
        }
    )
    await broker.start()
    yield broker._servers["default"].instance.sockets[0].getsockname()[1]
    await broker.shutdown()


async def test_user_flow_shows_the_discovery_and_stores_the_roles(
    hass: HomeAssistant, flm02: FluksoSimulator
) -> None:
    flow_id = await start_flukso_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: flm02.host, CONF_PORT: flm02.port}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "flukso_sensors"
    placeholders = result["description_placeholders"]
    assert placeholders["model"] == "FLM02"
    assert placeholders["device"] == flm02.device_id
    assert placeholders["sensors"].splitlines() == [
        "- Consumption (electricity, port 1)",
        "- Solar (electricity, port 2)",
        "- Heat pump (electricity, port 3, disabled)",
        "- Water (water, port 4)",
        "- Gas (gas, port 5)",
    ]
    # Only the enabled clamps can get a role.
    picker = result["data_schema"].schema["consumption"]
    assert [option["value"] for option in picker.config["options"]] == [
        flm02.sensor(port=1).id,
        flm02.sensor(port=2).id,
    ]

    async with pumping(flm02):
        result = await hass.config_entries.flow.async_configure(
            flow_id, role_input(flm02.expected_roles())
        )
        await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.unique_id == flm02.device_id
    assert entry.data == {CONF_KIND: "flukso", CONF_HOST: flm02.host, CONF_PORT: flm02.port}
    assert entry.options == {CONF_ROLES: flm02.expected_roles()}
    assert entry.state is ConfigEntryState.LOADED


async def test_a_sensor_cannot_have_two_roles(hass: HomeAssistant, flm02: FluksoSimulator) -> None:
    flow_id = await start_flukso_flow(hass)
    await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: flm02.host, CONF_PORT: flm02.port}
    )
    clamp = flm02.sensor(port=1).id
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"consumption": [clamp], "grid": [clamp]}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "sensor_in_two_roles"}


async def test_unreachable_broker(hass: HomeAssistant, flm02: FluksoSimulator) -> None:
    port = flm02.port
    await flm02.stop()
    flow_id = await start_flukso_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: "127.0.0.1", CONF_PORT: port}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}


async def test_bad_credentials_then_good_ones(hass: HomeAssistant, locked: FluksoSimulator) -> None:
    flow_id = await start_flukso_flow(hass)
    broker = {CONF_HOST: locked.host, CONF_PORT: locked.port, CONF_USERNAME: "flukso"}
    for password in (None, "guess"):
        attempt = broker if password is None else {**broker, CONF_PASSWORD: password}
        result = await hass.config_entries.flow.async_configure(flow_id, attempt)
        assert result["errors"] == {"base": "bad_credentials"}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**broker, CONF_PASSWORD: "s3cret"}
    )
    assert result["step_id"] == "flukso_sensors"
    async with pumping(locked):
        result = await hass.config_entries.flow.async_configure(flow_id, {})
        await hass.async_block_till_done()
    assert result["result"].data[CONF_PASSWORD] == "s3cret"
    assert result["result"].state is ConfigEntryState.LOADED


async def test_no_configuration_topics_within_the_wait(
    hass: HomeAssistant, bare_broker: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(flukso_entry, "DISCOVERY_TIMEOUT", 0.3)
    flow_id = await start_flukso_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: "127.0.0.1", CONF_PORT: bare_broker}
    )
    assert result["errors"] == {"base": "no_fluksometer"}


async def test_same_fluksometer_twice_aborts(hass: HomeAssistant, flm02: FluksoSimulator) -> None:
    await add_flukso(hass, flm02)
    flow_id = await start_flukso_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: flm02.host, CONF_PORT: flm02.port}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_two_fluksometers_are_two_entries(
    hass: HomeAssistant, flm02: FluksoSimulator, flm03: FluksoSimulator
) -> None:
    first = await add_flukso(hass, flm02)
    second = await add_flukso(hass, flm03)
    assert {first.unique_id, second.unique_id} == {flm02.device_id, flm03.device_id}
    assert first.state is second.state is ConfigEntryState.LOADED
    # Both stream at once, each from its own broker.
    await tick(hass, flm02, first)
    await tick(hass, flm03, second)
    assert parts(first)[1].data.identity.serial == flm02.device_id
    assert parts(second)[1].data.identity.serial == flm03.device_id


async def test_reconfigure_moves_the_entry(hass: HomeAssistant, flm02: FluksoSimulator) -> None:
    entry = await add_flukso(hass, flm02)
    # The same Fluksometer (same seed, same device id) behind another port.
    moved = FluksoSimulator("FLM02", counter_every=2)
    await moved.start(autorun=False)
    try:
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
        )
        assert result["step_id"] == "flukso_reconfigure"
        async with pumping(moved):
            result = await hass.config_entries.flow.async_configure(
                result["flow_id"], {CONF_HOST: moved.host, CONF_PORT: moved.port}
            )
            await hass.async_block_till_done()
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "reconfigure_successful"
        assert entry.data[CONF_PORT] == moved.port
        assert entry.state is ConfigEntryState.LOADED
        assert parts(entry)[0].port == moved.port
    finally:
        await moved.stop()


async def test_reconfigure_to_another_fluksometer_aborts(
    hass: HomeAssistant, flm02: FluksoSimulator
) -> None:
    entry = await add_flukso(hass, flm02)
    other = FluksoSimulator("FLM02", seed=7)
    await other.start(autorun=False)
    try:
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: other.host, CONF_PORT: 1}
        )
        assert result["errors"] == {"base": "cannot_connect"}
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: other.host, CONF_PORT: other.port}
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "wrong_device"
        assert entry.data[CONF_PORT] == flm02.port
    finally:
        await other.stop()


async def test_reauth_takes_the_new_password(hass: HomeAssistant, locked: FluksoSimulator) -> None:
    entry = await add_flukso(hass, locked, username="flukso", password="s3cret")
    locked.password = "n3w"
    await locked.restart_broker()
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_REAUTH, "entry_id": entry.entry_id},
        data=dict(entry.data),
    )
    assert result["step_id"] == "flukso_reauth_confirm"
    assert result["description_placeholders"]["host"] == locked.host
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_USERNAME: "flukso", CONF_PASSWORD: "s3cret"}
    )
    assert result["errors"] == {"base": "bad_credentials"}
    async with pumping(locked):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_USERNAME: "flukso", CONF_PASSWORD: "n3w"}
        )
        await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "credentials_updated"
    assert entry.data[CONF_PASSWORD] == "n3w"
    assert entry.state is ConfigEntryState.LOADED


async def test_options_change_roles_and_skip_the_backfill(
    hass: HomeAssistant, flm02: FluksoSimulator
) -> None:
    entry = await add_flukso(hass, flm02, roles={})
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "flukso_options"
    assert result["description_placeholders"]["device"] == flm02.device_id
    clamp = flm02.sensor(port=1).id
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"consumption": [clamp], "production": [clamp]}
    )
    assert result["errors"] == {"base": "sensor_in_two_roles"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], role_input(flm02.expected_roles())
    )
    assert result["step_id"] == "flukso_backfill"
    # Token fields are named after the sensors with a counter history, as the user named them.
    assert set(result["data_schema"].schema) == {
        CONF_TMPO_URL,
        *(s.function for s in flm02.sensors if s.enabled),
    }
    async with pumping(flm02):
        result = await hass.config_entries.options.async_configure(result["flow_id"], {})
        await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        CONF_ROLES: flm02.expected_roles(),
        CONF_TMPO_URL: DEFAULT_BASE_URL,
    }
    # The reloaded driver applies the new roles.
    assert entry.state is ConfigEntryState.LOADED
    assert set(parts(entry)[0].roles) == set(flm02.expected_roles())


async def test_options_of_an_unreachable_fluksometer_abort(
    hass: HomeAssistant, flm02: FluksoSimulator
) -> None:
    entry = await add_flukso(hass, flm02)
    await hass.config_entries.async_unload(entry.entry_id)
    await flm02.stop()
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "cannot_connect"


async def test_reconfigure_keeps_the_password_it_does_not_show(
    hass: HomeAssistant, locked: FluksoSimulator
) -> None:
    entry = await add_flukso(hass, locked, username="flukso", password="s3cret")
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    # The form offers host, port and username, never the password.
    broker = {CONF_HOST: locked.host, CONF_PORT: locked.port, CONF_USERNAME: "flukso"}
    async with pumping(locked):
        result = await hass.config_entries.flow.async_configure(result["flow_id"], broker)
        await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_PASSWORD] == "s3cret"
    assert entry.state is ConfigEntryState.LOADED


async def test_the_sensors_form_proposes_roles_from_the_function_names(
    hass: HomeAssistant, any_model: FluksoSimulator
) -> None:
    sim = any_model
    flow_id = await start_flukso_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: sim.host, CONF_PORT: sim.port}
    )
    defaults = {marker.schema: marker.default() for marker in result["data_schema"].schema}
    # The wiring's roles, read from names like "Consumption" or "Réseau L1"; no sign is guessed.
    proposed = {sensor_id: {**role, "sign": 1} for sensor_id, role in sim.expected_roles().items()}
    assert defaults == role_input(proposed)

    # Submitted untouched, as the demo does.
    async with pumping(sim):
        result = await hass.config_entries.flow.async_configure(flow_id, {})
        await hass.async_block_till_done()
    entry = result["result"]
    assert entry.options == {CONF_ROLES: proposed}
    await tick(hass, sim, entry)
    production = float(state_of(hass, sim.device_id, "power_production"))
    if sim.model == "FLM02":
        # Its clamps measure no direction: the proposal is all the totals need.
        consumption = float(state_of(hass, sim.device_id, "power_consumption"))
        assert (consumption, production) == (sim.truth.consumption_w, sim.truth.production_w)
    else:
        # The FLM03's PV clamp is mounted the wrong way round: the user flips it (or the
        # data-quality repair does) once production reads negative.
        assert production == -sim.truth.production_w
