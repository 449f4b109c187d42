"""Registers Wattkeeper's actions once, when the integration loads.

Each feature keeps its actions in a module of its own and adds one line here.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant, callback


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register every Wattkeeper action."""
