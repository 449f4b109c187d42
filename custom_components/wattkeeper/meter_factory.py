"""Builds the driver for a config entry's meter kind from the entry's data."""

from __future__ import annotations

from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from .const import CONF_KIND, CONF_TOKEN
from .coordinator import WattkeeperConfigEntry
from .meters.base import PolledMeter, StreamingMeter
from .meters.homewizard import HomeWizardMeter
from .meters.model import MeterKind


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
    raise NotImplementedError(f"meter kind {kind} has no driver in this release")
