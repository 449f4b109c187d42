"""The `wattkeeper.calibrate` action: a reference reading becomes a calibration factor.

"This circuit draws 1500 W now": the action reads a fresh frame, asks the
driver for the factor that would have made it read the reference, and stores
that factor in the entry's options. A phase reference ("a kettle, power factor
1, is on now") stores the clamp's phase offset instead. Storing the options
reloads the entry, so the next reading already uses it.
"""

from __future__ import annotations

from typing import Final

import voluptuous as vol
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_DEVICE_ID, ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.service import async_register_admin_service

from .const import CONF_KIND, DOMAIN, LOGGER
from .coordinator import WattkeeperConfigEntry
from .ct_meter import CtEntryMeter
from .ct_settings import with_calibration, with_phase_offset
from .meters.ct_calibration import CalibrationError, CalibrationTarget
from .meters.ct_config import ADC_CHANNELS
from .meters.model import MeterKind

SERVICE_CALIBRATE: Final = "calibrate"
ATTR_CHANNEL: Final = "channel"
ATTR_TARGET: Final = "target"
ATTR_REFERENCE: Final = "reference"

CALIBRATE_SCHEMA: Final = vol.All(
    vol.Schema(
        {
            vol.Exclusive(ATTR_DEVICE_ID, "meter"): cv.string,
            vol.Exclusive(ATTR_ENTITY_ID, "meter"): cv.entity_id,
            vol.Optional(ATTR_CHANNEL): vol.All(
                vol.Coerce(int), vol.Range(min=0, max=ADC_CHANNELS - 1)
            ),
            vol.Required(ATTR_TARGET): vol.Coerce(CalibrationTarget),
            vol.Required(ATTR_REFERENCE): vol.All(
                vol.Coerce(float), vol.Range(min=0, min_included=False)
            ),
        }
    ),
    cv.has_at_least_one_key(ATTR_DEVICE_ID, ATTR_ENTITY_ID),
)


@callback
def async_setup_ct_services(hass: HomeAssistant) -> None:
    async def calibrate(call: ServiceCall) -> None:
        await _async_calibrate(hass, call)

    async_register_admin_service(hass, DOMAIN, SERVICE_CALIBRATE, calibrate, CALIBRATE_SCHEMA)


async def _async_calibrate(hass: HomeAssistant, call: ServiceCall) -> None:
    entry, entity_unique_id = _target_entry(hass, call)
    meter = entry.runtime_data.meter
    assert isinstance(meter, CtEntryMeter)
    channel: int | None = call.data.get(ATTR_CHANNEL)
    if channel is None and entity_unique_id is not None:
        channel = _channel_of_entity(entry, entity_unique_id)
    if channel is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="calibrate_channel_required"
        )
    target: CalibrationTarget = call.data[ATTR_TARGET]
    reference: float = call.data[ATTR_REFERENCE]

    coordinator = entry.runtime_data.coordinator
    await coordinator.async_refresh()
    if not coordinator.last_update_success:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="calibrate_no_reading",
            translation_placeholders={"error": str(coordinator.last_exception)},
        )
    try:
        value = meter.driver.calibrate(channel, target, reference)
    except CalibrationError as err:
        raise _calibration_error(err, channel) from err
    if target is CalibrationTarget.PHASE:
        options = with_phase_offset(entry.options, channel, value)
        setting = f"phase offset {value:+.2f}°"
    else:
        options = with_calibration(entry.options, channel, value)
        setting = f"factor {value:.5f}"
    LOGGER.info(
        "%s: channel %s calibrated on a %s reference of %g: %s",
        entry.title,
        channel,
        target.value,
        reference,
        setting,
    )
    # The update listener reloads the entry with the new setting.
    hass.config_entries.async_update_entry(entry, options=options)


def _target_entry(
    hass: HomeAssistant, call: ServiceCall
) -> tuple[WattkeeperConfigEntry, str | None]:
    """The loaded CT clamp entry the call names, and the entity's unique id if it named one."""
    unique_id: str | None = None
    entry_ids: set[str] = set()
    if (entity_id := call.data.get(ATTR_ENTITY_ID)) is not None:
        entity = er.async_get(hass).async_get(entity_id)
        if entity is not None and entity.config_entry_id is not None:
            entry_ids = {entity.config_entry_id}
            unique_id = entity.unique_id
    elif (device := dr.async_get(hass).async_get(call.data[ATTR_DEVICE_ID])) is not None:
        entry_ids = set(device.config_entries)
    for entry_id in entry_ids:
        entry: WattkeeperConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
        if entry is None or entry.domain != DOMAIN:
            continue
        if entry.data.get(CONF_KIND) != MeterKind.CT_CLAMP:
            break
        if entry.state is not ConfigEntryState.LOADED:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="calibrate_not_loaded",
                translation_placeholders={"name": entry.title},
            )
        return entry, unique_id
    raise ServiceValidationError(
        translation_domain=DOMAIN, translation_key="calibrate_not_ct_clamp"
    )


def _channel_of_entity(entry: WattkeeperConfigEntry, unique_id: str) -> int | None:
    """The ADC input a sensor of this entry shows, from its unique id."""
    coordinator = entry.runtime_data.coordinator
    serial = coordinator.identity.serial
    for key in coordinator.data.values:
        if key.channel is not None and f"{serial}_{key.id}" == unique_id:
            return int(key.channel)
    return None


def _calibration_error(err: CalibrationError, channel: int) -> ServiceValidationError:
    """One translated message per reason the library gives."""
    placeholders = {"channel": str(channel), "error": str(err)}

    def error(translation_key: str) -> ServiceValidationError:
        return ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key=translation_key,
            translation_placeholders=placeholders,
        )

    match err.reason:
        case "no_measurement":
            return error(translation_key="calibrate_no_measurement")
        case "bad_reference":
            return error(translation_key="calibrate_bad_reference")
        case "no_signal":
            return error(translation_key="calibrate_no_signal")
        case "out_of_range":
            return error(translation_key="calibrate_out_of_range")
        case "wrong_channel":
            return error(translation_key="calibrate_wrong_channel")
        case "clipped":
            return error(translation_key="calibrate_clipped")
        case "no_voltage":
            return error(translation_key="calibrate_no_voltage")
        case "phase_needs_voltage":
            return error(translation_key="calibrate_phase_needs_voltage")
        case "bad_power_factor":
            return error(translation_key="calibrate_bad_power_factor")
    return error(translation_key="calibrate_failed")
