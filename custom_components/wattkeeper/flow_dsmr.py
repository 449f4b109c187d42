"""Config flow steps for DSMR P1 meters: serial or TCP, USB discovery, Smarty key, options.

The user picks a serial port (or types its path) or a TCP bridge, and the
protocol version or auto-detect. The flow then listens to the port until a
telegram reads, so the entry is only created for a link that works, and
learns the meter's equipment id (the unique id) and, with auto-detect, its
version. Luxembourg Smarty meters (5L) encrypt: their key is asked before
listening, and again by reauth when the meter stops accepting it. Reconfigure
moves an entry to another port, bridge or version; it must stay the same
meter. USB discovery offers common P1 cables (FTDI, CP210x, Prolific) and
updates the path of a meter that is already set up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

import voluptuous as vol
from homeassistant.components import usb
from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    OptionsFlow,
)
from homeassistant.config_entries import ConfigFlowResult as Result
from homeassistant.const import CONF_DEVICE, CONF_HOST, CONF_PORT
from homeassistant.helpers import selector
from homeassistant.helpers.service_info.usb import UsbServiceInfo

from . import dsmr_entry
from .const import CONF_KIND, LOGGER
from .dsmr_entry import (
    CONF_DECRYPTION_KEY,
    CONF_DSMR_VERSION,
    CONF_TRANSPORT,
    DEFAULT_OPTIONS,
    DEFAULT_TCP_PORT,
    TRANSPORT_SERIAL,
    TRANSPORT_TCP,
    VERSION_AUTO,
    link_data,
    list_serial_ports,
    meter_from_data,
)
from .meters.dsmr_versions import DsmrVersion
from .meters.errors import (
    MeterAuthError,
    MeterConnectionError,
    MeterError,
    MeterTimeoutError,
    MeterUnsupportedError,
)
from .meters.model import MeterIdentity, MeterKind
from .write_throttle import CONF_COUNTER_WRITE_INTERVAL, CONF_MEASUREMENT_WRITE_INTERVAL

# Form values are translatable slugs; entry data keeps dsmr-parser's names.
VERSION_CHOICES: Final[dict[str, str]] = {
    "auto": VERSION_AUTO,
    "v2_2": DsmrVersion.V2_2.value,
    "v4": DsmrVersion.V4.value,
    "v5": DsmrVersion.V5.value,
    "v5b": DsmrVersion.V5B.value,
    "v5l": DsmrVersion.V5L.value,
    "v5s": DsmrVersion.V5S.value,
    "q3d": DsmrVersion.Q3D.value,
}
_CHOICE_OF: Final = {version: choice for choice, version in VERSION_CHOICES.items()}
CONF_VERSION_CHOICE: Final = "version"
_KEY_FORMAT: Final = re.compile(r"^[0-9A-Fa-f]{32}$")

_VERSION = selector.SelectSelector(
    selector.SelectSelectorConfig(
        options=list(VERSION_CHOICES),
        translation_key="dsmr_version",
        mode=selector.SelectSelectorMode.DROPDOWN,
    )
)
_PORT = selector.NumberSelector(
    selector.NumberSelectorConfig(min=1, max=65535, step=1, mode=selector.NumberSelectorMode.BOX)
)
_KEY = selector.TextSelector(selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD))
_TCP_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_HOST): str,
        vol.Required(CONF_PORT, default=DEFAULT_TCP_PORT): _PORT,
        vol.Required(CONF_VERSION_CHOICE, default="auto"): _VERSION,
    }
)
_KEY_SCHEMA = vol.Schema({vol.Required(CONF_DECRYPTION_KEY): _KEY})
_INTERVAL = selector.NumberSelector(
    selector.NumberSelectorConfig(
        min=0, max=3600, step=1, unit_of_measurement="s", mode=selector.NumberSelectorMode.BOX
    )
)


async def _probe(data: Mapping[str, Any]) -> tuple[MeterIdentity, str] | tuple[None, str]:
    """Listen until a telegram reads: (identity, version), or (None, the flow's error key)."""
    meter = meter_from_data(data, detect_timeout=dsmr_entry.PROBE_TIMEOUT)
    try:
        identity = await meter.identify()
    except MeterAuthError:
        return None, "invalid_key"
    except MeterUnsupportedError:
        return None, "unreadable"
    except MeterTimeoutError:
        stats = meter.stats
        if stats.connects == 0:
            return None, "p1_unreachable"
        if stats.crc_errors or stats.parse_errors or stats.decrypt_errors or stats.discarded_bytes:
            # Bytes came, telegrams did not: the wrong version, line settings or key.
            return None, "unreadable"
        return None, "no_telegrams"
    except MeterConnectionError:
        return None, "p1_unreachable"
    except MeterError:
        LOGGER.exception("Unexpected failure reading the P1 port %s", meter.address)
        return None, "unknown"
    finally:
        await meter.close()
    assert meter.version is not None
    return identity, meter.version.value


class DsmrFlowMixin(ConfigFlow):
    """Steps for DSMR P1 meters; mixed into the one Wattkeeper config flow."""

    # Where the meter is: the transport, and the device or the host and port.
    _dsmr_link: dict[str, Any] | None = None

    async def async_step_dsmr(self, user_input: dict[str, Any] | None = None) -> Result:
        """A USB cable, or a network bridge?"""
        return self.async_show_menu(step_id="dsmr", menu_options=["dsmr_serial", "dsmr_tcp"])

    async def async_step_dsmr_reconfigure(self, user_input: dict[str, Any] | None = None) -> Result:
        """Move the meter to another port or bridge, or change its version."""
        return self.async_show_menu(
            step_id="dsmr_reconfigure", menu_options=["dsmr_serial", "dsmr_tcp"]
        )

    async def async_step_dsmr_serial(self, user_input: dict[str, Any] | None = None) -> Result:
        """Pick a serial port from the list, or type its path."""
        errors: dict[str, str] = {}
        if user_input is not None:
            device = str(user_input[CONF_DEVICE]).strip()
            device = await self.hass.async_add_executor_job(usb.get_serial_by_id, device)
            link = {CONF_TRANSPORT: TRANSPORT_SERIAL, CONF_DEVICE: device}
            result = await self._dsmr_try(link, VERSION_CHOICES[user_input[CONF_VERSION_CHOICE]])
            if not isinstance(result, str):
                return result
            errors["base"] = result
        ports = await self.hass.async_add_executor_job(list_serial_ports)
        options = [selector.SelectOptionDict(value=p.device, label=p.label) for p in ports]
        current = self._dsmr_current(TRANSPORT_SERIAL)
        known = {p.device for p in ports}
        if CONF_DEVICE in current and current[CONF_DEVICE] not in known:
            # The entry's port may be unplugged right now; keep it choosable.
            device = current[CONF_DEVICE]
            options.insert(0, selector.SelectOptionDict(value=device, label=device))
        schema = vol.Schema(
            {
                vol.Required(CONF_DEVICE): selector.SelectSelector(
                    selector.SelectSelectorConfig(
                        options=options,
                        custom_value=True,
                        mode=selector.SelectSelectorMode.DROPDOWN,
                    )
                ),
                vol.Required(CONF_VERSION_CHOICE, default="auto"): _VERSION,
            }
        )
        return self.async_show_form(
            step_id="dsmr_serial",
            data_schema=self.add_suggested_values_to_schema(schema, user_input or current),
            errors=errors,
        )

    async def async_step_dsmr_tcp(self, user_input: dict[str, Any] | None = None) -> Result:
        """A network bridge: ser2net, smartmeterBridge, a Wi-Fi P1 dongle."""
        errors: dict[str, str] = {}
        if user_input is not None:
            link = {
                CONF_TRANSPORT: TRANSPORT_TCP,
                CONF_HOST: str(user_input[CONF_HOST]).strip(),
                CONF_PORT: int(user_input[CONF_PORT]),
            }
            result = await self._dsmr_try(link, VERSION_CHOICES[user_input[CONF_VERSION_CHOICE]])
            if not isinstance(result, str):
                return result
            errors["base"] = result
        return self.async_show_form(
            step_id="dsmr_tcp",
            data_schema=self.add_suggested_values_to_schema(
                _TCP_SCHEMA, user_input or self._dsmr_current(TRANSPORT_TCP)
            ),
            errors=errors,
        )

    async def async_step_usb(self, discovery_info: UsbServiceInfo) -> Result:
        """A USB serial cable of a kind P1 cables use was plugged in."""
        device = await self.hass.async_add_executor_job(usb.get_serial_by_id, discovery_info.device)
        for entry in self._async_current_entries(include_ignore=False):
            data = entry.data
            if data.get(CONF_KIND) == MeterKind.DSMR and data.get(CONF_DEVICE) in (
                device,
                discovery_info.device,
            ):
                return self.async_abort(reason="already_configured")
        # Until a telegram names the meter, the cable is what a user can ignore.
        await self.async_set_unique_id(
            f"usb:{discovery_info.vid}:{discovery_info.pid}:"
            f"{discovery_info.serial_number or discovery_info.device}"
        )
        self._abort_if_unique_id_configured()
        self._dsmr_link = {CONF_TRANSPORT: TRANSPORT_SERIAL, CONF_DEVICE: device}
        name = usb.human_readable_device_name(
            device,
            discovery_info.serial_number,
            discovery_info.manufacturer,
            discovery_info.description,
            discovery_info.vid,
            discovery_info.pid,
        )
        self.context["title_placeholders"] = {"name": name}
        return await self.async_step_dsmr_usb_confirm()

    async def async_step_dsmr_usb_confirm(self, user_input: dict[str, Any] | None = None) -> Result:
        """Ask before opening the discovered cable, which may be something else."""
        assert self._dsmr_link is not None
        errors: dict[str, str] = {}
        if user_input is not None:
            version = VERSION_CHOICES[user_input[CONF_VERSION_CHOICE]]
            result = await self._dsmr_try(self._dsmr_link, version)
            if not isinstance(result, str):
                return result
            errors["base"] = result
        return self.async_show_form(
            step_id="dsmr_usb_confirm",
            data_schema=vol.Schema({vol.Required(CONF_VERSION_CHOICE, default="auto"): _VERSION}),
            errors=errors,
            description_placeholders={"device": self._dsmr_link[CONF_DEVICE]},
        )

    async def async_step_dsmr_smarty(self, user_input: dict[str, Any] | None = None) -> Result:
        """The decryption key of a Luxembourg Smarty meter (from the grid operator)."""
        assert self._dsmr_link is not None
        errors: dict[str, str] = {}
        if user_input is not None:
            key = str(user_input[CONF_DECRYPTION_KEY]).strip().replace(" ", "")
            if _KEY_FORMAT.match(key) is None:
                errors[CONF_DECRYPTION_KEY] = "invalid_key_format"
            else:
                data = {
                    **self._dsmr_link,
                    CONF_DSMR_VERSION: DsmrVersion.V5L.value,
                    CONF_DECRYPTION_KEY: key.upper(),
                }
                result = await self._dsmr_probe_and_finish(data)
                if not isinstance(result, str):
                    return result
                errors["base"] = result
        suggested = user_input
        if suggested is None and self.source == SOURCE_RECONFIGURE:
            stored = self._get_reconfigure_entry().data.get(CONF_DECRYPTION_KEY)
            suggested = {CONF_DECRYPTION_KEY: stored}
        return self.async_show_form(
            step_id="dsmr_smarty",
            data_schema=self.add_suggested_values_to_schema(_KEY_SCHEMA, suggested),
            errors=errors,
        )

    async def async_step_dsmr_reauth(self, entry_data: Mapping[str, Any]) -> Result:
        """The Smarty meter no longer decrypts with the stored key: ask for the new one."""
        self._dsmr_link = link_data(entry_data)
        return await self.async_step_dsmr_smarty()

    # -- helpers --------------------------------------------------------------------

    def _dsmr_current(self, transport: str) -> dict[str, Any]:
        """Defaults for a form: the reconfigured entry's own, when it uses this transport."""
        if self.source != SOURCE_RECONFIGURE:
            return {}
        data = self._get_reconfigure_entry().data
        current: dict[str, Any] = {
            CONF_VERSION_CHOICE: _CHOICE_OF.get(data.get(CONF_DSMR_VERSION, VERSION_AUTO), "auto")
        }
        if data.get(CONF_TRANSPORT) == transport:
            current.update(link_data(data))
            del current[CONF_TRANSPORT]
        return current

    def _dsmr_own_entry(self) -> ConfigEntry | None:
        """The entry this flow changes (reauth, reconfigure); None for a new one."""
        if self.source == SOURCE_REAUTH:
            return self._get_reauth_entry()
        if self.source == SOURCE_RECONFIGURE:
            return self._get_reconfigure_entry()
        return None

    def _dsmr_link_in_use(self, link: Mapping[str, Any]) -> bool:
        """Whether another entry reads this port or bridge (both take one reader)."""
        own = self._dsmr_own_entry()
        return any(
            entry.data.get(CONF_KIND) == MeterKind.DSMR
            and entry is not own
            and link_data(entry.data) == link
            for entry in self._async_current_entries(include_ignore=False)
        )

    async def _dsmr_try(self, link: dict[str, Any], version: str) -> Result | str:
        """Go on with a link and version: the key step for Smarty, else listen to it."""
        if self._dsmr_link_in_use(link):
            return "link_in_use"
        self._dsmr_link = link
        if version == DsmrVersion.V5L.value:
            return await self.async_step_dsmr_smarty()
        return await self._dsmr_probe_and_finish({**link, CONF_DSMR_VERSION: version})

    async def _dsmr_probe_and_finish(self, data: dict[str, Any]) -> Result | str:
        """Listen to the link; create or update the entry, or return the error key."""
        own = self._dsmr_own_entry()
        paused: ConfigEntry | None = None
        if (
            own is not None
            and own.state is ConfigEntryState.LOADED
            and link_data(own.data) == link_data(data)
        ):
            # The entry itself reads this port, which takes one reader: stop it meanwhile.
            await self.hass.config_entries.async_unload(own.entry_id)
            paused = own
        identity, found = await _probe(data)
        if identity is None:
            if paused is not None:
                self.hass.config_entries.async_schedule_reload(paused.entry_id)
            return found
        data = {CONF_KIND: MeterKind.DSMR.value, **data, CONF_DSMR_VERSION: found}
        await self.async_set_unique_id(identity.serial, raise_on_progress=False)
        if own is not None:
            if identity.serial != own.unique_id:
                if paused is not None:
                    self.hass.config_entries.async_schedule_reload(paused.entry_id)
                return self.async_abort(reason="wrong_device")
            reason = "key_updated" if self.source == SOURCE_REAUTH else "reconfigure_successful"
            return self.async_update_reload_and_abort(own, data=data, reason=reason)
        # A known meter on another port or bridge: follow it there.
        self._abort_if_unique_id_configured(updates=data)
        return self.async_create_entry(title=identity.name, data=data, options=DEFAULT_OPTIONS)


class DsmrOptionsFlowMixin(OptionsFlow):
    """Options of a DSMR entry: how often entity states are written."""

    async def async_step_dsmr_options(self, user_input: dict[str, Any] | None = None) -> Result:
        if user_input is not None:
            return self.async_create_entry(
                data={key: int(user_input[key]) for key in DEFAULT_OPTIONS}
            )
        schema = vol.Schema(
            {
                vol.Required(CONF_MEASUREMENT_WRITE_INTERVAL): _INTERVAL,
                vol.Required(CONF_COUNTER_WRITE_INTERVAL): _INTERVAL,
            }
        )
        current = {**DEFAULT_OPTIONS, **self.config_entry.options}
        return self.async_show_form(
            step_id="dsmr_options", data_schema=self.add_suggested_values_to_schema(schema, current)
        )
