"""Drive Fluksometer entries through Home Assistant as a user would, against the MQTT twin.

The twin is ticked by hand (`autorun=False`) so every state can be compared
with its ground truth; while Home Assistant sets an entry up (and waits for
its first snapshot) `pumping()` ticks it in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import pytest
from amqtt.broker import Broker
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er

from custom_components.wattkeeper import flukso_entry
from custom_components.wattkeeper.const import DOMAIN
from custom_components.wattkeeper.meters.flukso import FluksoMeter
from custom_components.wattkeeper.stream_coordinator import StreamCoordinator
from simulators.flukso import FluksoSimulator

# Guards a wait so a broken link fails the test instead of hanging it; never asserted on.
GUARD = 20.0


class _SteadySubscriptions(dict[str, Any]):
    """amqtt's subscription table, walked over a copy.

    amqtt 0.12 walks this table across awaits (retained messages for a new
    client, broadcasts); a client subscribing or leaving meanwhile makes the
    broker raise "dictionary changed size during iteration" and drop the new
    client. Entry reloads and config-flow probes connect while another client
    leaves, so the twin's broker needs this; a Fluksometer's mosquitto does not.
    """

    def __iter__(self) -> Any:
        return iter(list(super().keys()))

    def items(self) -> Any:
        return list(super().items())


def tune_meters(monkeypatch: pytest.MonkeyPatch, **options: float) -> None:
    """Build the entries' drivers with other timing (the driver's own tests cover the defaults)."""
    monkeypatch.setattr(flukso_entry, "FluksoMeter", functools.partial(FluksoMeter, **options))


@pytest.fixture(autouse=True)
def quick_meters(monkeypatch: pytest.MonkeyPatch) -> None:
    """A burst closes after 50 ms of quiet instead of 250, and a hand-ticked twin
    may pause ten seconds (a busy test machine) before the stall watchdog fires."""
    tune_meters(monkeypatch, settle=0.05, stall_intervals=10)


@pytest.fixture(autouse=True)
def steady_amqtt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give every amqtt broker of the test a subscription table it can walk safely."""
    original = Broker.__init__

    def init(self: Broker, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._subscriptions = _SteadySubscriptions()

    monkeypatch.setattr(Broker, "__init__", init)


@contextlib.asynccontextmanager
async def pumping(sim: FluksoSimulator, every: float = 0.2) -> AsyncIterator[None]:
    """Tick the twin in the background, as a meter that keeps publishing."""

    async def pump() -> None:
        while True:
            await sim.tick()
            await asyncio.sleep(every)

    task = asyncio.create_task(pump())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def role_input(roles: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """The role form's input for roles in the options' shape ({id: {role, sign}})."""
    form: dict[str, list[str]] = {"consumption": [], "production": [], "grid": [], "inverted": []}
    for sensor_id, entry in roles.items():
        if entry.get("role"):
            form[entry["role"]].append(sensor_id)
        if entry.get("sign", 1) < 0:
            form["inverted"].append(sensor_id)
    return form


async def start_flukso_flow(hass: HomeAssistant) -> str:
    """Open the menu and pick the Fluksometer; returns the flow id at the broker form."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": "user"})
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "flukso"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "flukso"
    return str(result["flow_id"])


async def add_flukso(
    hass: HomeAssistant,
    sim: FluksoSimulator,
    roles: Mapping[str, Mapping[str, Any]] | None = None,
    **credentials: str,
) -> ConfigEntry:
    """Add an entry through the flow (the wiring's roles by default) and let it read a second."""
    flow_id = await start_flukso_flow(hass)
    async with pumping(sim):
        result = await hass.config_entries.flow.async_configure(
            flow_id, {CONF_HOST: sim.host, CONF_PORT: sim.port, **credentials}
        )
        assert result["step_id"] == "flukso_sensors", result
        result = await hass.config_entries.flow.async_configure(
            flow_id, role_input(sim.expected_roles() if roles is None else roles)
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY, result
        await hass.async_block_till_done()
    entry = hass.config_entries.async_get_entry(result["result"].entry_id)
    assert entry is not None
    # One whole meter second, so every series (and its entity) exists.
    await tick(hass, sim, entry)
    return entry


def parts(entry: ConfigEntry) -> tuple[FluksoMeter, StreamCoordinator]:
    meter, coordinator = entry.runtime_data.meter, entry.runtime_data.coordinator
    assert isinstance(meter, FluksoMeter)
    assert isinstance(coordinator, StreamCoordinator)
    return meter, coordinator


async def until(condition: Callable[[], bool], *, step: float = 0.02) -> None:
    """Let the loop run until `condition` holds (real sockets need real turns)."""
    async with asyncio.timeout(GUARD):
        while not condition():  # noqa: ASYNC110  (polls state that sockets change)
            await asyncio.sleep(step)


async def tick(hass: HomeAssistant, sim: FluksoSimulator, entry: ConfigEntry) -> None:
    """Publish one meter second and wait until Home Assistant shows all of it."""
    meter, coordinator = parts(entry)
    # At each update: the meter second it shows, and how many messages the driver
    # had read. A burst becomes a snapshot once complete (or the next one starts).
    seen: list[tuple[float, int]] = []
    remove = coordinator.async_add_listener(
        lambda: seen.append((coordinator.data.measured_at.timestamp(), meter.stats.messages))
    )
    try:
        target = meter.stats.messages + await sim.tick()
        second = sim.truth.timestamp
        await until(lambda: any(ts == second and n >= target for ts, n in seen))
    finally:
        remove()
    await hass.async_block_till_done()


def entity_id(hass: HomeAssistant, serial: str, key: str, platform: str = "sensor") -> str:
    found = er.async_get(hass).async_get_entity_id(platform, DOMAIN, f"{serial}_{key}")
    assert found is not None, f"no {platform} entity for {serial}_{key}"
    return found


def state_of(hass: HomeAssistant, serial: str, key: str, platform: str = "sensor") -> str:
    state = hass.states.get(entity_id(hass, serial, key, platform))
    assert state is not None
    return state.state
