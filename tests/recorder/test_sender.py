"""The sender: backoff, health, flush, heartbeats, statistics forwarding."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from custom_components.wattkeeper.recorder import (
    Backend,
    BackendError,
    BackendUnavailableError,
    BackoffPolicy,
    Outbox,
    QuotaLevel,
    RecordBatch,
    Sample,
    Sender,
    SqliteConfig,
    StatisticPeriod,
    StatisticRow,
    WriteResult,
    create_backend,
)
from custom_components.wattkeeper.recorder.sender import SenderActivity
from custom_components.wattkeeper.recorder.timeconv import from_us

from .backends import BackendHarness
from .data import POWER, SECOND, SITE, T0, T0_US
from .test_contract_faults import WIDE, open_outbox, readings, wait_until

FAST = BackoffPolicy(initial=0.01, maximum=0.05)


def test_backoff_grows_exponentially_with_jitter_up_to_the_maximum() -> None:
    policy = BackoffPolicy(initial=1.0, maximum=60.0, factor=2.0)
    rng = random.Random(5)
    for failures, base in ((1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0), (7, 60.0), (30, 60.0)):
        delays = [policy.delay(failures, rng) for _ in range(200)]
        assert all(base / 2 <= delay <= base for delay in delays)
        assert max(delays) - min(delays) > base / 4  # really jittered


class FlakyBackend:
    """Delegates to a real backend but fails the first `failures` writes with `error`."""

    def __init__(self, inner: Backend, failures: int, error: Exception) -> None:
        self.inner = inner
        self.failures = failures
        self.error = error
        self.before_commit_hook = None

    async def write(self, batch: RecordBatch) -> WriteResult:
        if self.failures:
            self.failures -= 1
            raise self.error
        return await self.inner.write(batch)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


async def make_sqlite(tmp_path: Path) -> Backend:
    backend = create_backend(SqliteConfig(path=tmp_path / "recorder.db"))
    await backend.open()
    return backend


async def test_any_error_is_retried_until_it_goes_away(tmp_path: Path) -> None:
    inner = await make_sqlite(tmp_path)
    flaky = FlakyBackend(inner, failures=4, error=BackendError("disk quota exceeded"))
    outbox = await open_outbox(tmp_path / "outbox.db")
    await outbox.append_samples(readings(POWER, 100))
    sender = Sender(outbox, flaky, site=SITE, backoff=FAST)  # type: ignore[arg-type]
    await sender.start()
    await wait_until(lambda: sender.health().last_error is not None)
    assert "disk quota exceeded" in str(sender.health().last_error)
    assert await sender.flush(timeout=10)
    assert flaky.failures == 0
    assert sender.health().last_error is None
    await sender.stop()
    assert len(await inner.read_samples(POWER.key, *WIDE)) == 100
    await outbox.close()
    await inner.close()


async def test_flush_cuts_a_long_backoff_short(tmp_path: Path) -> None:
    inner = await make_sqlite(tmp_path)
    flaky = FlakyBackend(inner, failures=1, error=BackendError("one bad moment"))
    outbox = await open_outbox(tmp_path / "outbox.db")
    await outbox.append_samples(readings(POWER, 10))
    slow = BackoffPolicy(initial=600.0, maximum=600.0)
    sender = Sender(outbox, flaky, site=SITE, backoff=slow)  # type: ignore[arg-type]
    await sender.start()
    await wait_until(lambda: sender.health().last_error is not None)
    # The sender now waits 5 to 10 minutes; the flush makes it try again at once.
    assert await sender.flush(timeout=10)
    await sender.stop()
    assert len(await inner.read_samples(POWER.key, *WIDE)) == 10
    await outbox.close()
    await inner.close()


async def test_activity_tells_idle_sending_and_retrying_apart(tmp_path: Path) -> None:
    inner = await make_sqlite(tmp_path)
    flaky = FlakyBackend(inner, failures=1, error=BackendUnavailableError("down"))
    outbox = await open_outbox(tmp_path / "outbox.db")
    slow = BackoffPolicy(initial=600.0, maximum=600.0)
    sender = Sender(outbox, flaky, site=SITE, backoff=slow)  # type: ignore[arg-type]
    await sender.start()
    await wait_until(lambda: sender.activity is SenderActivity.IDLE)
    await outbox.append_samples(readings(POWER, 10))
    await wait_until(lambda: sender.activity is SenderActivity.RETRYING)
    assert not outbox.is_empty
    assert await sender.flush(timeout=10)
    await wait_until(lambda: sender.activity is SenderActivity.IDLE)
    await sender.stop()
    assert sender.activity is SenderActivity.IDLE
    await outbox.close()
    await inner.close()


async def test_health_reports_progress(tmp_path: Path) -> None:
    backend = await make_sqlite(tmp_path)
    outbox = await open_outbox(tmp_path / "outbox.db")
    await outbox.append_samples([*readings(POWER, 300), Sample(POWER.key, T0, float("nan"))])
    sender = Sender(outbox, backend, site=SITE, version="1.2.3", batch_size=100, backoff=FAST)
    before = sender.health()
    assert before.backlog == 300
    assert before.oldest_unsent_age is not None
    assert before.oldest_unsent_age > 0
    assert (before.connected, before.last_success, before.rejected) == (False, None, 1)
    await sender.start()
    assert await sender.flush(timeout=10)
    await sender.stop()
    after = sender.health()
    assert after.backlog == 0
    assert after.oldest_unsent_age is None
    assert after.connected
    assert after.last_success is not None
    assert after.write_rate > 0
    assert after.quota_level is QuotaLevel.OK
    assert 0 < after.quota_fraction < 0.01
    sites = await backend.read_sites()
    assert [(s.site, s.version) for s in sites] == [(SITE, "1.2.3")]
    await outbox.close()
    await backend.close()


async def test_flush_without_a_running_sender_reports_failure(tmp_path: Path) -> None:
    backend = await make_sqlite(tmp_path)
    outbox = await open_outbox(tmp_path / "outbox.db")
    sender = Sender(outbox, backend, site=SITE)
    assert await sender.flush(timeout=1)  # nothing to send
    await outbox.append_samples(readings(POWER, 1))
    assert not await sender.flush(timeout=1)
    await outbox.close()
    await backend.close()


async def test_invalid_batch_size_is_refused(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    with pytest.raises(ValueError, match="batch_size"):
        Sender(
            outbox, create_backend(SqliteConfig(path=tmp_path / "r.db")), site=SITE, batch_size=0
        )


async def test_statistics_are_forwarded_through_the_outbox(
    harness: BackendHarness, tmp_path: Path
) -> None:
    backend = await harness.make()
    outbox = await open_outbox(tmp_path / "outbox.db")
    rows = [
        StatisticRow(site=SITE, statistic_id="sensor.gas", period=StatisticPeriod.HOUR,
                     start=from_us(T0_US + h * 3600 * SECOND), state=100.0 + h, sum=float(h),
                     unit="m³", source="recorder")
        for h in range(48)
    ]  # fmt: skip
    await outbox.append_statistics(rows)
    await outbox.append_samples(readings(POWER, 10))
    sender = Sender(outbox, backend, site=SITE, batch_size=20, backoff=FAST)
    await sender.start()
    assert await sender.flush(timeout=20)
    await sender.stop()
    stored = await backend.read_statistics(SITE, "sensor.gas", StatisticPeriod.HOUR, *WIDE)
    assert stored == rows
    assert len(await backend.read_samples(POWER.key, T0, WIDE[1])) == 10
    await outbox.close()


class OverlappingBackend:
    """Takes two writes at once; the first one finishes only after the second one did
    (and then fails, when `fail_first`)."""

    concurrent_writes = 2

    def __init__(self, inner: Backend, outbox: Outbox, *, fail_first: bool) -> None:
        self.inner = inner
        self.outbox = outbox
        self.fail_first = fail_first
        self.before_commit_hook = None
        self.calls = 0
        self.active = 0
        self.peak = 0
        self.second_done = asyncio.Event()
        self.backlog_after_second: int | None = None

    async def write(self, batch: RecordBatch) -> WriteResult:
        self.calls += 1
        call = self.calls
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            if call == 1:
                await self.second_done.wait()
                if self.fail_first:
                    raise BackendUnavailableError("the first write was lost")
            result = await self.inner.write(batch)
            if call == 2:
                await asyncio.sleep(0)  # an acknowledgement would be under way by now
                self.backlog_after_second = self.outbox.status().backlog_samples
            return result
        finally:
            self.active -= 1
            if call == 2:
                self.second_done.set()

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


@pytest.mark.parametrize("fail_first", [False, True])
async def test_two_writes_at_once_are_acknowledged_in_lease_order(
    tmp_path: Path, fail_first: bool
) -> None:
    inner = await make_sqlite(tmp_path)
    outbox = await open_outbox(tmp_path / "outbox.db")
    produced = []
    for offset in range(0, 300, 100):
        chunk = readings(POWER, 100, offset)
        await outbox.append_samples(chunk)
        produced.extend(chunk)
    backend = OverlappingBackend(inner, outbox, fail_first=fail_first)
    sender = Sender(outbox, backend, site=SITE, batch_size=100, backoff=FAST)  # type: ignore[arg-type]
    await sender.start()
    assert await sender.flush(timeout=20)
    await sender.stop()
    assert backend.peak == 2
    # The second batch was committed first, yet nothing left the outbox before the first.
    assert backend.backlog_after_second == 300
    stored = await inner.read_samples(POWER.key, *WIDE)
    assert [(s.ts, s.value) for s in stored] == [(s.ts, s.value) for s in produced]
    assert outbox.status().backlog_samples == 0
    assert sender.health().last_error is None
    await outbox.close()
    await inner.close()
