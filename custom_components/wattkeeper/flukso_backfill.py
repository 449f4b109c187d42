"""History backfill: a Fluksometer's flukso.net (tmpo) history into Home Assistant's statistics.

Rows go in with `async_import_statistics` under each entity's own statistic id
(source "recorder"), not as external statistics: the Energy dashboard reads the
statistics of the entity the user picked, so only rows under that id show the
past there. External statistics (`async_add_external_statistics`) would be a
second series the user would have to pick instead of the entity, and it would
stop at the import while the entity's own series goes on.

Home Assistant keeps compiling the entity's sums from its own 5-minute
statistics, so history is imported for the hours before the entity's first
statistic only, with sums shifted to run on into Home Assistant's
(flukso_history.join_live): the dashboard shows every past hour and no step
where the two meet. An entity that has no statistic yet (just added, or its
role totals not reported yet) is waited for over a few compile runs. Imports
are keyed by statistic id and hour and rewritten in place, so running the
backfill twice imports the same rows again and changes nothing.

It runs as a Home Assistant background task rather than an entry task: saving
the options reloads the entry, which must not cancel the import it started.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import (
    STATISTIC_UNIT_TO_UNIT_CONVERTER,
    async_import_statistics,
    get_metadata,
    statistics_during_period,
)
from homeassistant.const import EVENT_RECORDER_5MIN_STATISTICS_GENERATED
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN, LOGGER
from .flukso_history import Anchor, entity_rows, join_live
from .meters.errors import MeterAuthError, MeterError
from .meters.flukso_config import FluksoDevice
from .meters.flukso_roles import SensorRole
from .meters.flukso_tmpo import (
    HourlyStatistic,
    TmpoClient,
    flukso_ssl_context,
    needs_flukso_ca,
)
from .meters.model import QuantityKey
from .sensor import is_shown

RECORDER_SOURCE: Final = "recorder"
# A 5-minute compile runs within this wait; a few of them let new entities appear.
COMPILE_WAIT: Final = timedelta(minutes=6)
COMPILE_RUNS: Final = 3
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_TASKS: HassKey[dict[str, asyncio.Task[BackfillReport]]] = HassKey(f"{DOMAIN}_flukso_backfill")
_FLUKSO_SSL: HassKey[ssl.SSLContext] = HassKey(f"{DOMAIN}_flukso_ssl")


@dataclass(frozen=True, slots=True)
class BackfillRequest:
    """What one run imports: the meter's sensors, their roles, and whose history to fetch."""

    entry_id: str
    serial: str
    name: str
    device: FluksoDevice
    roles: Mapping[str, SensorRole]
    tokens: Mapping[str, str]
    base_url: str


@dataclass(slots=True)
class BackfillReport:
    """Rows imported per statistic id, and what could not be done."""

    imported: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # sensor id → error
    skipped: list[str] = field(default_factory=list)  # series whose entity has no statistics
    unnamed: list[str] = field(default_factory=list)  # series Wattkeeper shows no entity for


async def tmpo_client(hass: HomeAssistant, base_url: str) -> TmpoClient:
    """A tmpo client on Home Assistant's session; flukso.net's own API gets Flukso's CA."""
    context: ssl.SSLContext | None = None
    if needs_flukso_ca(base_url):
        context = hass.data.get(_FLUKSO_SSL)
        if context is None:
            # Loading certificates reads files: not in the event loop.
            context = await hass.async_add_executor_job(flukso_ssl_context)
            hass.data[_FLUKSO_SSL] = context
    return TmpoClient(async_get_clientsession(hass), base_url, ssl_context=context)


def start_backfill(hass: HomeAssistant, request: BackfillRequest) -> asyncio.Task[BackfillReport]:
    """Run a backfill in the background; a newer request for the same entry replaces the older."""
    tasks = hass.data.setdefault(_TASKS, {})
    if (previous := tasks.get(request.entry_id)) is not None:
        previous.cancel()
    task = hass.async_create_background_task(
        async_backfill(hass, request), name=f"wattkeeper flukso backfill {request.serial}"
    )
    tasks[request.entry_id] = task
    return task


def last_backfill(hass: HomeAssistant, entry_id: str) -> asyncio.Task[BackfillReport] | None:
    """The entry's latest backfill, running or done (its result is the report)."""
    return hass.data.get(_TASKS, {}).get(entry_id)


async def async_backfill(hass: HomeAssistant, request: BackfillRequest) -> BackfillReport:
    """Fetch every token's history, then import it entity by entity as their statistics exist."""
    report = BackfillReport()
    client = await tmpo_client(hass, request.base_url)
    history: dict[str, list[HourlyStatistic]] = {}
    for sensor_id, token in request.tokens.items():
        sensor = request.device.sensors.get(sensor_id)
        if sensor is None:
            continue
        try:
            fetched = await client.fetch_hourly(sensor_id, token, sensor_type=sensor.type.value)
        except MeterAuthError:
            report.failed[sensor_id] = "flukso.net refused the token"
        except MeterError as err:
            report.failed[sensor_id] = str(err)
        else:
            history[sensor_id] = list(fetched.rows)
    rows_by_key = entity_rows(request.device, request.roles, history)
    pending = {key: rows for key, rows in rows_by_key.items() if is_shown(key)}
    # Reported, not dropped quietly: history with no entity to land in.
    report.unnamed = sorted(key.id for key in rows_by_key if key not in pending)
    for run in range(COMPILE_RUNS + 1):
        await _import_ready(hass, request, pending, report)
        if not pending or run == COMPILE_RUNS:
            break
        await _next_compile(hass)
    report.skipped = sorted(key.id for key in pending)
    await get_instance(hass).async_block_till_done()
    _report(hass, request, report)
    return report


async def _import_ready(
    hass: HomeAssistant,
    request: BackfillRequest,
    pending: dict[QuantityKey, list[HourlyStatistic]],
    report: BackfillReport,
) -> None:
    """Import the series whose entity exists and has statistics; leave the others pending."""
    registry = er.async_get(hass)
    for key in list(pending):
        entity_id = registry.async_get_entity_id("sensor", DOMAIN, f"{request.serial}_{key.id}")
        if entity_id is None:
            continue
        count = await _import(hass, entity_id, key.unit, pending[key])
        if count is not None:
            report.imported[entity_id] = count
            del pending[key]


async def _import(
    hass: HomeAssistant, statistic_id: str, unit: str | None, rows: list[HourlyStatistic]
) -> int | None:
    """Import the rows before the entity's first statistic; None while it has none."""
    recorder = get_instance(hass)
    first = await recorder.async_add_executor_job(_first_statistic, hass, statistic_id)
    if first is None:
        return None
    metadata = await recorder.async_add_executor_job(
        lambda: get_metadata(hass, statistic_ids={statistic_id})
    )
    # The entity's statistics may be kept in another unit (a display unit the user chose).
    stat_unit = metadata[statistic_id][1]["unit_of_measurement"] if metadata else unit
    convert = _converter(unit, stat_unit)
    if convert is None:
        LOGGER.warning("Not backfilling %s: its statistics are in %s", statistic_id, stat_unit)
        return 0
    converted = [HourlyStatistic(r.start, convert(r.state), convert(r.sum)) for r in rows]
    joined = join_live(converted, first)
    if joined:
        async_import_statistics(
            hass,
            StatisticMetaData(
                mean_type=StatisticMeanType.NONE,
                has_sum=True,
                name=None,
                source=RECORDER_SOURCE,
                statistic_id=statistic_id,
                unit_of_measurement=stat_unit,
            ),
            [StatisticData(start=r.start, state=r.state, sum=r.sum) for r in joined],
        )
    return len(joined)


def _first_statistic(hass: HomeAssistant, statistic_id: str) -> Anchor | None:
    """The entity's earliest 5-minute statistic: only Home Assistant writes those, never us."""
    rows = statistics_during_period(
        hass, _EPOCH, None, {statistic_id}, "5minute", None, {"state", "sum"}
    ).get(statistic_id, [])
    for row in rows:
        state, total = row.get("state"), row.get("sum")
        if state is not None and total is not None:
            return Anchor(dt_util.utc_from_timestamp(row["start"]), state, total)
    return None


def _converter(unit: str | None, stat_unit: str | None) -> Callable[[float], float] | None:
    if unit == stat_unit:
        return lambda value: value
    converter = STATISTIC_UNIT_TO_UNIT_CONVERTER.get(unit)
    if converter is None or stat_unit not in converter.VALID_UNITS:
        return None
    return converter.converter_factory(unit, stat_unit)


async def _next_compile(hass: HomeAssistant) -> None:
    """Wait for the recorder's next 5-minute statistics (or give up after COMPILE_WAIT)."""
    compiled = hass.loop.create_future()

    @callback
    def on_compiled(event: Event) -> None:
        if not compiled.done():
            compiled.set_result(None)

    remove = hass.bus.async_listen(EVENT_RECORDER_5MIN_STATISTICS_GENERATED, on_compiled)
    try:
        async with asyncio.timeout(COMPILE_WAIT.total_seconds()):
            await compiled
    except TimeoutError:
        pass
    finally:
        remove()


def _report(hass: HomeAssistant, request: BackfillRequest, report: BackfillReport) -> None:
    issue_id = f"flukso_backfill_{request.entry_id}"
    problems = [f"{sid}: {error}" for sid, error in sorted(report.failed.items())]
    problems += [f"{series}: no statistics in Home Assistant" for series in report.skipped]
    problems += [f"{series}: no entity shows this series" for series in report.unnamed]
    LOGGER.info(
        "Flukso history of %s: %d rows imported into %d series, %d problems",
        request.name,
        sum(report.imported.values()),
        len(report.imported),
        len(problems),
    )
    if not problems:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key="flukso_backfill_failed",
        translation_placeholders={"name": request.name, "problems": "; ".join(problems)},
    )
