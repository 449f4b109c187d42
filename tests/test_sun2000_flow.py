"""SUN2000 config flow: unit-id probing, choosing inverters, every error, reconfigure, options."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from homeassistant.config_entries import SOURCE_RECONFIGURE, ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData

from custom_components.wattkeeper import flow_sun2000
from custom_components.wattkeeper.const import CONF_KIND, CONF_SCAN_INTERVAL, DOMAIN
from custom_components.wattkeeper.meters.model import MeterIdentity
from custom_components.wattkeeper.meters.sun2000_connection import Sun2000Connection
from custom_components.wattkeeper.sun2000_entry import (
    CONF_INVERTER_INTERVAL,
    CONF_PROXY,
    CONF_PROXY_PORT,
)
from custom_components.wattkeeper.sun2000_link import link_users
from simulators.sun2000 import Fault, InverterSpec, SimClock, Sun2000Simulator, running

from .sun2000_support import (
    FAST,
    NOON,
    SECOND,
    add_sun2000,
    address_step,
    driver,
    free_port,
    submit_address,
    use_fast_links,
)


@pytest.fixture(autouse=True)
def fast_links(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fast_links(monkeypatch)


@pytest.fixture
async def sim() -> AsyncIterator[Sun2000Simulator]:
    """A dongle with two inverters: unit 1 with meter and battery, unit 2 alone."""
    async with running((InverterSpec(), SECOND), clock=SimClock(NOON)) as twin:
        twin.refuse_second_connection = True  # a SDongle: one client only
        yield twin


async def test_probe_finds_every_inverter_and_each_becomes_an_entry(
    hass: HomeAssistant, sim: Sun2000Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    flow_id = await address_step(hass)
    result = await submit_address(hass, flow_id, sim.port)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "sun2000_pick"
    assert result["description_placeholders"] == {"count": "2", "host": "127.0.0.1"}
    # Unit ids from 1 up, once each, until three in a row past unit 2 had no inverter.
    assert [(r.unit, r.address, r.count) for r in sim.requests[:5]] == [
        (unit, 30000, 50) for unit in range(1, 6)
    ]
    # 3 "no device" answers, and not one pymodbus ERROR line for them.
    assert sum(r.outcome == "exception 11" for r in sim.requests) == 3
    assert [
        r for r in caplog.records if r.name.startswith("pymodbus") and r.levelname == "ERROR"
    ] == []
    schema = result["data_schema"].schema
    (field,) = schema
    assert field.default() == ["HV2250012345", "HV2250067890"]  # all found are preselected

    result = await hass.config_entries.flow.async_configure(
        flow_id, {"inverters": ["HV2250012345", "HV2250067890"]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    entries = sorted(hass.config_entries.async_entries(DOMAIN), key=lambda e: e.data["unit_id"])
    assert [(e.unique_id, e.title, e.state) for e in entries] == [
        ("HV2250012345", "SUN2000-6KTL-M1", ConfigEntryState.LOADED),
        ("HV2250067890", "SUN2000-5KTL-L1", ConfigEntryState.LOADED),
    ]
    assert [dict(e.data) for e in entries] == [
        {CONF_KIND: "sun2000", CONF_HOST: "127.0.0.1", CONF_PORT: sim.port, "unit_id": unit}
        for unit in (1, 2)
    ]
    # With a power meter: the meter every 10 s, the inverter and battery every 30 s.
    assert [dict(e.options) for e in entries] == [
        {CONF_SCAN_INTERVAL: 10, CONF_INVERTER_INTERVAL: 30},
        {CONF_SCAN_INTERVAL: 30},
    ]
    assert [e.runtime_data.coordinator.update_interval.total_seconds() for e in entries] == [
        10,
        30,
    ]
    # The flow and both entries used one connection after another, never two at once.
    assert sim.connections_refused == 0
    assert len(sim.open_connections) == 1


async def test_one_inverter_at_a_time_then_all_configured(
    hass: HomeAssistant, sim: Sun2000Simulator
) -> None:
    flow_id = await address_step(hass)
    await submit_address(hass, flow_id, sim.port)
    result = await hass.config_entries.flow.async_configure(flow_id, {"inverters": []})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "nothing_chosen"}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"inverters": ["HV2250067890"]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["unit_id"] == 2
    await hass.async_block_till_done(wait_background_tasks=True)

    # A second round offers only the inverter not set up yet.
    flow_id = await address_step(hass)
    result = await submit_address(hass, flow_id, sim.port)
    assert result["step_id"] == "sun2000_pick"
    assert result["description_placeholders"]["count"] == "1"
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"inverters": ["HV2250012345"]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    assert sim.connections_refused == 0  # the probe borrowed the entry's connection
    assert len(hass.config_entries.async_entries(DOMAIN)) == 2

    # A third finds nothing new.
    flow_id = await address_step(hass)
    result = await submit_address(hass, flow_id, sim.port)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def _error_then_success(
    hass: HomeAssistant, sim: Sun2000Simulator, port: int, error: str
) -> None:
    flow_id = await address_step(hass)
    result = await submit_address(hass, flow_id, port)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}
    sim.clear_fault()
    result = await submit_address(hass, flow_id, sim.port)
    assert result["step_id"] == "sun2000_pick"
    # Nothing stays open after a failed probe.
    assert link_users(hass, "127.0.0.1", port) == 0


async def test_nothing_listening_cannot_connect(hass: HomeAssistant, sim: Sun2000Simulator) -> None:
    await _error_then_success(hass, sim, free_port(), "cannot_connect")


async def test_dongle_with_another_client_says_so(
    hass: HomeAssistant, sim: Sun2000Simulator
) -> None:
    other = Sun2000Connection("127.0.0.1", sim.port, FAST)
    await other.read_holding(1, 32080, 2)  # another program holds the only connection
    try:
        flow_id = await address_step(hass)
        result = await submit_address(hass, flow_id, sim.port)
        assert result["errors"] == {"base": "one_connection"}
        assert sim.connections_refused == 1
    finally:
        await other.close()
    result = await submit_address(hass, flow_id, sim.port)
    assert result["step_id"] == "sun2000_pick"


async def test_no_inverter_on_any_unit_id(hass: HomeAssistant) -> None:
    # Unit 20 is beyond the probe: the dongle answers "no device" for every unit asked.
    async with running((InverterSpec(unit_id=20),), clock=SimClock(NOON)) as twin:
        flow_id = await address_step(hass)
        result = await submit_address(hass, flow_id, twin.port)
        assert result["errors"] == {"base": "nothing_found"}
        assert {r.outcome for r in twin.requests} == {"exception 11"}


async def test_busy_inverter(hass: HomeAssistant, sim: Sun2000Simulator) -> None:
    sim.set_fault(Fault.BUSY)
    await _error_then_success(hass, sim, sim.port, "device_busy")


@pytest.mark.parametrize(
    ("fault", "error"),
    [(Fault.NO_ANSWER, "cannot_connect"), (Fault.ILLEGAL_ADDRESS, "unknown")],
    ids=["silent", "rejects"],
)
async def test_fault_after_the_probe(
    hass: HomeAssistant,
    sim: Sun2000Simulator,
    fault: Fault,
    error: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The probe finds the inverter; then it falls silent, or rejects its identity registers."""
    probe = flow_sun2000.probe
    faulted: list[Fault] = []

    async def probe_then_fault(
        connection: Sun2000Connection, *args: Any, **kwargs: Any
    ) -> dict[int, MeterIdentity]:
        found = await probe(connection, *args, **kwargs)
        if not faulted:  # once: the second attempt succeeds
            faulted.append(fault)
            sim.set_fault(fault)
        return found

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(flow_sun2000, "probe", probe_then_fault)
        await _error_then_success(hass, sim, sim.port, error)
    assert ("Unexpected answer from the SUN2000" in caplog.text) is (error == "unknown")


async def test_reconfigure_follows_the_inverter_to_a_new_address(
    hass: HomeAssistant, sim: Sun2000Simulator
) -> None:
    (entry, _) = await add_sun2000(hass, sim)
    # The same inverter, now behind another dongle as unit 3.
    async with running((InverterSpec(unit_id=3),), clock=SimClock(NOON)) as moved:
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
        )
        assert result["step_id"] == "sun2000_reconfigure"
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: free_port()}
        )
        assert result["errors"] == {"base": "cannot_connect"}
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: moved.port}
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "reconfigure_successful"
        await hass.async_block_till_done(wait_background_tasks=True)
        assert (entry.data[CONF_PORT], entry.data["unit_id"]) == (moved.port, 3)
        assert entry.state is ConfigEntryState.LOADED
        assert driver(entry).connection.port == moved.port
        assert link_users(hass, "127.0.0.1", moved.port) == 1
        assert link_users(hass, "127.0.0.1", sim.port) == 1  # the other entry stays
        await hass.config_entries.async_unload(entry.entry_id)


async def test_reconfigure_to_another_inverter_aborts(
    hass: HomeAssistant, sim: Sun2000Simulator
) -> None:
    (entry,) = await add_sun2000(hass, sim, ["HV2250012345"])
    async with running((InverterSpec(serial="HV2259999999"),), clock=SimClock(NOON)) as other:
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: other.port}
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "wrong_device"
        assert entry.data[CONF_PORT] == sim.port


async def test_options_set_intervals_and_proxy(hass: HomeAssistant, sim: Sun2000Simulator) -> None:
    first, second = await add_sun2000(hass, sim)
    result = await hass.config_entries.options.async_init(first.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "sun2000_options"
    assert [str(key) for key in result["data_schema"].schema] == [
        CONF_SCAN_INTERVAL,
        CONF_INVERTER_INTERVAL,
        CONF_PROXY,
        CONF_PROXY_PORT,
    ]
    for interval in (CONF_SCAN_INTERVAL, CONF_INVERTER_INTERVAL):
        with pytest.raises(InvalidData):  # 5 s is the least the dongle sustains
            await hass.config_entries.options.async_configure(
                result["flow_id"],
                {
                    CONF_SCAN_INTERVAL: 10,
                    CONF_INVERTER_INTERVAL: 30,
                    interval: 4,
                    CONF_PROXY: False,
                    CONF_PROXY_PORT: 5020,
                },
            )
    port = free_port()
    chosen = {
        CONF_SCAN_INTERVAL: 7,
        CONF_INVERTER_INTERVAL: 20,
        CONF_PROXY: True,
        CONF_PROXY_PORT: port,
    }
    result = await hass.config_entries.options.async_configure(result["flow_id"], chosen)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    assert first.options == chosen
    assert first.runtime_data.coordinator.update_interval.total_seconds() == 7
    # 20 s rounded up to a multiple of 7 s: the inverter every third poll.
    meter = driver(first)
    assert meter.reads_until_inverter == 3
    proxy = meter.proxy
    assert proxy is not None
    assert proxy.port == port

    # An inverter without a power meter has one interval; it cannot take the same proxy port.
    result = await hass.config_entries.options.async_init(second.entry_id)
    assert CONF_INVERTER_INTERVAL not in [str(key) for key in result["data_schema"].schema]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SCAN_INTERVAL: 30, CONF_PROXY: True, CONF_PROXY_PORT: port}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_PROXY_PORT: "proxy_port_in_use"}

    # Switching the proxy off again stops it.
    result = await hass.config_entries.options.async_init(first.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**chosen, CONF_PROXY: False}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert driver(first).proxy is None
