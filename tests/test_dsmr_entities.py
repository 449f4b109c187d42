"""DSMR entities through Home Assistant against the telegram twin: every version's
entities and ground truth, the Belgian peak history, every fault mode, the stall
watchdog, the repair issue, the state-write throttle, diagnostics and unload."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from statistics import mean
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import (
    EVENT_STATE_CHANGED,
    EVENT_STATE_REPORTED,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
)
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.wattkeeper import stream_coordinator, write_throttle
from custom_components.wattkeeper.const import DOMAIN, SIGNAL_SNAPSHOT
from custom_components.wattkeeper.meters.dsmr_versions import VERSIONS, DsmrVersion
from custom_components.wattkeeper.meters.model import Quantity, QuantityKey, Snapshot
from custom_components.wattkeeper.sensor import SENSORS, is_shown
from simulators.dsmr import DsmrSimulator, Fault
from simulators.dsmr_telegram import Truth

from .dsmr_helpers import (
    SMARTY_KEY,
    add_dsmr,
    add_dsmr_serial,
    entity_id,
    fast_meters,  # noqa: F401  (autouse)
    parts,
    sims_fixture,  # noqa: F401
    state_of,
    telegrams,
    until,
)

Sims = Callable[..., DsmrSimulator]
VERSION_NAMES = [v.value for v in DsmrVersion]
OWN_KEYS = ("connected", "crc_errors", "parse_errors", "peak_history")
BRUSSELS = ZoneInfo("Europe/Brussels")


async def _start(sims: Sims, version: str, *, pty: bool = False) -> DsmrSimulator:
    sim = sims(version, key=SMARTY_KEY if version == "5L" else None)
    await sim.start_tcp()
    if pty:
        await sim.start_pty()
    return sim


async def _add(hass: HomeAssistant, sim: DsmrSimulator, **options: int) -> ConfigEntry:
    return await add_dsmr(hass, sim, "5L" if sim.version == "5L" else "auto", **options)


def _expected_state(key: QuantityKey, value: float) -> str:
    description = SENSORS[key.quantity]
    return str(description.value_fn(value))


def _assert_states_equal_truth(hass: HomeAssistant, truth: Truth) -> None:
    """Every entity of a series the telegram carried shows exactly the telegram's value."""
    checked = 0
    meters: list[tuple[str, dict[QuantityKey, float]]] = [(truth.serial, truth.values)]
    meters += [(serial, values) for serial, (_, values) in truth.sub_meters.items()]
    registry = er.async_get(hass)
    for serial, values in meters:
        for key, value in values.items():
            if not is_shown(key):
                continue
            entry = registry.async_get(entity_id(hass, serial, key.id))
            if entry is None or entry.disabled:
                continue  # disabled by default (reactive power): no state to compare
            state = state_of(hass, serial, key.id)
            assert state == _expected_state(key, value), (serial, key.id)
            checked += 1
    assert checked >= 3


def _ours(hass: HomeAssistant, entry: ConfigEntry) -> list[er.RegistryEntry]:
    """The meter's own series and DSMR entities (shared features have their own tests)."""
    _, coordinator = parts(entry)
    wanted = {f"{coordinator.identity.serial}_{key}" for key in OWN_KEYS}
    for meter in coordinator.data.all_meters():
        wanted |= {f"{meter.identity.serial}_{key.id}" for key in meter.values}
    return sorted(
        (
            e
            for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
            if e.unique_id in wanted
        ),
        key=lambda e: e.entity_id,
    )


@pytest.mark.parametrize("version", VERSION_NAMES)
async def test_entities_per_version(
    hass: HomeAssistant, sims: Sims, version: str, snapshot: SnapshotAssertion
) -> None:
    sim = await _start(sims, version)
    # No throttle here: every state shows the newest telegram.
    entry = await _add(hass, sim, counter_write_interval=0)
    await telegrams(entry, 2)
    entities = _ours(hass, entry)
    assert [
        {
            "entity_id": e.entity_id,
            "unique_id": e.unique_id,
            "translation_key": e.translation_key,
            "device_class": e.original_device_class,
            "unit": e.unit_of_measurement,
            "entity_category": e.entity_category,
            "disabled_by": e.disabled_by,
            "state_class": (e.capabilities or {}).get("state_class"),
        }
        for e in entities
    ] == snapshot(name="entity-registry")
    # Names and units as the user sees them; values are checked against the truth below.
    volatile = {"peak_at"}
    assert {
        e.entity_id: {k: v for k, v in state.attributes.items() if k not in volatile}
        for e in entities
        if (state := hass.states.get(e.entity_id)) is not None
        and e.unique_id.endswith(
            (
                "_connected",
                "_errors",
                "_power",
                "_energy_import",
                "_gas",
                "_water",
                "_peak",
                "_history",
            )
        )
    } == snapshot(name="state-attributes")
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert sorted(
        (
            {
                "name": d.name,
                "manufacturer": d.manufacturer,
                "model": d.model,
                "serial_number": d.serial_number,
                "via_device": d.via_device_id is not None,
            }
            for d in devices
        ),
        key=lambda d: str(d["name"]),
    ) == snapshot(name="devices")

    _, coordinator = parts(entry)
    for _ in range(3):
        await telegrams(entry, 1)
        data = coordinator.data
        truth = sim.truth_of(data)
        assert truth.mismatches(data) == []
        _assert_states_equal_truth(hass, truth)
        assert state_of(hass, truth.serial, "connected", "binary_sensor") == STATE_ON
        assert state_of(hass, truth.serial, "crc_errors") == "0"
        assert state_of(hass, truth.serial, "parse_errors") == "0"


async def test_belgian_peak_history_and_peak_time(hass: HomeAssistant, sims: Sims) -> None:
    sim = await _start(sims, "5B")
    entry = await _add(hass, sim)
    await telegrams(entry, 1)
    _, coordinator = parts(entry)
    data = coordinator.data
    truth = sim.truth_of(data)
    peak = hass.states.get(entity_id(hass, truth.serial, "monthly_peak"))
    assert peak is not None
    assert float(peak.state) == truth.values[QuantityKey(Quantity.MONTHLY_PEAK)]
    assert peak.attributes["peak_at"] == truth.monthly_peak_at

    history = hass.states.get(entity_id(hass, truth.serial, "peak_history"))
    assert history is not None
    months = {k: v for k, v in history.attributes.items() if re.fullmatch(r"\d{4}-\d{2}", k)}
    assert months == {month: value for month, _, value in truth.demand_history}
    assert len(months) == 13
    assert history.attributes["peak_times"] == {month: at for month, at, _ in truth.demand_history}
    # What the capacity tariff bills: the last 12 months with this one, each at least 2.5 kW.
    this_month = data.measured_at.astimezone(BRUSSELS).strftime("%Y-%m")
    assert this_month not in months
    window = [value for _, _, value in truth.demand_history[-11:]]
    window.append(truth.values[QuantityKey(Quantity.MONTHLY_PEAK)])
    assert float(history.state) == round(mean(max(v, 2500.0) for v in window), 1)
    assert history.attributes["months_averaged"] == 12
    assert history.attributes["unit_of_measurement"] == "W"


async def test_meters_without_history_have_no_history_sensor(
    hass: HomeAssistant, sims: Sims
) -> None:
    sim = await _start(sims, "5")
    entry = await _add(hass, sim)
    await telegrams(entry, 2)
    _, coordinator = parts(entry)
    serial = coordinator.identity.serial
    assert (
        er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"{serial}_peak_history") is None
    )
    peak_id = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"{serial}_monthly_peak")
    assert peak_id is None


# -- faults -------------------------------------------------------------------------


def _down(hass: HomeAssistant, serial: str, gas: str | None) -> None:
    assert state_of(hass, serial, "power") == STATE_UNAVAILABLE
    assert state_of(hass, serial, "energy_import") == STATE_UNAVAILABLE
    if gas is not None:
        assert state_of(hass, gas, "gas") == STATE_UNAVAILABLE
    assert state_of(hass, serial, "connected", "binary_sensor") == STATE_OFF


async def _recovers(hass: HomeAssistant, entry: ConfigEntry, sim: DsmrSimulator) -> None:
    _, coordinator = parts(entry)
    sim.set_fault(Fault.NONE)
    await until(lambda: coordinator.last_update_success)
    await telegrams(entry, 1)
    truth = sim.truth_of(coordinator.data)
    _assert_states_equal_truth(hass, truth)
    assert state_of(hass, truth.serial, "connected", "binary_sensor") == STATE_ON


@pytest.mark.parametrize(
    ("fault", "counter"),
    [
        (Fault.BAD_CRC, "crc_errors"),
        (Fault.TRUNCATED, "parse_errors"),
        (Fault.SILENCE, None),
        (Fault.DISCONNECT, None),
    ],
)
async def test_a_link_without_valid_telegrams_goes_unavailable_and_recovers(
    hass: HomeAssistant, sims: Sims, fault: Fault, counter: str | None
) -> None:
    sim = await _start(sims, "5")
    entry = await _add(hass, sim, counter_write_interval=0)
    meter, coordinator = parts(entry)
    serial = coordinator.identity.serial
    gas = coordinator.data.sub_meters[0].identity.serial
    connections = sim.connections
    sim.set_fault(fault)
    await until(lambda: not coordinator.last_update_success)
    await hass.async_block_till_done()
    _down(hass, serial, gas)
    # The error counters stay available: they say why.
    assert state_of(hass, serial, "crc_errors") == str(meter.stats.crc_errors)
    if counter is not None:
        shown = int(state_of(hass, serial, counter))
        assert shown > 0
        # The count keeps moving while the link stays down (looked at every 5 s).
        counted = {"crc_errors": lambda: meter.stats.crc_errors}.get(
            counter, lambda: meter.stats.parse_errors
        )
        await until(lambda: counted() > shown)
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=6))
        await hass.async_block_till_done()
        assert int(state_of(hass, serial, counter)) > shown
    # The link is torn down and reopened while the fault lasts.
    await until(lambda: sim.connections > connections)
    assert entry.state is ConfigEntryState.LOADED
    await _recovers(hass, entry, sim)


async def test_the_watchdog_reopens_a_silent_link(hass: HomeAssistant, sims: Sims) -> None:
    """The bridge keeps the TCP link up but sends nothing: only the watchdog can tell."""
    sim = await _start(sims, "5B")
    entry = await _add(hass, sim, counter_write_interval=0)
    meter, coordinator = parts(entry)
    connections = sim.connections
    sim.set_fault(Fault.SILENCE)
    await until(lambda: not coordinator.last_update_success)
    error = coordinator.last_exception
    assert error is not None
    # Three expected intervals of the (sped-up) meter without a valid telegram.
    assert str(error) == f"No valid telegram from 127.0.0.1:{sim.port} for 0.75 s"
    assert meter.stats.stalls == 1
    assert meter.stats.disconnects == 0  # the server never closed anything
    # Torn down by us and opened again.
    await until(lambda: sim.connections > connections)
    await _recovers(hass, entry, sim)


@pytest.mark.parametrize("fault", [Fault.GARBAGE, Fault.TRICKLE])
async def test_noisy_or_slow_links_stay_up_with_exact_values(
    hass: HomeAssistant, sims: Sims, fault: Fault
) -> None:
    sim = await _start(sims, "5")
    entry = await _add(hass, sim, counter_write_interval=0)
    meter, coordinator = parts(entry)
    failures: list[BaseException | None] = []

    @callback
    def watch() -> None:
        if not coordinator.last_update_success:
            failures.append(coordinator.last_exception)

    remove = coordinator.async_add_listener(watch)
    sim.set_fault(fault)
    for _ in range(6):
        await telegrams(entry, 1)
        truth = sim.truth_of(coordinator.data)
        assert truth.mismatches(coordinator.data) == []
        _assert_states_equal_truth(hass, truth)
    remove()
    assert failures == []
    serial = coordinator.identity.serial
    assert state_of(hass, serial, "connected", "binary_sensor") == STATE_ON
    if fault is Fault.GARBAGE:
        assert meter.stats.discarded_bytes > 0
        bad = int(state_of(hass, serial, "crc_errors")) + int(
            state_of(hass, serial, "parse_errors")
        )
        assert bad == meter.stats.crc_errors + meter.stats.parse_errors > 0


@pytest.mark.parametrize("fault", [Fault.SILENCE, Fault.DISCONNECT])
async def test_serial_link_faults(hass: HomeAssistant, sims: Sims, fault: Fault) -> None:
    """The same over the serial path: a pty that goes quiet, or vanishes (cable pulled)."""
    sim = sims("5")
    path = await sim.start_pty()
    entry = await add_dsmr_serial(hass, path, counter_write_interval=0)
    meter, coordinator = parts(entry)
    serial = coordinator.identity.serial
    sim.set_fault(fault)
    await until(lambda: not coordinator.last_update_success)
    await hass.async_block_till_done()
    _down(hass, serial, None)
    opened = meter.stats.connects
    if fault is Fault.SILENCE:
        await until(lambda: meter.stats.connects > opened)  # reopened by the watchdog
    await _recovers(hass, entry, sim)
    assert meter.address == path


class _LaterClock:
    """The coordinator's wall clock, moved ahead by hand.

    (freezegun would also freeze the event loop's clock, which Home Assistant's
    test loop reads through time.monotonic; the watchdog needs it running.)
    """

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def utcnow(self) -> datetime:
        return dt_util.utcnow() + self.ahead


async def test_repair_issue_after_ten_minutes_down_and_gone_on_recovery(
    hass: HomeAssistant, sims: Sims, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = _LaterClock()
    monkeypatch.setattr(stream_coordinator, "dt_util", clock)
    sim = await _start(sims, "5")
    entry = await _add(hass, sim)
    _, coordinator = parts(entry)
    issue_id = f"meter_offline_{entry.entry_id}"
    issues = ir.async_get(hass)
    sim.set_fault(Fault.SILENCE)
    await until(lambda: not coordinator.last_update_success)

    clock.ahead = timedelta(minutes=9)
    attempts = coordinator.reconnects
    await until(lambda: coordinator.reconnects > attempts)
    assert issues.async_get_issue(DOMAIN, issue_id) is None

    clock.ahead = timedelta(minutes=11)
    attempts = coordinator.reconnects
    await until(lambda: coordinator.reconnects > attempts)
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "meter_offline"
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["name"] == "DSMR 5 smart meter"
    serial = coordinator.identity.serial
    assert state_of(hass, serial, "connected", "binary_sensor") == STATE_OFF

    sim.set_fault(Fault.NONE)
    await until(lambda: coordinator.last_update_success)
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    assert state_of(hass, serial, "connected", "binary_sensor") == STATE_ON


async def test_a_meter_down_at_start_raises_the_repair_issue_after_ten_minutes(
    hass: HomeAssistant, sims: Sims, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No coordinator ever runs: each setup retry fails, yet the first failure counts."""
    clock = _LaterClock()
    monkeypatch.setattr(stream_coordinator, "dt_util", clock)
    sim = await _start(sims, "5")
    entry = await _add(hass, sim)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    issue_id = f"meter_offline_{entry.entry_id}"
    issues = ir.async_get(hass)

    async def retry() -> None:
        """Let Home Assistant's next setup attempt run (its delay is at most 80 s)."""
        attempts = sim.connections
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=5))
        await until(
            lambda: (
                sim.connections > attempts and entry.state is not ConfigEntryState.SETUP_IN_PROGRESS
            )
        )
        await hass.async_block_till_done()

    # Home Assistant starts while the bridge drops every connection.
    sim.set_fault(Fault.DISCONNECT)
    before = dt_util.utcnow()
    assert not await hass.config_entries.async_setup(entry.entry_id)
    after = dt_util.utcnow()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert issues.async_get_issue(DOMAIN, issue_id) is None

    clock.ahead = timedelta(minutes=9)
    await retry()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert issues.async_get_issue(DOMAIN, issue_id) is None

    clock.ahead = timedelta(minutes=11)
    await retry()
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "meter_offline"
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["name"] == entry.title == "DSMR 5 smart meter"
    since = datetime.fromisoformat(issue.translation_placeholders["since"])
    # Counted from the first failed start, not from this retry.
    assert before.replace(microsecond=0) <= since <= after
    assert "dropped" in issue.translation_placeholders["error"]

    sim.set_fault(Fault.NONE)
    await retry()
    assert entry.state is ConfigEntryState.LOADED
    assert issues.async_get_issue(DOMAIN, issue_id) is None

    # Down again at the next start: a new count begins.
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    sim.set_fault(Fault.DISCONNECT)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    clock.ahead = timedelta(minutes=20)
    await retry()
    assert issues.async_get_issue(DOMAIN, issue_id) is None


# -- the state-write throttle --------------------------------------------------------


class _Writes:
    """Every state write of some entities (changed or only reported) and every snapshot."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry, *entity_ids: str) -> None:
        self.states: dict[str, list[str]] = {e: [] for e in entity_ids}
        self.snapshots: list[Snapshot] = []

        @callback
        def ours(data: Mapping[str, Any]) -> bool:
            return data["entity_id"] in self.states

        @callback
        def on_write(event: Event[Any]) -> None:
            state = event.data.get("new_state")
            self.states[event.data["entity_id"]].append(state.state if state else "")

        @callback
        def on_snapshot(entry_id: str, snapshot: Snapshot) -> None:
            if entry_id == entry.entry_id:
                self.snapshots.append(snapshot)

        self._removers = [
            hass.bus.async_listen(EVENT_STATE_CHANGED, on_write, ours),
            hass.bus.async_listen(EVENT_STATE_REPORTED, on_write, ours),
            async_dispatcher_connect(hass, SIGNAL_SNAPSHOT, on_snapshot),
        ]

    def stop(self) -> None:
        for remove in self._removers:
            remove()


async def test_counters_are_written_at_most_every_10_s_yet_every_telegram_is_published(
    hass: HomeAssistant, sims: Sims, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(write_throttle, "monotonic", lambda: clock[0])
    sim = await _start(sims, "5")
    entry = await _add(hass, sim)  # the defaults: power every telegram, counters every 10 s
    _, coordinator = parts(entry)
    serial = coordinator.identity.serial
    energy = entity_id(hass, serial, "energy_import")
    power = entity_id(hass, serial, "power")
    writes = _Writes(hass, entry, energy, power)
    energy_key = QuantityKey(Quantity.ENERGY_IMPORT)

    clock[0] += 10  # the next telegram is due for a counter write
    await telegrams(entry, 15)
    assert len(writes.states[energy]) == 1
    assert writes.states[energy][0] == str(writes.snapshots[0].values[energy_key])
    clock[0] += 9.9
    await telegrams(entry, 5)
    assert len(writes.states[energy]) == 1
    clock[0] += 0.1
    await telegrams(entry, 1)
    await hass.async_block_till_done()
    assert len(writes.states[energy]) == 2
    # The write shows the newest reading, not the one held back first.
    assert writes.states[energy][1] == str(coordinator.data.values[energy_key])
    writes.stop()
    # Power is written on every telegram, and every telegram reached the recorder's signal.
    assert len(writes.snapshots) >= 21
    assert writes.states[power] == [
        str(snapshot.values[QuantityKey(Quantity.POWER)]) for snapshot in writes.snapshots
    ]
    assert [s.measured_at for s in writes.snapshots] == sorted(
        {s.measured_at for s in writes.snapshots}
    )


async def test_a_held_counter_is_written_when_its_interval_ends(
    hass: HomeAssistant, sims: Sims, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A slower meter (watchdog after 6 s), so the link stays up while nothing arrives.
    slower = dataclasses.replace(VERSIONS[DsmrVersion.V5], interval=2.0)
    monkeypatch.setitem(VERSIONS, DsmrVersion.V5, slower)  # type: ignore[arg-type]
    sim = await _start(sims, "5")
    entry = await _add(hass, sim, counter_write_interval=1)
    _, coordinator = parts(entry)
    serial = coordinator.identity.serial
    energy = entity_id(hass, serial, "energy_import")
    key = QuantityKey(Quantity.ENERGY_IMPORT)

    def held_back() -> bool:
        state = hass.states.get(energy)
        return state is not None and state.state != str(coordinator.data.values[key])

    # Wait for a telegram whose counter value is newer than the one shown, then stop the meter.
    await until(held_back, step=0.005)
    sim.set_fault(Fault.SILENCE)
    newest = coordinator.data.values[key]
    await until(lambda: state_of(hass, serial, "energy_import") == str(newest))
    assert coordinator.last_update_success
    assert coordinator.data.values[key] == newest


# -- diagnostics and unload -----------------------------------------------------------


async def test_diagnostics_redact_ids_and_keys(
    hass: HomeAssistant, sims: Sims, hass_client: ClientSessionGenerator
) -> None:
    sim = await _start(sims, "5L")
    entry = await _add(hass, sim)
    await telegrams(entry, 1)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(diagnostics)
    assert SMARTY_KEY not in text
    assert entry.unique_id is not None
    assert entry.unique_id not in text
    assert diagnostics["entry"]["data"]["decryption_key"] == "**REDACTED**"
    assert diagnostics["snapshot"]["identity"]["serial"] == "**REDACTED**"
    assert diagnostics["meter_stats"]["telegrams"] >= 1
    assert diagnostics["meter_stats"]["decrypt_errors"] == 0


async def test_diagnostics_redact_the_serial_port_path(
    hass: HomeAssistant, sims: Sims, hass_client: ClientSessionGenerator, tmp_path: Path
) -> None:
    """A cable's stable path carries its USB serial number."""
    sim = sims("5")
    by_id = tmp_path / "usb-FTDI_FT232R_USB_UART_A10KMEC3-if00-port0"
    by_id.symlink_to(await sim.start_pty())
    entry = await add_dsmr_serial(hass, str(by_id))
    await telegrams(entry, 1)
    meter, _ = parts(entry)
    assert meter.address == str(by_id)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(diagnostics, default=str)
    assert "A10KMEC3" not in text
    assert str(tmp_path) not in text
    assert diagnostics["entry"]["data"]["device"] == "**REDACTED**"
    assert diagnostics["entry"]["data"]["transport"] == "serial"
    assert diagnostics["meter_stats"]["received_bytes"] > 0


async def test_belgian_sub_meters_redacted_too(
    hass: HomeAssistant, sims: Sims, hass_client: ClientSessionGenerator
) -> None:
    sim = await _start(sims, "5B")
    entry = await _add(hass, sim)
    await telegrams(entry, 1)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(diagnostics, default=str)
    _, coordinator = parts(entry)
    for meter in coordinator.data.all_meters():
        assert meter.identity.serial not in text
    assert len(diagnostics["snapshot"]["sub_meters"]) == 2


async def test_unload_leaves_no_task_and_no_connection(hass: HomeAssistant, sims: Sims) -> None:
    sim = await _start(sims, "5")
    entry = await _add(hass, sim)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert not [t for t in asyncio.all_tasks() if "wattkeeper" in t.get_name()]
    await until(lambda: not sim.clients)
    assert sim.connections == 3  # the flow listened, the entry was set up, then reloaded
