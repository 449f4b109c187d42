"""Capacity-tariff sensors of every meter that reports import energy or power.

Four per meter: the running quarter hour's average demand, its projected end
value, this month's peak (with its time) and the rolling 12-month average of
monthly peaks. Only Belgium bills a capacity tariff: they are enabled by
default where the meter computes them too (a Belgian P1) or Home Assistant's
country is Belgium, and created disabled elsewhere.

Where the meter reports a figure itself (a Belgian P1's average demand and
monthly peak, a DSMR 5B's peak history), the meter's own sensor is the one
shown and ours is not created: one sensor per figure on the device page. The
meter's average and peak sensors carry ours as `wattkeeper_value`, and
`agrees` says whether the two match (None while ours misses part of the
period). Should a meter's figure be missing from a reading, our sensor shows
our value; `source` says whose value it shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import UnitOfPower
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .capacity_glue import EntryCapacity, MeterCapacity, async_start_capacity, get_capacity
from .const import DOMAIN
from .coordinator import WattkeeperConfigEntry
from .entity import device_info
from .meters.dsmr_mapping import TEXT_MAX_DEMAND_HISTORY
from .meters.model import Quantity, QuantityKey, Snapshot
from .quality.capacity import CapacityReading, Comparison
from .quality.fluvius import WINDOW_MONTHS
from .quality.local_time import months_before

BELGIUM = "BE"
SOURCE_METER = "meter"
SOURCE_OWN = "wattkeeper"


def _comparison(reading: CapacityReading, quantity: Quantity) -> Comparison | None:
    return next((c for c in reading.comparisons if c.quantity is quantity), None)


def _average_attributes(meter: MeterCapacity, reading: CapacityReading) -> dict[str, Any]:
    comparison = _comparison(reading, Quantity.AVERAGE_DEMAND)
    return {
        "quarter_start": reading.quarter_start,
        "quarter_end": reading.quarter_end,
        "source": SOURCE_METER if reading.average_from_meter else SOURCE_OWN,
        "own_value": round(reading.own_average_w, 1),
        "agrees": comparison.agrees if comparison is not None else None,
    }


def _projected_attributes(meter: MeterCapacity, reading: CapacityReading) -> dict[str, Any]:
    return {"quarter_end": reading.quarter_end}


def _peak_attributes(meter: MeterCapacity, reading: CapacityReading) -> dict[str, Any]:
    comparison = _comparison(reading, Quantity.MONTHLY_PEAK)
    # The meter's figure may still be last month's right after midnight.
    from_meter = comparison is not None and comparison.meter_w == reading.month_peak_w
    return {
        "peak_at": reading.month_peak_at,
        "month": reading.month,
        "source": SOURCE_METER if from_meter else SOURCE_OWN,
        "own_value": round(reading.own_month_peak_w, 1),
        "agrees": comparison.agrees if comparison is not None and from_meter else None,
    }


def _rolling_attributes(meter: MeterCapacity, reading: CapacityReading) -> dict[str, Any]:
    """The peaks of the months the average counts, as measured (the 2.5 kW floor
    applies inside the average only)."""
    first = months_before(reading.month, WINDOW_MONTHS - 1)
    return {
        "months": reading.rolling_months,
        "monthly_peaks": {
            month: round(peak, 1)
            for month, peak in meter.tracker.monthly_peaks().items()
            if first <= month <= reading.month
        },
    }


def _reports(quantity: Quantity) -> Callable[[Snapshot], bool]:
    key = QuantityKey(quantity)
    return lambda snapshot: key in snapshot.values


def _reports_history(snapshot: Snapshot) -> bool:
    return TEXT_MAX_DEMAND_HISTORY in snapshot.texts


@dataclass(frozen=True, kw_only=True)
class CapacitySensorDescription(SensorEntityDescription):
    value_fn: Callable[[CapacityReading], float | None]
    attributes_fn: Callable[[MeterCapacity, CapacityReading], dict[str, Any]]
    # Follows the running quarter: meaningless while the meter is down.
    live: bool
    # The meter reports this figure itself (and has a sensor of its own for it).
    meter_has_fn: Callable[[Snapshot], bool] = lambda snapshot: False


def _description(
    key: str,
    value_fn: Callable[[CapacityReading], float | None],
    attributes_fn: Callable[[MeterCapacity, CapacityReading], dict[str, Any]],
    *,
    live: bool,
    meter_has_fn: Callable[[Snapshot], bool] = lambda snapshot: False,
) -> CapacitySensorDescription:
    return CapacitySensorDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=value_fn,
        attributes_fn=attributes_fn,
        live=live,
        meter_has_fn=meter_has_fn,
    )


CAPACITY_SENSORS: tuple[CapacitySensorDescription, ...] = (
    _description(
        "capacity_average",
        lambda r: r.average_w,
        _average_attributes,
        live=True,
        meter_has_fn=_reports(Quantity.AVERAGE_DEMAND),
    ),
    _description("capacity_projected", lambda r: r.projected_w, _projected_attributes, live=True),
    _description(
        "capacity_month_peak",
        lambda r: r.month_peak_w,
        _peak_attributes,
        live=False,
        meter_has_fn=_reports(Quantity.MONTHLY_PEAK),
    ),
    _description(
        "capacity_rolling_average",
        lambda r: r.rolling_average_w,
        _rolling_attributes,
        live=False,
        meter_has_fn=_reports_history,
    ),
)
# The meter's own figures that get ours next to them.
COMPARED: frozenset[Quantity] = frozenset({Quantity.AVERAGE_DEMAND, Quantity.MONTHLY_PEAK})


def meter_figure_attributes(
    hass: HomeAssistant, entry_id: str, serial: str, quantity: Quantity
) -> dict[str, Any]:
    """Ours next to a meter's own average demand or monthly peak sensor."""
    if quantity not in COMPARED or (capacity := get_capacity(hass, entry_id)) is None:
        return {}
    meter = capacity.meters.get(serial)
    reading = meter.reading if meter is not None else None
    comparison = _comparison(reading, quantity) if reading is not None else None
    if comparison is None:
        return {}
    return {"wattkeeper_value": round(comparison.own_w, 1), "agrees": comparison.agrees}


async def async_setup_capacity_sensors(
    hass: HomeAssistant,
    entry: WattkeeperConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Follow the entry's capacity tariff; add sensors for each meter as it appears."""
    capacity = await async_start_capacity(hass, entry)
    registry = er.async_get(hass)
    known: set[str] = set()

    @callback
    def add_new_meters() -> None:
        new: list[CapacitySensor] = []
        for serial, meter in capacity.meters.items():
            if serial in known or meter.last is None:
                continue
            known.add(serial)
            enabled = meter.reports_own or hass.config.country == BELGIUM
            for description in CAPACITY_SENSORS:
                if not description.meter_has_fn(meter.last):
                    new.append(CapacitySensor(capacity, meter, description, enabled=enabled))
                elif stale := registry.async_get_entity_id(
                    "sensor", DOMAIN, f"{serial}_{description.key}"
                ):
                    # Made by a version that showed both figures.
                    registry.async_remove(stale)
        if new:
            async_add_entities(new)

    add_new_meters()
    entry.async_on_unload(capacity.async_add_listener(add_new_meters))


class CapacitySensor(SensorEntity):
    """One capacity-tariff figure of one meter."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    entity_description: CapacitySensorDescription

    def __init__(
        self,
        capacity: EntryCapacity,
        meter: MeterCapacity,
        description: CapacitySensorDescription,
        *,
        enabled: bool,
    ) -> None:
        self.entity_description = description
        self._attr_entity_registry_enabled_default = enabled
        self._capacity = capacity
        self._meter = meter
        self._attr_unique_id = f"{meter.identity.serial}_{description.key}"
        self._attr_device_info = device_info(meter.identity, meter.parent)
        self._attr_extra_state_attributes = {}
        self._load()

    async def async_added_to_hass(self) -> None:
        self.async_on_remove(self._capacity.async_add_listener(self._refresh))

    def _load(self) -> bool:
        """Take the latest reading; True when what the sensor shows changed."""
        reading = self._meter.reading
        description = self.entity_description
        available = reading is not None and (not description.live or self._capacity.meter_online)
        raw = description.value_fn(reading) if reading is not None else None
        # Tenths of a watt: finer digits are float noise, and would churn the state.
        value = round(raw, 1) if raw is not None else None
        attributes = description.attributes_fn(self._meter, reading) if reading else {}
        changed = (
            available != self._attr_available
            or value != self._attr_native_value
            or attributes != self._attr_extra_state_attributes
        )
        self._attr_available = available
        self._attr_native_value = value
        self._attr_extra_state_attributes = attributes
        return changed

    @callback
    def _refresh(self) -> None:
        if self._load():
            self.async_write_ha_state()
