"""Reconnect policy shared by the streaming drivers (DSMR, Fluksometer) and the glue.

`Backoff` says how long to wait before the next attempt: exponential with
jitter, so a house full of meters that lost the same Wi-Fi does not reconnect
in lock-step. `reconnecting()` wraps a stream factory into one endless stream
that reopens the link after transient errors and gives up only on errors the
user must fix (credentials, a disabled API, an unsupported device).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from .errors import (
    MeterAuthError,
    MeterConnectionError,
    MeterDisabledError,
    MeterError,
    MeterUnsupportedError,
)

# Retrying cannot fix these; they end `reconnecting()` so the glue can ask the user.
FATAL_ERRORS: tuple[type[MeterError], ...] = (
    MeterAuthError,
    MeterDisabledError,
    MeterUnsupportedError,
)


@dataclass(slots=True)
class Backoff:
    """Delays between reconnect attempts: initial, ×factor per failure, capped, ±jitter."""

    initial: float = 1.0
    maximum: float = 60.0
    factor: float = 2.0
    jitter: float = 0.1
    rng: random.Random = field(default_factory=random.Random, repr=False)
    # Failures since the last success.
    failures: int = 0
    # time.monotonic() of the first failure since the last success; None while healthy.
    failing_since: float | None = None

    def next_delay(self) -> float:
        """Record one more failure and return how long to wait before retrying."""
        if self.failing_since is None:
            self.failing_since = time.monotonic()
        base = min(self.initial * self.factor**self.failures, self.maximum)
        self.failures += 1
        spread = base * self.jitter
        return max(0.0, base + self.rng.uniform(-spread, spread))

    def reset(self) -> None:
        """The link works again: the next failure starts from `initial`."""
        self.failures = 0
        self.failing_since = None

    def down_for(self) -> float:
        """Seconds since the first failure of the current outage (0 while healthy)."""
        if self.failing_since is None:
            return 0.0
        return time.monotonic() - self.failing_since

    async def sleep(self) -> float:
        """Wait the next delay; returns it."""
        delay = self.next_delay()
        await asyncio.sleep(delay)
        return delay


async def reconnecting[T](
    open_stream: Callable[[], AsyncIterator[T]],
    backoff: Backoff | None = None,
    *,
    on_error: Callable[[MeterError], None] | None = None,
) -> AsyncIterator[T]:
    """Yield from `open_stream()` forever, reopening it after transient MeterErrors.

    Every item resets the backoff. `on_error` hears each transient error before
    the wait, so the glue can mark entities unavailable and count outages.
    Errors in FATAL_ERRORS propagate.
    """
    policy = backoff if backoff is not None else Backoff()
    while True:
        stream = open_stream()
        try:
            async for item in stream:
                policy.reset()
                yield item
            # A stream that simply ends lost its link all the same.
            error: MeterError = MeterConnectionError("The stream ended")
        except FATAL_ERRORS:
            raise
        except MeterError as err:
            error = err
        finally:
            # Close the inner stream now, not whenever it is garbage collected.
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
        if on_error is not None:
            on_error(error)
        await policy.sleep()
