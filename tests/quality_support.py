"""Helpers for the data-quality, capacity-tariff and blueprint tests.

- CraftedMeter: a push meter (like DSMR or a Fluksometer) that streams the
  snapshots a test hands it, for readings no twin produces on its own.
- P1DemandRegister: what a Belgian P1 meter computes itself (1.4.0 current
  average demand, 1.6.0 monthly peak and its time), written into the HomeWizard
  twin's data the way the real P1 dongle passes the meter's registers on.
- Time helpers for the frozen clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.wattkeeper.const import CONF_KIND, CONF_SCAN_INTERVAL, DOMAIN
from custom_components.wattkeeper.meters.model import (
    MeterIdentity,
    MeterKind,
    QuantityKey,
    Snapshot,
)
from simulators.homewizard import HomeWizardSimulator

CRAFTED = MeterIdentity(
    kind=MeterKind.FLUKSO,
    serial="crafted0001",
    model="FLM03",
    manufacturer="Flukso",
    name="Crafted meter",
)


class CraftedMeter:
    """A StreamingMeter that streams what `send` hands it."""

    def __init__(self, identity: MeterIdentity, values: Mapping[QuantityKey, float]) -> None:
        self.identity = identity
        self.latest = Snapshot(identity=identity, measured_at=dt_util.utcnow(), values=values)
        self.streams = 0
        self._queue: asyncio.Queue[Snapshot] = asyncio.Queue()

    async def identify(self) -> MeterIdentity:
        return self.identity

    async def stream(self) -> AsyncIterator[Snapshot]:
        self.streams += 1
        yield self.latest
        while True:
            snapshot = await self._queue.get()
            try:
                yield snapshot
            finally:
                # Reached once the coordinator has published the snapshot.
                self._queue.task_done()

    async def close(self) -> None:
        """Nothing to release."""

    async def send(
        self, values: Mapping[QuantityKey, float], sub_meters: tuple[Snapshot, ...] = ()
    ) -> Snapshot:
        """Push one snapshot stamped now; returns once Home Assistant has it."""
        self.latest = Snapshot(
            identity=self.identity,
            measured_at=dt_util.utcnow(),
            values=dict(values),
            sub_meters=sub_meters,
        )
        self._queue.put_nowait(self.latest)
        await self._queue.join()
        return self.latest


async def add_crafted_entry(
    hass: HomeAssistant,
    monkeypatch: pytest.MonkeyPatch,
    meter: CraftedMeter,
    *,
    kind: MeterKind = MeterKind.HOMEWIZARD,
    options: dict[str, Any] | None = None,
) -> MockConfigEntry:
    """An entry of `kind` whose driver is `meter` (also after reloads).

    HomeWizard by default: a kind whose glue asks nothing more of its driver.
    """
    monkeypatch.setattr("custom_components.wattkeeper.create_meter", lambda hass, entry: meter)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=meter.identity.name,
        unique_id=meter.identity.serial,
        data={CONF_KIND: kind.value},
        options=options or {},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def add_homewizard_entry(
    hass: HomeAssistant,
    sim: HomeWizardSimulator,
    *,
    scan_interval: float = 60,
    entry_id: str | None = None,
) -> MockConfigEntry:
    """A HomeWizard entry as the flow creates it, polling every `scan_interval` s."""
    extra = {"entry_id": entry_id} if entry_id is not None else {}
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=sim.device["product_name"],
        unique_id=sim.device["serial"],
        data={CONF_KIND: MeterKind.HOMEWIZARD.value, CONF_HOST: sim.host},
        options={CONF_SCAN_INTERVAL: scan_interval},
        **extra,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def advance(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    delta: timedelta,
    *,
    polled: bool = True,
) -> None:
    """Move the frozen clock and run what became due (polls, timers, triggers).

    Polls run as background tasks and are waited for; a push meter's stream is
    a background task that never ends, so with one (`polled=False`) they are not.
    """
    freezer.tick(delta)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=polled)


def entity_id(hass: HomeAssistant, unique_id: str, platform: str = "sensor") -> str:
    found = er.async_get(hass).async_get_entity_id(platform, DOMAIN, unique_id)
    assert found is not None, f"no {platform} with unique id {unique_id}"
    return found


def quarter_of(moment: datetime) -> datetime:
    """Start of the quarter hour holding `moment`, in UTC. In a zone whose offset
    is whole hours (Brussels) local quarters start on the same instants."""
    utc = moment.astimezone(UTC)
    return utc.replace(minute=utc.minute - utc.minute % 15, second=0, microsecond=0)


class P1DemandRegister:
    """The twin's P1 computing its own quarter-hour average and monthly peak.

    Polls happen on whole minutes, so every quarter starts with a reading; the
    average is the import counter's growth since the quarter started × 4, the
    peak the highest average of the local month (the running quarter included),
    stamped with its quarter's local start as YYMMDDhhmmss, as the P1 API does.
    """

    def __init__(self, sim: HomeWizardSimulator, zone: str) -> None:
        self._sim = sim
        self._zone = ZoneInfo(zone)
        self._quarter: datetime | None = None
        self._start_kwh = 0.0
        self._peak_w = 0.0
        self._peak_at: datetime | None = None

    def _month(self, moment: datetime) -> tuple[int, int]:
        local = moment.astimezone(self._zone)
        return local.year, local.month

    def _record(self, quarter: datetime, average: float) -> None:
        if self._peak_at is not None and self._month(self._peak_at) != self._month(quarter):
            self._peak_w, self._peak_at = 0.0, None
        if self._peak_at is None or average > self._peak_w:
            self._peak_w, self._peak_at = average, quarter

    def update(self) -> None:
        data = self._sim.fixture["data"]
        quarter = quarter_of(dt_util.utcnow())
        energy = data["total_power_import_kwh"]
        if quarter != self._quarter:
            if self._quarter is not None:
                # The quarter that just ended counts with its final value.
                self._record(self._quarter, round((energy - self._start_kwh) * 4000, 1))
            self._quarter, self._start_kwh = quarter, energy
        average = round((energy - self._start_kwh) * 4000, 1)
        self._record(quarter, average)
        assert self._peak_at is not None
        data["active_power_average_w"] = average
        data["montly_power_peak_w"] = self._peak_w
        stamp = self._peak_at.astimezone(self._zone).strftime("%y%m%d%H%M%S")
        data["montly_power_peak_timestamp"] = int(stamp)


type Values = Callable[[int], dict[QuantityKey, float]]

# How often a crafted meter reports in the tests: well within the gap limit.
STEP = timedelta(seconds=30)


class Feeder:
    """Sends a crafted reading every STEP while the checks' timer runs."""

    def __init__(
        self, hass: HomeAssistant, freezer: FrozenDateTimeFactory, meter: CraftedMeter
    ) -> None:
        self.hass, self.freezer, self.meter = hass, freezer, meter
        self.step = 0

    async def run(self, values: Values, duration: timedelta) -> None:
        for _ in range(int(duration / STEP)):
            await advance(self.hass, self.freezer, STEP, polled=False)
            await self.meter.send(values(self.step))
            await self.hass.async_block_till_done()
            self.step += 1
