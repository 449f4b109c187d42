"""Backfill rows: role totals across sensors with gaps, and the join onto Home Assistant's sums."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from custom_components.wattkeeper.flukso_history import Anchor, entity_rows, join_live
from custom_components.wattkeeper.meters.flukso_config import parse_device
from custom_components.wattkeeper.meters.flukso_roles import roles_from_options
from custom_components.wattkeeper.meters.flukso_tmpo import HourlyStatistic
from custom_components.wattkeeper.meters.model import Quantity, QuantityKey
from custom_components.wattkeeper.sensor import is_shown
from simulators.flukso import FluksoSimulator

H0 = datetime(2023, 11, 14, 22, tzinfo=UTC)


def hour(n: int, minutes: int = 0) -> datetime:
    return H0 + timedelta(hours=n, minutes=minutes)


def row(n: int, state: float, total: float) -> HourlyStatistic:
    return HourlyStatistic(hour(n), state, total)


def test_grid_import_history_sums_every_clamp_with_its_sign() -> None:
    sim = FluksoSimulator("FLM03")
    payloads = {
        topic.rsplit("/", 1)[1]: json.loads(p) for topic, p in sim.config_payloads().items()
    }
    device = parse_device(sim.device_id, payloads["sensor"], payloads["flx"])
    roles = roles_from_options(sim.expected_roles())
    l1 = sim.sensor(port=1, subtype="pplus").id
    # The L2 clamp is mounted the wrong way round: its pminus counter counts the import.
    l2 = sim.sensor(port=2, subtype="pminus").id
    l3 = sim.sensor(port=3, subtype="pplus").id
    history = {
        l1: [row(0, 10.0, 0.5), row(1, 11.0, 1.5)],
        l2: [row(0, 5.0, 0.2), row(2, 6.0, 1.2)],  # nothing in hour 1
        l3: [row(1, 3.0, 0.1), row(2, 4.0, 1.1)],  # starts in hour 1
    }

    rows = entity_rows(device, roles, history)

    # A total starts once every clamp has history; a clamp keeps its last row meanwhile.
    assert rows[QuantityKey(Quantity.ENERGY_IMPORT)] == [row(1, 19.0, 1.8), row(2, 21.0, 3.8)]
    # Each clamp's own series, under the key of its live per-phase counter entity
    # (test_flukso_entities.py checks each of those entities exists).
    assert rows[QuantityKey(Quantity.ENERGY_IMPORT, phase=1, channel=l1)] == history[l1]
    assert rows[QuantityKey(Quantity.ENERGY_EXPORT, phase=2, channel=l2)] == history[l2]
    # Export needs the clamps counting the other way, whose history was not given.
    assert QuantityKey(Quantity.ENERGY_EXPORT) not in rows
    # Every series has an entity to land in: the backfill leaves none out.
    assert [key for key in rows if not is_shown(key)] == []


ROWS = [row(0, 1.0, 0.0), row(1, 2.0, 1.0), row(2, 3.0, 2.0)]


@pytest.mark.parametrize(
    ("anchor_state", "expected_sums"),
    [
        # The counter went on from 2.0 to 3.5 kWh before Home Assistant's first statistic.
        (3.5, [-2.3, -1.3]),
        # It restarted from zero: everything it shows is growth since then.
        (0.1, [-0.9, 0.1]),
    ],
)
def test_history_ends_where_home_assistant_begins(
    anchor_state: float, expected_sums: list[float]
) -> None:
    joined = join_live(ROWS, Anchor(hour(2, 10), anchor_state, 0.2))

    # Hour 2 is Home Assistant's own; only the hours before it are imported.
    assert [(r.start, r.state) for r in joined] == [(hour(0), 1.0), (hour(1), 2.0)]
    assert [r.sum for r in joined] == pytest.approx(expected_sums)


def test_nothing_to_join_before_the_history() -> None:
    assert join_live(ROWS, Anchor(hour(0, 5), 1.0, 0.0)) == []
