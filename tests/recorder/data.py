"""Series and batches the recorder tests share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from custom_components.wattkeeper.meters.model import (
    MeterIdentity,
    MeterKind,
    Quantity,
    QuantityKey,
)
from custom_components.wattkeeper.recorder import RecordBatch, SeriesInfo, StatisticRow
from custom_components.wattkeeper.recorder.timeconv import to_us

SITE = "home"
METER = MeterIdentity(
    kind=MeterKind.HOMEWIZARD, serial="5c2fafabcdef", model="HWE-P1", manufacturer="HomeWizard",
    name="P1 meter",
)  # fmt: skip
POWER = SeriesInfo.for_meter(SITE, METER, QuantityKey(Quantity.POWER), "sensor.p1_power")
ENERGY = SeriesInfo.for_meter(
    SITE, METER, QuantityKey(Quantity.ENERGY_IMPORT, tariff=1), "sensor.p1_energy_import_t1"
)
VOLTAGE = SeriesInfo.for_meter(SITE, METER, QuantityKey(Quantity.VOLTAGE, phase=1))

T0 = datetime(2024, 3, 30, 22, 0, tzinfo=UTC)
T0_US = to_us(T0)
SECOND = 1_000_000


def batch(
    rows: Mapping[SeriesInfo, Sequence[tuple[int, float]]],
    statistics: Sequence[StatisticRow] = (),
) -> RecordBatch:
    """A backend batch from (µs, value) rows per series, with refs as the outbox makes them."""
    infos = list(rows)
    refs = {info: ref for ref, info in enumerate(infos, start=10)}
    samples = [(refs[info], ts, value) for info in infos for ts, value in rows[info]]
    return RecordBatch({ref: info for info, ref in refs.items()}, samples, statistics)
