"""One coordinator per meter entry: polls the driver and maps its errors once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .const import DOMAIN, LOGGER, SIGNAL_SNAPSHOT
from .meters.base import PolledMeter, StreamingMeter
from .meters.errors import (
    MeterAuthError,
    MeterDataError,
    MeterDisabledError,
    MeterError,
    MeterUnsupportedError,
)
from .meters.model import MeterIdentity, Snapshot

type WattkeeperConfigEntry = ConfigEntry[WattkeeperRuntime]


@dataclass(slots=True)
class WattkeeperRuntime:
    """Everything a meter entry owns while it is loaded."""

    coordinator: SnapshotCoordinator
    meter: PolledMeter | StreamingMeter
    options: dict[str, Any]  # as set up; a change reloads the entry


def translated_update_failed(err: MeterError) -> UpdateFailed:
    """The one place meter errors become Home Assistant's transient failure.

    A driver error may name a message of its own that tells the user what to
    do (its `translation_key`, under "exceptions" as `update_<key>`).
    """
    own = getattr(err, "translation_key", None)
    if isinstance(own, str):
        key = own
    elif isinstance(err, MeterDisabledError):
        key = "api_disabled"
    elif isinstance(err, MeterDataError):
        key = "invalid_data"
    elif isinstance(err, MeterUnsupportedError):
        key = "unsupported"
    else:
        key = "cannot_connect"
    return UpdateFailed(
        str(err),
        translation_domain=DOMAIN,
        translation_key=f"update_{key}",
        translation_placeholders={"error": str(err)},
    )


class SnapshotCoordinator(DataUpdateCoordinator[Snapshot]):
    """What entities need from any meter's coordinator: snapshots and an identity."""

    config_entry: WattkeeperConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: WattkeeperConfigEntry,
        identity: MeterIdentity,
        interval: timedelta | None,
    ) -> None:
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{identity.name} ({identity.serial})",
            update_interval=interval,
            # Counters change every reading; writing state only on change would
            # still write almost always, and comparing costs more than it saves.
            always_update=True,
        )
        self.identity = identity


class MeterCoordinator(SnapshotCoordinator):
    """Polls one meter at the entry's interval."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: WattkeeperConfigEntry,
        meter: PolledMeter,
        identity: MeterIdentity,
        interval: timedelta,
    ) -> None:
        super().__init__(hass, entry, identity, interval)
        self.meter = meter

    async def _async_update_data(self) -> Snapshot:
        try:
            snapshot = await self.meter.read()
        except MeterAuthError as err:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN,
                translation_key="auth_failed",
                translation_placeholders={"error": str(err)},
            ) from err
        except MeterError as err:
            raise translated_update_failed(err) from err
        async_dispatcher_send(self.hass, SIGNAL_SNAPSHOT, self.config_entry.entry_id, snapshot)
        return snapshot
