"""The CT clamp driver as Home Assistant runs it.

Wraps CtClampMeter with what only the glue knows: the voltage of clamp-only
channels read from another entity on every poll, energy totals persisted in a
Store (every minute, and on unload and stop) so they survive restarts and only
grow, even after a crash (ct_recorded.py), a repair issue while SPI cannot be
opened and one while inputs clip, and closing the bus when Home Assistant stops.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any, Final

from homeassistant.const import EVENT_HOMEASSISTANT_STOP, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.storage import Store
from homeassistant.util.unit_conversion import ElectricPotentialConverter

from .const import DOMAIN, LOGGER
from .coordinator import WattkeeperConfigEntry
from .ct_bus import bus_for
from .ct_recorded import async_recorded_totals
from .ct_settings import CONF_VOLTAGE_ENTITY, build_config
from .meters.ct_clamp import CLIPPED_CHANNELS, CtClampMeter
from .meters.ct_config import ClampVoltage
from .meters.ct_energy import EnergyTotals
from .meters.ct_spi import SpiDisabledError, SpiNotAvailableError, SpiPermissionError
from .meters.errors import MeterConnectionError
from .meters.model import MeterIdentity, Snapshot
from .on_demand import OnDemand, async_ensure

STORE_VERSION: Final = 1
# Totals are written this often while running, and always on unload and stop.
# (Not Store.async_delay_save on every frame: each call pushes its write back,
# so with a frame a second it would never write before shutdown.)
SAVE_INTERVAL_S: Final = 60.0

type SpiError = SpiNotAvailableError | SpiDisabledError | SpiPermissionError
type SavedEnergy = dict[str, dict[str, float]]


def create_ct_meter(hass: HomeAssistant, entry: WattkeeperConfigEntry) -> CtEntryMeter:
    config = build_config(entry.data, entry.options, entry.title)
    bus = bus_for(config.spi_bus, config.spi_device)
    driver = CtClampMeter(config, opener=bus.opener, timebase=bus.timebase)
    return CtEntryMeter(hass, entry, driver)


def energy_store(hass: HomeAssistant, entry_id: str) -> Store[SavedEnergy]:
    """Where a CT entry's energy totals survive restarts."""
    return Store(hass, STORE_VERSION, f"{DOMAIN}.ct_energy.{entry_id}")


async def async_remove_ct_energy(hass: HomeAssistant, entry_id: str) -> None:
    """A removed entry leaves no totals file behind."""
    await energy_store(hass, entry_id).async_remove()


def spi_issue_id(entry_id: str) -> str:
    return f"ct_spi_{entry_id}"


def clipping_issue_id(entry_id: str) -> str:
    return f"ct_clipping_{entry_id}"


class CtEntryMeter:
    """A PolledMeter for one CT clamp entry; `driver` is the library's meter."""

    def __init__(
        self, hass: HomeAssistant, entry: WattkeeperConfigEntry, driver: CtClampMeter
    ) -> None:
        self.hass = hass
        self.driver = driver
        self._entry_id = entry.entry_id
        self._name = entry.title
        voltage_entity = entry.options.get(CONF_VOLTAGE_ENTITY)
        self._voltage_entity: str | None = (
            voltage_entity if driver.config.clamp_voltage is ClampVoltage.EXTERNAL else None
        )
        self._store: Store[SavedEnergy] = energy_store(hass, entry.entry_id)
        # Totals of channels this configuration does not use; kept for when they return.
        self._saved: SavedEnergy = {}
        self._restored = False
        # Issues persist across restarts: the first success of a session clears one.
        self._issue_raised = True
        # The clipped inputs of the last frame ("1,3"); None before the first.
        self._clipped: str | None = None
        self._closed = False
        self._unsub_stop: CALLBACK_TYPE | None = None
        self._unsub_save: CALLBACK_TYPE | None = None

    async def identify(self) -> MeterIdentity:
        """Install spidev if needed, restore the energy totals, then check the board answers."""
        if not await async_ensure(self.hass, OnDemand.SPIDEV):
            err = SpiNotAvailableError(
                "spidev could not be installed; see Home Assistant's log for pip's error"
            )
            self._raise_issue(err)
            raise err
        if not self._restored:
            await self._restore_energy()
        try:
            identity = await self.driver.identify()
        except (SpiNotAvailableError, SpiDisabledError, SpiPermissionError) as err:
            self._raise_issue(err)
            raise
        self._clear_issue()
        if self._unsub_stop is None:
            self._unsub_stop = self.hass.bus.async_listen_once(
                EVENT_HOMEASSISTANT_STOP, self._async_stop
            )
        if self._restored and self._unsub_save is None:
            self._unsub_save = async_track_time_interval(
                self.hass, self._save_now, timedelta(seconds=SAVE_INTERVAL_S)
            )
        return identity

    async def read(self) -> Snapshot:
        if self._closed:
            raise MeterConnectionError("the CT clamp meter is closed")
        try:
            snapshot = await self.driver.read(external_voltage=self._external_voltage())
        except (SpiNotAvailableError, SpiDisabledError, SpiPermissionError) as err:
            self._raise_issue(err)
            raise
        self._clear_issue()
        self._report_clipping(snapshot.texts.get(CLIPPED_CHANNELS, ""))
        return snapshot

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._unsub_stop is not None:
            self._unsub_stop()
            self._unsub_stop = None
        if self._unsub_save is not None:
            self._unsub_save()
            self._unsub_save = None
        # Nothing clips while nothing is measured; the next session says so again if it does.
        ir.async_delete_issue(self.hass, DOMAIN, clipping_issue_id(self._entry_id))
        try:
            await self.driver.close()
        finally:
            if self._restored:
                await self._store.async_save(self._energy_to_save())

    async def _async_stop(self, event: Event) -> None:
        # Unload does not run on shutdown: release the bus and write the totals here.
        self._unsub_stop = None
        await self.close()

    # -- energy --------------------------------------------------------------

    async def _restore_energy(self) -> None:
        """Each total from the larger of the Store and the sensor's last recorded state."""
        channels = [current.channel for current in self.driver.config.currents]
        recorded = await async_recorded_totals(self.hass, self.driver.config.device_id, channels)
        stored: dict[int, EnergyTotals] = {}
        try:
            saved = await self._store.async_load()
        except HomeAssistantError:
            # Never save over totals we could not read; they may come back on a restart.
            LOGGER.exception("Cannot read the saved energy totals of %s", self._name)
        else:
            self._saved = dict(saved or {})
            stored = self._stored_totals(channels)
            self._restored = True
        for channel in channels:
            totals = [t for t in (stored.get(channel), recorded.get(channel)) if t is not None]
            if totals:
                self.driver.restore_energy(
                    channel,
                    EnergyTotals(
                        max(t.import_kwh for t in totals), max(t.export_kwh for t in totals)
                    ),
                )

    def _stored_totals(self, channels: list[int]) -> dict[int, EnergyTotals]:
        stored: dict[int, EnergyTotals] = {}
        for channel in channels:
            saved = self._saved.get(str(channel))
            if saved is None:
                continue
            try:
                stored[channel] = EnergyTotals.from_dict(saved)
            except ValueError:
                LOGGER.warning(
                    "Ignoring unreadable saved energy of %s channel %s: %s",
                    self._name,
                    channel,
                    saved,
                )
        return stored

    @callback
    def _save_now(self, now: datetime) -> None:
        self._store.async_delay_save(self._energy_to_save)

    @callback
    def _energy_to_save(self) -> SavedEnergy:
        saved = dict(self._saved)
        for current in self.driver.config.currents:
            saved[str(current.channel)] = self.driver.energy(current.channel).to_dict()
        return saved

    # -- clamp-only voltage ------------------------------------------------

    def _external_voltage(self) -> float | None:
        """The other entity's voltage in volts, or None while it has none."""
        if self._voltage_entity is None:
            return None
        state = self.hass.states.get(self._voltage_entity)
        if state is None or state.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
            return None
        try:
            value = float(state.state)
        except ValueError:
            return None
        unit = state.attributes.get("unit_of_measurement")
        if unit and unit != "V":
            if unit not in ElectricPotentialConverter.VALID_UNITS:
                return None
            value = ElectricPotentialConverter.convert(value, unit, "V")
        return value if math.isfinite(value) else None

    # -- what the user is told ---------------------------------------------

    def _report_clipping(self, clipped: str) -> None:
        """A repair issue while inputs clip, naming them; gone when none does."""
        if clipped == self._clipped:
            return
        issue_id = clipping_issue_id(self._entry_id)
        if clipped:
            LOGGER.warning(
                "%s: input(s) %s reach the ADC's limits; their readings are withheld. "
                "Use a CT with a higher rating or a smaller burden resistor",
                self._name,
                clipped,
            )
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="ct_clipping",
                translation_placeholders={
                    "name": self._name,
                    "channels": ", ".join(f"CH{c}" for c in clipped.split(",")),
                },
            )
        else:
            if self._clipped:
                LOGGER.info("%s: no input is clipping any more", self._name)
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
        self._clipped = clipped

    def _raise_issue(self, err: SpiError) -> None:
        placeholders = {
            "name": self._name,
            "address": self.driver.config.address,
            "error": str(err),
        }
        common: dict[str, Any] = {
            "is_fixable": False,
            "severity": ir.IssueSeverity.ERROR,
            "translation_placeholders": placeholders,
        }
        issue_id = spi_issue_id(self._entry_id)
        if isinstance(err, SpiNotAvailableError):
            ir.async_create_issue(
                self.hass, DOMAIN, issue_id, translation_key="ct_not_a_pi", **common
            )
        elif isinstance(err, SpiPermissionError):
            ir.async_create_issue(
                self.hass, DOMAIN, issue_id, translation_key="ct_spi_permission", **common
            )
        else:
            ir.async_create_issue(
                self.hass, DOMAIN, issue_id, translation_key="ct_spi_disabled", **common
            )
        self._issue_raised = True

    def _clear_issue(self) -> None:
        if self._issue_raised:
            ir.async_delete_issue(self.hass, DOMAIN, spi_issue_id(self._entry_id))
            self._issue_raised = False
