"""Exponential backoff with jitter, so many sites do not hammer a database that comes back."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class BackoffPolicy:
    """Delays grow `initial * factor**n` up to `maximum`; each is jittered down by up to half."""

    initial: float = 1.0
    maximum: float = 300.0
    factor: float = 2.0

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """The wait after the `failures`-th consecutive failure (1 for the first)."""
        base = min(self.maximum, self.initial * self.factor ** max(0, failures - 1))
        return base * (0.5 + 0.5 * (rng or random).random())
