"""The coordinator of a push meter (DSMR telegrams, Fluksometer MQTT).

A background task reads the driver's stream and publishes every snapshot at
once. When the link breaks or goes silent (the driver raises), entities go
unavailable, the link is reopened with growing delays, and after ten minutes
down a repair issue tells the user; it clears itself on recovery.

A meter already down when Home Assistant starts never gets a coordinator:
setup raises ConfigEntryNotReady and Home Assistant retries with a fresh
driver each time. `async_setup_failed` keeps the first failure's time per
entry across those retries, so the same issue appears ten minutes after it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN, LOGGER, SIGNAL_SNAPSHOT
from .coordinator import SnapshotCoordinator, WattkeeperConfigEntry, translated_update_failed
from .meters.backoff import Backoff
from .meters.base import StreamingMeter
from .meters.errors import MeterAuthError, MeterConnectionError, MeterError
from .meters.model import MeterIdentity, Snapshot

REPAIR_AFTER = timedelta(minutes=10)
# Setup waits this long for the first snapshot before retrying later.
FIRST_SNAPSHOT_TIMEOUT = 30.0
# Seconds between reconnects: doubling from the first to the longest, with
# jitter (meters/backoff.py) so meters that lost the same network spread out.
RECONNECT_FIRST = 1.0
RECONNECT_LONGEST = 60.0
# Entry id → when its push meter first failed to set up, across setup retries.
_SETUP_FAILING_SINCE: HassKey[dict[str, datetime]] = HassKey(f"{DOMAIN}_setup_failing_since")


def offline_issue_id(entry_id: str) -> str:
    return f"meter_offline_{entry_id}"


@callback
def async_setup_failed(hass: HomeAssistant, entry: WattkeeperConfigEntry, error: Exception) -> None:
    """A push meter's setup failed (again): raise the offline issue ten minutes after the first."""
    failing = hass.data.setdefault(_SETUP_FAILING_SINCE, {})
    now = dt_util.utcnow()
    since = failing.setdefault(entry.entry_id, now)
    if now - since >= REPAIR_AFTER:
        _raise_offline_issue(hass, entry.entry_id, entry.title, since, error)


@callback
def async_forget_offline(hass: HomeAssistant, entry_id: str) -> None:
    """The meter is up (or its entry is gone): no failure to remember, no issue."""
    hass.data.get(_SETUP_FAILING_SINCE, {}).pop(entry_id, None)
    ir.async_delete_issue(hass, DOMAIN, offline_issue_id(entry_id))


def _raise_offline_issue(
    hass: HomeAssistant, entry_id: str, name: str, since: datetime, error: Exception
) -> None:
    ir.async_create_issue(
        hass,
        DOMAIN,
        offline_issue_id(entry_id),
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key="meter_offline",
        translation_placeholders={
            "name": name,
            "since": since.isoformat(timespec="seconds"),
            "error": str(error),
        },
    )


class StreamCoordinator(SnapshotCoordinator):
    """Publishes each snapshot a streaming meter pushes; never polls."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: WattkeeperConfigEntry,
        meter: StreamingMeter,
        identity: MeterIdentity,
    ) -> None:
        super().__init__(hass, entry, identity, None)
        self.meter = meter
        self.down_since: datetime | None = None
        self.reconnects = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def issue_id(self) -> str:
        return offline_issue_id(self.config_entry.entry_id)

    async def async_wait_first_snapshot(self, timeout: float) -> None:
        """Start streaming; raise ConfigEntryNotReady unless a snapshot arrives in time."""
        first = self.hass.loop.create_future()

        def on_update() -> None:
            if not first.done():
                first.set_result(None)

        remove = self.async_add_listener(on_update)
        self._task = self.config_entry.async_create_background_task(
            self.hass, self._run(), name=f"wattkeeper stream {self.identity.serial}"
        )
        try:
            async with asyncio.timeout(timeout):
                await first
        except TimeoutError as err:
            await self.stop()
            async_setup_failed(self.hass, self.config_entry, MeterError("no readings arrived"))
            raise ConfigEntryNotReady(
                translation_domain=DOMAIN,
                translation_key="setup_failed",
                translation_placeholders={"error": "no readings arrived"},
            ) from err
        finally:
            remove()
        if self.last_update_success:
            async_forget_offline(self.hass, self.config_entry.entry_id)
        else:
            # The stream failed before its first snapshot.
            error = self.last_exception or MeterConnectionError("no readings arrived")
            await self.stop()
            async_setup_failed(self.hass, self.config_entry, error)
            raise ConfigEntryNotReady(
                translation_domain=DOMAIN,
                translation_key="setup_failed",
                translation_placeholders={"error": str(error)},
            )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)

    async def _async_update_data(self) -> Snapshot:
        # Nothing to fetch: data arrives through the stream. A manual refresh
        # (homeassistant.update_entity) returns what we have.
        return self.data

    async def _run(self) -> None:
        backoff = Backoff(initial=RECONNECT_FIRST, maximum=RECONNECT_LONGEST)
        while True:
            try:
                async for snapshot in self.meter.stream():
                    backoff.reset()
                    if self.down_since is not None:
                        self._recovered()
                    self.publish(snapshot)
                error: MeterError = MeterConnectionError("The meter closed the link")
            except MeterError as err:
                error = err
            except Exception as err:
                # A driver bug must not end the task: entities would freeze
                # on their last values with nothing telling the user.
                LOGGER.exception("Unexpected error in the stream of %s", self.identity.name)
                error = MeterError(f"unexpected error: {err!r}")
            self._went_down(error)
            self.reconnects += 1
            await backoff.sleep()

    def publish(self, snapshot: Snapshot) -> None:
        async_dispatcher_send(self.hass, SIGNAL_SNAPSHOT, self.config_entry.entry_id, snapshot)
        self.async_set_updated_data(snapshot)

    def _went_down(self, error: MeterError) -> None:
        now = dt_util.utcnow()
        if self.down_since is None:
            self.down_since = now
        # Logs once per outage (the coordinator only logs the first failure).
        self.async_set_update_error(translated_update_failed(error))
        if isinstance(error, MeterAuthError):
            # Retrying cannot fix credentials; the flow deduplicates repeated starts.
            self.config_entry.async_start_reauth(self.hass)
        if now - self.down_since >= REPAIR_AFTER:
            _raise_offline_issue(
                self.hass, self.config_entry.entry_id, self.identity.name, self.down_since, error
            )

    def _recovered(self) -> None:
        self.down_since = None
        ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)
