"""The description table and the quantity model agree."""

from __future__ import annotations

import pytest

from custom_components.wattkeeper.meters.model import UNITS, Quantity, QuantityKey
from custom_components.wattkeeper.sensor import SENSORS, is_shown, translation_key


@pytest.mark.parametrize("quantity", list(Quantity))
def test_every_quantity_has_a_description_in_its_unit(quantity: Quantity) -> None:
    description = SENSORS[quantity]
    assert description.key == quantity.value
    assert description.native_unit_of_measurement == UNITS[quantity]


def test_series_names() -> None:
    assert translation_key(QuantityKey(Quantity.ENERGY_IMPORT, tariff=2)) == "energy_import_tariff"
    assert translation_key(QuantityKey(Quantity.VOLTAGE, phase=3)) == "voltage_phase"
    assert translation_key(QuantityKey(Quantity.PV_POWER, channel="2")) == "pv_power_channel"
    assert QuantityKey(Quantity.ENERGY_IMPORT, tariff=2).id == "energy_import_t2"


def test_only_named_series_are_shown() -> None:
    assert is_shown(QuantityKey(Quantity.VOLTAGE, phase=1))
    assert not is_shown(QuantityKey(Quantity.FREQUENCY, phase=1))  # no per-phase name
    assert not is_shown(QuantityKey(Quantity.ENERGY_IMPORT, tariff=1, channel="a"))
    clamp_on_l2 = QuantityKey(Quantity.POWER, phase=2, channel="a")
    assert is_shown(clamp_on_l2)
    assert translation_key(clamp_on_l2) == "power_phase_channel"
