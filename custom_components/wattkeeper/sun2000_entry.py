"""The SUN2000 driver as one config entry runs it.

`Sun2000EntryMeter` is the library's `Sun2000Meter` plus what only Home
Assistant knows: it borrows the shared connection of its host and port, reads
only the fields of enabled entities (and follows the entity registry when the
user enables or disables one), and runs the Modbus proxy when the options ask
for it. The generic setup in `__init__.py` calls `identify()`, `read()` and
`close()`; `close()` gives everything back, also after a failed setup.

The coordinator polls at the entry's `scan_interval`: with a power meter
that is the meter's interval, and the inverter and battery are read every
`inverter_interval` (rounded up to a multiple of it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Final

from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir

from .const import CONF_SCAN_INTERVAL, DOMAIN, LOGGER
from .coordinator import WattkeeperConfigEntry
from .meters.model import MeterIdentity
from .meters.sun2000 import DEFAULT_INVERTER_INTERVAL, Sun2000Device, Sun2000Meter
from .meters.sun2000_proxy import Sun2000Proxy
from .sun2000_fields import enabled_fields
from .sun2000_link import acquire_link, quiet_pymodbus, release_link

CONF_UNIT_ID: Final = "unit_id"
CONF_PROXY: Final = "proxy"
CONF_PROXY_PORT: Final = "proxy_port"
CONF_INVERTER_INTERVAL: Final = "inverter_interval"
DEFAULT_PROXY_PORT: Final = 5020
# Other clients on the network reach the proxy on every interface of this host.
PROXY_HOST: Final = "0.0.0.0"  # noqa: S104


def proxy_port(options: Any) -> int | None:
    """The port the entry's proxy listens on, or None when the proxy is off."""
    if not options.get(CONF_PROXY, False):
        return None
    return int(options.get(CONF_PROXY_PORT, DEFAULT_PROXY_PORT))


def inverter_every(options: Mapping[str, Any]) -> int:
    """Every how many polls the inverter and battery are read (the meter is, every poll)."""
    poll = float(options.get(CONF_SCAN_INTERVAL, DEFAULT_INVERTER_INTERVAL.total_seconds()))
    inverter = float(options.get(CONF_INVERTER_INTERVAL, DEFAULT_INVERTER_INTERVAL.total_seconds()))
    return max(1, math.ceil(inverter / poll))


class Sun2000EntryMeter(Sun2000Meter):
    """One inverter of one config entry, on the connection it shares with its dongle's others."""

    def __init__(self, hass: HomeAssistant, entry: WattkeeperConfigEntry) -> None:
        connection = acquire_link(hass, entry.data[CONF_HOST], entry.data[CONF_PORT])
        super().__init__(
            connection, int(entry.data[CONF_UNIT_ID]), inverter_every=inverter_every(entry.options)
        )
        self._hass = hass
        self._entry = entry
        self._unsubscribe: Callable[[], None] | None = None
        self.proxy: Sun2000Proxy | None = None
        self._released = False

    @property
    def _issue_id(self) -> str:
        return f"sun2000_proxy_{self._entry.entry_id}"

    async def discover(self) -> Sun2000Device:
        # An inverter without meter or battery rejects those blocks, and
        # pymodbus would log every expected rejection as an ERROR.
        with quiet_pymodbus():
            device = await super().discover()
        self._follow_registry()
        return device

    async def identify(self) -> MeterIdentity:
        identity = await super().identify()
        await self._start_proxy()
        return identity

    async def close(self) -> None:
        if self._released:
            return
        self._released = True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self.proxy is not None:
            await self.proxy.stop()
            self.proxy = None
        ir.async_delete_issue(self._hass, DOMAIN, self._issue_id)
        await release_link(self._hass, self.connection)

    # Enabled entities decide what is read.
    def _follow_registry(self) -> None:
        self._apply_registry()
        if self._unsubscribe is None:
            self._unsubscribe = self._hass.bus.async_listen(
                er.EVENT_ENTITY_REGISTRY_UPDATED,
                self._registry_updated,
                event_filter=_enabled_state_may_change,
            )

    @callback
    def _registry_updated(self, event: Event[er.EventEntityRegistryUpdatedData]) -> None:
        self._apply_registry()

    def _apply_registry(self) -> None:
        device = self.device
        if device is None:
            return
        entries = er.async_entries_for_config_entry(er.async_get(self._hass), self._entry.entry_id)
        # A read in flight keeps the plan it started with (Sun2000Meter.read).
        self.set_fields(enabled_fields(device, entries))

    # The proxy.
    async def _start_proxy(self) -> None:
        port = proxy_port(self._entry.options)
        if port is None or self.proxy is not None:
            return
        proxy = Sun2000Proxy(self.connection, host=PROXY_HOST, port=port, unit_ids={self.unit_id})
        try:
            await proxy.start()
        except OSError as err:
            await proxy.stop()
            # The readings matter more than the proxy: carry on without it and say why.
            LOGGER.warning("Modbus proxy cannot listen on port %d: %s", port, err)
            ir.async_create_issue(
                self._hass,
                DOMAIN,
                self._issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="sun2000_proxy_failed",
                translation_placeholders={
                    "name": self._entry.title,
                    "port": str(port),
                    "error": str(err),
                },
            )
            return
        ir.async_delete_issue(self._hass, DOMAIN, self._issue_id)
        self.proxy = proxy


@callback
def _enabled_state_may_change(data: er.EventEntityRegistryUpdatedData) -> bool:
    return data["action"] != "update" or "disabled_by" in data["changes"]


def create_sun2000_meter(hass: HomeAssistant, entry: WattkeeperConfigEntry) -> Sun2000EntryMeter:
    """The driver of a SUN2000 entry (for meter_factory)."""
    return Sun2000EntryMeter(hass, entry)
