"""The HomeWizard driver against the twin over real HTTP: tariffs, M-Bus units, odd devices."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest

from custom_components.wattkeeper.meters.errors import MeterUnsupportedError
from custom_components.wattkeeper.meters.homewizard import HomeWizardMeter
from custom_components.wattkeeper.meters.model import Quantity, QuantityKey, Snapshot
from simulators.homewizard import HomeWizardSimulator

IMPORT_T1 = QuantityKey(Quantity.ENERGY_IMPORT, tariff=1)
EXPORT_T1 = QuantityKey(Quantity.ENERGY_EXPORT, tariff=1)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _externals(snapshot: Snapshot) -> dict[str, tuple[str, dict[QuantityKey, float]]]:
    return {s.identity.serial: (s.identity.model, dict(s.values)) for s in snapshot.sub_meters}


@pytest.mark.parametrize("homewizard_sim", ["kwh1", "kwh3", "socket"], indirect=True)
async def test_single_tariff_total_is_not_repeated_as_tariff_1(
    homewizard_sim: HomeWizardSimulator, session: aiohttp.ClientSession
) -> None:
    snapshot = await HomeWizardMeter(homewizard_sim.host, session).read()
    truth = homewizard_sim.data
    assert snapshot.values[QuantityKey(Quantity.ENERGY_IMPORT)] == truth["total_power_import_kwh"]
    assert snapshot.values[QuantityKey(Quantity.ENERGY_EXPORT)] == truth["total_power_export_kwh"]
    assert IMPORT_T1 not in snapshot.values
    assert EXPORT_T1 not in snapshot.values


async def test_p1_keeps_every_tariff(
    homewizard_sim: HomeWizardSimulator, session: aiohttp.ClientSession
) -> None:
    snapshot = await HomeWizardMeter(homewizard_sim.host, session).read()
    truth = homewizard_sim.data
    assert snapshot.values[IMPORT_T1] == truth["total_power_import_t1_kwh"]
    assert snapshot.values[EXPORT_T1] == truth["total_power_export_t1_kwh"]
    assert (
        snapshot.values[QuantityKey(Quantity.ENERGY_IMPORT, tariff=2)]
        == (truth["total_power_import_t2_kwh"])
    )


async def test_m_bus_meters_in_the_units_they_report(
    homewizard_sim: HomeWizardSimulator, session: aiohttp.ClientSession
) -> None:
    snapshot = await HomeWizardMeter(homewizard_sim.host, session).read()
    assert _externals(snapshot) == {
        "G0039001652050216": ("Gas meter", {QuantityKey(Quantity.GAS): 2569.646}),
        "W0039001652050218": ("Water meter", {QuantityKey(Quantity.WATER): 411.027}),
        "H0039001652050219": ("Heat meter", {QuantityKey(Quantity.HEAT): 16.842}),
    }


@pytest.mark.parametrize(
    ("index", "value", "unit", "expected"),
    [
        (0, 2569646.0, "L", 2569.646),  # gas in litres → m³
        (1, 411.027, "m³", 411.027),
        (2, 4678.3, "kWh", 4678.3 * 0.0036),  # heat in kWh → GJ
        (2, 16842.0, "MJ", 16.842),
        (2, 4.6783, "MWh", 4.6783 * 3.6),
    ],
)
async def test_m_bus_units_are_converted(
    homewizard_sim: HomeWizardSimulator,
    session: aiohttp.ClientSession,
    index: int,
    value: float,
    unit: str,
    expected: float,
) -> None:
    homewizard_sim.fixture["data"]["external"][index].update(value=value, unit=unit)
    snapshot = await HomeWizardMeter(homewizard_sim.host, session).read()
    (reading,) = snapshot.sub_meters[index].values.values()
    assert reading == pytest.approx(expected)


async def test_unknown_m_bus_unit_skips_that_meter_and_logs_once(
    homewizard_sim: HomeWizardSimulator,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    externals = homewizard_sim.fixture["data"]["external"]
    externals[2]["unit"] = "m3"  # an inlet heat meter counting the water it heats
    meter = HomeWizardMeter(homewizard_sim.host, session)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            snapshot = await meter.read()
    assert set(_externals(snapshot)) == {"G0039001652050216", "W0039001652050218"}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "'m3'" in warnings[0]
    assert "GJ" in warnings[0]


async def test_a_device_speaking_another_api_is_unsupported(
    homewizard_sim: HomeWizardSimulator, session: aiohttp.ClientSession
) -> None:
    homewizard_sim.fixture["device"]["api_version"] = "v3"
    with pytest.raises(MeterUnsupportedError, match="speaks API v3"):
        await HomeWizardMeter(homewizard_sim.host, session).identify()


async def test_a_device_without_measurements_is_unsupported(
    homewizard_sim: HomeWizardSimulator, session: aiohttp.ClientSession
) -> None:
    """A 404 on the measurement endpoint is the library's NotFoundError: ours, not a crash."""
    del homewizard_sim.fixture["data"]
    with pytest.raises(MeterUnsupportedError):
        await HomeWizardMeter(homewizard_sim.host, session).read()
