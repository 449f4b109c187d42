"""The outbox quota through Home Assistant: a repair issue at 80 %, critical when full,
gone when the database took the backlog; what a full outbox dropped is counted."""

from __future__ import annotations

from collections.abc import Callable

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from custom_components.wattkeeper.const import DOMAIN
from custom_components.wattkeeper.recorder import QuotaLevel
from simulators.homewizard import HomeWizardSimulator
from tests.recorder.conftest import embedded_pg, embedded_pg_server  # noqa: F401
from tests.recorder.pg_server import EmbeddedPostgres

from .helpers import add_homewizard
from .recorder_support import (  # noqa: F401 (fixtures)
    ReadingCounter,
    add_postgres_recorder,
    config_dir_per_test,
    counted,
    flush,
    poll,
    refresh_health,
    state_of,
    stored_per_series,
    wait_until,
)

# 256 KiB: an empty outbox uses about 36 KiB, a P1 snapshot about 1 KiB more; a few
# hundred polls fill it. (Smaller, one 4 KiB page is more than the margin between
# "dropping" and "below 95 %", so "full" would not last from one append to the next.)
# The options form asks whole MiB (16 at least); the entry takes any size.
TINY_QUOTA_MB = 1 / 4


async def test_quota_issue_follows_the_outbox(
    hass: HomeAssistant,
    homewizard_sim: HomeWizardSimulator,
    embedded_pg: EmbeddedPostgres,  # noqa: F811
    counted: Callable[[str], ReadingCounter],  # noqa: F811
) -> None:
    readings = counted("quota")
    recorder = await add_postgres_recorder(hass, embedded_pg, "quota")
    hass.config_entries.async_update_entry(
        recorder, options={**recorder.options, "quota_mb": TINY_QUOTA_MB}
    )
    await hass.async_block_till_done()  # the options reload the recorder
    assert recorder.runtime_data.outbox.status().quota_bytes == 256 * 1024
    meter = await add_homewizard(hass, homewizard_sim)
    issue_id = f"outbox_quota_{recorder.entry_id}"
    issues = ir.async_get(hass)

    def level() -> QuotaLevel:
        return recorder.runtime_data.health.data.quota_level

    async def one_more_reading() -> None:
        homewizard_sim.step(5)
        await poll(hass, meter)
        await refresh_health(hass, recorder)

    assert (await flush(hass))[recorder.entry_id]["empty"] is True
    embedded_pg.stop()
    try:
        await wait_until(lambda: level() is not QuotaLevel.OK, one_more_reading, attempts=1000)
        assert level() is QuotaLevel.WARNING
        issue = issues.async_get_issue(DOMAIN, issue_id)
        assert issue is not None
        assert issue.severity is ir.IssueSeverity.WARNING
        assert issue.translation_key == "outbox_quota_warning"
        assert 80 <= int(issue.translation_placeholders["percent"]) < 100
        assert state_of(hass, recorder, "dropped") == "0"

        # Full means dropping: the outbox went over its quota once.
        await wait_until(
            lambda: recorder.runtime_data.health.data.dropped > 0, one_more_reading, attempts=1000
        )
        assert level() is QuotaLevel.FULL
        issue = issues.async_get_issue(DOMAIN, issue_id)
        assert issue is not None
        assert issue.severity is ir.IssueSeverity.CRITICAL
        assert issue.translation_key == "outbox_quota_full"
        dropped = recorder.runtime_data.health.data.dropped
        assert state_of(hass, recorder, "dropped") == str(dropped)
        assert issue.translation_placeholders["dropped"] == str(dropped)
    finally:
        embedded_pg.start()

    assert (await flush(hass))[recorder.entry_id]["empty"] is True  # refreshes the health
    assert level() is QuotaLevel.OK
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    stored = await stored_per_series(recorder.runtime_data.backend, "quota")
    # Every reading is in the database or counted as dropped, never both, never twice.
    assert sum(stored.values()) + dropped == readings.total
    assert state_of(hass, recorder, "dropped") == str(dropped)
