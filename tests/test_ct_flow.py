"""CT clamp config and options flows: every step and error, on the MCP3208 twin and on
the real spidev path of a host without working SPI."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import voluptuous as vol
from homeassistant.config_entries import ConfigEntryState, ConfigFlowResult
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.wattkeeper.const import CONF_KIND, CONF_SCAN_INTERVAL, DOMAIN
from custom_components.wattkeeper.ct_settings import (
    CONF_CALIBRATION,
    CONF_CHANNELS,
    CONF_CLAMP_VOLTAGE,
    CONF_DEVICE_ID,
    CONF_DIVIDER_RATIO,
    CONF_MAINS_HZ,
    CONF_NOISE_FLOOR_A,
    CONF_NOISE_FLOOR_W,
    CONF_NOMINAL_VOLTAGE,
    CONF_PHASE_OFFSET_DEG,
    CONF_SECONDARY_A,
    CONF_SPI_BUS,
    CONF_SPI_DEVICE,
    CONF_SPI_HZ,
    CONF_TRANSFORMER_RATIO,
    CONF_VOLTAGE_CHANNEL,
    CONF_VOLTAGE_ENTITY,
    CONF_VREF,
)
from custom_components.wattkeeper.meters.ct_config import default_device_id
from custom_components.wattkeeper.meters.model import Quantity
from simulators.mcp3208 import Fault

from .ct_twin import (
    FakeRequirements,
    TwinBus,
    break_spi,
    current,
    fake_requirements,
    installed_twin,
    mock_entry,
    options,
    value,
    voltage,
)

STRINGS = json.loads(
    (
        Path(__file__).resolve().parent.parent / "custom_components/wattkeeper/strings.json"
    ).read_text(encoding="utf-8")
)
LINK = {CONF_SPI_BUS: 0, CONF_SPI_DEVICE: 0, CONF_SPI_HZ: 1_000_000, CONF_MAINS_HZ: "50"}
UNUSED = {f"channel_{n}": "unused" for n in range(8)}
CLAMP = {"rating_a": 100.0, "burden_ohm": 22.0, "calibration": 1.0, "invert": False}


@pytest.fixture(autouse=True)
def requirements(monkeypatch: pytest.MonkeyPatch) -> FakeRequirements:
    return fake_requirements(monkeypatch)


@pytest.fixture
def twin(tmp_path: Path) -> Iterator[TwinBus]:
    with installed_twin(tmp_path) as bus:
        yield bus


def _roles(**roles: str) -> dict[str, str]:
    return {**UNUSED, **{f"channel_{name[2:]}": role for name, role in roles.items()}}


async def _link_step(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": "user"})
    assert result["type"] is FlowResultType.MENU
    assert "ct_clamp" in result["menu_options"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "ct_clamp"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "ct_clamp"
    return str(result["flow_id"])


async def _configure(hass: HomeAssistant, flow_id: str, answer: dict[str, Any]) -> ConfigFlowResult:
    result = await hass.config_entries.flow.async_configure(flow_id, answer)
    if result["type"] is FlowResultType.FORM and result["errors"]:
        for error in result["errors"].values():
            assert f"config.error.{error}" in _flat(STRINGS), error
    return result


def _schema(result: ConfigFlowResult) -> vol.Schema:
    schema = result["data_schema"]
    assert schema is not None
    return schema


def _channel(result: ConfigFlowResult) -> str:
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    return placeholders["channel"]


def _flat(tree: dict[str, Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for key, item in tree.items():
        keys |= _flat(item, f"{prefix}{key}.") if isinstance(item, dict) else {prefix + key}
    return keys


async def _through_channels(hass: HomeAssistant, flow_id: str) -> ConfigFlowResult:
    """Mains on CH0, a house clamp on CH1 paired with it, a clamp-only CH3."""
    result = await _configure(hass, flow_id, LINK)
    assert result["step_id"] == "ct_clamp_channels"
    result = await _configure(hass, flow_id, _roles(ch0="voltage", ch1="current", ch3="current"))
    assert result["step_id"] == "ct_clamp_voltage"
    assert result["description_placeholders"] == {"channel": "0"}
    result = await _configure(hass, flow_id, {"transformer_ratio": 25.56, "calibration": 1.0})
    assert result["step_id"] == "ct_clamp_current"
    assert result["description_placeholders"] == {"channel": "1"}
    result = await _configure(hass, flow_id, {**CLAMP, CONF_VOLTAGE_CHANNEL: "0"})
    assert result["step_id"] == "ct_clamp_current"
    assert result["description_placeholders"] == {"channel": "3"}
    result = await _configure(hass, flow_id, {**CLAMP, CONF_VOLTAGE_CHANNEL: "none"})
    assert result["step_id"] == "ct_clamp_readings"
    return result


async def test_user_flow_creates_a_working_entry(hass: HomeAssistant, twin: TwinBus) -> None:
    hass.states.async_set("sensor.grid_voltage", "240", {"unit_of_measurement": "V"})
    flow_id = await _link_step(hass)
    result = await _through_channels(hass, flow_id)
    # Clamp-only CH3 makes the flow ask where its voltage comes from.
    assert CONF_CLAMP_VOLTAGE in _schema(result).schema
    result = await _configure(
        hass,
        flow_id,
        {
            CONF_CLAMP_VOLTAGE: "external",
            CONF_NOMINAL_VOLTAGE: 230.0,
            CONF_VOLTAGE_ENTITY: "sensor.grid_voltage",
            CONF_NOISE_FLOOR_W: 2.0,
            CONF_NOISE_FLOOR_A: 0.05,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    device_id = default_device_id(0, 0)
    assert result["title"] == "CT clamps spi0.0"
    assert result["data"] == {
        CONF_KIND: "ct_clamp",
        CONF_DEVICE_ID: device_id,
        CONF_SPI_BUS: 0,
        CONF_SPI_DEVICE: 0,
        CONF_SPI_HZ: 1_000_000,
        CONF_MAINS_HZ: 50,
    }
    assert result["options"] == {
        CONF_VREF: 3.3,
        CONF_CHANNELS: {"0": voltage(), "1": current(0), "3": current(None)},
        CONF_CLAMP_VOLTAGE: "external",
        CONF_NOMINAL_VOLTAGE: 230.0,
        CONF_VOLTAGE_ENTITY: "sensor.grid_voltage",
        CONF_NOISE_FLOOR_W: 2.0,
        CONF_NOISE_FLOOR_A: 0.05,
        CONF_SCAN_INTERVAL: 1,
    }
    entry = result["result"]
    assert entry.unique_id == device_id
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.coordinator.update_interval.total_seconds() == 1
    assert twin.opened[0] == (0, 0)
    # The stored settings are the driver's: values match the twin's truth.
    assert value(hass, Quantity.VOLTAGE, 0, device_id) == pytest.approx(230.0, rel=0.005)
    assert value(hass, Quantity.POWER, 3, device_id) == pytest.approx(240.0 * 7.0, rel=0.005)


@pytest.mark.parametrize("reason", ["not_a_pi", "spi_disabled", "spi_permission"])
async def test_spi_errors_then_recovery(
    hass: HomeAssistant,
    twin: TwinBus,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    reason: str,
) -> None:
    """The real spidev path fails as it does on such a host; fixed, the flow goes on."""
    break_spi(monkeypatch, tmp_path, reason)
    twin.broken = True
    flow_id = await _link_step(hass)
    result = await _configure(hass, flow_id, LINK)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "ct_clamp"
    assert result["errors"] == {"base": reason}

    twin.broken = False
    result = await _configure(hass, flow_id, LINK)
    assert result["step_id"] == "ct_clamp_channels"


async def test_default_spi_path_uses_spidev(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch, requirements: FakeRequirements
) -> None:
    """With no factory installed the flow asks for spidev and opens the bus through it;
    here spidev cannot be imported, whether or not this host has it."""
    monkeypatch.setitem(sys.modules, "spidev", None)  # import spidev → ImportError
    flow_id = await _link_step(hass)
    result = await _configure(hass, flow_id, LINK)
    assert result["errors"] == {"base": "not_a_pi"}
    assert requirements.asked == [("wattkeeper.spidev", ["spidev>=3.6,<4"])]


async def test_spidev_cannot_be_installed(
    hass: HomeAssistant, twin: TwinBus, requirements: FakeRequirements
) -> None:
    """pip fails (no compiler, no network): the bus is not even tried, and the form says
    SPI is not available; once spidev installs the flow goes on."""
    requirements.fail = True
    flow_id = await _link_step(hass)
    result = await _configure(hass, flow_id, LINK)
    assert result["step_id"] == "ct_clamp"
    assert result["errors"] == {"base": "not_a_pi"}
    assert twin.opened == []

    requirements.fail = False
    result = await _configure(hass, flow_id, LINK)
    assert result["step_id"] == "ct_clamp_channels"
    assert twin.opened == [(0, 0)]


async def test_no_chip_answers(hass: HomeAssistant, twin: TwinBus) -> None:
    flow_id = await _link_step(hass)
    await _through_channels(hass, flow_id)
    readings = {
        CONF_CLAMP_VOLTAGE: "nominal",
        CONF_NOMINAL_VOLTAGE: 230.0,
        CONF_NOISE_FLOOR_W: 2.0,
        CONF_NOISE_FLOOR_A: 0.05,
    }
    twin.sim.fault = Fault.NO_CHIP
    result = await _configure(hass, flow_id, readings)
    assert result["errors"] == {"base": "no_chip"}
    assert twin.sim.opened is None  # the probe let the bus go

    twin.sim.fault = Fault.NONE
    result = await _configure(hass, flow_id, readings)
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_form_errors(hass: HomeAssistant, twin: TwinBus) -> None:
    flow_id = await _link_step(hass)
    result = await _configure(hass, flow_id, LINK)
    result = await _configure(hass, flow_id, UNUSED)
    assert result["errors"] == {"base": "no_channels"}
    result = await _configure(hass, flow_id, _roles(ch5="current"))
    # No voltage input at all: the clamp can only be clamp-only.
    assert result["step_id"] == "ct_clamp_current"
    assert _schema(result)({**CLAMP, CONF_VOLTAGE_CHANNEL: "none"})
    result = await _configure(hass, flow_id, {**CLAMP, CONF_VOLTAGE_CHANNEL: "none"})
    result = await _configure(
        hass,
        flow_id,
        {
            CONF_CLAMP_VOLTAGE: "external",
            CONF_NOMINAL_VOLTAGE: 230.0,
            CONF_NOISE_FLOOR_W: 2.0,
            CONF_NOISE_FLOOR_A: 0.05,
        },
    )
    assert result["errors"] == {"base": "voltage_entity_required"}


async def test_paired_only_setup_skips_clamp_voltage(hass: HomeAssistant, twin: TwinBus) -> None:
    flow_id = await _link_step(hass)
    await _configure(hass, flow_id, LINK)
    await _configure(hass, flow_id, _roles(ch0="voltage", ch1="current"))
    await _configure(hass, flow_id, {"transformer_ratio": 25.56, "calibration": 1.0})
    result = await _configure(hass, flow_id, {**CLAMP, CONF_VOLTAGE_CHANNEL: "0"})
    assert result["step_id"] == "ct_clamp_readings"
    assert CONF_CLAMP_VOLTAGE not in _schema(result).schema
    result = await _configure(hass, flow_id, {CONF_NOISE_FLOOR_W: 1.0, CONF_NOISE_FLOOR_A: 0.02})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"][CONF_CLAMP_VOLTAGE] == "nominal"
    assert CONF_VOLTAGE_ENTITY not in result["options"]


async def test_same_board_twice_aborts(hass: HomeAssistant, twin: TwinBus) -> None:
    entry = mock_entry()
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, unique_id=default_device_id(0, 0))
    flow_id = await _link_step(hass)
    result = await _configure(hass, flow_id, LINK)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_options_change_channels_and_interval(hass: HomeAssistant, twin: TwinBus) -> None:
    entry = mock_entry()
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "ct_clamp_options"
    roles = _schema(result)({})
    assert roles == {
        CONF_VREF: 3.3,
        **_roles(ch0="voltage", ch1="current", ch2="current", ch3="current"),
    }
    # Drop the clamp-only CH3, add CH4.
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], _roles(ch0="voltage", ch1="current", ch2="current", ch4="current")
    )
    steps = []
    while result["step_id"] != "ct_clamp_options_readings":
        steps.append((result["step_id"], _channel(result)))
        # The defaults are what is stored (or, for the new CH4, paired with CH0).
        answer = _schema(result)({})
        if _channel(result) == "1":
            answer[CONF_CALIBRATION] = 1.02
        result = await hass.config_entries.options.async_configure(result["flow_id"], answer)
    assert steps == [
        ("ct_clamp_options_voltage", "0"),
        ("ct_clamp_options_current", "1"),
        ("ct_clamp_options_current", "2"),
        ("ct_clamp_options_current", "4"),
    ]
    assert CONF_CLAMP_VOLTAGE not in _schema(result).schema
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_NOISE_FLOOR_W: 2.0, CONF_NOISE_FLOOR_A: 0.05, CONF_SCAN_INTERVAL: 5},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()

    channels = entry.options[CONF_CHANNELS]
    assert sorted(channels) == ["0", "1", "2", "4"]
    assert channels["1"][CONF_CALIBRATION] == 1.02
    assert channels["4"] == current(0)
    assert entry.options[CONF_SCAN_INTERVAL] == 5
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.coordinator.update_interval.total_seconds() == 5
    assert value(hass, Quantity.POWER, 4) == pytest.approx(230.0 * 3.0, rel=0.005)
    assert value(hass, Quantity.CURRENT, 1) == pytest.approx(twin.sim.true_rms(1) * 1.02, rel=0.005)


async def _options_through(
    hass: HomeAssistant, entry_id: str, answers: dict[str, dict[str, Any]]
) -> ConfigFlowResult:
    """The options flow with the stored roles, each input's form answered with its
    defaults overridden by `answers` (by channel), up to the readings form."""
    result = await hass.config_entries.options.async_init(entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**_schema(result)({}), **answers.get("roles", {})}
    )
    while result["step_id"] != "ct_clamp_options_readings":
        answer = {**_schema(result)({}), **answers.get(_channel(result), {})}
        result = await hass.config_entries.options.async_configure(result["flow_id"], answer)
    return result


async def test_board_and_front_end_settings_take_effect(hass: HomeAssistant, twin: TwinBus) -> None:
    """The reference voltage, a divider and a clamp secondary that differ from the
    defaults: every reading scales as the hardware says."""
    entry = mock_entry()
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    result = await _options_through(
        hass,
        entry.entry_id,
        {
            "roles": {CONF_VREF: 3.3},
            # The board's divider is really 22 : 1 (the twin is wired for 11): reads double.
            "0": {CONF_DIVIDER_RATIO: 22.0},
            # A 100 A : 25 mA clamp where a 50 mA one was assumed: twice the turns.
            "1": {CONF_SECONDARY_A: 0.025, CONF_PHASE_OFFSET_DEG: 1.5},
        },
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], _schema(result)({})
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    channels = entry.options[CONF_CHANNELS]
    assert channels["0"][CONF_DIVIDER_RATIO] == 22.0
    assert channels["1"][CONF_SECONDARY_A] == 0.025
    assert channels["1"][CONF_PHASE_OFFSET_DEG] == 1.5
    assert value(hass, Quantity.VOLTAGE, 0) == pytest.approx(2 * 230.0, rel=0.005)
    assert value(hass, Quantity.CURRENT, 1) == pytest.approx(2 * twin.sim.true_rms(1), rel=0.005)
    # Everything else is unchanged.
    assert value(hass, Quantity.CURRENT, 2) == pytest.approx(6.0, rel=0.005)

    # A 5 V reference where 3.3 V was assumed: every input reads 5 / 3.3 as much.
    result = await _options_through(hass, entry.entry_id, {"roles": {CONF_VREF: 5.0}})
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], _schema(result)({})
    )
    await hass.async_block_till_done()
    assert entry.options[CONF_VREF] == 5.0
    assert value(hass, Quantity.CURRENT, 2) == pytest.approx(6.0 * 5.0 / 3.3, rel=0.005)


async def test_entry_from_before_the_front_end_settings(hass: HomeAssistant, twin: TwinBus) -> None:
    """Options stored before the reference voltage, secondary, phase and divider
    were asked: the entry reads as before and the options flow offers the defaults."""
    stored = options()
    del stored[CONF_VREF]
    for spec in stored[CONF_CHANNELS].values():
        for key in (CONF_SECONDARY_A, CONF_PHASE_OFFSET_DEG, CONF_DIVIDER_RATIO):
            spec.pop(key, None)
    entry = mock_entry()
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, options=stored)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert value(hass, Quantity.VOLTAGE, 0) == pytest.approx(230.0, rel=0.005)
    assert value(hass, Quantity.CURRENT, 1) == pytest.approx(twin.sim.true_rms(1), rel=0.005)

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert _schema(result)({})[CONF_VREF] == 3.3
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], _schema(result)({})
    )
    defaults: dict[str, dict[str, Any]] = {}
    while result["step_id"] != "ct_clamp_options_readings":
        defaults[_channel(result)] = answer = _schema(result)({})
        result = await hass.config_entries.options.async_configure(result["flow_id"], answer)
    assert defaults["0"][CONF_DIVIDER_RATIO] == 11.0
    assert defaults["0"][CONF_TRANSFORMER_RATIO] == 25.56
    assert defaults["1"][CONF_SECONDARY_A] == 0.05
    assert defaults["1"][CONF_PHASE_OFFSET_DEG] == 0.0
