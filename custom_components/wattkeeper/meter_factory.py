"""Builds the driver for a config entry's meter kind from the entry's data."""

from __future__ import annotations

from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from .const import CONF_KIND, CONF_TOKEN
from .coordinator import WattkeeperConfigEntry
from .ct_meter import create_ct_meter
from .dsmr_entry import create_dsmr_meter
from .flukso_entry import create_flukso_meter
from .meters.base import PolledMeter, StreamingMeter
from .meters.homewizard import HomeWizardMeter
from .meters.model import MeterKind
from .sun2000_entry import create_sun2000_meter


def create_meter(hass: HomeAssistant, entry: WattkeeperConfigEntry) -> PolledMeter | StreamingMeter:
    """The driver for an entry; each meter kind adds its case here."""
    kind = MeterKind(entry.data[CONF_KIND])
    match kind:
        case MeterKind.HOMEWIZARD:
            return HomeWizardMeter(
                entry.data[CONF_HOST],
                async_get_clientsession(hass),
                token=entry.data.get(CONF_TOKEN),
            )
        case MeterKind.DSMR:
            return create_dsmr_meter(hass, entry)
        case MeterKind.SUN2000:
            return create_sun2000_meter(hass, entry)
        case MeterKind.CT_CLAMP:
            return create_ct_meter(hass, entry)
        case MeterKind.FLUKSO:
            return create_flukso_meter(hass, entry)
    raise NotImplementedError(f"meter kind {kind} has no driver in this release")
