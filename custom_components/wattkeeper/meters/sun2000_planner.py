"""Group the registers a poll needs into as few Modbus read requests as the device allows.

Constraints on one request: at most `max_registers` registers, no run of
unneeded registers longer than `max_gap` inside it (reading a little extra is
cheaper than another round trip, a lot is not), and no address inside a
forbidden gap. Registers sorted by address are cut into runs greedily: each
run is extended while the constraints hold. Every constraint also holds for
any part of a feasible run, so the greedy cut gives the fewest requests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from .sun2000_registers import DEFAULT_MAX_REGISTERS, FORBIDDEN_GAPS, Register

# Unneeded registers one request may carry between two needed ones.
DEFAULT_MAX_GAP: Final = 20


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """One read of `count` holding registers from `address`."""

    address: int
    count: int
    registers: tuple[Register, ...]

    @property
    def end(self) -> int:
        return self.address + self.count

    def words(self, register: Register, block: Sequence[int]) -> Sequence[int]:
        """The slice of this request's answer that holds `register`."""
        start = register.address - self.address
        return block[start : start + register.count]


def touches_forbidden(
    start: int, end: int, forbidden: Sequence[tuple[int, int]] = FORBIDDEN_GAPS
) -> bool:
    """Whether addresses [start, end) overlap an inclusive forbidden range."""
    return any(start <= last and first < end for first, last in forbidden)


def plan_reads(
    registers: Iterable[Register],
    *,
    max_registers: int = DEFAULT_MAX_REGISTERS,
    max_gap: int = DEFAULT_MAX_GAP,
    forbidden: Sequence[tuple[int, int]] = FORBIDDEN_GAPS,
) -> tuple[ReadRequest, ...]:
    """The fewest requests that read every register under the constraints."""
    unique = {r.name: r for r in registers}
    ordered = sorted(unique.values(), key=lambda r: (r.address, r.end))
    for register in ordered:
        if register.count > max_registers:
            raise ValueError(f"{register.name} is longer than {max_registers} registers")
        if touches_forbidden(register.address, register.end, forbidden):
            raise ValueError(f"{register.name} lies in a forbidden address range")

    requests: list[ReadRequest] = []
    run: list[Register] = []
    start = end = 0
    for register in ordered:
        if run:
            gap_ok = register.address - end <= max_gap
            new_end = max(end, register.end)
            if (
                gap_ok
                and new_end - start <= max_registers
                and (
                    register.address <= end
                    or not touches_forbidden(end, register.address, forbidden)
                )
            ):
                run.append(register)
                end = new_end
                continue
            requests.append(ReadRequest(start, end - start, tuple(run)))
        run = [register]
        start, end = register.address, register.end
    if run:
        requests.append(ReadRequest(start, end - start, tuple(run)))
    return tuple(requests)


def plan_each(registers: Iterable[Register]) -> tuple[ReadRequest, ...]:
    """One request per register: the baseline the batched plan is measured against."""
    unique = {r.name: r for r in registers}
    return tuple(
        ReadRequest(r.address, r.count, (r,))
        for r in sorted(unique.values(), key=lambda r: r.address)
    )
