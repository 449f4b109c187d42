"""Config flow steps for Fluksometers: broker, discovered sensors, reauth, reconfigure, options.

The user gives the Fluksometer's own MQTT broker (port 1883, credentials when
set); the flow connects, waits for the retained configuration topics and
shows the sensors they list. The unique id is the Fluksometer's device id, so
every Fluksometer is an entry of its own. Roles and signs per sensor are
asked right away (pre-filled with the roles the sensors' function names
suggest) and again in the options, which end with the optional
flukso.net history backfill (flukso_backfill.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import voluptuous as vol
from homeassistant.config_entries import ConfigEntryState, ConfigFlow, OptionsFlow
from homeassistant.config_entries import ConfigFlowResult as Result
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.helpers import selector

from . import flukso_entry
from .const import CONF_KIND, LOGGER
from .flukso_backfill import BackfillRequest, start_backfill, tmpo_client
from .flukso_entry import (
    CONF_ROLES,
    CONF_TMPO_TOKENS,
    CONF_TMPO_URL,
    describe,
    label,
    meter_from_data,
    role_sensors,
    roles_by_role,
    tmpo_url,
    token_fields,
)
from .meters.errors import MeterAuthError, MeterConnectionError, MeterError, MeterTimeoutError
from .meters.flukso import DEFAULT_PORT, FluksoMeter
from .meters.flukso_config import FluksoDevice
from .meters.flukso_roles import Role, SensorRole, propose_roles, roles_from_options
from .meters.model import MeterIdentity, MeterKind

CONF_INVERTED: Final = "inverted"

_PORT = selector.NumberSelector(
    selector.NumberSelectorConfig(min=1, max=65535, step=1, mode=selector.NumberSelectorMode.BOX)
)
_SECRET = selector.TextSelector(
    selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD)
)
_CREDENTIALS: Final[dict[vol.Marker, Any]] = {
    vol.Optional(CONF_USERNAME): str,
    vol.Optional(CONF_PASSWORD): _SECRET,
}
_BROKER_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_HOST): str,
        vol.Required(CONF_PORT, default=DEFAULT_PORT): _PORT,
        **_CREDENTIALS,
    }
)
_CREDENTIALS_SCHEMA = vol.Schema(_CREDENTIALS)


def _broker_data(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Entry data from a broker form: trimmed host, integer port, credentials only when given."""
    data: dict[str, Any] = {
        CONF_HOST: str(user_input[CONF_HOST]).strip(),
        CONF_PORT: int(user_input.get(CONF_PORT, DEFAULT_PORT)),
    }
    for key in (CONF_USERNAME, CONF_PASSWORD):
        if value := user_input.get(key):
            data[key] = value
    return data


async def _probe(
    data: Mapping[str, Any], device_id: str | None = None
) -> tuple[MeterIdentity, FluksoDevice] | tuple[None, str]:
    """Connect and discover; on failure, the flow's error key."""
    meter = meter_from_data(data, device_id, discovery_timeout=flukso_entry.DISCOVERY_TIMEOUT)
    try:
        identity = await meter.identify()
    except MeterAuthError:
        return None, "bad_credentials"
    except MeterTimeoutError as err:
        # Timed out connecting (a cause) or waiting for the configuration (none).
        return None, "cannot_connect" if err.__cause__ is not None else "no_fluksometer"
    except MeterConnectionError:
        return None, "cannot_connect"
    except MeterError:
        LOGGER.exception("Unexpected answer from the Fluksometer broker at %s", data[CONF_HOST])
        return None, "unknown"
    finally:
        await meter.close()
    assert meter.device is not None
    return identity, meter.device


def _sensor_list(sensors: list[str]) -> str:
    return "\n".join(f"- {line}" for line in sensors)


def _placeholders(device: FluksoDevice) -> dict[str, str]:
    return {
        "model": device.model,
        "device": device.device_id,
        "sensors": _sensor_list([describe(s) for s in device.sensors.values()]),
    }


def _roles_schema(device: FluksoDevice, roles: Mapping[str, SensorRole]) -> vol.Schema:
    """One multi-select per role, and one for the sensors whose sign is inverted."""
    candidates = role_sensors(device)
    ids = {s.id for s in candidates}
    picker = selector.SelectSelector(
        selector.SelectSelectorConfig(
            options=[selector.SelectOptionDict(value=s.id, label=label(s)) for s in candidates],
            multiple=True,
            mode=selector.SelectSelectorMode.DROPDOWN,
        )
    )
    current = roles_by_role(roles)
    inverted = [sid for sid, role in roles.items() if role.sign < 0 and sid in ids]
    fields: dict[vol.Optional, selector.SelectSelector] = {
        vol.Optional(role.value, default=[s for s in current[role] if s in ids]): picker
        for role in Role
    }
    fields[vol.Optional(CONF_INVERTED, default=inverted)] = picker
    return vol.Schema(fields)


def _roles_option(user_input: Mapping[str, Any]) -> dict[str, dict[str, Any]] | None:
    """The roles option from the role form; None when a sensor got two roles."""
    chosen: dict[str, dict[str, Any]] = {}
    for role in Role:
        for sensor_id in user_input.get(role.value, []):
            if sensor_id in chosen:
                return None
            chosen[sensor_id] = {"role": role.value, "sign": 1}
    for sensor_id in user_input.get(CONF_INVERTED, []):
        chosen.setdefault(sensor_id, {"role": None, "sign": 1})["sign"] = -1
    return chosen


class FluksoFlowMixin(ConfigFlow):
    """Steps for Fluksometers; mixed into the one Wattkeeper config flow."""

    _fl_data: dict[str, Any] | None = None
    _fl_identity: MeterIdentity | None = None
    _fl_device: FluksoDevice | None = None

    async def async_step_flukso(self, user_input: dict[str, Any] | None = None) -> Result:
        """Ask for the Fluksometer's broker and connect to it."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _broker_data(user_input)
            found = await _probe(data)
            if found[0] is None:
                errors["base"] = found[1]
            else:
                identity, device = found
                await self.async_set_unique_id(identity.serial)
                self._abort_if_unique_id_configured(updates=data)
                self._fl_data, self._fl_identity, self._fl_device = data, identity, device
                return await self.async_step_flukso_sensors()
        return self.async_show_form(
            step_id="flukso",
            data_schema=self.add_suggested_values_to_schema(_BROKER_SCHEMA, user_input),
            errors=errors,
        )

    async def async_step_flukso_sensors(self, user_input: dict[str, Any] | None = None) -> Result:
        """Show what was discovered; the user gives the sensors their roles and signs."""
        assert self._fl_data is not None
        assert self._fl_identity is not None
        assert self._fl_device is not None
        errors: dict[str, str] = {}
        if user_input is not None:
            roles = _roles_option(user_input)
            if roles is not None:
                identity = self._fl_identity
                return self.async_create_entry(
                    title=f"{identity.name} {identity.serial[:6]}",
                    data={CONF_KIND: MeterKind.FLUKSO.value, **self._fl_data},
                    options={CONF_ROLES: roles},
                )
            errors["base"] = "sensor_in_two_roles"
        device = self._fl_device
        return self.async_show_form(
            step_id="flukso_sensors",
            # Pre-filled with the roles the sensors' names suggest.
            data_schema=_roles_schema(device, propose_roles(role_sensors(device))),
            errors=errors,
            description_placeholders=_placeholders(device),
        )

    async def async_step_flukso_reauth(self, entry_data: Mapping[str, Any]) -> Result:
        """The broker refused the credentials: ask for new ones."""
        return await self.async_step_flukso_reauth_confirm()

    async def async_step_flukso_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> Result:
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            link = {CONF_HOST: entry.data[CONF_HOST], CONF_PORT: entry.data[CONF_PORT]}
            data = _entry_data(entry.data, _broker_data({**link, **user_input}))
            found = await _probe(data)
            if found[0] is None:
                errors["base"] = found[1]
            else:
                await self.async_set_unique_id(found[0].serial)
                self._abort_if_unique_id_mismatch(reason="wrong_device")
                return self.async_update_reload_and_abort(
                    entry, data=data, reason="credentials_updated"
                )
        return self.async_show_form(
            step_id="flukso_reauth_confirm",
            data_schema=self.add_suggested_values_to_schema(
                _CREDENTIALS_SCHEMA, {CONF_USERNAME: entry.data.get(CONF_USERNAME)}
            ),
            errors=errors,
            description_placeholders={"host": entry.data[CONF_HOST]},
        )

    async def async_step_flukso_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> Result:
        """Point the entry at a new address or credentials; it must be the same Fluksometer."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _entry_data(entry.data, _broker_data(user_input))
            found = await _probe(data)
            if found[0] is None:
                errors["base"] = found[1]
            else:
                await self.async_set_unique_id(found[0].serial)
                self._abort_if_unique_id_mismatch(reason="wrong_device")
                return self.async_update_reload_and_abort(entry, data=data)
        suggested = user_input or {
            key: entry.data[key]
            for key in (CONF_HOST, CONF_PORT, CONF_USERNAME)
            if key in entry.data
        }
        return self.async_show_form(
            step_id="flukso_reconfigure",
            data_schema=self.add_suggested_values_to_schema(_BROKER_SCHEMA, suggested),
            errors=errors,
        )


def _entry_data(old: Mapping[str, Any], broker: Mapping[str, Any]) -> dict[str, Any]:
    """The entry's data with a new broker and login.

    The password field is never filled in, so an empty one keeps the stored
    password for the same username; an empty username drops the login.
    """
    data = {k: v for k, v in old.items() if k not in (CONF_USERNAME, CONF_PASSWORD)}
    data |= broker
    username = broker.get(CONF_USERNAME)
    same_user = bool(username) and username == old.get(CONF_USERNAME)
    if same_user and CONF_PASSWORD not in broker and CONF_PASSWORD in old:
        data[CONF_PASSWORD] = old[CONF_PASSWORD]
    return data


class FluksoOptionsFlowMixin(OptionsFlow):
    """Options of a Fluksometer: roles and signs, then the optional history backfill."""

    _fl_device_found: FluksoDevice | None = None
    _fl_roles: dict[str, dict[str, Any]] | None = None

    async def async_step_flukso_options(self, user_input: dict[str, Any] | None = None) -> Result:
        """Roles and signs of the discovered sensors (Voisin d'énergie's "signs")."""
        device = await self._fl_discovered()
        if device is None:
            return self.async_abort(reason="cannot_connect")
        errors: dict[str, str] = {}
        if user_input is not None:
            roles = _roles_option(user_input)
            if roles is not None:
                self._fl_roles = roles
                return await self.async_step_flukso_backfill()
            errors["base"] = "sensor_in_two_roles"
        current = roles_from_options(self.config_entry.options.get(CONF_ROLES, {}))
        return self.async_show_form(
            step_id="flukso_options",
            data_schema=_roles_schema(device, current),
            errors=errors,
            description_placeholders=_placeholders(device),
        )

    async def async_step_flukso_backfill(self, user_input: dict[str, Any] | None = None) -> Result:
        """Optionally import the flukso.net history of the sensors given a token.

        Stored tokens are pre-filled; only new or changed ones (or all of them
        after the address changed) are checked and imported again, so saving
        other options works offline.
        """
        device = self._fl_device_found
        assert device is not None
        assert self._fl_roles is not None
        options = self.config_entry.options
        stored: Mapping[str, str] = options.get(CONF_TMPO_TOKENS, {})
        fields = token_fields(device)
        errors: dict[str, str] = {}
        if user_input is not None:
            url = str(user_input.get(CONF_TMPO_URL) or tmpo_url(options)).strip()
            entered = {
                field: token
                for field in fields
                if (token := str(user_input.get(field) or "").strip())
            }
            tokens = {fields[field].id: token for field, token in entered.items()}
            same_url = url == tmpo_url(options)
            changed = {
                sensor_id: token
                for sensor_id, token in tokens.items()
                if not same_url or stored.get(sensor_id) != token
            }
            if changed:
                errors = await self._fl_check_tokens(url, changed)
                by_id = {sensor.id: field for field, sensor in fields.items()}
                errors = {by_id.get(key, key): error for key, error in errors.items()}
            if not errors:
                new_options = {CONF_ROLES: self._fl_roles, CONF_TMPO_URL: url}
                if tokens:
                    new_options[CONF_TMPO_TOKENS] = tokens
                if changed:
                    self._fl_start_backfill(device, url, changed)
                return self.async_create_entry(data=new_options)
        schema: dict[vol.Marker, Any] = {
            vol.Optional(CONF_TMPO_URL, default=tmpo_url(options)): str
        }
        for field, sensor in fields.items():
            suggested = {"suggested_value": stored.get(sensor.id)}
            schema[vol.Optional(field, description=suggested)] = _SECRET
        return self.async_show_form(
            step_id="flukso_backfill",
            data_schema=vol.Schema(schema),
            errors=errors,
            description_placeholders={
                "sensors": _sensor_list(
                    [f"{field}: {describe(s)}, `{s.id}`" for field, s in fields.items()]
                )
            },
        )

    async def _fl_discovered(self) -> FluksoDevice | None:
        """The loaded entry's sensors, or a fresh discovery when it is not running."""
        if self._fl_device_found is not None:
            return self._fl_device_found
        entry = self.config_entry
        if entry.state is ConfigEntryState.LOADED:
            meter = entry.runtime_data.meter
            if isinstance(meter, FluksoMeter) and meter.device is not None:
                self._fl_device_found = meter.device
                return meter.device
        found = await _probe(entry.data, entry.unique_id)
        if found[0] is None:
            return None
        self._fl_device_found = found[1]
        return found[1]

    async def _fl_check_tokens(self, url: str, tokens: Mapping[str, str]) -> dict[str, str]:
        """Ask the tmpo API for each sensor's block list: a cheap test of every token."""
        if "recorder" not in self.hass.config.components:
            return {"base": "recorder_not_loaded"}
        client = await tmpo_client(self.hass, url)
        errors: dict[str, str] = {}
        for sensor_id, token in tokens.items():
            try:
                await client.list_blocks(sensor_id, token)
            except MeterAuthError:
                errors[sensor_id] = "invalid_token"
            except MeterError as err:
                LOGGER.warning("The tmpo API at %s is not reachable: %s", url, err)
                return {"base": "tmpo_unreachable"}
        return errors

    def _fl_start_backfill(self, device: FluksoDevice, url: str, tokens: dict[str, str]) -> None:
        entry = self.config_entry
        assert entry.unique_id is not None
        assert self._fl_roles is not None
        start_backfill(
            self.hass,
            BackfillRequest(
                entry_id=entry.entry_id,
                serial=entry.unique_id,
                name=entry.title,
                device=device,
                roles=roles_from_options(self._fl_roles),
                tokens=tokens,
                base_url=url,
            ),
        )
