"""What the capacity tariff reads from a snapshot: import energy, import power,
and the meter's own average demand and monthly peak where it reports them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from custom_components.wattkeeper.meters.model import (
    TEXT_MONTHLY_PEAK_AT,
    Quantity,
    QuantityKey,
    Snapshot,
)

from .observation import require_aware

# Text key under which drivers put the time of the meter's monthly peak
# (HomeWizard P1 does; the DSMR 5B driver should use the same key).
MONTHLY_PEAK_AT_TEXT: Final = TEXT_MONTHLY_PEAK_AT

_TOTAL_IMPORT: Final = QuantityKey(Quantity.ENERGY_IMPORT)
_POWER_IMPORT: Final = QuantityKey(Quantity.POWER_IMPORT)
_POWER: Final = QuantityKey(Quantity.POWER)
_AVERAGE: Final = QuantityKey(Quantity.AVERAGE_DEMAND)
_PEAK: Final = QuantityKey(Quantity.MONTHLY_PEAK)


@dataclass(frozen=True, slots=True, kw_only=True)
class DemandSample:
    """One moment of import data. Energy in kWh, power in W."""

    at: datetime
    energy_kwh: float | None = None
    # Which registers `energy_kwh` sums ("total" or "t1+t2"); a change means
    # the sum is not comparable with the previous one.
    energy_source: str = "total"
    power_w: float | None = None
    meter_average_w: float | None = None
    meter_peak_w: float | None = None
    meter_peak_at: datetime | None = None

    def __post_init__(self) -> None:
        require_aware(self.at)


def sample_from_snapshot(snapshot: Snapshot, zone: ZoneInfo) -> DemandSample:
    """The meter-wide import counter (or the sum of its tariff registers) and power."""
    values = snapshot.values
    energy: float | None = values.get(_TOTAL_IMPORT)
    source = "total"
    if energy is None:
        tariffs = sorted(
            key
            for key in values
            if key.quantity is Quantity.ENERGY_IMPORT
            and key.tariff is not None
            and key.phase is None
            and key.channel is None
        )
        if tariffs:
            energy = sum(values[key] for key in tariffs)
            source = "+".join(f"t{key.tariff}" for key in tariffs)
    power = values.get(_POWER_IMPORT)
    if power is None and (net := values.get(_POWER)) is not None:
        # Net power is import positive; while exporting, import demand is zero.
        power = max(net, 0.0)
    return DemandSample(
        at=snapshot.measured_at,
        energy_kwh=energy,
        energy_source=source,
        power_w=power,
        meter_average_w=values.get(_AVERAGE),
        meter_peak_w=values.get(_PEAK),
        meter_peak_at=_peak_at(snapshot.texts.get(MONTHLY_PEAK_AT_TEXT), zone),
    )


def _peak_at(text: str | None, zone: ZoneInfo) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    # Meters state local time; a naive stamp is taken as the configured zone.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)
