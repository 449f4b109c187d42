"""Builders for crafted readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from custom_components.wattkeeper.meters.model import Quantity, QuantityKey
from custom_components.wattkeeper.quality.observation import Observation

T0 = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)

POWER = QuantityKey(Quantity.POWER)
VOLTAGE_L1 = QuantityKey(Quantity.VOLTAGE, phase=1)
CONSUMPTION = QuantityKey(Quantity.POWER_CONSUMPTION, channel="main")
PRODUCTION = QuantityKey(Quantity.POWER_PRODUCTION, channel="solar")
PV = QuantityKey(Quantity.PV_POWER)
PV_STRING_1 = QuantityKey(Quantity.PV_POWER, channel="1")
IMPORT_T1 = QuantityKey(Quantity.ENERGY_IMPORT, tariff=1)
EXPORT_T1 = QuantityKey(Quantity.ENERGY_EXPORT, tariff=1)
GAS = QuantityKey(Quantity.GAS)
POWER_FAILURES = QuantityKey(Quantity.POWER_FAILURES)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def obs(
    seconds: float, values: dict[QuantityKey, float], *, sun: float | None = None
) -> Observation:
    return Observation(at=at(seconds), values=values, sun_elevation=sun)
