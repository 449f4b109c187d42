"""The shared reconnect policy (meters/backoff.py) the DSMR and Flukso drivers use."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from custom_components.wattkeeper.meters.backoff import Backoff, reconnecting
from custom_components.wattkeeper.meters.errors import (
    MeterAuthError,
    MeterConnectionError,
    MeterError,
    MeterTimeoutError,
)


def test_delays_grow_to_the_cap_and_reset() -> None:
    backoff = Backoff(initial=1, factor=2, maximum=5, jitter=0)
    assert [backoff.next_delay() for _ in range(5)] == [1, 2, 4, 5, 5]
    assert backoff.failures == 5
    assert backoff.down_for() >= 0
    assert backoff.failing_since is not None
    backoff.reset()
    assert backoff.failing_since is None
    assert backoff.down_for() == 0
    assert backoff.next_delay() == 1


def test_jitter_stays_within_its_band() -> None:
    backoff = Backoff(initial=10, factor=1, jitter=0.2, rng=random.Random(3))
    delays = [backoff.next_delay() for _ in range(200)]
    assert all(8 <= d <= 12 for d in delays)
    assert len(set(delays)) > 100


class _Link:
    """A stream factory failing in scripted ways; counts opens and closes."""

    def __init__(self, script: list[list[int | MeterError]]) -> None:
        self.script = script
        self.opened = 0
        self.closed = 0

    async def stream(self) -> AsyncIterator[int]:
        steps = self.script[self.opened]
        self.opened += 1
        try:
            for step in steps:
                if isinstance(step, MeterError):
                    raise step
                yield step
        finally:
            self.closed += 1


async def _collect(stream: AsyncIterator[int], into: list[int]) -> None:
    async for item in stream:
        into.append(item)


async def test_reconnecting_rides_over_transient_errors() -> None:
    link = _Link(
        [
            [1, 2, MeterTimeoutError("stalled")],
            [MeterConnectionError("refused")],
            [3],  # ends without error: a dropped link too
            [4, 5],
        ]
    )
    errors: list[MeterError] = []
    backoff = Backoff(initial=0.001, maximum=0.002, jitter=0)
    got: list[int] = []
    async for item in reconnecting(link.stream, backoff, on_error=errors.append):
        got.append(item)
        if item == 5:
            break
    assert got == [1, 2, 3, 4, 5]
    assert [type(e) for e in errors] == [
        MeterTimeoutError,
        MeterConnectionError,
        MeterConnectionError,
    ]
    # Items reset the policy: the failure count restarted after each success.
    assert backoff.failures == 0


async def test_reconnecting_gives_up_on_errors_the_user_must_fix() -> None:
    link = _Link([[1, MeterAuthError("wrong key")]])
    got: list[int] = []
    with pytest.raises(MeterAuthError):
        await _collect(reconnecting(link.stream, Backoff(initial=0.001)), got)
    assert got == [1]
    assert link.closed == 1


async def test_reconnecting_closes_the_inner_stream_when_the_consumer_stops() -> None:
    link = _Link([[1, 2, 3]])
    outer = reconnecting(link.stream, Backoff(initial=0.001))
    assert await anext(outer) == 1
    await outer.aclose()
    assert link.closed == 1
