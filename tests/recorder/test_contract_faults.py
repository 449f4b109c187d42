"""Faults, end to end through outbox, sender and each backend, with exact counts.

After every fault the database must hold exactly the readings produced: none
missing, none twice (or, with a full quota, exactly those not dropped).
"""

from __future__ import annotations

import asyncio
import os
import pickle
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from custom_components.wattkeeper.recorder import (
    Backend,
    BackoffPolicy,
    Outbox,
    QuotaLevel,
    RollupPeriod,
    Sample,
    Sender,
    SeriesInfo,
)
from custom_components.wattkeeper.recorder.timeconv import from_us

from .backends import BackendHarness
from .data import ENERGY, POWER, SECOND, SITE, T0, T0_US

ROOT = Path(__file__).resolve().parents[2]
FAST = BackoffPolicy(initial=0.02, maximum=0.2)
WIDE = (T0 - timedelta(days=1), T0 + timedelta(days=30))


def readings(info: SeriesInfo, count: int, start: int = 0) -> list[Sample]:
    return [
        Sample(info.key, from_us(T0_US + (start + i) * SECOND), 1000.0 + (start + i) / 10)
        for i in range(count)
    ]


async def open_outbox(path: Path, quota: int = 1 << 30) -> Outbox:
    outbox = Outbox(path, quota)
    await outbox.open()
    await outbox.register_series(POWER, ENERGY)
    return outbox


async def assert_stored_exactly(backend: Backend, expected: Sequence[Sample]) -> None:
    for info in (POWER, ENERGY):
        want = sorted((s.ts, s.value) for s in expected if s.series == info.key)
        stored = await backend.read_samples(info.key, *WIDE)
        assert [(s.ts, s.value) for s in stored] == want, info.quantity


async def wait_until(condition: object, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]  # noqa: ASYNC110  polls plain state
            await asyncio.sleep(0.01)


async def test_database_outage_then_back_delivers_everything_once(
    harness: BackendHarness, tmp_path: Path
) -> None:
    backend = await harness.make()
    outbox = await open_outbox(tmp_path / "outbox.db")
    sender = Sender(outbox, backend, site=SITE, batch_size=250, backoff=FAST)
    await sender.start()
    produced: list[Sample] = []

    async def produce(start: int, count: int) -> None:
        for offset in range(start, start + count, 50):
            chunk = readings(POWER, 50, offset) + readings(ENERGY, 50, offset)
            await outbox.append_samples(chunk)
            produced.extend(chunk)
            await asyncio.sleep(0)

    await produce(0, 1000)
    assert await sender.flush(timeout=30)
    async with harness.outage():
        await produce(1000, 1000)
        await wait_until(lambda: not sender.health().connected)
        assert not await sender.flush(timeout=0.3)
        await produce(2000, 500)
        health = sender.health()
        assert health.backlog > 0
        assert health.last_error is not None
    assert await sender.flush(timeout=30)
    health = sender.health()
    assert (health.backlog, health.connected, health.last_error) == (0, True, None)
    await sender.stop()
    assert len(produced) == 5000
    await assert_stored_exactly(backend, produced)
    await outbox.close()


async def test_restart_with_a_backlog_delivers_it(harness: BackendHarness, tmp_path: Path) -> None:
    backend = await harness.make()
    path = tmp_path / "outbox.db"
    outbox = await open_outbox(path)
    produced = readings(POWER, 1500) + readings(ENERGY, 1500)
    await outbox.append_samples(produced)
    await outbox.close()  # Home Assistant stops before anything was sent

    reopened = await open_outbox(path)
    assert reopened.status().backlog_samples == 3000
    sender = Sender(reopened, backend, site=SITE, batch_size=700, backoff=FAST)
    await sender.start()
    assert await sender.flush(timeout=30)
    await sender.stop()
    await assert_stored_exactly(backend, produced)
    await reopened.close()


async def test_sender_cancelled_between_copy_and_commit(
    harness: BackendHarness, tmp_path: Path
) -> None:
    backend = await harness.make()
    outbox = await open_outbox(tmp_path / "outbox.db")
    produced = readings(POWER, 800) + readings(ENERGY, 800)
    await outbox.append_samples(produced)
    staged = asyncio.Event()

    async def stall() -> None:
        staged.set()
        await asyncio.Event().wait()

    backend.before_commit_hook = stall
    sender = Sender(outbox, backend, site=SITE, batch_size=500, backoff=FAST)
    await sender.start()
    await asyncio.wait_for(staged.wait(), 20)
    await sender.stop()
    assert await backend.read_samples(POWER.key, *WIDE) == []
    assert outbox.status().backlog_samples == 1600

    backend.before_commit_hook = None
    again = Sender(outbox, backend, site=SITE, batch_size=500, backoff=FAST)
    await again.start()
    assert await again.flush(timeout=30)
    await again.stop()
    await assert_stored_exactly(backend, produced)
    await outbox.close()


async def _kill_child_at(harness: BackendHarness, tmp_path: Path, path: Path, point: str) -> None:
    """Run the sender in a child process and SIGKILL it at `point` (see kill_child.py)."""
    config = tmp_path / "config.pickle"
    config.write_bytes(pickle.dumps(harness.config()))
    marker = tmp_path / "marker"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.recorder.kill_child", str(path), str(config), str(marker),
        point, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        await wait_until(marker.exists, timeout=60)
    finally:
        child.kill()
        await child.wait()


async def _resend(backend: Backend, path: Path) -> None:
    reopened = await open_outbox(path)
    assert reopened.status().backlog_samples == 2400
    sender = Sender(reopened, backend, site=SITE, batch_size=1000, backoff=FAST)
    await sender.start()
    assert await sender.flush(timeout=30)
    await sender.stop()
    await reopened.close()


async def _assert_rolled_up_once(backend: Backend, expected: Sequence[Sample]) -> None:
    for info in (POWER, ENERGY):
        rows = await backend.read_rollups(info.key, RollupPeriod.HOUR, *WIDE)
        assert sum(row.count for row in rows) == sum(s.series == info.key for s in expected)


async def _outbox_of_six_appends(path: Path) -> list[Sample]:
    """2400 readings in six appends (six outbox chunks): a lease of 1000 takes three."""
    outbox = await open_outbox(path)
    produced: list[Sample] = []
    for offset in range(0, 1200, 200):
        chunk = readings(POWER, 200, offset) + readings(ENERGY, 200, offset)
        await outbox.append_samples(chunk)
        produced.extend(chunk)
    await outbox.close()
    return produced


async def test_process_killed_between_copy_and_commit(
    harness: BackendHarness, tmp_path: Path
) -> None:
    backend = await harness.make()
    path = tmp_path / "outbox.db"
    produced = await _outbox_of_six_appends(path)
    await _kill_child_at(harness, tmp_path, path, "before-commit")

    assert await backend.read_samples(POWER.key, *WIDE) == []
    await _resend(backend, path)
    await assert_stored_exactly(backend, produced)
    await _assert_rolled_up_once(backend, produced)


async def test_process_killed_after_commit_before_the_outbox_delete(
    harness: BackendHarness, tmp_path: Path
) -> None:
    backend = await harness.make()
    path = tmp_path / "outbox.db"
    produced = await _outbox_of_six_appends(path)
    await _kill_child_at(harness, tmp_path, path, "after-commit")

    # The first batch (the first three appends) is in the database; the outbox still
    # holds it, so it is sent again: stored and rolled up once all the same.
    first_batch = produced[:1200]
    await assert_stored_exactly(backend, first_batch)
    await _resend(backend, path)
    await assert_stored_exactly(backend, produced)
    await _assert_rolled_up_once(backend, produced)


async def test_full_quota_during_an_outage_drops_the_oldest_counted(
    harness: BackendHarness, tmp_path: Path
) -> None:
    backend = await harness.make()
    outbox = await open_outbox(tmp_path / "outbox.db", quota=160 * 1024)
    sender = Sender(outbox, backend, site=SITE, batch_size=400, backoff=FAST)
    await sender.start()
    produced: list[Sample] = []
    async with harness.outage():
        count = 0
        while sender.health().dropped == 0 or count < 12_000:
            chunk = readings(POWER, 200, count)
            await outbox.append_samples(chunk)
            produced.extend(chunk)
            count += 200
        health = sender.health()
        assert health.quota_level is QuotaLevel.FULL
        assert health.backlog + health.dropped == len(produced)
    assert await sender.flush(timeout=30)
    await sender.stop()
    dropped = sender.health().dropped
    assert dropped > 0
    stored = {(s.ts, s.value) for s in await backend.read_samples(POWER.key, *WIDE)}
    assert len(stored) == len(produced) - dropped
    missing = [i for i, s in enumerate(produced) if (s.ts, s.value) not in stored]
    assert len(missing) == dropped
    # The oldest went; only the batches leased at that moment (those being written and
    # the next, read ahead) were spared, and they got through.
    leased = getattr(backend, "concurrent_writes", 1) + 1
    assert max(missing) < dropped + leased * sender.batch_size
    await outbox.close()
