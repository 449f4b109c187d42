"""Hourly history rows for a Fluksometer's entities, joined onto Home Assistant's own.

Pure functions, no Home Assistant import: flukso_backfill.py feeds them the
tmpo rows of each sensor (flukso_tmpo.hourly_statistics) and the entity's
first statistic, and imports what they return.

- `entity_rows`: each sensor's counter rows under the series its entity shows
  (flukso_readings decides the quantity, as for live readings), plus the role
  totals, computed hour by hour with flukso_roles.derived_values itself so the
  history sums exactly the sensors the live totals sum. A total needs the
  history of every sensor it adds; each sensor keeps its last row until its
  next one.
- `join_live`: Home Assistant continues an entity's sums from its own latest
  5-minute statistic and starts them at zero the first time, whatever hourly
  rows exist. So history is kept only for the hours before the entity's first
  statistic (the anchor), and its sums are shifted to end where Home
  Assistant's begin; the growth from the last imported reading to the anchor
  follows the tmpo rules (a drop of more than 10 % is a counter reset).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from .meters.flukso_config import FluksoDevice, FluksoSensor, SensorType
from .meters.flukso_readings import (
    TIMESTAMP_MIN,
    Kind,
    RawReading,
    Reading,
    UnitError,
    interpret,
)
from .meters.flukso_roles import SensorRole, derived_values, resolve_roles
from .meters.flukso_tmpo import HourlyStatistic, hourly_statistics
from .meters.model import COUNTERS, QuantityKey

# Rounded like flukso_tmpo's rows, to shed float noise.
_DIGITS = 9


@dataclass(frozen=True, slots=True)
class Anchor:
    """An entity's first statistic in Home Assistant: the zero point of its sums."""

    start: datetime
    state: float
    sum: float


def counter_key(sensor: FluksoSensor) -> QuantityKey | None:
    """The series a sensor's counter lands in, or None when it has none."""
    unit = "Wh" if sensor.type is SensorType.ELECTRICITY else "L"
    try:
        reading = interpret(sensor, Kind.COUNTER, RawReading(TIMESTAMP_MIN, 0.0, unit))
    except UnitError:
        return None
    if reading is None:
        return None
    return QuantityKey(reading.quantity, phase=sensor.phase, channel=sensor.id)


def entity_rows(
    device: FluksoDevice,
    roles: Mapping[str, SensorRole],
    history: Mapping[str, Sequence[HourlyStatistic]],
) -> dict[QuantityKey, list[HourlyStatistic]]:
    """Hourly rows per series: every sensor in `history`, then the role totals."""
    keys: dict[str, QuantityKey] = {}
    for sensor_id in history:
        sensor = device.sensors.get(sensor_id)
        if sensor is not None and sensor.enabled and (key := counter_key(sensor)) is not None:
            keys[sensor_id] = key
    rows: dict[QuantityKey, list[HourlyStatistic]] = {
        key: list(history[sensor_id]) for sensor_id, key in keys.items() if history[sensor_id]
    }
    rows.update(_totals(device, roles, {sid: history[sid] for sid in keys}, keys))
    return rows


def _totals(
    device: FluksoDevice,
    roles: Mapping[str, SensorRole],
    history: Mapping[str, Sequence[HourlyStatistic]],
    keys: Mapping[str, QuantityKey],
) -> dict[QuantityKey, list[HourlyStatistic]]:
    resolved = resolve_roles(device, roles)
    by_hour = {sid: {row.start: row for row in rows} for sid, rows in history.items()}
    hours = sorted({hour for rows in by_hour.values() for hour in rows})
    last: dict[str, HourlyStatistic] = {}
    totals: dict[QuantityKey, list[HourlyStatistic]] = {}
    for hour in hours:
        for sensor_id, rows in by_hour.items():
            if (row := rows.get(hour)) is not None:
                last[sensor_id] = row
        timestamp = int(hour.timestamp())
        states = derived_values(device, resolved, _readings(last, keys, "state", timestamp))
        sums = derived_values(device, resolved, _readings(last, keys, "sum", timestamp))
        for key, state in states.items():
            if key.quantity in COUNTERS and key in sums:
                totals.setdefault(key, []).append(
                    HourlyStatistic(hour, round(state, _DIGITS), round(sums[key], _DIGITS))
                )
    return totals


def _readings(
    rows: Mapping[str, HourlyStatistic],
    keys: Mapping[str, QuantityKey],
    field: str,
    timestamp: int,
) -> dict[tuple[str, Kind], Reading]:
    """Rows as the counter readings derived_values sums (their state or their sum)."""
    return {
        (sid, Kind.COUNTER): Reading(timestamp, keys[sid].quantity, getattr(row, field))
        for sid, row in rows.items()
    }


def join_live(rows: Sequence[HourlyStatistic], anchor: Anchor) -> list[HourlyStatistic]:
    """The rows of the hours before the anchor's, with sums that run on into the anchor's."""
    anchor_hour = anchor.start.replace(minute=0, second=0, microsecond=0)
    past = [row for row in rows if row.start < anchor_hour]
    if not past:
        return []
    last = past[-1]
    # The growth from the last imported reading to the anchor, by the tmpo rules.
    (at_anchor,) = hourly_statistics(
        [(int(anchor.start.timestamp()), anchor.state)], factor=1.0, base=last
    )
    offset = anchor.sum - at_anchor.sum
    return [HourlyStatistic(row.start, row.state, round(row.sum + offset, _DIGITS)) for row in past]
