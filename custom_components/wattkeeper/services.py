"""Registers Wattkeeper's actions once, when the integration loads.

Each feature keeps its actions in a module of its own and adds one line here.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant, callback

from .ct_services import async_setup_ct_services
from .energy_summary import async_setup_energy_summary
from .recorder_services import async_register_recorder_services
from .statistics_services import async_register_statistics_services


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register every Wattkeeper action."""
    async_register_recorder_services(hass)
    async_setup_ct_services(hass)
    async_setup_energy_summary(hass)
    async_register_statistics_services(hass)
