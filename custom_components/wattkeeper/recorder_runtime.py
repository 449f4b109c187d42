"""The external recorder entry: every meter reading into the outbox, the sender drains it.

Readings reach the outbox the moment a meter's coordinator receives them (the
SIGNAL_SNAPSHOT dispatcher), at full resolution. The sender moves them to the
backend in batches; a health coordinator samples the sender every few seconds
for the diagnostic entities and raises a repair issue when the outbox nears
its quota.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import (
    CONF_HOST,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_USERNAME,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.util import dt as dt_util

from .const import (
    BACKEND_CASSANDRA,
    BACKEND_POSTGRESQL,
    CONF_BACKEND,
    CONF_CONSISTENCY,
    CONF_CONTACT_POINTS,
    CONF_DSN,
    CONF_KEYSPACE,
    CONF_LOCAL_DATACENTER,
    CONF_METERS,
    CONF_QUOTA_MB,
    CONF_REPLICATION,
    CONF_RETENTION_DAYS,
    CONF_SITE,
    CONF_SSL_MODE,
    CONF_TLS_CA_FILE,
    DEFAULT_QUOTA_MB,
    DEFAULT_RETENTION_DAYS,
    DOMAIN,
    LOGGER,
    SIGNAL_SNAPSHOT,
)
from .meters.model import Snapshot
from .recorder import (
    Backend,
    BackendConfig,
    CassandraConfig,
    Outbox,
    PostgresConfig,
    QuotaLevel,
    RecorderHealth,
    Sample,
    Sender,
    SeriesInfo,
    SeriesKey,
    SqliteConfig,
    SslMode,
    create_backend,
)

if TYPE_CHECKING:
    from .statistics_setup import StatisticsRuntime

HEALTH_INTERVAL = timedelta(seconds=10)
RETENTION_INTERVAL = timedelta(hours=1)
VERSION = "0.1.0"

type RecorderConfigEntry = ConfigEntry[RecorderRuntime]


def parse_replication(text: str) -> dict[str, int]:
    """ "dc1:3, dc2:2" → {"dc1": 3, "dc2": 2}; empty means SimpleStrategy."""
    replication: dict[str, int] = {}
    for part in text.split(","):
        if part.strip():
            datacenter, _, factor = part.partition(":")
            replication[datacenter.strip()] = int(factor or 1)
    return replication


def backend_config(hass: HomeAssistant, data: dict[str, Any]) -> BackendConfig | CassandraConfig:
    """The library's backend configuration from a recorder entry's data."""
    time_zone = str(hass.config.time_zone)
    if data[CONF_BACKEND] == BACKEND_CASSANDRA:
        return CassandraConfig(
            contact_points=tuple(
                point.strip() for point in data[CONF_CONTACT_POINTS].split(",") if point.strip()
            ),
            port=int(data.get(CONF_PORT, 9042)),
            keyspace=data.get(CONF_KEYSPACE, "wattkeeper"),
            local_datacenter=data.get(CONF_LOCAL_DATACENTER, "datacenter1"),
            username=data.get(CONF_USERNAME) or None,
            password=data.get(CONF_PASSWORD) or None,
            tls_ca_file=data.get(CONF_TLS_CA_FILE) or None,
            consistency=data.get(CONF_CONSISTENCY, "LOCAL_QUORUM"),
            replication=parse_replication(data.get(CONF_REPLICATION, "")),
            raw_retention_days=int(data.get(CONF_RETENTION_DAYS, DEFAULT_RETENTION_DAYS)),
            time_zone=time_zone,
        )
    if data[CONF_BACKEND] == BACKEND_POSTGRESQL:
        return PostgresConfig(
            dsn=data.get(CONF_DSN) or None,
            host=data.get(CONF_HOST, "127.0.0.1"),
            port=int(data.get(CONF_PORT, 5432)),
            database=data.get("database", "wattkeeper"),
            user=data.get(CONF_USERNAME, "wattkeeper"),
            password=data.get(CONF_PASSWORD),
            ssl_mode=SslMode(data.get(CONF_SSL_MODE, SslMode.PREFER)),
            time_zone=time_zone,
        )
    return SqliteConfig(path=Path(hass.config.path("wattkeeper_recorder.db")), time_zone=time_zone)


class HealthCoordinator(DataUpdateCoordinator[RecorderHealth]):
    """Samples the sender's health (no I/O) for the diagnostic entities."""

    config_entry: RecorderConfigEntry

    def __init__(self, hass: HomeAssistant, entry: RecorderConfigEntry, sender: Sender) -> None:
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"recorder {entry.data[CONF_SITE]}",
            update_interval=HEALTH_INTERVAL,
            always_update=True,
        )
        self.sender = sender

    async def _async_update_data(self) -> RecorderHealth:
        health = self.sender.health()
        issue_id = f"outbox_quota_{self.config_entry.entry_id}"
        if health.quota_level is QuotaLevel.OK:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
        else:
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                issue_id,
                is_fixable=False,
                severity=(
                    ir.IssueSeverity.CRITICAL
                    if health.quota_level is QuotaLevel.FULL
                    else ir.IssueSeverity.WARNING
                ),
                translation_key=f"outbox_quota_{health.quota_level.value}",
                translation_placeholders={
                    "percent": f"{100 * health.quota_fraction:.0f}",
                    "dropped": str(health.dropped),
                    "error": health.last_error or "-",
                },
            )
        return health


@dataclass
class RecorderRuntime:
    """What a loaded recorder entry owns."""

    site: str
    outbox: Outbox
    backend: Backend
    sender: Sender
    health: HealthCoordinator
    meters: frozenset[str]  # entry ids to record; empty means every meter
    known: dict[SeriesKey, str | None] = field(default_factory=dict)  # → entity id
    pending: set[asyncio.Task[None]] = field(default_factory=set)
    statistics: StatisticsRuntime | None = None  # forwarding of HA's long-term statistics


class SnapshotRecorder:
    """Turns each meter snapshot into samples in the outbox."""

    def __init__(self, hass: HomeAssistant, runtime: RecorderRuntime) -> None:
        self.hass = hass
        self.runtime = runtime
        self.registry = er.async_get(hass)

    @callback
    def on_snapshot(self, entry_id: str, snapshot: Snapshot) -> None:
        runtime = self.runtime
        if runtime.meters and entry_id not in runtime.meters:
            return
        samples: list[Sample] = []
        new: list[SeriesInfo] = []
        for meter in snapshot.all_meters():
            for key, value in meter.values.items():
                info_key = SeriesKey(runtime.site, meter.identity.serial, key.id)
                # The first readings arrive before the entities exist: register the
                # series at once, and again when its entity id becomes known.
                if runtime.known.get(info_key) is None:
                    entity_id = self.registry.async_get_entity_id(
                        "sensor", DOMAIN, f"{meter.identity.serial}_{key.id}"
                    )
                    if info_key not in runtime.known or entity_id is not None:
                        new.append(
                            SeriesInfo.for_meter(runtime.site, meter.identity, key, entity_id)
                        )
                        runtime.known[info_key] = entity_id
                samples.append(Sample(info_key, meter.measured_at, value))
        task = self.hass.async_create_task(
            self._append(new, samples), "wattkeeper recorder append", eager_start=True
        )
        if not task.done():
            runtime.pending.add(task)
            task.add_done_callback(runtime.pending.discard)

    async def _append(self, new: list[SeriesInfo], samples: list[Sample]) -> None:
        if new:
            await self.runtime.outbox.register_series(*new)
        await self.runtime.outbox.append_samples(samples)


def _setting(entry: RecorderConfigEntry, key: str, default: Any) -> Any:
    """Options win over what the setup flow stored."""
    return entry.options.get(key, entry.data.get(key, default))


async def async_setup_recorder(hass: HomeAssistant, entry: RecorderConfigEntry) -> None:
    """Open the outbox, start the sender, and listen to every meter."""
    data = entry.data
    quota = int(_setting(entry, CONF_QUOTA_MB, DEFAULT_QUOTA_MB))
    outbox = Outbox(hass.config.path(f"wattkeeper_outbox_{entry.entry_id}.db"), quota << 20)
    await outbox.open()
    backend = create_backend(backend_config(hass, dict(data)))
    sender = Sender(outbox, backend, site=data[CONF_SITE], version=VERSION)
    await sender.start()
    health = HealthCoordinator(hass, entry, sender)
    runtime = RecorderRuntime(
        site=data[CONF_SITE],
        outbox=outbox,
        backend=backend,
        sender=sender,
        health=health,
        meters=frozenset(_setting(entry, CONF_METERS, [])),
    )
    entry.runtime_data = runtime
    # Unload runs these last-registered-first: stop listening, then drain, then close.
    entry.async_on_unload(partial(_close, runtime))
    entry.async_on_unload(
        async_dispatcher_connect(hass, SIGNAL_SNAPSHOT, SnapshotRecorder(hass, runtime).on_snapshot)
    )
    retention = int(
        entry.options.get(
            CONF_RETENTION_DAYS, data.get(CONF_RETENTION_DAYS, DEFAULT_RETENTION_DAYS)
        )
    )
    if retention > 0:

        async def apply_retention(_: Any) -> None:
            try:
                deleted = await backend.apply_retention(retention, dt_util.utcnow())
            except Exception as err:  # retention simply retries next hour
                LOGGER.warning("Raw retention could not run, will retry: %s", err)
            else:
                LOGGER.debug("Raw retention removed %d samples", deleted)

        entry.async_on_unload(async_track_time_interval(hass, apply_retention, RETENTION_INTERVAL))
    await health.async_config_entry_first_refresh()
    from .statistics_setup import async_setup_statistics  # noqa: PLC0415 (loads the recorder)

    runtime.statistics = await async_setup_statistics(hass, entry, runtime)


async def _close(runtime: RecorderRuntime) -> None:
    """Appends in flight land in the outbox before it closes; nothing is lost."""
    if runtime.pending:
        await asyncio.gather(*runtime.pending, return_exceptions=True)
    await runtime.sender.stop()
    await runtime.backend.close()
    await runtime.outbox.close()
