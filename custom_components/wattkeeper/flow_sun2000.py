"""Config flow steps for Huawei SUN2000: address, unit-id probe, choice, reconfigure, options.

The user gives the dongle's (port 502) or the inverter's own Wi-Fi (port
6607) address; every unit id behind it is asked for its identity, and each
inverter the user picks becomes an entry of its own (unique id: its serial).
Probing borrows the shared connection of that host and port, so adding a
second inverter behind a dongle never opens a second connection to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

import voluptuous as vol
from homeassistant.config_entries import ConfigEntryState, ConfigFlow, OptionsFlow
from homeassistant.config_entries import ConfigFlowResult as Result
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.helpers import selector

from .const import CONF_KIND, CONF_SCAN_INTERVAL, DOMAIN, LOGGER
from .meters.errors import MeterConnectionError, MeterError
from .meters.model import MeterIdentity, MeterKind
from .meters.sun2000 import (
    DEFAULT_INVERTER_INTERVAL,
    DEFAULT_METER_INTERVAL,
    MIN_INTERVAL,
    Sun2000Meter,
    probe,
)
from .meters.sun2000_connection import (
    ModbusUnavailableError,
    OtherClientError,
    Sun2000Connection,
)
from .sun2000_entry import (
    CONF_INVERTER_INTERVAL,
    CONF_PROXY,
    CONF_PROXY_PORT,
    CONF_UNIT_ID,
    DEFAULT_PROXY_PORT,
    proxy_port,
)
from .sun2000_link import acquire_link, quiet_pymodbus, release_link

DONGLE_PORT: Final = 502
CONF_INVERTERS: Final = "inverters"
CONF_SERIAL: Final = "serial"
# How long one unit id may stay silent before the probe moves on.
PROBE_TIME_LIMIT: float = 2.0
# The source of the flows that add the further inverters the user picked.
SOURCE_SUN2000_UNIT: Final = "sun2000_unit"

_PORT = selector.NumberSelector(
    selector.NumberSelectorConfig(min=1, max=65535, step=1, mode=selector.NumberSelectorMode.BOX)
)
_ADDRESS_SCHEMA = vol.Schema(
    {vol.Required(CONF_HOST): str, vol.Required(CONF_PORT, default=DONGLE_PORT): _PORT}
)


@dataclass(frozen=True, slots=True)
class FoundInverter:
    """An inverter the probe found, and the polling intervals it should start with."""

    unit_id: int
    identity: MeterIdentity
    intervals: dict[str, int]  # option → seconds

    def label(self) -> str:
        return f"{self.identity.model} ({self.identity.serial}, unit {self.unit_id})"


def _entry_data(host: str, port: int, unit_id: int) -> dict[str, Any]:
    return {
        CONF_KIND: MeterKind.SUN2000.value,
        CONF_HOST: host,
        CONF_PORT: port,
        CONF_UNIT_ID: unit_id,
    }


def _seconds(interval: timedelta) -> int:
    return int(interval.total_seconds())


async def _inverters(
    connection: Sun2000Connection, *, with_parts: bool
) -> dict[str, FoundInverter]:
    """Every inverter behind `connection` by serial; with its parts to pick the interval."""
    found: dict[str, FoundInverter] = {}
    for unit, identity in (await probe(connection, time_limit=PROBE_TIME_LIMIT)).items():
        # The coordinator polls at the fastest part's pace: the power meter's, when there is one.
        intervals = {CONF_SCAN_INTERVAL: _seconds(DEFAULT_INVERTER_INTERVAL)}
        if with_parts:
            device = await Sun2000Meter(connection, unit).discover()
            if device.meter is not None:
                intervals = {
                    CONF_SCAN_INTERVAL: _seconds(DEFAULT_METER_INTERVAL),
                    CONF_INVERTER_INTERVAL: _seconds(DEFAULT_INVERTER_INTERVAL),
                }
        found[identity.serial] = FoundInverter(unit, identity, intervals)
    return found


class Sun2000FlowMixin(ConfigFlow):
    """Steps for SUN2000; mixed into the one Wattkeeper config flow."""

    _sun_host: str = ""
    _sun_port: int = DONGLE_PORT
    _sun_found: dict[str, FoundInverter] | None = None

    async def async_step_sun2000(self, user_input: dict[str, Any] | None = None) -> Result:
        """Ask for the address of the dongle or the inverter's Wi-Fi."""
        errors: dict[str, str] = {}
        if user_input is not None:
            host, port = user_input[CONF_HOST].strip(), int(user_input[CONF_PORT])
            found, error = await self._sun_scan(host, port, with_parts=True)
            if found is not None:
                configured = {
                    entry.unique_id for entry in self._async_current_entries(include_ignore=True)
                }
                new = {serial: f for serial, f in found.items() if serial not in configured}
                if not new:
                    return self.async_abort(reason="already_configured")
                self._sun_host, self._sun_port, self._sun_found = host, port, new
                return await self.async_step_sun2000_pick()
            errors["base"] = error
        return self.async_show_form(
            step_id="sun2000",
            data_schema=self.add_suggested_values_to_schema(_ADDRESS_SCHEMA, user_input),
            errors=errors,
        )

    async def async_step_sun2000_pick(self, user_input: dict[str, Any] | None = None) -> Result:
        """Choose which of the inverters found to add; each becomes its own entry."""
        assert self._sun_found is not None
        found = self._sun_found
        errors: dict[str, str] = {}
        if user_input is not None:
            chosen = [found[serial] for serial in user_input[CONF_INVERTERS] if serial in found]
            if chosen:
                first, *others = chosen
                for other in others:
                    self.hass.async_create_task(
                        self.hass.config_entries.flow.async_init(
                            DOMAIN,
                            context={"source": SOURCE_SUN2000_UNIT},
                            data=self._sun_unit_data(other),
                        ),
                        eager_start=False,
                    )
                await self.async_set_unique_id(first.identity.serial)
                self._abort_if_unique_id_configured()
                return self._sun_create(self._sun_unit_data(first))
            errors["base"] = "nothing_chosen"
        options = [
            selector.SelectOptionDict(value=serial, label=f.label())
            for serial, f in sorted(found.items(), key=lambda item: item[1].unit_id)
        ]
        schema = vol.Schema(
            {
                vol.Required(CONF_INVERTERS, default=[o["value"] for o in options]): (
                    selector.SelectSelector(
                        selector.SelectSelectorConfig(
                            options=options,
                            multiple=True,
                            mode=selector.SelectSelectorMode.LIST,
                        )
                    )
                )
            }
        )
        return self.async_show_form(
            step_id="sun2000_pick",
            data_schema=schema,
            errors=errors,
            description_placeholders={"count": str(len(found)), "host": self._sun_host},
        )

    async def async_step_sun2000_unit(self, data: Mapping[str, Any]) -> Result:
        """A further inverter the user picked in the same flow: add it without asking again."""
        await self.async_set_unique_id(data[CONF_SERIAL])
        self._abort_if_unique_id_configured()
        return self._sun_create(data)

    async def async_step_sun2000_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> Result:
        """A new address for the same inverter (its unit id may change with it)."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            host, port = user_input[CONF_HOST].strip(), int(user_input[CONF_PORT])
            found, error = await self._sun_scan(host, port, with_parts=False)
            if found is not None:
                inverter = found.get(entry.unique_id or "")
                if inverter is None:
                    return self.async_abort(reason="wrong_device")
                return self.async_update_reload_and_abort(
                    entry,
                    data_updates={
                        CONF_HOST: host,
                        CONF_PORT: port,
                        CONF_UNIT_ID: inverter.unit_id,
                    },
                )
            errors["base"] = error
        current = {CONF_HOST: entry.data[CONF_HOST], CONF_PORT: entry.data[CONF_PORT]}
        return self.async_show_form(
            step_id="sun2000_reconfigure",
            data_schema=self.add_suggested_values_to_schema(_ADDRESS_SCHEMA, user_input or current),
            errors=errors,
        )

    async def _sun_scan(
        self, host: str, port: int, *, with_parts: bool
    ) -> tuple[dict[str, FoundInverter] | None, str]:
        """The inverters at host:port by serial; on failure, the flow's error key."""
        connection = acquire_link(self.hass, host, port)
        try:
            with quiet_pymodbus():
                found = await _inverters(connection, with_parts=with_parts)
        except ModbusUnavailableError:
            return None, "device_busy"
        except OtherClientError:
            return None, "one_connection"
        except MeterConnectionError:  # also a timeout: the address answers nothing useful
            return None, "cannot_connect"
        except MeterError:
            LOGGER.exception("Unexpected answer from the SUN2000 at %s:%d", host, port)
            return None, "unknown"
        finally:
            await release_link(self.hass, connection)
        if not found:
            return None, "nothing_found"
        return found, ""

    def _sun_unit_data(self, inverter: FoundInverter) -> dict[str, Any]:
        return {
            CONF_SERIAL: inverter.identity.serial,
            "title": inverter.identity.name,
            "intervals": inverter.intervals,
            **_entry_data(self._sun_host, self._sun_port, inverter.unit_id),
        }

    def _sun_create(self, data: Mapping[str, Any]) -> Result:
        return self.async_create_entry(
            title=data["title"],
            data=_entry_data(data[CONF_HOST], data[CONF_PORT], data[CONF_UNIT_ID]),
            options=dict(data["intervals"]),
        )


def _interval_selector() -> selector.NumberSelector:
    return selector.NumberSelector(
        selector.NumberSelectorConfig(
            min=MIN_INTERVAL.total_seconds(),
            max=3600,
            step=1,
            unit_of_measurement="s",
            mode=selector.NumberSelectorMode.BOX,
        )
    )


class Sun2000OptionsFlowMixin(OptionsFlow):
    """Options of a SUN2000 entry: polling intervals and the Modbus proxy."""

    async def async_step_sun2000_options(self, user_input: dict[str, Any] | None = None) -> Result:
        errors: dict[str, str] = {}
        has_meter = self._sun_has_meter()
        if user_input is not None:
            options = {
                CONF_SCAN_INTERVAL: int(user_input[CONF_SCAN_INTERVAL]),
                CONF_PROXY: bool(user_input[CONF_PROXY]),
                CONF_PROXY_PORT: int(user_input[CONF_PROXY_PORT]),
            }
            if has_meter:
                options[CONF_INVERTER_INTERVAL] = int(user_input[CONF_INVERTER_INTERVAL])
            port = proxy_port(options)
            if port is not None and port in self._sun_proxy_ports_of_others():
                errors[CONF_PROXY_PORT] = "proxy_port_in_use"
            else:
                return self.async_create_entry(data=options)
        current = self.config_entry.options
        defaults = {
            CONF_SCAN_INTERVAL: current.get(
                CONF_SCAN_INTERVAL,
                _seconds(DEFAULT_METER_INTERVAL if has_meter else DEFAULT_INVERTER_INTERVAL),
            ),
            CONF_INVERTER_INTERVAL: current.get(
                CONF_INVERTER_INTERVAL, _seconds(DEFAULT_INVERTER_INTERVAL)
            ),
            CONF_PROXY: current.get(CONF_PROXY, False),
            CONF_PROXY_PORT: current.get(CONF_PROXY_PORT, DEFAULT_PROXY_PORT),
            **(user_input or {}),
        }
        fields: dict[vol.Marker, Any] = {vol.Required(CONF_SCAN_INTERVAL): _interval_selector()}
        if has_meter:
            fields[vol.Required(CONF_INVERTER_INTERVAL)] = _interval_selector()
        fields[vol.Required(CONF_PROXY)] = selector.BooleanSelector()
        fields[vol.Required(CONF_PROXY_PORT)] = _PORT
        return self.async_show_form(
            step_id="sun2000_options",
            data_schema=self.add_suggested_values_to_schema(vol.Schema(fields), defaults),
            errors=errors,
        )

    def _sun_has_meter(self) -> bool:
        """Whether the inverter has a power meter: as found at setup, else as the flow stored."""
        entry = self.config_entry
        if entry.state is ConfigEntryState.LOADED:
            meter = entry.runtime_data.meter
            if isinstance(meter, Sun2000Meter) and meter.device is not None:
                return meter.device.meter is not None
        return CONF_INVERTER_INTERVAL in entry.options

    def _sun_proxy_ports_of_others(self) -> set[int]:
        """Proxy ports other SUN2000 entries listen on."""
        ports: set[int] = set()
        for entry in self.hass.config_entries.async_entries(DOMAIN):
            if entry.entry_id == self.config_entry.entry_id:
                continue
            if entry.data.get(CONF_KIND) != MeterKind.SUN2000.value:
                continue
            if (port := proxy_port(entry.options)) is not None:
                ports.add(port)
        return ports
