"""The external recorder entry: every meter reading into the outbox, the sender drains it.

Readings reach the outbox the moment a meter's coordinator receives them, at
full resolution: the snapshot hub (recorder_hub.py) listens from start-up and
keeps what arrives while this entry is not loaded. The sender moves them to
the backend in batches; a health coordinator samples the sender every few
seconds for the diagnostic entities, raises a repair issue when the outbox
nears its quota, and asks for new credentials when the database refuses them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import (
    CONF_HOST,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_USERNAME,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryError, ConfigEntryNotReady
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
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
)
from .on_demand import OnDemand, async_ensure
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
from .recorder_auth import AuthWatch
from .recorder_hub import Delivery, async_setup_hub
from .recorder_target import recorder_unique_id

if TYPE_CHECKING:
    from .statistics_setup import StatisticsRuntime

HEALTH_INTERVAL = timedelta(seconds=10)
RETENTION_INTERVAL = timedelta(hours=1)
VERSION = "0.1.0"
MIB: Final = 1 << 20
# Cassandra's largest TTL is 20 years; raw retention becomes the samples' TTL.
CASSANDRA_MAX_RETENTION_DAYS: Final = 7300

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
    """The library's backend configuration from a recorder entry's data (and options)."""
    time_zone = str(hass.config.time_zone)
    # Retention and recomputation touch this household's series only: a research
    # team's database holds many sites.
    site = data[CONF_SITE]
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
            site=site,
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
            site=site,
        )
    return SqliteConfig(
        path=Path(hass.config.path("wattkeeper_recorder.db")), time_zone=time_zone, site=site
    )


def recorder_settings(entry: ConfigEntry[Any]) -> dict[str, Any]:
    """What the setup flow stored, with the options over it."""
    return {**entry.data, **entry.options}


class HealthCoordinator(DataUpdateCoordinator[RecorderHealth]):
    """Samples the sender's health (no I/O) for the diagnostic entities."""

    config_entry: RecorderConfigEntry

    def __init__(
        self, hass: HomeAssistant, entry: RecorderConfigEntry, sender: Sender, watch: AuthWatch
    ) -> None:
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"recorder {entry.data[CONF_SITE]}",
            update_interval=HEALTH_INTERVAL,
            always_update=True,
        )
        self.sender = sender
        self.watch = watch
        # Snapshots the hub had to drop while this entry was not loaded.
        self.hub_dropped = 0

    async def _async_update_data(self) -> RecorderHealth:
        health = self.current_health()
        self.update_quota_issue(health)
        if (refused := self.watch.auth_error) is not None:
            # The outbox keeps collecting meanwhile; the sender retries with backoff.
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN,
                translation_key="database_auth_failed",
                translation_placeholders={"error": str(refused)},
            ) from refused
        return health

    def current_health(self) -> RecorderHealth:
        health = self.sender.health()
        if self.hub_dropped:
            health = replace(health, dropped=health.dropped + self.hub_dropped)
        return health

    @callback
    def update_quota_issue(self, health: RecorderHealth) -> None:
        issue_id = f"outbox_quota_{self.config_entry.entry_id}"
        if health.quota_level is QuotaLevel.OK:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return
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


@dataclass
class RecorderRuntime:
    """What a loaded recorder entry owns."""

    site: str
    outbox: Outbox
    backend: Backend
    sender: Sender
    health: HealthCoordinator
    meters: frozenset[str]  # entry ids to record; empty means every meter
    options: dict[str, Any]  # as set up; a change reloads the entry
    known: dict[SeriesKey, str | None] = field(default_factory=dict)  # → entity id
    pending: set[asyncio.Task[None]] = field(default_factory=set)
    statistics: StatisticsRuntime | None = None  # forwarding of HA's long-term statistics


class SnapshotRecorder:
    """Turns meter snapshots into samples in the outbox."""

    def __init__(self, hass: HomeAssistant, runtime: RecorderRuntime) -> None:
        self.hass = hass
        self.runtime = runtime
        self.registry = er.async_get(hass)

    @callback
    def record(self, deliveries: Sequence[Delivery]) -> None:
        """One append for what the hub hands over: one snapshot live, or what it kept."""
        runtime = self.runtime
        samples: list[Sample] = []
        new: list[SeriesInfo] = []
        for entry_id, snapshot in deliveries:
            if runtime.meters and entry_id not in runtime.meters:
                continue
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
        if not samples and not new:
            return
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


@callback
def _migrate_unique_id(hass: HomeAssistant, entry: RecorderConfigEntry) -> None:
    """Entries made before the unique id left out credentials get the new one."""
    wanted = recorder_unique_id(entry.data)
    if entry.unique_id == wanted:
        return
    if any(
        other.unique_id == wanted and other.entry_id != entry.entry_id
        for other in hass.config_entries.async_entries(DOMAIN)
    ):
        return
    hass.config_entries.async_update_entry(entry, unique_id=wanted)


async def async_setup_recorder(hass: HomeAssistant, entry: RecorderConfigEntry) -> None:
    """Open the outbox, start the sender, and take the meters' snapshots from the hub."""
    _migrate_unique_id(hass, entry)
    settings = recorder_settings(entry)
    if settings[CONF_BACKEND] == BACKEND_CASSANDRA and not await async_ensure(
        hass, OnDemand.CASSANDRA
    ):
        # The hub keeps the readings meanwhile; setup is retried with growing delays.
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN, translation_key="cassandra_driver_missing"
        )
    try:
        backend = create_backend(backend_config(hass, settings))
    except ValueError as err:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="recorder_invalid_settings",
            translation_placeholders={"error": str(err)},
        ) from err
    quota = max(1, int(float(settings.get(CONF_QUOTA_MB, DEFAULT_QUOTA_MB)) * MIB))
    outbox = Outbox(hass.config.path(f"wattkeeper_outbox_{entry.entry_id}.db"), quota)
    await outbox.open()
    watch = AuthWatch(backend)
    sender = Sender(outbox, watch.as_backend(), site=entry.data[CONF_SITE], version=VERSION)
    health = HealthCoordinator(hass, entry, sender, watch)
    runtime = RecorderRuntime(
        site=entry.data[CONF_SITE],
        outbox=outbox,
        backend=backend,
        sender=sender,
        health=health,
        meters=frozenset(settings.get(CONF_METERS, [])),
        options=dict(entry.options),
    )
    entry.runtime_data = runtime
    # Unload runs these last-registered-first: stop taking snapshots, then drain, then close.
    entry.async_on_unload(partial(_close, runtime))
    await sender.start()
    health.hub_dropped, detach = async_setup_hub(hass).attach(
        entry.entry_id, SnapshotRecorder(hass, runtime).record
    )
    entry.async_on_unload(detach)

    @callback
    def watch_quota(_: datetime) -> None:
        # After an auth failure the coordinator stops refreshing until the entry reloads;
        # the outbox still fills, so its quota is still watched.
        if not health.last_update_success:
            health.update_quota_issue(health.current_health())

    entry.async_on_unload(async_track_time_interval(hass, watch_quota, HEALTH_INTERVAL))
    retention = int(settings.get(CONF_RETENTION_DAYS, DEFAULT_RETENTION_DAYS))
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


async def async_recorder_updated(hass: HomeAssistant, entry: RecorderConfigEntry) -> None:
    """Reload for new options. Reauth and reconfigure reload by themselves after changing
    the data; reloading here too would cut the first reload's connection short."""
    if dict(entry.options) != entry.runtime_data.options:
        await hass.config_entries.async_reload(entry.entry_id)


async def _close(runtime: RecorderRuntime) -> None:
    """Appends in flight land in the outbox before it closes; nothing is lost."""
    if runtime.pending:
        await asyncio.gather(*runtime.pending, return_exceptions=True)
    await runtime.sender.stop()
    await runtime.backend.close()
    await runtime.outbox.close()
