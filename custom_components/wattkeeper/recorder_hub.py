"""Every meter snapshot since Home Assistant started, for every recorder entry.

Meter entries may load before the recorder entry at start-up, and a recorder
reload (an options change) leaves a gap between unload and setup. The hub
listens to SIGNAL_SNAPSHOT from the integration's `async_setup`, so before any
entry loads: a loaded recorder gets each snapshot at once, a recorder entry
that is not loaded (yet) gets it kept in a bounded buffer, handed over when it
loads. Which meters a recorder records is decided then, by that recorder.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.util.hass_dict import HassKey

from .const import CONF_KIND, DOMAIN, KIND_RECORDER, LOGGER, SIGNAL_SNAPSHOT
from .meters.model import Snapshot

# Per recorder entry that is not loaded: about an hour of one meter at 1 s, or a
# few minutes of several; a reload or a start-up takes seconds.
MAX_BUFFERED: Final = 5000

type Delivery = tuple[str, Snapshot]  # (meter entry id, snapshot)
type Consumer = Callable[[Sequence[Delivery]], None]

DATA_HUB: HassKey[SnapshotHub] = HassKey(f"{DOMAIN}_snapshot_hub")


@dataclass
class _Buffer:
    snapshots: deque[Delivery] = field(default_factory=lambda: deque(maxlen=MAX_BUFFERED))
    dropped: int = 0  # readings of the snapshots pushed out of the full buffer, oldest first


class SnapshotHub:
    """Delivers snapshots to loaded recorders and keeps them for the others."""

    def __init__(self, hass: HomeAssistant) -> None:
        self._hass = hass
        self._consumers: dict[str, Consumer] = {}
        self._buffers: dict[str, _Buffer] = {}

    @callback
    def on_snapshot(self, meter_entry_id: str, snapshot: Snapshot) -> None:
        delivery = [(meter_entry_id, snapshot)]
        for consumer in self._consumers.values():
            consumer(delivery)
        for entry in self._hass.config_entries.async_entries(
            DOMAIN, include_ignore=False, include_disabled=False
        ):
            if entry.data.get(CONF_KIND) != KIND_RECORDER or entry.entry_id in self._consumers:
                continue
            buffer = self._buffers.setdefault(entry.entry_id, _Buffer())
            if len(buffer.snapshots) == buffer.snapshots.maxlen:
                buffer.dropped += _readings(buffer.snapshots[0][1])
            buffer.snapshots.append(delivery[0])

    @callback
    def attach(self, recorder_entry_id: str, consumer: Consumer) -> tuple[int, CALLBACK_TYPE]:
        """Hand over what was kept for this recorder, then deliver live.

        Returns how many readings the full buffer had to drop, and the detach
        callback: snapshots after it are kept again until the next attach."""
        buffer = self._buffers.pop(recorder_entry_id, _Buffer())
        if buffer.snapshots:
            consumer(list(buffer.snapshots))
        if buffer.dropped:
            LOGGER.warning(
                "The recorder was not loaded for long: the %d oldest readings were dropped, "
                "the %d newest snapshots kept",
                buffer.dropped,
                len(buffer.snapshots),
            )
        self._consumers[recorder_entry_id] = consumer

        @callback
        def detach() -> None:
            if self._consumers.get(recorder_entry_id) is consumer:
                del self._consumers[recorder_entry_id]

        return buffer.dropped, detach

    @callback
    def forget(self, recorder_entry_id: str) -> None:
        """The recorder entry was removed: keep nothing more for it."""
        self._buffers.pop(recorder_entry_id, None)

    def buffered(self, recorder_entry_id: str) -> int:
        """Snapshots waiting for a recorder that is not loaded (diagnostics, tests)."""
        buffer = self._buffers.get(recorder_entry_id)
        return 0 if buffer is None else len(buffer.snapshots)


def _readings(snapshot: Snapshot) -> int:
    return sum(len(meter.values) for meter in snapshot.all_meters())


@callback
def async_setup_hub(hass: HomeAssistant) -> SnapshotHub:
    """Start listening; called from the integration's async_setup, before any entry."""
    if (hub := hass.data.get(DATA_HUB)) is None:
        hub = hass.data[DATA_HUB] = SnapshotHub(hass)
        async_dispatcher_connect(hass, SIGNAL_SNAPSHOT, hub.on_snapshot)
    return hub
