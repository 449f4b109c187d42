"""The capacity tariff of one meter entry, in Home Assistant.

Every (sub-)meter that reports import energy or power gets a CapacityTracker
(quality/capacity.py) fed with each new snapshot. The trackers' state (the
running quarter, this month's and the last twelve months' peaks) is kept in a
Store per entry, saved shortly after changes, when the entry unloads and when
Home Assistant stops, so a restart loses no peak.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.storage import Store
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN, LOGGER
from .coordinator import SnapshotCoordinator, WattkeeperConfigEntry
from .meters.model import MeterIdentity, Snapshot
from .quality.capacity import CapacityConfig, CapacityReading, CapacityTracker
from .quality.demand_inputs import sample_from_snapshot
from .quality.errors import QualityStateError
from .quality.local_time import load_zone

STORAGE_VERSION: Final = 1
# Peaks change at most once a quarter hour; a minute's delay keeps writes rare.
SAVE_DELAY: Final = timedelta(minutes=1)

DATA_CAPACITY: HassKey[dict[str, EntryCapacity]] = HassKey(f"{DOMAIN}_capacity")


def storage_key(entry_id: str) -> str:
    return f"{DOMAIN}.capacity.{entry_id}"


class MeterCapacity:
    """One (sub-)meter's tracker and its latest reading."""

    def __init__(
        self,
        identity: MeterIdentity,
        parent: MeterIdentity | None,
        tracker: CapacityTracker,
        *,
        reports_own: bool,
    ) -> None:
        self.identity = identity
        self.parent = parent
        self.tracker = tracker
        # The meter computes its own average or peak (a Belgian P1).
        self.reports_own = reports_own
        self.reading: CapacityReading | None = None
        self.last: Snapshot | None = None


class EntryCapacity:
    """Feeds one entry's snapshots to the capacity trackers of its meters."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: WattkeeperConfigEntry,
        store: Store[dict[str, Any]],
        saved: dict[str, Any],
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.coordinator: SnapshotCoordinator = entry.runtime_data.coordinator
        self.meters: dict[str, MeterCapacity] = {}
        self._config = CapacityConfig(time_zone=hass.config.time_zone)
        self._zone = load_zone(self._config.time_zone)
        self._store = store
        # Saved state of meters that have not reported since the start.
        self._saved: dict[str, Any] = dict(saved)
        self._listeners: list[CALLBACK_TYPE] = []
        self._unsubscribe: CALLBACK_TYPE | None = None

    @classmethod
    async def async_load(cls, hass: HomeAssistant, entry: WattkeeperConfigEntry) -> EntryCapacity:
        store: Store[dict[str, Any]] = Store(hass, STORAGE_VERSION, storage_key(entry.entry_id))
        data = await store.async_load() or {}
        meters = data.get("meters")
        return cls(hass, entry, store, meters if isinstance(meters, dict) else {})

    @callback
    def async_start(self) -> None:
        self._unsubscribe = self.coordinator.async_add_listener(self._on_update)
        self._on_update()

    async def async_stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self._store.async_save(self._data_to_save())

    @callback
    def async_add_listener(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Called after every update that a tracker saw."""
        self._listeners.append(listener)

        def remove() -> None:
            self._listeners.remove(listener)

        return remove

    @property
    def meter_online(self) -> bool:
        return self.coordinator.last_update_success

    @callback
    def _on_update(self) -> None:
        data = self.coordinator.data
        if not self.coordinator.last_update_success or data is None:
            self._notify()
            return
        observed = False
        for snapshot in data.all_meters():
            observed |= self._observe(snapshot, data.identity)
        if observed:
            self._store.async_delay_save(self._data_to_save, SAVE_DELAY.total_seconds())
        self._notify()

    def _observe(self, snapshot: Snapshot, root: MeterIdentity) -> bool:
        serial = snapshot.identity.serial
        meter = self.meters.get(serial)
        if meter is None:
            sample = sample_from_snapshot(snapshot, self._zone)
            if sample.energy_kwh is None and sample.power_w is None:
                return False
            parent = None if serial == root.serial else root
            meter = self.meters[serial] = MeterCapacity(
                snapshot.identity,
                parent,
                self._restore(serial),
                reports_own=sample.meter_average_w is not None or sample.meter_peak_w is not None,
            )
        elif meter.last is not None and snapshot.measured_at <= meter.last.measured_at:
            # The same reading again (a sub-meter repeats its last one).
            return False
        meter.last = snapshot
        meter.reading = meter.tracker.observe(snapshot)
        return True

    def _restore(self, serial: str) -> CapacityTracker:
        saved = self._saved.pop(serial, None)
        if saved is None:
            return CapacityTracker(self._config)
        try:
            return CapacityTracker.from_dict(saved, self._config)
        except QualityStateError as err:
            LOGGER.warning("Capacity tariff state of %s not restored: %s", serial, err)
            return CapacityTracker(self._config)

    def _data_to_save(self) -> dict[str, Any]:
        meters = dict(self._saved)
        meters.update({serial: meter.tracker.to_dict() for serial, meter in self.meters.items()})
        return {"meters": meters}

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()


async def async_start_capacity(hass: HomeAssistant, entry: WattkeeperConfigEntry) -> EntryCapacity:
    """Load the saved state and follow the entry's readings until it unloads."""
    capacity = await EntryCapacity.async_load(hass, entry)
    registry = hass.data.setdefault(DATA_CAPACITY, {})
    registry[entry.entry_id] = capacity

    async def stop() -> None:
        if registry.get(entry.entry_id) is capacity:
            del registry[entry.entry_id]
        await capacity.async_stop()

    entry.async_on_unload(stop)
    capacity.async_start()
    return capacity


def get_capacity(hass: HomeAssistant, entry_id: str) -> EntryCapacity | None:
    """The running capacity tariff of an entry, if it is loaded."""
    return hass.data.get(DATA_CAPACITY, {}).get(entry_id)


async def async_remove_capacity_state(hass: HomeAssistant, entry_id: str) -> None:
    """Forget a removed entry's peaks."""
    store: Store[dict[str, Any]] = Store(hass, STORAGE_VERSION, storage_key(entry_id))
    await store.async_remove()
