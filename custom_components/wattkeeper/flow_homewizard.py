"""Config flow steps for HomeWizard devices: manual, zeroconf, v2 token, reauth, reconfigure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import SOURCE_REAUTH, ConfigFlow
from homeassistant.config_entries import ConfigFlowResult as Result
from homeassistant.const import CONF_HOST
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from homewizard_energy import has_v2_api

from .const import CONF_KIND, CONF_TOKEN, LOGGER
from .meters.errors import (
    MeterAuthError,
    MeterConnectionError,
    MeterDisabledError,
    MeterError,
    MeterUnsupportedError,
)
from .meters.homewizard import HomeWizardMeter, request_token
from .meters.model import MeterIdentity, MeterKind

TOKEN_NAME = "home-assistant-wattkeeper"
_HOST_SCHEMA = vol.Schema({vol.Required(CONF_HOST): str})
# Devices announce API v1 (_hwenergy) on 80 and API v2 (_homewizard) on 443: both
# mean the bare address, so the stored host does not flip between the two.
_DEVICE_PORTS = (None, 80, 443)
# What identifying a device can fail with → the flow's error (form) or abort reason;
# each has both texts in i18n (a test checks).
PROBE_ERRORS: dict[type[MeterError], str] = {
    MeterDisabledError: "api_not_enabled",
    MeterAuthError: "invalid_auth",
    MeterUnsupportedError: "unsupported_device",
    MeterConnectionError: "cannot_connect",
}


class HomeWizardFlowMixin(ConfigFlow):
    """Steps for HomeWizard; mixed into the one Wattkeeper config flow."""

    _hw_host: str | None = None
    _hw_identity: MeterIdentity | None = None

    async def async_step_homewizard(self, user_input: dict[str, Any] | None = None) -> Result:
        """Ask for the device's address."""
        errors: dict[str, str] = {}
        if user_input is not None:
            host = user_input[CONF_HOST].strip()
            if await has_v2_api(host, async_get_clientsession(self.hass)):
                self._hw_host = host
                return await self.async_step_homewizard_authorize()
            identity, error = await self._hw_probe(host, None)
            if identity is not None:
                await self.async_set_unique_id(identity.serial)
                self._abort_if_unique_id_configured(updates={CONF_HOST: host})
                return self._hw_create(identity, host, None)
            errors["base"] = error
        return self.async_show_form(
            step_id="homewizard",
            data_schema=self.add_suggested_values_to_schema(_HOST_SCHEMA, user_input),
            errors=errors,
        )

    async def async_step_homewizard_authorize(
        self, user_input: dict[str, Any] | None = None
    ) -> Result:
        """API v2: the user presses the device's button, then we ask for a token."""
        assert self._hw_host is not None
        errors: dict[str, str] = {}
        if user_input is not None:
            token, error = await self._hw_token(self._hw_host)
            if token is not None:
                identity, error = await self._hw_probe(self._hw_host, token)
                if identity is not None:
                    await self.async_set_unique_id(identity.serial)
                    if self.source == SOURCE_REAUTH:
                        self._abort_if_unique_id_mismatch(reason="wrong_device")
                        return self.async_update_reload_and_abort(
                            self._get_reauth_entry(), data_updates={CONF_TOKEN: token}
                        )
                    self._abort_if_unique_id_configured(
                        updates={CONF_HOST: self._hw_host, CONF_TOKEN: token}
                    )
                    return self._hw_create(identity, self._hw_host, token)
            errors["base"] = error
        return self.async_show_form(
            step_id="homewizard_authorize",
            errors=errors,
            description_placeholders={"host": self._hw_host},
        )

    async def async_step_zeroconf(self, discovery_info: ZeroconfServiceInfo) -> Result:
        """A device announced itself; known devices get their new address."""
        properties = discovery_info.properties
        serial = properties.get("serial")
        if not serial or properties.get("product_type") is None:
            return self.async_abort(reason="invalid_discovery_parameters")
        host = discovery_info.host
        if discovery_info.port not in _DEVICE_PORTS:
            # Anything else (a twin, a proxy) keeps its port.
            host = f"{host}:{discovery_info.port}"
        await self.async_set_unique_id(serial)
        self._abort_if_unique_id_configured(updates={CONF_HOST: host})
        if properties.get("api_enabled") == "0":
            return self.async_abort(reason="api_not_enabled")
        self._hw_host = host
        self.context["title_placeholders"] = {
            "name": properties.get("product_name") or properties["product_type"]
        }
        # v2 first: probing v1 on a v2-only device costs the library's retries.
        if await has_v2_api(host, async_get_clientsession(self.hass)):
            return await self.async_step_homewizard_authorize()
        identity, error = await self._hw_probe(host, None)
        if identity is None:
            return self.async_abort(reason=error)
        self._hw_identity = identity
        self.context["title_placeholders"] = {"name": identity.name}
        return await self.async_step_homewizard_confirm()

    async def async_step_homewizard_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> Result:
        """Confirm a discovered device before adding it."""
        assert self._hw_identity is not None
        assert self._hw_host is not None
        if user_input is not None:
            return self._hw_create(self._hw_identity, self._hw_host, None)
        self._set_confirm_only()
        return self.async_show_form(
            step_id="homewizard_confirm",
            description_placeholders={
                "name": self._hw_identity.name,
                "host": self._hw_host,
            },
        )

    async def async_step_homewizard_reauth(self, entry_data: Mapping[str, Any]) -> Result:
        """The device refused our token (v2): get a new one with a button press."""
        self._hw_host = entry_data[CONF_HOST]
        return await self.async_step_homewizard_authorize()

    async def async_step_homewizard_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> Result:
        """Point an existing entry at a new address; it must be the same device."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            host = user_input[CONF_HOST].strip()
            identity, error = await self._hw_probe(host, entry.data.get(CONF_TOKEN))
            if identity is not None:
                await self.async_set_unique_id(identity.serial)
                self._abort_if_unique_id_mismatch(reason="wrong_device")
                return self.async_update_reload_and_abort(entry, data_updates={CONF_HOST: host})
            errors["base"] = error
        return self.async_show_form(
            step_id="homewizard_reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                _HOST_SCHEMA, user_input or {CONF_HOST: entry.data[CONF_HOST]}
            ),
            errors=errors,
        )

    async def _hw_probe(self, host: str, token: str | None) -> tuple[MeterIdentity | None, str]:
        """Identify the device at `host`; on failure, the flow's error key."""
        meter = HomeWizardMeter(host, async_get_clientsession(self.hass), token=token)
        try:
            return await meter.identify(), ""
        except MeterError as err:
            for kind, error in PROBE_ERRORS.items():
                if isinstance(err, kind):
                    return None, error
            LOGGER.exception("Unexpected answer from HomeWizard device at %s", host)
            return None, "unknown"
        finally:
            await meter.close()

    async def _hw_token(self, host: str) -> tuple[str | None, str]:
        try:
            return await request_token(host, async_get_clientsession(self.hass), TOKEN_NAME), ""
        except MeterAuthError:
            return None, "authorization_failed"
        except MeterError:
            return None, "cannot_connect"

    def _hw_create(self, identity: MeterIdentity, host: str, token: str | None) -> Result:
        data: dict[str, Any] = {CONF_KIND: MeterKind.HOMEWIZARD.value, CONF_HOST: host}
        if token is not None:
            data[CONF_TOKEN] = token
        return self.async_create_entry(title=identity.name, data=data)
