"""HomeWizard end to end: config flow → entities → states, over real HTTP."""

from __future__ import annotations

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er

from simulators.homewizard import HomeWizardSimulator

from .helpers import add_homewizard


@pytest.mark.parametrize("homewizard_sim", ["p1"], indirect=True)
async def test_p1_entities_show_the_meter(
    hass: HomeAssistant, homewizard_sim: HomeWizardSimulator
) -> None:
    entry = await add_homewizard(hass, homewizard_sim)
    assert entry.state is ConfigEntryState.LOADED
    registry = er.async_get(hass)
    serial = homewizard_sim.device["serial"]
    entity_id = registry.async_get_entity_id("sensor", "wattkeeper", f"{serial}_power")
    assert entity_id is not None
    state = hass.states.get(entity_id)
    assert state is not None
    assert float(state.state) == homewizard_sim.data["active_power_w"]
