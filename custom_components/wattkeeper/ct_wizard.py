"""The channel questions of the CT clamp config and options flows.

Both flows ask the same things in the same order: the ADC's reference voltage
and what is on each of the eight inputs, then one form per voltage input, one
per current input (which can pair with a voltage input seen before it), then
the readings form. This class holds the answers and builds each form, so the
flows only route steps. Earlier answers (the entry's options) are the defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

import voluptuous as vol
from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.const import (
    DEGREE,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfPower,
)
from homeassistant.helpers import selector

from .const import CONF_SCAN_INTERVAL, MIN_SCAN_INTERVAL_SECONDS
from .ct_settings import (
    CONF_BURDEN_OHM,
    CONF_CALIBRATION,
    CONF_CHANNELS,
    CONF_CLAMP_VOLTAGE,
    CONF_DIVIDER_RATIO,
    CONF_INVERT,
    CONF_NOISE_FLOOR_A,
    CONF_NOISE_FLOOR_W,
    CONF_NOMINAL_VOLTAGE,
    CONF_PHASE_OFFSET_DEG,
    CONF_RATING_A,
    CONF_ROLE,
    CONF_SECONDARY_A,
    CONF_TRANSFORMER_RATIO,
    CONF_VOLTAGE_CHANNEL,
    CONF_VOLTAGE_ENTITY,
    CONF_VREF,
    Role,
    channel_settings,
    current_defaults,
    readings_defaults,
    voltage_defaults,
)
from .meters.ct_config import ADC_CHANNELS, MAX_PHASE_OFFSET_DEG, ClampVoltage

NO_VOLTAGE: Final = "none"  # the pairing choice of a clamp-only channel


def role_field(channel: int) -> str:
    return f"channel_{channel}"


def number_selector(
    low: float, high: float, unit: str | None = None, step: float | Literal["any"] = "any"
) -> selector.NumberSelector:
    config = selector.NumberSelectorConfig(
        min=low, max=high, step=step, mode=selector.NumberSelectorMode.BOX
    )
    if unit is not None:
        config["unit_of_measurement"] = unit
    return selector.NumberSelector(config)


def _select(options: list[str], translation_key: str) -> selector.SelectSelector:
    return selector.SelectSelector(
        selector.SelectSelectorConfig(
            options=options,
            translation_key=translation_key,
            mode=selector.SelectSelectorMode.DROPDOWN,
        )
    )


_CALIBRATION = number_selector(0.1, 10.0)


class CtWizard:
    """Answers so far; `pending` lists the inputs whose own form is still to come."""

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        previous = options or {}
        self.channels = channel_settings(previous)
        self.readings = {
            key: previous.get(key, default) for key, default in readings_defaults().items()
        }
        self.readings[CONF_VOLTAGE_ENTITY] = previous.get(CONF_VOLTAGE_ENTITY)
        self.pending: list[int] = []

    # -- which input does what ---------------------------------------------

    def roles_schema(self) -> vol.Schema:
        roles = [role.value for role in Role]
        fields: dict[vol.Marker, Any] = {
            # The MCP3208 takes 0.25 V up to its supply (2.7–5.5 V) as VREF.
            vol.Required(CONF_VREF, default=self.readings[CONF_VREF]): number_selector(
                0.25, 5.5, UnitOfElectricPotential.VOLT
            )
        }
        for channel in range(ADC_CHANNELS):
            current = self.channels.get(channel, {}).get(CONF_ROLE, Role.UNUSED.value)
            fields[vol.Required(role_field(channel), default=current)] = _select(
                roles, "ct_channel_role"
            )
        return vol.Schema(fields)

    def set_roles(self, answer: Mapping[str, Any]) -> str | None:
        """Keep the settings of inputs whose role stays; None, or a form error key."""
        roles = {channel: Role(answer[role_field(channel)]) for channel in range(ADC_CHANNELS)}
        if all(role is Role.UNUSED for role in roles.values()):
            return "no_channels"
        self.readings[CONF_VREF] = float(answer[CONF_VREF])
        channels: dict[int, dict[str, Any]] = {}
        new_currents: list[int] = []
        for channel, role in roles.items():
            before = self.channels.get(channel, {})
            if role is Role.UNUSED:
                continue
            if before.get(CONF_ROLE) == role:
                channels[channel] = before
            elif role is Role.CURRENT:
                channels[channel] = current_defaults()
                new_currents.append(channel)
            else:
                channels[channel] = voltage_defaults()
        self.channels = channels
        voltages = self.voltage_channels
        for channel in new_currents:
            # A new clamp pairs with the first voltage input unless the user says otherwise.
            channels[channel][CONF_VOLTAGE_CHANNEL] = voltages[0] if voltages else None
        # Voltage inputs first, so each clamp can be paired with one already known.
        self.pending = [c for c, r in roles.items() if r is Role.VOLTAGE] + [
            c for c, r in roles.items() if r is Role.CURRENT
        ]
        return None

    @property
    def voltage_channels(self) -> list[int]:
        return sorted(c for c, s in self.channels.items() if s[CONF_ROLE] == Role.VOLTAGE)

    def role(self, channel: int) -> Role:
        return Role(self.channels[channel][CONF_ROLE])

    # -- one input ---------------------------------------------------------

    def channel_schema(self, channel: int) -> vol.Schema:
        spec = self.channels[channel]
        if self.role(channel) is Role.VOLTAGE:
            return vol.Schema(
                {
                    vol.Required(
                        CONF_TRANSFORMER_RATIO, default=spec[CONF_TRANSFORMER_RATIO]
                    ): number_selector(1.0, 1000.0),
                    vol.Required(
                        CONF_DIVIDER_RATIO, default=spec[CONF_DIVIDER_RATIO]
                    ): number_selector(1.0, 1000.0),
                    vol.Required(CONF_CALIBRATION, default=spec[CONF_CALIBRATION]): _CALIBRATION,
                }
            )
        return vol.Schema(
            {
                vol.Required(CONF_RATING_A, default=spec[CONF_RATING_A]): number_selector(
                    1.0, 3000.0, UnitOfElectricCurrent.AMPERE
                ),
                vol.Required(CONF_SECONDARY_A, default=spec[CONF_SECONDARY_A]): number_selector(
                    0.001, 10.0, UnitOfElectricCurrent.AMPERE
                ),
                vol.Required(CONF_BURDEN_OHM, default=spec[CONF_BURDEN_OHM]): number_selector(
                    0.1, 10000.0, "Ω"
                ),
                vol.Required(CONF_CALIBRATION, default=spec[CONF_CALIBRATION]): _CALIBRATION,
                vol.Required(
                    CONF_PHASE_OFFSET_DEG, default=spec[CONF_PHASE_OFFSET_DEG]
                ): number_selector(-MAX_PHASE_OFFSET_DEG, MAX_PHASE_OFFSET_DEG, DEGREE),
                vol.Required(CONF_INVERT, default=spec[CONF_INVERT]): selector.BooleanSelector(),
                vol.Required(CONF_VOLTAGE_CHANNEL, default=self._pairing_default(spec)): _select(
                    [NO_VOLTAGE, *(str(c) for c in self.voltage_channels)], "ct_voltage_pairing"
                ),
            }
        )

    def _pairing_default(self, spec: Mapping[str, Any]) -> str:
        """The stored pairing; a clamp-only channel stays so, one whose voltage input
        was removed moves to the first voltage input."""
        voltages = self.voltage_channels
        paired = spec[CONF_VOLTAGE_CHANNEL]
        if paired is None or paired in voltages:
            return NO_VOLTAGE if paired is None else str(paired)
        return str(voltages[0]) if voltages else NO_VOLTAGE

    def set_channel(self, channel: int, answer: Mapping[str, Any]) -> None:
        spec = self.channels[channel]
        if self.role(channel) is Role.VOLTAGE:
            spec[CONF_TRANSFORMER_RATIO] = float(answer[CONF_TRANSFORMER_RATIO])
            spec[CONF_DIVIDER_RATIO] = float(answer[CONF_DIVIDER_RATIO])
            spec[CONF_CALIBRATION] = float(answer[CONF_CALIBRATION])
        else:
            spec[CONF_RATING_A] = float(answer[CONF_RATING_A])
            spec[CONF_SECONDARY_A] = float(answer[CONF_SECONDARY_A])
            spec[CONF_BURDEN_OHM] = float(answer[CONF_BURDEN_OHM])
            spec[CONF_CALIBRATION] = float(answer[CONF_CALIBRATION])
            spec[CONF_PHASE_OFFSET_DEG] = float(answer[CONF_PHASE_OFFSET_DEG])
            spec[CONF_INVERT] = bool(answer[CONF_INVERT])
            paired = answer[CONF_VOLTAGE_CHANNEL]
            spec[CONF_VOLTAGE_CHANNEL] = None if paired == NO_VOLTAGE else int(paired)
        self.pending.remove(channel)

    # -- readings ----------------------------------------------------------

    @property
    def has_clamp_only(self) -> bool:
        return any(
            s[CONF_ROLE] == Role.CURRENT and s[CONF_VOLTAGE_CHANNEL] is None
            for s in self.channels.values()
        )

    def readings_schema(self, *, with_interval: bool) -> vol.Schema:
        values = self.readings
        fields: dict[vol.Marker, Any] = {}
        if self.has_clamp_only:
            fields[vol.Required(CONF_CLAMP_VOLTAGE, default=values[CONF_CLAMP_VOLTAGE])] = _select(
                [mode.value for mode in ClampVoltage], "ct_clamp_voltage"
            )
            fields[vol.Required(CONF_NOMINAL_VOLTAGE, default=values[CONF_NOMINAL_VOLTAGE])] = (
                number_selector(50.0, 500.0, UnitOfElectricPotential.VOLT)
            )
            fields[
                vol.Optional(
                    CONF_VOLTAGE_ENTITY,
                    description={"suggested_value": values[CONF_VOLTAGE_ENTITY]},
                )
            ] = selector.EntitySelector(
                selector.EntitySelectorConfig(
                    domain="sensor", device_class=SensorDeviceClass.VOLTAGE
                )
            )
        fields[vol.Required(CONF_NOISE_FLOOR_W, default=values[CONF_NOISE_FLOOR_W])] = (
            number_selector(0.0, 500.0, UnitOfPower.WATT)
        )
        fields[vol.Required(CONF_NOISE_FLOOR_A, default=values[CONF_NOISE_FLOOR_A])] = (
            number_selector(0.0, 10.0, UnitOfElectricCurrent.AMPERE)
        )
        if with_interval:
            fields[vol.Required(CONF_SCAN_INTERVAL, default=values[CONF_SCAN_INTERVAL])] = (
                number_selector(MIN_SCAN_INTERVAL_SECONDS, 3600, "s", step=1)
            )
        return vol.Schema(fields)

    def set_readings(self, answer: Mapping[str, Any]) -> str | None:
        """None, or a form error key."""
        readings = {**self.readings, **answer}
        if not self.has_clamp_only:
            readings[CONF_CLAMP_VOLTAGE] = ClampVoltage.NOMINAL.value
        if CONF_VOLTAGE_ENTITY not in answer:
            readings[CONF_VOLTAGE_ENTITY] = None
        if readings[CONF_CLAMP_VOLTAGE] == ClampVoltage.EXTERNAL and not readings.get(
            CONF_VOLTAGE_ENTITY
        ):
            return "voltage_entity_required"
        self.readings = readings
        return None

    def options(self) -> dict[str, Any]:
        """The entry options these answers make."""
        readings = self.readings
        options: dict[str, Any] = {
            CONF_VREF: float(readings[CONF_VREF]),
            CONF_CHANNELS: {str(c): dict(s) for c, s in sorted(self.channels.items())},
            CONF_CLAMP_VOLTAGE: readings[CONF_CLAMP_VOLTAGE],
            CONF_NOMINAL_VOLTAGE: float(readings[CONF_NOMINAL_VOLTAGE]),
            CONF_NOISE_FLOOR_W: float(readings[CONF_NOISE_FLOOR_W]),
            CONF_NOISE_FLOOR_A: float(readings[CONF_NOISE_FLOOR_A]),
            CONF_SCAN_INTERVAL: int(readings[CONF_SCAN_INTERVAL]),
        }
        if readings.get(CONF_VOLTAGE_ENTITY):
            options[CONF_VOLTAGE_ENTITY] = readings[CONF_VOLTAGE_ENTITY]
        return options
