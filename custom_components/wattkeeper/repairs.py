"""Fix flows of the data-quality repair issues (see quality_issues.py).

- flip_sign: reverse the sign of the Fluksometer sensors the user picks (the
  entry's role options); the entry reloads with the new signs.
- accept_counter: a counter went backwards without a meter swap that looks
  like one; take its current value as the new baseline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import voluptuous as vol
from homeassistant import data_entry_flow
from homeassistant.components.repairs import ConfirmRepairFlow, RepairsFlow
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN
from .quality.findings import FixHint
from .quality_glue import get_quality
from .quality_issues import DATA_ENTRY_ID, DATA_FIX, DATA_SENSORS, DATA_SERIAL, DATA_SERIES
from .sign_fix import CONF_ROLES, flipped_options

type IssueData = dict[str, str | int | float | None]

FIELD_SENSORS = "sensors"


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: IssueData | None
) -> RepairsFlow:
    fix = (data or {}).get(DATA_FIX)
    if fix == FixHint.FLIP_SIGN.value:
        return FlipSignFlow()
    if fix == FixHint.ACCEPT_COUNTER.value:
        return AcceptCounterFlow()
    return ConfirmRepairFlow()


def _text(data: IssueData | None, key: str) -> str:
    value = (data or {}).get(key)
    return value if isinstance(value, str) else ""


class _QualityFlow(RepairsFlow):
    """Shows the issue's own placeholders in the confirm step."""

    def _placeholders(self) -> dict[str, str] | None:
        issue = ir.async_get(self.hass).async_get_issue(DOMAIN, self.issue_id)
        return dict(issue.translation_placeholders or {}) if issue is not None else None


class FlipSignFlow(_QualityFlow):
    """Pick the sensors that count the wrong way round; their sign is reversed."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> data_entry_flow.FlowResult:
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> data_entry_flow.FlowResult:
        entry = self.hass.config_entries.async_get_entry(_text(self.data, DATA_ENTRY_ID))
        sensors = [s for s in _text(self.data, DATA_SENSORS).split(",") if s]
        if entry is None or not sensors:
            # The meter is gone or no longer has such sensors: nothing left to fix.
            return self.async_create_entry(data={})
        if user_input is not None:
            chosen = user_input[FIELD_SENSORS]
            self.hass.config_entries.async_update_entry(
                entry, options=flipped_options(entry.options, chosen)
            )
            return self.async_create_entry(data={})
        serial = _text(self.data, DATA_SERIAL)
        choices = {sensor: self._label(serial, sensor, entry.options) for sensor in sensors}
        return self.async_show_form(
            step_id="confirm",
            data_schema=vol.Schema(
                {vol.Required(FIELD_SENSORS, default=sensors): cv.multi_select(choices)}
            ),
            description_placeholders=self._placeholders(),
        )

    def _label(self, serial: str, sensor: str, options: Mapping[str, Any]) -> str:
        """The sensor's power entity name where it has one, with its current sign."""
        entity_id = er.async_get(self.hass).async_get_entity_id(
            "sensor", DOMAIN, f"{serial}_power_c{sensor}"
        )
        state = self.hass.states.get(entity_id) if entity_id is not None else None
        name = state.name if state is not None else sensor
        roles: dict[str, dict[str, Any]] = options.get(CONF_ROLES, {})
        stored = next((v for k, v in roles.items() if k.lower() == sensor.lower()), {})
        sign = "-" if stored.get("sign", 1) == -1 else "+"
        return f"{name} ({stored.get('role') or '-'}, {sign})"


class AcceptCounterFlow(_QualityFlow):
    """Confirm that the counter's new, lower value is right."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> data_entry_flow.FlowResult:
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> data_entry_flow.FlowResult:
        if user_input is not None:
            quality = get_quality(self.hass, _text(self.data, DATA_ENTRY_ID))
            if quality is not None:
                quality.async_accept_counter(
                    _text(self.data, DATA_SERIAL), _text(self.data, DATA_SERIES)
                )
            return self.async_create_entry(data={})
        return self.async_show_form(
            step_id="confirm",
            data_schema=vol.Schema({}),
            description_placeholders=self._placeholders(),
        )
