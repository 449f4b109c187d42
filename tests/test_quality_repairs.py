"""The fix flows of data-quality repair issues: accept a counter's new value,
and flip the sign of Fluksometer sensors (the entry's role options)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import async_capture_events

from custom_components.wattkeeper import flukso_entry, sign_fix
from custom_components.wattkeeper.const import DOMAIN
from custom_components.wattkeeper.meters.model import MeterKind, Quantity, QuantityKey
from custom_components.wattkeeper.quality_glue import EVENT_DATA_QUALITY

from .quality_support import CRAFTED, CraftedMeter, Feeder, add_crafted_entry, entity_id

IMPORT = QuantityKey(Quantity.ENERGY_IMPORT)
CONSUMPTION = QuantityKey(Quantity.POWER_CONSUMPTION)
PRODUCTION = QuantityKey(Quantity.POWER_PRODUCTION)
ROLES = {
    "roles": {
        "A1B2": {"role": "consumption", "sign": 1},
        "c3d4": {"role": "production", "sign": -1},
        "e5f6": {"role": "grid", "sign": 1},
    }
}


async def _start_fix(hass: HomeAssistant, issue_id: str) -> tuple[str, dict[str, object]]:
    assert await async_setup_component(hass, "repairs", {})
    manager = hass.data["repairs"]["flow_manager"]
    result = await manager.async_init(DOMAIN, data={"issue_id": issue_id})
    return result["flow_id"], result


async def _finish_fix(
    hass: HomeAssistant, flow_id: str, user_input: dict[str, object]
) -> dict[str, object]:
    result: dict[str, object] = await hass.data["repairs"]["flow_manager"].async_configure(
        flow_id, user_input
    )
    await hass.async_block_till_done()
    return result


async def test_accept_a_counter_that_went_backwards(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    meter = CraftedMeter(CRAFTED, {IMPORT: 1000.0})
    entry = await add_crafted_entry(hass, monkeypatch, meter)
    feed = Feeder(hass, freezer, meter)
    events = async_capture_events(hass, EVENT_DATA_QUALITY)
    sensor = entity_id(hass, f"{CRAFTED.serial}_data_quality", "binary_sensor")
    await feed.run(lambda i: {IMPORT: 1000.0 + 0.01 * i}, timedelta(minutes=2))
    # Down to 400 kWh: too far from zero to be a meter swap.
    await feed.run(lambda i: {IMPORT: 400.0 + 0.01 * i}, timedelta(minutes=61))
    assert hass.states.get(sensor).state == STATE_ON
    issue_id = f"data_quality_{entry.entry_id}_{CRAFTED.serial}_counter_backwards:energy_import"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.is_fixable
    assert issue.translation_key == "data_quality_counter_backwards"
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["previous"] == "1000.03"

    flow_id, result = await _start_fix(hass, issue_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "confirm"
    assert result["description_placeholders"] == issue.translation_placeholders
    result = await _finish_fix(hass, flow_id, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert hass.states.get(sensor).state == STATE_OFF
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    assert [e.data["transition"] for e in events if e.data["check"] == "counter_backwards"] == [
        "started",
        "persistent",
        "cleared",
    ]
    # The new value is the baseline now: growing from it is fine.
    await feed.run(lambda i: {IMPORT: 400.0 + 0.01 * i}, timedelta(minutes=5))
    assert hass.states.get(sensor).state == STATE_OFF


async def test_flip_the_sign_of_a_fluksometer_sensor(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    meter = CraftedMeter(CRAFTED, {CONSUMPTION: 300.0})
    entry = await add_crafted_entry(hass, monkeypatch, meter, kind=MeterKind.FLUKSO, options=ROLES)
    feed = Feeder(hass, freezer, meter)
    await feed.run(lambda i: {CONSUMPTION: -300.0 - i % 3}, timedelta(minutes=61))
    issue_id = f"data_quality_{entry.entry_id}_{CRAFTED.serial}_impossible_sign:power_consumption"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.is_fixable
    assert issue.translation_key == "data_quality_flip_sign"
    assert issue.data is not None
    assert issue.data["sensors"] == "a1b2"

    flow_id, result = await _start_fix(hass, issue_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "confirm"
    result = await _finish_fix(hass, flow_id, {"sensors": ["a1b2"]})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    # The sign is reversed in the options the driver reads, the rest untouched,
    # and the entry reloaded with them.
    assert entry.options["roles"] == {
        "A1B2": {"role": "consumption", "sign": -1},
        "c3d4": {"role": "production", "sign": -1},
        "e5f6": {"role": "grid", "sign": 1},
    }
    assert meter.streams == 2
    assert entry.state is ConfigEntryState.LOADED
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_production_sign_offers_the_production_sensors(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    meter = CraftedMeter(CRAFTED, {PRODUCTION: 300.0})
    entry = await add_crafted_entry(hass, monkeypatch, meter, kind=MeterKind.FLUKSO, options=ROLES)
    feed = Feeder(hass, freezer, meter)
    await feed.run(lambda i: {PRODUCTION: -900.0 - i % 3}, timedelta(minutes=61))
    issue_id = f"data_quality_{entry.entry_id}_{CRAFTED.serial}_impossible_sign:power_production"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.data is not None
    assert issue.data["sensors"] == "c3d4"
    flow_id, _ = await _start_fix(hass, issue_id)
    await _finish_fix(hass, flow_id, {"sensors": ["c3d4"]})
    assert entry.options["roles"]["c3d4"] == {"role": "production", "sign": 1}


async def test_issues_go_away_with_the_entry(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    meter = CraftedMeter(CRAFTED, {IMPORT: 1000.0})
    entry = await add_crafted_entry(hass, monkeypatch, meter)
    feed = Feeder(hass, freezer, meter)
    await feed.run(lambda i: {IMPORT: 1000.0 + 0.01 * i}, timedelta(minutes=1))
    await feed.run(lambda i: {IMPORT: 400.0}, timedelta(minutes=61))
    registry = ir.async_get(hass)
    assert [i for (domain, i) in registry.issues if domain == DOMAIN]
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert [i for (domain, i) in registry.issues if domain == DOMAIN] == []


def test_the_roles_option_is_the_fluksometer_entrys() -> None:
    assert sign_fix.CONF_ROLES == flukso_entry.CONF_ROLES


def test_flipping_a_sensor_without_an_entry_of_its_own() -> None:
    options = {"roles": {"a1": {"role": "grid", "sign": 1}}, "tmpo_url": "x"}
    assert sign_fix.flipped_options(options, ["B2"]) == {
        "roles": {"a1": {"role": "grid", "sign": 1}, "B2": {"role": None, "sign": -1}},
        "tmpo_url": "x",
    }
