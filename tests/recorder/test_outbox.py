"""The outbox: durable appends, leases, restarts, rejections and the disk quota."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from datetime import datetime
from pathlib import Path

import pytest

from custom_components.wattkeeper.recorder import (
    Outbox,
    OutboxClosedError,
    QuotaLevel,
    Sample,
    SeriesKey,
    StatisticPeriod,
    StatisticRow,
)
from custom_components.wattkeeper.recorder.outbox_chunks import CHUNK_READINGS
from custom_components.wattkeeper.recorder.timeconv import from_us

from .data import ENERGY, POWER, SECOND, SITE, T0, T0_US


def readings(count: int, start: int = 0, series: SeriesKey = POWER.key) -> list[Sample]:
    return [Sample(series, from_us(T0_US + (start + i) * SECOND), float(start + i)) for i in
            range(count)]  # fmt: skip


async def open_outbox(path: Path, quota: int = 1 << 30) -> Outbox:
    outbox = Outbox(path, quota)
    await outbox.open()
    await outbox.register_series(POWER, ENERGY)
    return outbox


async def test_append_lease_ack(tmp_path: Path) -> None:
    outbox = await open_outbox(tmp_path / "outbox.db")
    result = await outbox.append_samples(readings(60))
    assert (result.accepted, result.rejected) == (60, 0)
    await outbox.append_samples(readings(40, start=60))
    assert outbox.status().backlog_samples == 100
    assert outbox.status().oldest_unsent == T0

    batch = await outbox.lease(60)
    assert batch is not None
    assert len(batch.records.samples) == 60
    assert [value for _, _, value in batch.records.samples] == [float(i) for i in range(60)]
    assert {batch.records.series[ref] for ref, _, _ in batch.records.samples} == {POWER}
    await outbox.ack(batch)
    assert outbox.status().backlog_samples == 40
    assert outbox.status().oldest_unsent == from_us(T0_US + 60 * SECOND)

    rest = await outbox.lease(1000)
    assert rest is not None
    assert [ts for _, ts, _ in rest.records.samples] == [T0_US + i * SECOND for i in range(60, 100)]
    await outbox.ack(rest)
    assert outbox.is_empty
    assert outbox.status().oldest_unsent is None
    assert await outbox.lease(10) is None
    await outbox.close()


async def test_leases_take_whole_appends_and_split_big_ones(tmp_path: Path) -> None:
    outbox = await open_outbox(tmp_path / "outbox.db")
    await outbox.append_samples(readings(30))
    await outbox.append_samples(readings(CHUNK_READINGS + 100, start=30))
    first = await outbox.lease(10)
    assert first is not None
    assert len(first.records.samples) == 30  # never part of an append
    second = await outbox.lease(10)
    assert second is not None
    assert len(second.records.samples) == CHUNK_READINGS  # a big append is cut in chunks
    third = await outbox.lease(10_000)
    assert third is not None
    assert [v for _, _, v in third.records.samples] == [
        float(i) for i in range(30 + CHUNK_READINGS, 130 + CHUNK_READINGS)
    ]
    await outbox.close()


async def test_released_batch_is_leased_again(tmp_path: Path) -> None:
    outbox = await open_outbox(tmp_path / "outbox.db")
    await outbox.append_samples(readings(5))
    await outbox.append_samples(readings(5, start=5))
    first = await outbox.lease(5)
    assert first is not None
    outbox.release(first)
    second = await outbox.lease(5)
    assert second is not None
    assert second.records.samples == first.records.samples
    await outbox.close()


async def test_leases_follow_each_other_until_acknowledged_or_released(
    tmp_path: Path,
) -> None:
    outbox = await open_outbox(tmp_path / "outbox.db")
    for start in (0, 10, 20):
        await outbox.append_samples(readings(10, start=start))
    first = await outbox.lease(10)
    second = await outbox.lease(10)
    assert first is not None
    assert second is not None
    assert [v for _, _, v in first.records.samples] == [float(i) for i in range(10)]
    assert [v for _, _, v in second.records.samples] == [float(i) for i in range(10, 20)]
    await outbox.ack(first)
    outbox.release(second)  # the write of `second` failed: it and anything after go back
    again = await outbox.lease(100)
    assert again is not None
    assert [v for _, _, v in again.records.samples] == [float(i) for i in range(10, 30)]
    await outbox.ack(again)
    assert outbox.is_empty
    await outbox.close()


async def test_reopening_finds_the_backlog_and_ids_keep_growing(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    outbox = await open_outbox(path)
    await outbox.append_samples(readings(500))
    drained = await outbox.lease(500)
    assert drained is not None
    await outbox.ack(drained)
    await outbox.append_samples(readings(300, start=500))
    await outbox.close()

    reopened = await open_outbox(path)
    assert reopened.status().backlog_samples == 300
    batch = await reopened.lease(1000)
    assert batch is not None
    assert [value for _, _, value in batch.records.samples] == [float(i) for i in range(500, 800)]
    await reopened.ack(batch)
    # Even with the table empty, a new row never reuses an id.
    await reopened.append_samples(readings(1, start=800))
    newest = await reopened.lease(10)
    assert newest is not None
    assert drained.sample_hi is not None
    assert batch.sample_hi is not None
    assert newest.sample_hi is not None
    assert drained.sample_hi < batch.sample_hi < newest.sample_hi
    await reopened.close()


async def test_bad_readings_are_rejected_counted_and_remembered(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    outbox = await open_outbox(path)
    bad = [
        Sample(POWER.key, T0, math.nan),
        Sample(POWER.key, T0, math.inf),
        Sample(POWER.key, T0, -math.inf),
        Sample(POWER.key, datetime(2024, 1, 1), 1.0),
        Sample(SeriesKey(SITE, "unknown", "power"), T0, 1.0),
        Sample(POWER.key, T0, "12"),  # type: ignore[arg-type]
    ]
    result = await outbox.append_samples([*bad, *readings(3)])
    assert (result.accepted, result.rejected) == (3, 6)
    assert outbox.status().rejected == 6
    await outbox.close()
    reopened = await open_outbox(path)
    assert reopened.status().rejected == 6
    assert reopened.status().backlog_samples == 3
    await reopened.close()


async def test_statistics_travel_with_the_same_durability(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    outbox = await open_outbox(path)
    rows = [
        StatisticRow(site=SITE, statistic_id="sensor.energy", period=StatisticPeriod.HOUR,
                     start=from_us(T0_US + h * 3600 * SECOND), state=1.5 + h, sum=0.5 * h,
                     unit="kWh", source="recorder")
        for h in range(4)
    ]  # fmt: skip
    broken = dataclasses.replace(rows[0], mean=math.nan)
    result = await outbox.append_statistics([*rows, broken])
    assert (result.accepted, result.rejected) == (4, 1)
    await outbox.close()

    reopened = await open_outbox(path)
    assert reopened.status().backlog_statistics == 4
    assert not reopened.is_empty
    batch = await reopened.lease(3)
    assert batch is not None
    assert list(batch.records.statistics) == rows[:3]
    assert batch.records.samples == []
    await reopened.ack(batch)
    assert reopened.status().backlog_statistics == 1
    await reopened.close()


async def test_renamed_series_is_updated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    outbox = await open_outbox(path)
    await outbox.append_samples(readings(1))
    renamed = dataclasses.replace(POWER, entity_id="sensor.net_power")
    await outbox.register_series(renamed)
    await outbox.append_samples(readings(1, start=1))
    await outbox.close()
    reopened = Outbox(path)
    await reopened.open()
    batch = await reopened.lease(10)
    assert batch is not None
    assert {batch.records.series[ref] for ref, _, _ in batch.records.samples} == {renamed}
    await reopened.close()


async def test_concurrent_appends_all_arrive(tmp_path: Path) -> None:
    outbox = await open_outbox(tmp_path / "outbox.db")
    results = await asyncio.gather(
        *(outbox.append_samples(readings(10, start=10 * i)) for i in range(100))
    )
    assert sum(r.accepted for r in results) == 1000
    batch = await outbox.lease(2000)
    assert batch is not None
    assert sorted(ts for _, ts, _ in batch.records.samples) == [
        T0_US + i * SECOND for i in range(1000)
    ]
    await outbox.close()


async def test_quota_warns_at_80_percent_and_drops_only_past_100(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    quota = 256 * 1024
    outbox = await open_outbox(path, quota)
    appended = 0
    while outbox.status().level is QuotaLevel.OK:
        await outbox.append_samples(readings(200, start=appended))
        appended += 200
    status = outbox.status()
    assert status.level is QuotaLevel.WARNING
    assert 0.8 <= status.fraction < 1.0
    assert status.dropped == 0
    assert status.backlog_samples == appended

    while outbox.status().dropped == 0:
        await outbox.append_samples(readings(200, start=appended))
        appended += 200
    for _ in range(5):
        await outbox.append_samples(readings(200, start=appended))
        appended += 200
    status = outbox.status()
    assert status.level is QuotaLevel.FULL
    assert status.used_bytes <= quota
    assert status.backlog_samples + status.dropped == appended
    # The oldest went: what is left is exactly the newest readings, in order.
    batch = await outbox.lease(appended)
    assert batch is not None
    assert [value for _, _, value in batch.records.samples] == [
        float(i) for i in range(status.dropped, appended)
    ]
    await outbox.close()

    reopened = await open_outbox(path, quota)
    assert reopened.status().dropped == status.dropped
    await reopened.close()


async def test_quota_never_drops_a_leased_batch(tmp_path: Path) -> None:
    quota = 128 * 1024
    outbox = await open_outbox(tmp_path / "outbox.db", quota)
    await outbox.append_samples(readings(1000))
    leased = await outbox.lease(1000)
    assert leased is not None
    appended = 1000
    while outbox.status().dropped == 0:
        await outbox.append_samples(readings(500, start=appended))
        appended += 500
    await outbox.ack(leased)
    status = outbox.status()
    assert status.backlog_samples + status.dropped + 1000 == appended
    rest = await outbox.lease(appended)
    assert rest is not None
    # The lease survived; the drop took the oldest readings after it.
    assert rest.records.samples[0][2] == float(1000 + status.dropped)
    await outbox.close()


async def test_closed_outbox_refuses_work(tmp_path: Path) -> None:
    outbox = await open_outbox(tmp_path / "outbox.db")
    await outbox.close()
    with pytest.raises(OutboxClosedError):
        await outbox.append_samples(readings(1))
    with pytest.raises(OutboxClosedError):
        await outbox.open()
