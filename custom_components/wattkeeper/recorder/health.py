"""The recorder's health, as the glue shows it in diagnostic entities."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from .outbox_types import QuotaLevel


@dataclass(frozen=True, slots=True, kw_only=True)
class RecorderHealth:
    """A snapshot; cheap to take (no I/O)."""

    backlog: int  # readings waiting in the outbox
    backlog_statistics: int
    oldest_unsent_age: float | None  # seconds since the oldest waiting reading was taken
    last_success: datetime | None
    write_rate: float  # readings committed per second, over the last minute
    dropped: int  # readings the full outbox had to drop (oldest first)
    rejected: int  # readings refused as invalid (NaN/inf, no time zone, unknown series)
    connected: bool
    quota_fraction: float
    quota_level: QuotaLevel
    last_error: str | None


class RateMeter:
    """Events per second over a sliding window."""

    def __init__(self, window: float = 60.0) -> None:
        self._window = window
        self._events: deque[tuple[float, int]] = deque()
        self._started = time.monotonic()

    def add(self, count: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._events.append((now, count))
        self._trim(now)

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        self._trim(now)
        span = min(self._window, now - self._started)
        if span <= 0:
            return 0.0
        return sum(count for _, count in self._events) / span

    def _trim(self, now: float) -> None:
        while self._events and self._events[0][0] < now - self._window:
            self._events.popleft()
