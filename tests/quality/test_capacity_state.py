"""The capacity state survives a restart: to_dict → JSON → from_dict."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from custom_components.wattkeeper.quality.capacity import CapacityConfig, CapacityTracker
from custom_components.wattkeeper.quality.capacity_state import CapacityState
from custom_components.wattkeeper.quality.demand_inputs import DemandSample
from custom_components.wattkeeper.quality.errors import QualityStateError

CONFIG = CapacityConfig(time_zone="Europe/Brussels")
T0 = datetime(2025, 10, 25, 20, 0, tzinfo=UTC)


def _samples() -> list[DemandSample]:
    # Two days across the October DST change, a varying load, the meter's peak.
    samples = []
    energy = 5000.0
    for minute in range(0, 2 * 24 * 60, 3):
        watts = 300 + (minute * 37) % 4100
        samples.append(
            DemandSample(
                at=T0 + timedelta(minutes=minute),
                energy_kwh=energy,
                power_w=float(watts),
                meter_peak_w=4600.0 if minute > 600 else None,
                meter_peak_at=T0 + timedelta(minutes=300) if minute > 600 else None,
            )
        )
        energy += watts * 3 / 60 / 1000
    return samples


def test_a_restored_tracker_continues_exactly_like_the_original() -> None:
    samples = _samples()
    half = len(samples) // 2 + 1  # mid-quarter
    original = CapacityTracker(CONFIG)
    for sample in samples[:half]:
        original.observe_sample(sample)
    stored = json.loads(json.dumps(original.to_dict()))
    restored = CapacityTracker.from_dict(stored, CONFIG)
    assert restored.to_dict() == original.to_dict()
    for sample in samples[half:]:
        # The projection's rate window is transient; everything else must match.
        assert restored.observe_sample(sample) == original.observe_sample(sample)
    assert restored.to_dict() == original.to_dict()
    assert set(restored.to_dict()["months"]) == {"2025-10"}


def test_empty_state_round_trips() -> None:
    state = CapacityState()
    assert CapacityState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {"version": 99},
        {"version": 1},
        {**CapacityState().to_dict(), "last_at": "yesterday"},
        {**CapacityState().to_dict(), "last_at": "2025-10-01T00:00:00"},
        {**CapacityState().to_dict(), "months": {"2025-10": {"peak_w": "lots"}}},
    ],
)
def test_corrupt_state_is_refused(data: object) -> None:
    with pytest.raises(QualityStateError):
        CapacityTracker.from_dict(data, CONFIG)
