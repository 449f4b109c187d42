"""The input every check sees: one meter's values at one moment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from custom_components.wattkeeper.meters.model import QuantityKey, Snapshot

from .errors import QualityInputError


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """Values of one meter (not its sub-meters) and the context the glue knows."""

    at: datetime
    values: Mapping[QuantityKey, float] = field(default_factory=dict)
    # Degrees above the horizon (Home Assistant's sun.sun); None when unknown.
    sun_elevation: float | None = None

    def __post_init__(self) -> None:
        require_aware(self.at)

    @classmethod
    def from_snapshot(
        cls, snapshot: Snapshot, *, sun_elevation: float | None = None
    ) -> Observation:
        """Sub-meters are separate devices: feed each of `all_meters()` to its own checks."""
        return cls(at=snapshot.measured_at, values=snapshot.values, sun_elevation=sun_elevation)


def require_aware(moment: datetime) -> datetime:
    """Naive datetimes make month and quarter boundaries ambiguous; refuse them."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise QualityInputError(f"datetime {moment.isoformat()} has no time zone")
    return moment
