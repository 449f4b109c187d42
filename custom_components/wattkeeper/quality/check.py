"""The contract every check implements, and a helper for conditions that must last."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from custom_components.wattkeeper.meters.model import QuantityKey

from .findings import Finding
from .observation import Observation


class Check(Protocol):
    """A check watches observations and says what is wrong at a given moment."""

    def observe(self, observation: Observation) -> list[Finding]:
        """Take one observation; return one-off notices (never failures)."""
        ...

    def active(self, now: datetime) -> list[Finding]:
        """What is wrong at `now`, each with the moment it started."""
        ...


@dataclass(slots=True)
class Span:
    """A condition seen on a series from `first` to `last`.

    `value` and `context` are those of the first reading: messages built from
    them stay the same for the whole span, so attributes do not churn.
    """

    first: datetime
    last: datetime
    value: float
    context: float | None = None

    @property
    def length(self) -> timedelta:
        return self.last - self.first


class Spans:
    """Per-series spans of a condition, measured between readings (not to `now`)
    so that a meter that stops reporting does not make its last state grow."""

    def __init__(self) -> None:
        self._spans: dict[QuantityKey, Span] = {}

    def seen(
        self, key: QuantityKey, at: datetime, value: float, context: float | None = None
    ) -> None:
        span = self._spans.get(key)
        if span is None:
            self._spans[key] = Span(at, at, value, context)
        else:
            span.last = max(span.last, at)

    def cleared(self, key: QuantityKey) -> None:
        self._spans.pop(key, None)

    def get(self, key: QuantityKey) -> Span | None:
        return self._spans.get(key)

    def lasting(self, minimum: timedelta) -> Iterator[tuple[QuantityKey, Span]]:
        for key, span in sorted(self._spans.items(), key=_by_id):
            if span.length >= minimum:
                yield key, span


def fmt(value: float) -> str:
    """A number for a message: short, no float noise."""
    return format(value, ".6g")


def _by_id(item: tuple[QuantityKey, Span]) -> str:
    # QuantityKey's own ordering fails when one key has a qualifier and another None.
    return item[0].id
