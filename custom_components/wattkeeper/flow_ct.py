"""Config and options flow steps for CT clamps on an MCP3208 over SPI.

Config: the SPI link (opened at once, so a host without SPI is told so before
anything else), which input does what, one form per input, then readings;
the board is probed before the entry is created. Options: the same channel
questions plus the polling interval. The questions themselves live in
ct_wizard.py; these mixins only route the steps.
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from homeassistant.config_entries import ConfigFlow, OptionsFlow
from homeassistant.config_entries import ConfigFlowResult as Result
from homeassistant.helpers import selector

from .const import CONF_KIND, LOGGER
from .ct_bus import bus_for
from .ct_settings import (
    CONF_DEVICE_ID,
    CONF_MAINS_HZ,
    CONF_SPI_BUS,
    CONF_SPI_DEVICE,
    CONF_SPI_HZ,
    DEFAULT_MAINS_HZ,
    DEFAULT_SPI_HZ,
    Role,
    build_config,
)
from .ct_wizard import CtWizard, number_selector
from .meters.ct_clamp import CtClampMeter
from .meters.ct_config import MAX_SPI_HZ, MIN_SPI_HZ, CtConfig, default_device_id
from .meters.ct_spi import SpiDisabledError, SpiNotAvailableError, SpiPermissionError
from .meters.errors import MeterConnectionError, MeterError
from .meters.model import MeterKind
from .on_demand import OnDemand, async_ensure


def _link_schema() -> vol.Schema:
    return vol.Schema(
        {
            # A Pi has SPI0 with two chip selects; later models add buses 1–6 with up to three.
            vol.Required(CONF_SPI_BUS, default=0): number_selector(0, 6, step=1),
            vol.Required(CONF_SPI_DEVICE, default=0): number_selector(0, 2, step=1),
            vol.Required(CONF_SPI_HZ, default=DEFAULT_SPI_HZ): number_selector(
                MIN_SPI_HZ, MAX_SPI_HZ, "Hz", step=1
            ),
            vol.Required(CONF_MAINS_HZ, default=str(DEFAULT_MAINS_HZ)): selector.SelectSelector(
                selector.SelectSelectorConfig(
                    options=["50", "60"],
                    translation_key="ct_mains_hz",
                    mode=selector.SelectSelectorMode.LIST,
                )
            ),
        }
    )


def _open_and_close(spi_bus: int, spi_device: int) -> None:
    """Blocking: open the bus the way the driver will, then let it go."""
    spi = bus_for(spi_bus, spi_device).opener(spi_bus, spi_device)
    spi.close()


def _spi_error(err: MeterError) -> str:
    """The form error for a bus that cannot be opened or a board that does not answer."""
    if isinstance(err, SpiNotAvailableError):
        return "not_a_pi"
    if isinstance(err, SpiDisabledError):
        return "spi_disabled"
    if isinstance(err, SpiPermissionError):
        return "spi_permission"
    if isinstance(err, MeterConnectionError):
        return "no_chip"
    LOGGER.error("Unexpected SPI error: %s", err)
    return "unknown"


class CtClampFlowMixin(ConfigFlow):
    """Steps for an MCP3208 with CT clamps; mixed into the one Wattkeeper config flow."""

    _ct_link: dict[str, Any] | None = None
    _ct_wizard: CtWizard | None = None

    async def async_step_ct_clamp(self, user_input: dict[str, Any] | None = None) -> Result:
        """Where the ADC is wired: SPI bus, chip select, clock, and the mains frequency."""
        errors: dict[str, str] = {}
        if user_input is not None:
            spi_bus = int(user_input[CONF_SPI_BUS])
            spi_device = int(user_input[CONF_SPI_DEVICE])
            device_id = default_device_id(spi_bus, spi_device)
            await self.async_set_unique_id(device_id)
            self._abort_if_unique_id_configured()
            try:
                # spidev is not in the manifest: Home Assistant installs it on first use.
                if not await async_ensure(self.hass, OnDemand.SPIDEV):
                    raise SpiNotAvailableError("spidev could not be installed")
                await self.hass.async_add_executor_job(_open_and_close, spi_bus, spi_device)
            except MeterError as err:
                errors["base"] = _spi_error(err)
            else:
                self._ct_link = {
                    CONF_KIND: MeterKind.CT_CLAMP.value,
                    CONF_DEVICE_ID: device_id,
                    CONF_SPI_BUS: spi_bus,
                    CONF_SPI_DEVICE: spi_device,
                    CONF_SPI_HZ: int(user_input[CONF_SPI_HZ]),
                    CONF_MAINS_HZ: int(user_input[CONF_MAINS_HZ]),
                }
                self._ct_wizard = CtWizard()
                return await self.async_step_ct_clamp_channels()
        return self.async_show_form(
            step_id="ct_clamp",
            data_schema=self.add_suggested_values_to_schema(_link_schema(), user_input),
            errors=errors,
        )

    async def async_step_ct_clamp_channels(
        self, user_input: dict[str, Any] | None = None
    ) -> Result:
        """What is wired to each of the eight inputs."""
        wizard = self._ct_wizard
        assert wizard is not None
        errors: dict[str, str] = {}
        if user_input is not None:
            error = wizard.set_roles(user_input)
            if error is None:
                return await self._ct_next()
            errors["base"] = error
        return self.async_show_form(
            step_id="ct_clamp_channels", data_schema=wizard.roles_schema(), errors=errors
        )

    async def async_step_ct_clamp_voltage(self, user_input: dict[str, Any] | None = None) -> Result:
        """One voltage input: its transformer and calibration."""
        return await self._ct_channel("ct_clamp_voltage", user_input)

    async def async_step_ct_clamp_current(self, user_input: dict[str, Any] | None = None) -> Result:
        """One clamp: its rating, burden, calibration, direction and voltage input."""
        return await self._ct_channel("ct_clamp_current", user_input)

    async def async_step_ct_clamp_readings(
        self, user_input: dict[str, Any] | None = None
    ) -> Result:
        """Clamp-only voltage and noise floor; then the board is probed."""
        wizard = self._ct_wizard
        assert wizard is not None
        assert self._ct_link is not None
        errors: dict[str, str] = {}
        placeholders = {"error": ""}
        if user_input is not None:
            error = wizard.set_readings(user_input)
            if error is None:
                link = self._ct_link
                title = f"CT clamps spi{link[CONF_SPI_BUS]}.{link[CONF_SPI_DEVICE]}"
                options = wizard.options()
                try:
                    config = build_config(self._ct_link, options, title)
                except ValueError as err:
                    error, placeholders["error"] = "invalid_setup", str(err)
                else:
                    error = await self._ct_probe(config)
                if error is None:
                    return self.async_create_entry(title=title, data=self._ct_link, options=options)
            errors["base"] = error
        return self.async_show_form(
            step_id="ct_clamp_readings",
            data_schema=wizard.readings_schema(with_interval=False),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def _ct_channel(self, step_id: str, user_input: dict[str, Any] | None) -> Result:
        wizard = self._ct_wizard
        assert wizard is not None
        channel = wizard.pending[0]
        if user_input is not None:
            wizard.set_channel(channel, user_input)
            return await self._ct_next()
        return self.async_show_form(
            step_id=step_id,
            data_schema=wizard.channel_schema(channel),
            description_placeholders={"channel": str(channel)},
        )

    async def _ct_next(self) -> Result:
        wizard = self._ct_wizard
        assert wizard is not None
        if not wizard.pending:
            return await self.async_step_ct_clamp_readings()
        if wizard.role(wizard.pending[0]) is Role.VOLTAGE:
            return await self.async_step_ct_clamp_voltage()
        return await self.async_step_ct_clamp_current()

    async def _ct_probe(self, config: CtConfig) -> str | None:
        """Sample a few scans of the configured inputs; None when an MCP3208 answers."""
        bus = bus_for(config.spi_bus, config.spi_device)
        meter = CtClampMeter(config, opener=bus.opener, timebase=bus.timebase)
        try:
            await meter.identify()
        except MeterError as err:
            LOGGER.info("No MCP3208 on %s: %s", config.address, err)
            return _spi_error(err)
        finally:
            await meter.close()
        return None


class CtClampOptionsFlowMixin(OptionsFlow):
    """The channel questions again, with the polling interval; saved options reload the entry."""

    _ct_wizard: CtWizard | None = None

    async def async_step_ct_clamp_options(self, user_input: dict[str, Any] | None = None) -> Result:
        if self._ct_wizard is None:
            self._ct_wizard = CtWizard(self.config_entry.options)
        wizard = self._ct_wizard
        errors: dict[str, str] = {}
        if user_input is not None:
            error = wizard.set_roles(user_input)
            if error is None:
                return await self._ct_options_next()
            errors["base"] = error
        return self.async_show_form(
            step_id="ct_clamp_options", data_schema=wizard.roles_schema(), errors=errors
        )

    async def async_step_ct_clamp_options_voltage(
        self, user_input: dict[str, Any] | None = None
    ) -> Result:
        return await self._ct_options_channel("ct_clamp_options_voltage", user_input)

    async def async_step_ct_clamp_options_current(
        self, user_input: dict[str, Any] | None = None
    ) -> Result:
        return await self._ct_options_channel("ct_clamp_options_current", user_input)

    async def async_step_ct_clamp_options_readings(
        self, user_input: dict[str, Any] | None = None
    ) -> Result:
        wizard = self._ct_wizard
        assert wizard is not None
        errors: dict[str, str] = {}
        placeholders = {"error": ""}
        if user_input is not None:
            error = wizard.set_readings(user_input)
            if error is None:
                options = wizard.options()
                try:
                    build_config(self.config_entry.data, options, self.config_entry.title)
                except ValueError as err:
                    error, placeholders["error"] = "invalid_setup", str(err)
                else:
                    return self.async_create_entry(data=options)
            errors["base"] = error
        return self.async_show_form(
            step_id="ct_clamp_options_readings",
            data_schema=wizard.readings_schema(with_interval=True),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def _ct_options_channel(self, step_id: str, user_input: dict[str, Any] | None) -> Result:
        wizard = self._ct_wizard
        assert wizard is not None
        channel = wizard.pending[0]
        if user_input is not None:
            wizard.set_channel(channel, user_input)
            return await self._ct_options_next()
        return self.async_show_form(
            step_id=step_id,
            data_schema=wizard.channel_schema(channel),
            description_placeholders={"channel": str(channel)},
        )

    async def _ct_options_next(self) -> Result:
        wizard = self._ct_wizard
        assert wizard is not None
        if not wizard.pending:
            return await self.async_step_ct_clamp_options_readings()
        if wizard.role(wizard.pending[0]) is Role.VOLTAGE:
            return await self.async_step_ct_clamp_options_voltage()
        return await self.async_step_ct_clamp_options_current()
