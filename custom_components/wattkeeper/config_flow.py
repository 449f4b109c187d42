"""Config flow: a menu of meter kinds, each with its own steps.

Every kind's steps live in a mixin module (`flow_<kind>.py`); this class only
assembles them, so adding a meter kind adds a module and a menu entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import (
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.core import callback
from homeassistant.helpers import selector

from .const import (
    CONF_KIND,
    CONF_SCAN_INTERVAL,
    DEFAULT_SCAN_INTERVAL,
    DOMAIN,
    KIND_RECORDER,
    MIN_SCAN_INTERVAL_SECONDS,
)
from .coordinator import WattkeeperConfigEntry
from .flow_ct import CtClampFlowMixin, CtClampOptionsFlowMixin
from .flow_dsmr import DsmrFlowMixin, DsmrOptionsFlowMixin
from .flow_flukso import FluksoFlowMixin, FluksoOptionsFlowMixin
from .flow_homewizard import HomeWizardFlowMixin
from .flow_recorder import RecorderFlowMixin, RecorderOptionsFlowMixin
from .flow_sun2000 import Sun2000FlowMixin, Sun2000OptionsFlowMixin
from .meters.model import MeterKind

MENU = [
    MeterKind.HOMEWIZARD.value,
    MeterKind.DSMR.value,
    MeterKind.SUN2000.value,
    MeterKind.CT_CLAMP.value,
    MeterKind.FLUKSO.value,
    KIND_RECORDER,
]


class WattkeeperConfigFlow(
    HomeWizardFlowMixin,
    DsmrFlowMixin,
    Sun2000FlowMixin,
    CtClampFlowMixin,
    FluksoFlowMixin,
    RecorderFlowMixin,
    ConfigFlow,
    domain=DOMAIN,
):
    """Set up a meter (or, later, the external recorder)."""

    VERSION = 1

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        return self.async_show_menu(step_id="user", menu_options=MENU)

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """Each kind renews its own credentials."""
        kind = str(entry_data[CONF_KIND])  # a meter kind, or the recorder
        step = getattr(self, f"async_step_{kind}_reauth")
        result: ConfigFlowResult = await step(entry_data)
        return result

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Each kind knows what can change about its link."""
        kind = self._get_reconfigure_entry().data[CONF_KIND]
        step = getattr(self, f"async_step_{kind}_reconfigure", None)
        if step is None:
            return self.async_abort(reason="reconfigure_not_supported")
        result: ConfigFlowResult = await step(user_input)
        return result

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: WattkeeperConfigEntry) -> MeterOptionsFlow:
        return MeterOptionsFlow()


class MeterOptionsFlow(
    Sun2000OptionsFlowMixin,
    DsmrOptionsFlowMixin,
    CtClampOptionsFlowMixin,
    FluksoOptionsFlowMixin,
    RecorderOptionsFlowMixin,
    OptionsFlow,
):
    """Options of a meter entry; a kind with its own options has a mixin step `<kind>_options`."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        kind_step = getattr(self, f"async_step_{self.config_entry.data[CONF_KIND]}_options", None)
        if kind_step is not None:
            result: ConfigFlowResult = await kind_step(user_input)
            return result
        return await self.async_step_interval(user_input)

    async def async_step_interval(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """How often a polled meter is read."""
        if user_input is not None:
            return self.async_create_entry(data=user_input)
        current = self.config_entry.options.get(
            CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL.total_seconds()
        )
        schema = vol.Schema(
            {
                vol.Required(CONF_SCAN_INTERVAL, default=current): selector.NumberSelector(
                    selector.NumberSelectorConfig(
                        min=MIN_SCAN_INTERVAL_SECONDS,
                        max=3600,
                        step=1,
                        unit_of_measurement="s",
                        mode=selector.NumberSelectorMode.BOX,
                    )
                ),
            }
        )
        return self.async_show_form(
            step_id="interval",
            data_schema=schema,
            description_placeholders={"kind": self.config_entry.data[CONF_KIND]},
        )
