"""Sensors: one table turns every canonical quantity into an entity description.

Whatever the meter kind, a quantity lands in Home Assistant with the same
device class, state class and unit, so every meter feeds the Energy dashboard
the same way. Entities exist only for the series a meter actually reports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, cast, runtime_checkable

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    PERCENTAGE,
    EntityCategory,
    UnitOfApparentPower,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfFrequency,
    UnitOfPower,
    UnitOfReactivePower,
    UnitOfTemperature,
    UnitOfTime,
    UnitOfVolume,
    UnitOfVolumeFlowRate,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .capacity_sensor import async_setup_capacity_sensors, meter_figure_attributes
from .const import CONF_KIND, KIND_RECORDER
from .coordinator import SnapshotCoordinator, WattkeeperConfigEntry
from .dsmr_sensor import add_dsmr_sensors
from .entity import WattkeeperEntity
from .flukso_sensor import add_flukso_sensors
from .meters.model import TEXT_MONTHLY_PEAK_AT, MeterIdentity, Quantity, QuantityKey, Snapshot
from .recorder_entities import add_recorder_sensors
from .recorder_runtime import RecorderConfigEntry
from .sun2000_status import add_sun2000_sensors
from .write_throttle import ThrottledWrites, write_interval

PARALLEL_UPDATES = 0  # the coordinator does all I/O


@runtime_checkable
class NamedChannels(Protocol):
    """A driver that knows readable names for its channels (a Fluksometer's sensors)."""

    def channel_name(self, channel: str) -> str | None: ...


class Variant(StrEnum):
    """Qualifiers a series may carry; each has its own translated name."""

    TARIFF = "tariff"
    PHASE = "phase"
    CHANNEL = "channel"


@dataclass(frozen=True, kw_only=True)
class QuantitySensorDescription(SensorEntityDescription):
    """How a quantity is shown; `variants` lists the qualifiers it is named for."""

    variants: frozenset[Variant] = frozenset()
    value_fn: Callable[[float], float | int] = lambda value: value
    # State attributes from the snapshot's texts, for quantities that come with some.
    attributes_fn: Callable[[Snapshot], dict[str, Any]] | None = None


_PHASE = frozenset({Variant.PHASE})
_CHANNEL = frozenset({Variant.CHANNEL})
_PHASE_CHANNEL = frozenset({Variant.PHASE, Variant.CHANNEL})
_TARIFF_CHANNEL = frozenset({Variant.TARIFF, Variant.CHANNEL})
# Counters per tariff, or of a clamp that may sit on a phase (an FLM03 on L1-L3).
_TARIFF_PHASE_CHANNEL = frozenset(Variant)


def _power(
    quantity: Quantity,
    variants: frozenset[Variant] = _PHASE_CHANNEL,
    attributes_fn: Callable[[Snapshot], dict[str, Any]] | None = None,
) -> tuple[Quantity, QuantitySensorDescription]:
    return quantity, QuantitySensorDescription(
        key=quantity.value,
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        variants=variants,
        attributes_fn=attributes_fn,
    )


def _peak_time(snapshot: Snapshot) -> dict[str, Any]:
    """When this month's peak happened, where the meter says."""
    text = snapshot.texts.get(TEXT_MONTHLY_PEAK_AT)
    peak_at = dt_util.parse_datetime(text) if text else None
    if peak_at is None:
        return {}
    # Meters state local time, a HomeWizard P1 without its zone (as quality/demand_inputs.py).
    # In UTC: a local time in the repeated autumn hour equals no time of another zone.
    if peak_at.tzinfo is None:
        peak_at = peak_at.replace(tzinfo=dt_util.get_default_time_zone())
    return {"peak_at": dt_util.as_utc(peak_at)}


def _energy(
    quantity: Quantity, variants: frozenset[Variant] = _TARIFF_CHANNEL
) -> tuple[Quantity, QuantitySensorDescription]:
    return quantity, QuantitySensorDescription(
        key=quantity.value,
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=3,
        variants=variants,
    )


def _grid_event(
    quantity: Quantity, variants: frozenset[Variant] = frozenset()
) -> tuple[Quantity, QuantitySensorDescription]:
    return quantity, QuantitySensorDescription(
        key=quantity.value,
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        variants=variants,
        value_fn=int,
    )


SENSORS: dict[Quantity, QuantitySensorDescription] = dict(
    [
        _power(Quantity.POWER),
        _power(Quantity.POWER_IMPORT),
        _power(Quantity.POWER_EXPORT),
        _power(Quantity.POWER_CONSUMPTION, _CHANNEL),
        _power(Quantity.POWER_PRODUCTION, _CHANNEL),
        _power(Quantity.PV_POWER, _CHANNEL),
        _power(Quantity.BATTERY_POWER, frozenset()),
        _power(Quantity.AVERAGE_DEMAND, frozenset()),
        _power(Quantity.MONTHLY_PEAK, frozenset(), _peak_time),
        _energy(Quantity.ENERGY_IMPORT, _TARIFF_PHASE_CHANNEL),
        _energy(Quantity.ENERGY_EXPORT, _TARIFF_PHASE_CHANNEL),
        _energy(Quantity.ENERGY_CONSUMPTION, _CHANNEL),
        _energy(Quantity.ENERGY_PRODUCTION, _CHANNEL),
        _energy(Quantity.PV_ENERGY, frozenset()),
        _energy(Quantity.PV_ENERGY_DAILY, frozenset()),
        _energy(Quantity.BATTERY_CHARGE_ENERGY, frozenset()),
        _energy(Quantity.BATTERY_DISCHARGE_ENERGY, frozenset()),
        _energy(Quantity.BATTERY_CHARGE_ENERGY_DAILY, frozenset()),
        _energy(Quantity.BATTERY_DISCHARGE_ENERGY_DAILY, frozenset()),
        (
            Quantity.REACTIVE_POWER,
            QuantitySensorDescription(
                key=Quantity.REACTIVE_POWER.value,
                device_class=SensorDeviceClass.REACTIVE_POWER,
                native_unit_of_measurement=UnitOfReactivePower.VOLT_AMPERE_REACTIVE,
                state_class=SensorStateClass.MEASUREMENT,
                entity_registry_enabled_default=False,
                variants=_PHASE_CHANNEL,
            ),
        ),
        (
            Quantity.APPARENT_POWER,
            QuantitySensorDescription(
                key=Quantity.APPARENT_POWER.value,
                device_class=SensorDeviceClass.APPARENT_POWER,
                native_unit_of_measurement=UnitOfApparentPower.VOLT_AMPERE,
                state_class=SensorStateClass.MEASUREMENT,
                entity_registry_enabled_default=False,
                variants=_PHASE_CHANNEL,
            ),
        ),
        (
            Quantity.POWER_FACTOR,
            QuantitySensorDescription(
                key=Quantity.POWER_FACTOR.value,
                device_class=SensorDeviceClass.POWER_FACTOR,
                state_class=SensorStateClass.MEASUREMENT,
                suggested_display_precision=2,
                entity_registry_enabled_default=False,
                variants=_PHASE_CHANNEL,
            ),
        ),
        (
            Quantity.VOLTAGE,
            QuantitySensorDescription(
                key=Quantity.VOLTAGE.value,
                device_class=SensorDeviceClass.VOLTAGE,
                native_unit_of_measurement=UnitOfElectricPotential.VOLT,
                state_class=SensorStateClass.MEASUREMENT,
                suggested_display_precision=1,
                variants=_PHASE_CHANNEL,
            ),
        ),
        (
            Quantity.CURRENT,
            QuantitySensorDescription(
                key=Quantity.CURRENT.value,
                device_class=SensorDeviceClass.CURRENT,
                native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
                state_class=SensorStateClass.MEASUREMENT,
                suggested_display_precision=2,
                variants=_PHASE_CHANNEL,
            ),
        ),
        (
            Quantity.FREQUENCY,
            QuantitySensorDescription(
                key=Quantity.FREQUENCY.value,
                device_class=SensorDeviceClass.FREQUENCY,
                native_unit_of_measurement=UnitOfFrequency.HERTZ,
                state_class=SensorStateClass.MEASUREMENT,
                suggested_display_precision=2,
                entity_registry_enabled_default=False,
            ),
        ),
        (
            Quantity.TARIFF,
            QuantitySensorDescription(
                key=Quantity.TARIFF.value,
                device_class=SensorDeviceClass.ENUM,
                options=["1", "2", "3", "4"],
                value_fn=int,
            ),
        ),
        _grid_event(Quantity.VOLTAGE_SAGS, _PHASE),
        _grid_event(Quantity.VOLTAGE_SWELLS, _PHASE),
        _grid_event(Quantity.POWER_FAILURES),
        _grid_event(Quantity.LONG_POWER_FAILURES),
        (
            Quantity.GAS,
            QuantitySensorDescription(
                key=Quantity.GAS.value,
                device_class=SensorDeviceClass.GAS,
                native_unit_of_measurement=UnitOfVolume.CUBIC_METERS,
                state_class=SensorStateClass.TOTAL_INCREASING,
                suggested_display_precision=3,
                variants=_CHANNEL,
            ),
        ),
        (
            Quantity.WATER,
            QuantitySensorDescription(
                key=Quantity.WATER.value,
                device_class=SensorDeviceClass.WATER,
                native_unit_of_measurement=UnitOfVolume.CUBIC_METERS,
                state_class=SensorStateClass.TOTAL_INCREASING,
                suggested_display_precision=3,
                variants=_CHANNEL,
            ),
        ),
        (
            Quantity.WATER_FLOW,
            QuantitySensorDescription(
                key=Quantity.WATER_FLOW.value,
                device_class=SensorDeviceClass.VOLUME_FLOW_RATE,
                native_unit_of_measurement=UnitOfVolumeFlowRate.LITERS_PER_MINUTE,
                state_class=SensorStateClass.MEASUREMENT,
                suggested_display_precision=1,
                variants=_CHANNEL,
            ),
        ),
        (
            Quantity.HEAT,
            QuantitySensorDescription(
                key=Quantity.HEAT.value,
                device_class=SensorDeviceClass.ENERGY,
                native_unit_of_measurement=UnitOfEnergy.GIGA_JOULE,
                state_class=SensorStateClass.TOTAL_INCREASING,
                suggested_display_precision=3,
            ),
        ),
        (
            Quantity.PV_VOLTAGE,
            QuantitySensorDescription(
                key=Quantity.PV_VOLTAGE.value,
                device_class=SensorDeviceClass.VOLTAGE,
                native_unit_of_measurement=UnitOfElectricPotential.VOLT,
                state_class=SensorStateClass.MEASUREMENT,
                suggested_display_precision=1,
                variants=_CHANNEL,
            ),
        ),
        (
            Quantity.PV_CURRENT,
            QuantitySensorDescription(
                key=Quantity.PV_CURRENT.value,
                device_class=SensorDeviceClass.CURRENT,
                native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
                state_class=SensorStateClass.MEASUREMENT,
                suggested_display_precision=2,
                variants=_CHANNEL,
            ),
        ),
        (
            Quantity.INVERTER_EFFICIENCY,
            QuantitySensorDescription(
                key=Quantity.INVERTER_EFFICIENCY.value,
                native_unit_of_measurement=PERCENTAGE,
                state_class=SensorStateClass.MEASUREMENT,
                entity_category=EntityCategory.DIAGNOSTIC,
            ),
        ),
        (
            Quantity.BATTERY_SOC,
            QuantitySensorDescription(
                key=Quantity.BATTERY_SOC.value,
                device_class=SensorDeviceClass.BATTERY,
                native_unit_of_measurement=PERCENTAGE,
                state_class=SensorStateClass.MEASUREMENT,
            ),
        ),
        (
            Quantity.TEMPERATURE,
            QuantitySensorDescription(
                key=Quantity.TEMPERATURE.value,
                device_class=SensorDeviceClass.TEMPERATURE,
                native_unit_of_measurement=UnitOfTemperature.CELSIUS,
                state_class=SensorStateClass.MEASUREMENT,
                entity_category=EntityCategory.DIAGNOSTIC,
            ),
        ),
        (
            Quantity.WIFI_STRENGTH,
            QuantitySensorDescription(
                key=Quantity.WIFI_STRENGTH.value,
                native_unit_of_measurement=PERCENTAGE,
                state_class=SensorStateClass.MEASUREMENT,
                entity_category=EntityCategory.DIAGNOSTIC,
                entity_registry_enabled_default=False,
                value_fn=int,
            ),
        ),
        (
            Quantity.UPTIME,
            QuantitySensorDescription(
                key=Quantity.UPTIME.value,
                device_class=SensorDeviceClass.DURATION,
                native_unit_of_measurement=UnitOfTime.SECONDS,
                state_class=SensorStateClass.MEASUREMENT,
                entity_category=EntityCategory.DIAGNOSTIC,
                entity_registry_enabled_default=False,
                value_fn=int,
            ),
        ),
    ]
)


def translation_key(key: QuantityKey) -> str:
    """The translated name of a series: one per quantity and variant."""
    suffix = ""
    if key.tariff is not None:
        suffix += f"_{Variant.TARIFF}"
    if key.phase is not None:
        suffix += f"_{Variant.PHASE}"
    if key.channel is not None:
        suffix += f"_{Variant.CHANNEL}"
    return key.quantity.value + suffix


def variants_of(key: QuantityKey) -> frozenset[Variant]:
    present = {
        Variant.TARIFF: key.tariff is not None,
        Variant.PHASE: key.phase is not None,
        Variant.CHANNEL: key.channel is not None,
    }
    return frozenset(variant for variant, is_set in present.items() if is_set)


def is_shown(key: QuantityKey) -> bool:
    """True when the table can name this series."""
    description = SENSORS.get(key.quantity)
    if description is None:
        return False
    variants = variants_of(key)
    # One qualifier, or a channel on a phase (a clamp on L2); never a tariff with others.
    return variants <= description.variants and (len(variants) <= 1 or variants == _PHASE_CHANNEL)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: WattkeeperConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create sensors for what the meter reports now, and for series that appear later."""
    if entry.data[CONF_KIND] == KIND_RECORDER:
        add_recorder_sensors(cast("RecorderConfigEntry", entry), async_add_entities)
        return
    coordinator = entry.runtime_data.coordinator
    known: set[tuple[str, QuantityKey]] = set()
    driver = entry.runtime_data.meter
    names = driver.channel_name if isinstance(driver, NamedChannels) else None

    @callback
    def add_new_series() -> None:
        new: list[QuantitySensor] = []
        for meter in coordinator.data.all_meters():
            # The driver names its own channels, not those of its sub-meters.
            own = names if meter.identity.serial == coordinator.identity.serial else None
            for key in meter.values:
                if (meter.identity.serial, key) in known or not is_shown(key):
                    continue
                known.add((meter.identity.serial, key))
                new.append(QuantitySensor(coordinator, meter.identity, key, own))
        if new:
            async_add_entities(new)

    # First, so the capacity tariff has seen a reading before the sensors show it.
    await async_setup_capacity_sensors(hass, entry, async_add_entities)
    add_new_series()
    entry.async_on_unload(coordinator.async_add_listener(add_new_series))
    add_dsmr_sensors(entry, async_add_entities)
    add_sun2000_sensors(entry, async_add_entities)
    add_flukso_sensors(entry, async_add_entities)


class QuantitySensor(ThrottledWrites, WattkeeperEntity, SensorEntity):
    """One series of one meter; its state writes follow the entry's write intervals."""

    entity_description: QuantitySensorDescription

    def __init__(
        self,
        coordinator: SnapshotCoordinator,
        meter: MeterIdentity,
        key: QuantityKey,
        channel_name: Callable[[str], str | None] | None = None,
    ) -> None:
        super().__init__(coordinator, meter)
        self.key = key
        self.entity_description = SENSORS[key.quantity]
        self._attr_unique_id = f"{meter.serial}_{key.id}"
        self._attr_translation_key = translation_key(key)
        self.write_interval = write_interval(coordinator.config_entry.options, key)
        placeholders = _placeholders(key, channel_name)
        if placeholders:
            self._attr_translation_placeholders = placeholders

    @property
    def available(self) -> bool:
        snapshot = self.snapshot
        return super().available and snapshot is not None and self.key in snapshot.values

    @property
    def native_value(self) -> float | int | str | None:
        snapshot = self.snapshot
        if snapshot is None or self.key not in snapshot.values:
            return None
        value = self.entity_description.value_fn(snapshot.values[self.key])
        if self.entity_description.device_class is SensorDeviceClass.ENUM:
            return str(value)
        return value

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        snapshot = self.snapshot
        attributes_fn = self.entity_description.attributes_fn
        attributes = attributes_fn(snapshot) if attributes_fn and snapshot else {}
        # A meter's own capacity-tariff figure gets ours next to it.
        attributes |= meter_figure_attributes(
            self.hass, self.coordinator.config_entry.entry_id, self.meter_serial, self.key.quantity
        )
        return attributes or None


def _placeholders(
    key: QuantityKey, channel_name: Callable[[str], str | None] | None
) -> dict[str, str]:
    channel = key.channel
    if channel is not None and channel_name is not None:
        channel = channel_name(channel) or channel
    values: Iterable[tuple[str, object]] = (
        (Variant.TARIFF, key.tariff),
        (Variant.PHASE, key.phase),
        (Variant.CHANNEL, channel),
    )
    return {name: str(value) for name, value in values if value is not None}
