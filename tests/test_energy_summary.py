"""The `wattkeeper.get_energy_summary` action, on statistics in a real recorder."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import async_import_statistics
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.wattkeeper.const import DOMAIN

ZONE = ZoneInfo("Europe/Brussels")
DAY = datetime(2026, 6, 10, tzinfo=ZONE)


def import_hourly(
    hass: HomeAssistant, statistic_id: str, per_hour: float, unit: str = "kWh"
) -> None:
    """Hourly rows of a counter growing `per_hour`, from the hour before DAY until
    the morning after (each row holds the total at the end of its hour)."""
    metadata = StatisticMetaData(
        mean_type=StatisticMeanType.NONE,
        has_sum=True,
        name=None,
        source="recorder",
        statistic_id=statistic_id,
        unit_of_measurement=unit,
    )
    rows = []
    for hour in range(-1, 31):
        total = 1000.0 + per_hour * (hour + 1)
        start = (DAY + timedelta(hours=hour)).astimezone(ZONE)
        rows.append(StatisticData(start=start, state=total, sum=total))
    async_import_statistics(hass, metadata, rows)


@pytest.fixture
async def with_statistics(
    recorder_mock: None, hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    await hass.config.async_set_time_zone("Europe/Brussels")
    freezer.move_to(datetime(2026, 6, 11, 9, 30, tzinfo=ZONE))
    assert await async_setup_component(hass, DOMAIN, {})
    import_hourly(hass, "sensor.p1_energy_import", 0.5)
    import_hourly(hass, "sensor.p1_energy_export", 300.0, unit="Wh")
    await async_wait_recording_done(hass)


async def _summary(hass: HomeAssistant, entity_ids: list[str], start: str, end: str) -> object:
    return await hass.services.async_call(
        DOMAIN,
        "get_energy_summary",
        {"entity_id": entity_ids, "start": start, "end": end},
        blocking=True,
        return_response=True,
    )


@pytest.mark.usefixtures("with_statistics")
async def test_change_per_entity_in_kwh(hass: HomeAssistant) -> None:
    response = await _summary(
        hass,
        ["sensor.p1_energy_import", "sensor.p1_energy_export", "sensor.no_statistics"],
        DAY.isoformat(),
        (DAY + timedelta(days=1)).isoformat(),
    )
    assert response == {
        "entities": {
            "sensor.p1_energy_import": {"change": pytest.approx(12.0), "unit": "kWh"},
            # Kept in Wh, given in kWh.
            "sensor.p1_energy_export": {"change": pytest.approx(7.2), "unit": "kWh"},
        }
    }


@pytest.mark.usefixtures("with_statistics")
async def test_a_time_without_zone_is_local(hass: HomeAssistant) -> None:
    response = await _summary(
        hass, ["sensor.p1_energy_import"], "2026-06-10 06:00:00", "2026-06-10 08:00:00"
    )
    assert response == {
        "entities": {"sensor.p1_energy_import": {"change": pytest.approx(1.0), "unit": "kWh"}}
    }


@pytest.mark.usefixtures("with_statistics")
async def test_an_empty_period_is_refused(hass: HomeAssistant) -> None:
    with pytest.raises(ServiceValidationError) as caught:
        await _summary(hass, ["sensor.p1_energy_import"], DAY.isoformat(), DAY.isoformat())
    assert caught.value.translation_key == "summary_period_invalid"


async def test_without_the_recorder(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, DOMAIN, {})
    with pytest.raises(ServiceValidationError) as caught:
        await _summary(
            hass,
            ["sensor.p1_energy_import"],
            DAY.isoformat(),
            (DAY + timedelta(days=1)).isoformat(),
        )
    assert caught.value.translation_key == "summary_needs_recorder"
