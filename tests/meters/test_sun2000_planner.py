"""The batch planner: fewest requests, never over the limit, never across a forbidden gap."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from custom_components.wattkeeper.meters.sun2000_planner import (
    ReadRequest,
    plan_each,
    plan_reads,
)
from custom_components.wattkeeper.meters.sun2000_registers import (
    FORBIDDEN_GAPS,
    IDENTITY,
    MAX_PV_STRINGS,
    RUNTIME,
    Part,
    Register,
    available_fields,
    registers_for,
)

ALL_PARTS = {Part.INVERTER, Part.METER, Part.BATTERY}


def _forbidden(address: int) -> bool:
    return any(first <= address <= last for first, last in FORBIDDEN_GAPS)


def _feasible(run: Sequence[Register], max_registers: int, max_gap: int) -> bool:
    """Checked address by address, independently of the planner's arithmetic."""
    start = run[0].address
    end = max(r.end for r in run)
    if end - start > max_registers:
        return False
    needed = {a for r in run for a in range(r.address, r.end)}
    gap = 0
    for address in range(start, end):
        if address in needed:
            gap = 0
            continue
        if _forbidden(address):
            return False
        gap += 1
        if gap > max_gap:
            return False
    return True


def _fewest_requests(registers: Sequence[Register], max_registers: int, max_gap: int) -> int:
    """Optimal count by dynamic programming over every cut of the sorted registers."""
    ordered = sorted(registers, key=lambda r: r.address)
    best = [0] + [len(ordered) + 1] * len(ordered)
    for i in range(1, len(ordered) + 1):
        for j in range(i):
            if best[j] + 1 < best[i] and _feasible(ordered[j:i], max_registers, max_gap):
                best[i] = best[j] + 1
    return best[-1]


def _check(
    plan: Sequence[ReadRequest], registers: Sequence[Register], limit: int, gap: int
) -> None:
    covered = [r.name for request in plan for r in request.registers]
    assert sorted(covered) == sorted({r.name for r in registers})
    for request in plan:
        assert request.count <= limit
        assert request.address == min(r.address for r in request.registers)
        assert request.end == max(r.end for r in request.registers)
        assert _feasible(request.registers, limit, gap)


def _full_map() -> tuple[Register, ...]:
    fields = available_fields(pv_strings=MAX_PV_STRINGS, parts=ALL_PARTS)
    registers, _ = registers_for(fields)
    return registers


def test_full_map_plan_is_minimal_and_as_expected() -> None:
    registers = _full_map()
    plan = plan_reads(registers)
    _check(plan, registers, 64, 20)
    assert len(plan) == _fewest_requests(registers, 64, 20)
    assert [(r.address, r.count) for r in plan] == [
        (32008, 64),  # alarms, 24 PV strings, input power, phase voltages
        (32072, 44),  # phase currents … daily yield
        (37100, 38),  # the whole power meter
        (37760, 7),  # SOC, status, bus voltage/current, power
        (37780, 8),  # charge/discharge counters, after the forbidden gap
    ]


def test_two_string_device_plan() -> None:
    fields = available_fields(pv_strings=2, parts=ALL_PARTS)
    registers, _ = registers_for(fields)
    plan = plan_reads(registers)
    assert [(r.address, r.count) for r in plan] == [
        (32008, 12),
        (32064, 52),
        (37100, 38),
        (37760, 7),
        (37780, 8),
    ]
    # 21 inverter, 16 meter and 9 battery registers, one request each unbatched.
    assert len(plan_each(registers)) == len(registers) == 46


def test_identity_fits_two_requests() -> None:
    plan = plan_reads(IDENTITY)
    assert [(r.address, r.count) for r in plan] == [(30000, 50), (30050, 25)]


@pytest.mark.parametrize("seed", range(6))
def test_random_subsets_are_planned_minimally(seed: int) -> None:
    rng = random.Random(seed)
    pool = _full_map()
    for _ in range(40):
        subset = rng.sample(pool, rng.randint(1, len(pool)))
        limit = rng.choice((8, 16, 32, 64, 125))
        gap = rng.choice((0, 3, 20, 64, 500))
        plan = plan_reads(subset, max_registers=limit, max_gap=gap)
        _check(plan, subset, limit, gap)
        assert len(plan) == _fewest_requests(subset, limit, gap)


def test_forbidden_gap_is_never_spanned_even_when_allowed_by_size_and_gap() -> None:
    battery = [r for r in RUNTIME if r.part is Part.BATTERY]
    plan = plan_reads(battery, max_registers=125, max_gap=500)
    assert [(r.address, r.end) for r in plan] == [(37760, 37767), (37780, 37788)]


def test_gap_limit_splits_requests() -> None:
    chosen = [r for r in RUNTIME if r.name in ("accumulated_yield", "daily_yield")]
    assert len(plan_reads(chosen, max_gap=6)) == 1  # 32108-32113 is a six-register gap
    assert len(plan_reads(chosen, max_gap=5)) == 2


def test_registers_the_device_cannot_read_in_one_request_are_refused() -> None:
    with pytest.raises(ValueError, match="longer than 8"):
        plan_reads(IDENTITY, max_registers=8)
    inside = Register(
        name="hole", address=37770, count=1, dtype=RUNTIME[0].dtype, part=Part.BATTERY, text="x"
    )
    with pytest.raises(ValueError, match="forbidden"):
        plan_reads([inside])


def test_duplicates_are_read_once() -> None:
    register = RUNTIME[5]
    plan = plan_reads([register, register])
    assert plan == (ReadRequest(register.address, register.count, (register,)),)
    assert plan[0].words(register, [7]) == [7]
