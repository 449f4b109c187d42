"""Wattkeeper's capacity-tariff figures against a Belgian DSMR 5B meter's own.

The 5B twin keeps its demand register as a DLMS meter does: 1-0:1.4.0 is the
running quarter's import energy over the whole quarter, 1-0:1.6.0 the highest
average of the quarters that ended this month. It starts at 23:15 on the last
evening of March and each telegram advances its clock 30 s, so the test sees
quarters end on telegrams, and April begin, within seconds. Every coordinator
update records the capacity sensors as written in the same callback, and the
twin's own telegrams (its ground truth) say what they must show. The meter's
own sensors show its figures, with ours next to them as `wattkeeper_value`
and `agrees` (capacity_sensor.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from homeassistant.core import HomeAssistant, State, callback

from custom_components.wattkeeper.meters.model import Quantity, QuantityKey, Snapshot
from simulators.dsmr import DsmrSimulator
from simulators.dsmr_meter import METER_ZONE, MeterModel
from simulators.dsmr_telegram import IDENTITIES, Truth, capture_period

from .dsmr_helpers import (
    add_dsmr,
    entity_id,
    fast_meters,  # noqa: F401  (autouse)
    parts,
    sims_fixture,  # noqa: F401
    until,
)

Sims = Callable[..., DsmrSimulator]
ZONE = "Europe/Brussels"
START = datetime(2024, 3, 31, 23, 15, tzinfo=METER_ZONE)
APRIL = datetime(2024, 4, 1, tzinfo=METER_ZONE)
END = datetime(2024, 4, 1, 0, 45, tzinfo=METER_ZONE)
STEP_SECONDS = 30
QUARTER = timedelta(minutes=15)
ENERGY = QuantityKey(Quantity.ENERGY_IMPORT)
AVERAGE = QuantityKey(Quantity.AVERAGE_DEMAND)
PEAK = QuantityKey(Quantity.MONTHLY_PEAK)
# Ours comes from the kWh counters (1 Wh steps), the meter's from its exact
# energy rounded to 1 W: two counter readings × 1 Wh × 4, plus that rounding.
RESOLUTION_W = 8.5


@dataclass
class Seen:
    snapshot: Snapshot
    average: State
    peak: State


def quarter_of(moment: datetime) -> datetime:
    local = moment.astimezone(METER_ZONE)
    return local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0)


def attrs(state: State) -> dict[str, Any]:
    return dict(state.attributes)


async def test_quarter_average_and_month_peak_agree_with_the_meters_own(
    hass: HomeAssistant, sims: Sims
) -> None:
    await hass.config.async_set_time_zone(ZONE)
    ident = IDENTITIES["5B"]
    model = MeterModel(
        seed=5,
        start=START,
        step_seconds=STEP_SECONDS,
        day_tariff=1,
        mbus=ident.mbus,
        capture_period=capture_period("5B"),
    )
    sim = sims("5B", model=model)
    await sim.start_tcp()
    entry = await add_dsmr(hass, sim, "5B")
    _, coordinator = parts(entry)
    serial = coordinator.identity.serial
    average_id = entity_id(hass, serial, AVERAGE.id)
    peak_id = entity_id(hass, serial, PEAK.id)
    seen: list[Seen] = []

    @callback
    def record() -> None:
        # Runs after the capacity glue's and the sensors' own listeners: the
        # states show this snapshot and Wattkeeper's figures for it.
        if coordinator.last_update_success:
            average, peak = hass.states.get(average_id), hass.states.get(peak_id)
            assert average is not None
            assert peak is not None
            seen.append(Seen(coordinator.data, average, peak))

    remove = coordinator.async_add_listener(record)
    try:
        await until(lambda: bool(seen) and seen[-1].snapshot.measured_at >= END)
    finally:
        remove()

    def truth_at(moment: datetime) -> Truth:
        return sim.truth_for(moment.astimezone(UTC))

    first_quarter = quarter_of(seen[0].snapshot.measured_at) + QUARTER
    checked = [s for s in seen if s.snapshot.measured_at >= first_quarter]
    quarters = {quarter_of(s.snapshot.measured_at) for s in checked}
    # More than one whole quarter on each side of the month boundary.
    assert {q for q in quarters if q < APRIL} >= {APRIL - 2 * QUARTER, APRIL - QUARTER}
    assert {q for q in quarters if q >= APRIL} >= {APRIL, APRIL + QUARTER, APRIL + 2 * QUARTER}

    boundaries = 0
    for s in checked:
        at = s.snapshot.measured_at
        truth = sim.truth_of(s.snapshot)
        assert truth.mismatches(s.snapshot) == []
        quarter = quarter_of(at)

        # The quarter-hour average: the meter's 1.4.0 is shown, ours agrees.
        meter_average = truth.values[AVERAGE]
        own_average = (truth.values[ENERGY] - truth_at(quarter).values[ENERGY]) * 4000
        average = attrs(s.average)
        assert float(s.average.state) == meter_average
        assert average["wattkeeper_value"] == round(own_average, 1)
        assert abs(average["wattkeeper_value"] - meter_average) < RESOLUTION_W
        assert average["agrees"] is True, (at, average)

        # The month's peak: the meter's 1.6.0 is shown.
        meter_peak = truth.values[PEAK]
        peak = attrs(s.peak)
        assert float(s.peak.state) == meter_peak
        assert peak["peak_at"] == truth.monthly_peak_at
        if at < APRIL:
            # Wattkeeper joined March late: its March peak is not comparable.
            assert peak["agrees"] is None
            continue
        # Ours counts every quarter the meter's does. (Ours also counts the
        # running quarter as it grows, the meter's 1.6.0 only ended ones: while
        # a quarter tops the month the two are not compared.)
        assert peak["wattkeeper_value"] >= meter_peak - RESOLUTION_W
        assert peak["agrees"] is not False, (at, peak)
        if at == quarter:
            # A quarter just ended and the new one holds nothing yet: both
            # peaks cover the same quarters.
            boundaries += 1
            assert abs(peak["wattkeeper_value"] - meter_peak) < RESOLUTION_W
            assert peak["agrees"] is True, (at, peak)
    assert boundaries >= 3
