"""The recorder entry's options for forwarding Home Assistant's long-term statistics."""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from homeassistant.core import HomeAssistant
from homeassistant.helpers import selector

from .statistics_forwarder import CONF_ENERGY_SOURCES, CONF_STATISTICS


async def async_statistics_fields(
    hass: HomeAssistant, current: dict[str, Any]
) -> dict[vol.Marker, Any]:
    """Form fields: any statistic id the recorder knows (or typed in), and the Energy
    dashboard's sources in one switch."""
    choices: list[tuple[str, str]] = []
    if "recorder" in hass.config.components:
        from .statistics_reader import async_statistic_choices  # noqa: PLC0415

        choices = await async_statistic_choices(hass)
    chosen = list(current.get(CONF_STATISTICS, []))
    known = {statistic_id for statistic_id, _ in choices}
    options = [
        selector.SelectOptionDict(value=statistic_id, label=f"{label} ({statistic_id})")
        for statistic_id, label in choices
    ] + [
        # Chosen earlier but not in the recorder now (e.g. an external statistic to come).
        selector.SelectOptionDict(value=statistic_id, label=statistic_id)
        for statistic_id in chosen
        if statistic_id not in known
    ]
    return {
        vol.Optional(CONF_ENERGY_SOURCES, default=current.get(CONF_ENERGY_SOURCES, False)): bool,
        vol.Optional(CONF_STATISTICS, default=chosen): selector.SelectSelector(
            selector.SelectSelectorConfig(options=options, multiple=True, custom_value=True)
        ),
    }


def statistics_options(user_input: dict[str, Any]) -> dict[str, Any]:
    """What the options entry stores from the submitted form."""
    return {
        CONF_ENERGY_SOURCES: bool(user_input.get(CONF_ENERGY_SOURCES, False)),
        CONF_STATISTICS: sorted(set(user_input.get(CONF_STATISTICS, []))),
    }
