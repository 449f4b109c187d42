"""Data quality of one meter entry, in Home Assistant.

Every reading of every (sub-)meter goes to that meter's checks (quality/);
the verdict is re-evaluated after each update and on a timer (a meter that
stops reporting sends no update). What changed becomes a
`wattkeeper_data_quality` event, problems that last become repair issues, and
the "data quality" binary sensors are told to refresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN
from .coordinator import SnapshotCoordinator, WattkeeperConfigEntry
from .meters.base import SlowerRoot
from .meters.model import MeterIdentity, QuantityKey, Snapshot
from .quality.aggregator import MeterQuality, QualityReport
from .quality.config import QualityConfig
from .quality.findings import Transition
from .quality.observation import Observation
from .quality_issues import QualityIssues

EVENT_DATA_QUALITY: Final = f"{DOMAIN}_data_quality"
SUN_ENTITY: Final = "sun.sun"
# How often the checks are evaluated without readings (the gap check needs it).
EVALUATE_EVERY: Final = timedelta(seconds=10)
# A reading every this long is expected at least: a 1 s meter that misses one
# slow HTTP answer is not a gap yet. Push meters have no interval of their own.
MIN_EXPECTED_INTERVAL: Final = timedelta(seconds=10)
# M-Bus gas and water meters behind a P1 port report every 5 minutes (DSMR 5)
# or every hour (DSMR 4).
SUB_METER_INTERVAL: Final = timedelta(hours=1)

DATA_QUALITY: HassKey[dict[str, EntryQuality]] = HassKey(f"{DOMAIN}_quality")


@dataclass(slots=True)
class WatchedMeter:
    """One (sub-)meter's checks and what they said last."""

    identity: MeterIdentity
    parent: MeterIdentity | None
    quality: MeterQuality
    last: Snapshot | None = None
    report: QualityReport | None = None
    # QuantityKey by id, for the series the meter reported last (fix flows need the key).
    keys: dict[str, QuantityKey] = field(default_factory=dict)


class EntryQuality:
    """Feeds one entry's snapshots to its meters' checks and publishes the verdicts."""

    def __init__(self, hass: HomeAssistant, entry: WattkeeperConfigEntry) -> None:
        self.hass = hass
        self.entry = entry
        self.coordinator: SnapshotCoordinator = entry.runtime_data.coordinator
        self.meters: dict[str, WatchedMeter] = {}
        self.issues = QualityIssues(hass, entry)
        self._listeners: list[CALLBACK_TYPE] = []
        self._unsubscribe: list[CALLBACK_TYPE] = []

    @callback
    def async_start(self) -> None:
        self._unsubscribe.append(self.coordinator.async_add_listener(self._on_update))
        self._unsubscribe.append(
            async_track_time_interval(
                self.hass,
                self._on_tick,
                EVALUATE_EVERY,
                name=f"wattkeeper data quality {self.entry.entry_id}",
                cancel_on_shutdown=True,
            )
        )
        self._on_update()
        self.entry.async_create_task(
            self.hass, self._async_load_texts(), f"wattkeeper quality texts {self.entry.entry_id}"
        )

    async def _async_load_texts(self) -> None:
        await self.issues.async_load_texts()
        # The binary sensors' findings get their messages.
        self._notify()

    @callback
    def async_stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        # The checks start afresh on the next setup; their issues would be stale.
        self.issues.async_clear()

    @callback
    def async_add_listener(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Called after every evaluation (and when a new sub-meter shows up)."""
        self._listeners.append(listener)

        def remove() -> None:
            self._listeners.remove(listener)

        return remove

    def report(self, serial: str) -> QualityReport | None:
        watched = self.meters.get(serial)
        return watched.report if watched is not None else None

    def attributes(self, serial: str) -> dict[str, Any]:
        """The data-quality sensor's attributes: the failing findings, each worded."""
        watched = self.meters.get(serial)
        if watched is None or watched.report is None:
            return {"failing": [], "persistent": []}
        attributes = watched.report.attributes()
        for shown, finding in zip(attributes["failing"], watched.report.failing, strict=True):
            shown["message"] = self.issues.message(watched.identity, finding)
        return attributes

    @callback
    def async_accept_counter(self, serial: str, series: str) -> bool:
        """The counter's current value becomes its baseline (a repair's fix flow)."""
        watched = self.meters.get(serial)
        if watched is None or not watched.quality.accept_counter(series):
            return False
        self._evaluate()
        return True

    @callback
    def _on_tick(self, _now: datetime) -> None:
        self._evaluate()

    @callback
    def _on_update(self) -> None:
        data = self.coordinator.data
        if self.coordinator.last_update_success and data is not None:
            sun = self._sun_elevation()
            for snapshot in data.all_meters():
                self._observe(snapshot, data.identity, sun)
        self._evaluate()

    def _observe(self, snapshot: Snapshot, root: MeterIdentity, sun: float | None) -> None:
        serial = snapshot.identity.serial
        watched = self.meters.get(serial)
        if watched is None:
            is_root = serial == root.serial
            watched = self.meters[serial] = WatchedMeter(
                identity=snapshot.identity,
                parent=None if is_root else root,
                quality=MeterQuality(self._config(is_root=is_root), started_at=dt_util.utcnow()),
            )
        elif watched.last is not None and snapshot.measured_at <= watched.last.measured_at:
            # The same reading again (a sub-meter repeats its last one for a while).
            return
        watched.last = snapshot
        watched.keys = {key.id: key for key in snapshot.values}
        watched.quality.observe(Observation.from_snapshot(snapshot, sun_elevation=sun))

    def _config(self, *, is_root: bool) -> QualityConfig:
        if not is_root:
            return QualityConfig(expected_interval=SUB_METER_INTERVAL)
        interval = self.coordinator.update_interval or MIN_EXPECTED_INTERVAL
        if isinstance(meter := self.entry.runtime_data.meter, SlowerRoot):
            interval *= meter.root_every
        return QualityConfig(expected_interval=max(interval, MIN_EXPECTED_INTERVAL))

    def _sun_elevation(self) -> float | None:
        state = self.hass.states.get(SUN_ENTITY)
        if state is None:
            return None
        elevation = state.attributes.get("elevation")
        if isinstance(elevation, bool) or not isinstance(elevation, int | float):
            return None
        return float(elevation)

    @callback
    def _evaluate(self) -> None:
        now = dt_util.utcnow()
        for watched in self.meters.values():
            report = watched.quality.evaluate(now)
            watched.report = report
            for transition in report.transitions:
                self._fire(watched, transition)
            self.issues.async_sync(watched.identity, watched.keys, report)
        self._notify()

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    def _fire(self, watched: WatchedMeter, transition: Transition) -> None:
        device = dr.async_get(self.hass).async_get_device(
            identifiers={(DOMAIN, watched.identity.serial)}
        )
        data: dict[str, Any] = {
            **transition.as_dict(),
            "message": self.issues.message(watched.identity, transition.finding),
            "entry_id": self.entry.entry_id,
            "device_id": device.id if device is not None else None,
            "meter": watched.identity.name,
        }
        self.hass.bus.async_fire(EVENT_DATA_QUALITY, data)


@callback
def async_start_quality(hass: HomeAssistant, entry: WattkeeperConfigEntry) -> EntryQuality:
    """Start watching an entry's readings until the entry unloads."""
    quality = EntryQuality(hass, entry)
    registry = hass.data.setdefault(DATA_QUALITY, {})
    registry[entry.entry_id] = quality

    @callback
    def stop() -> None:
        quality.async_stop()
        if registry.get(entry.entry_id) is quality:
            del registry[entry.entry_id]

    entry.async_on_unload(stop)
    quality.async_start()
    return quality


def get_quality(hass: HomeAssistant, entry_id: str) -> EntryQuality | None:
    """The running quality watch of an entry, if it is loaded."""
    return hass.data.get(DATA_QUALITY, {}).get(entry_id)
