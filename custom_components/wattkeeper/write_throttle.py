"""At most one state write per interval for an entity, without losing its latest value.

A P1 meter pushes a telegram every second. Writing every counter's state that
often fills Home Assistant's database with rows nobody looks at, so an entry
may set a minimum interval between state writes: one for counters (energy,
gas, water), one for everything else (power, voltage, current). 0 writes on
every update. Only Home Assistant's state machine sees fewer writes: the
coordinator still publishes every snapshot (SIGNAL_SNAPSHOT), so the external
recorder keeps every reading. A value held back is written when its interval
ends, so a state is never older than one interval, and a change in
availability is written at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from time import monotonic
from typing import Any, Final

from homeassistant.core import CALLBACK_TYPE, callback
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .coordinator import SnapshotCoordinator
from .meters.model import QuantityKey

# Entry options, in seconds; absent means 0 (every update).
CONF_MEASUREMENT_WRITE_INTERVAL: Final = "measurement_write_interval"
CONF_COUNTER_WRITE_INTERVAL: Final = "counter_write_interval"


def write_interval(options: Mapping[str, Any], key: QuantityKey) -> float:
    """Seconds between state writes for a series under an entry's options."""
    name = CONF_COUNTER_WRITE_INTERVAL if key.is_counter else CONF_MEASUREMENT_WRITE_INTERVAL
    return float(options.get(name, 0))


class ThrottledWrites(CoordinatorEntity[SnapshotCoordinator]):
    """Mixin: coordinator updates write the state at most once per `write_interval` seconds."""

    write_interval: float = 0.0
    # monotonic() at the last write (the event loop's clock), and the availability it showed.
    _written_at: float | None = None
    _written_available: bool | None = None
    _cancel_held: CALLBACK_TYPE | None = None

    @callback
    def _handle_coordinator_update(self) -> None:
        if self.write_interval <= 0:
            super()._handle_coordinator_update()
            return
        now = monotonic()
        if (
            self._written_at is None
            or now - self._written_at >= self.write_interval
            or self.available != self._written_available
        ):
            self._write()
        elif self._cancel_held is None:
            delay = self._written_at + self.write_interval - now
            self._cancel_held = async_call_later(self.hass, delay, self._write_held)

    @callback
    def _write_held(self, _now: datetime) -> None:
        self._cancel_held = None
        self._write()

    def _write(self) -> None:
        if self._cancel_held is not None:
            self._cancel_held()
            self._cancel_held = None
        self._written_at = monotonic()
        self._written_available = self.available
        super()._handle_coordinator_update()

    async def async_will_remove_from_hass(self) -> None:
        if self._cancel_held is not None:
            self._cancel_held()
            self._cancel_held = None
        await super().async_will_remove_from_hass()
