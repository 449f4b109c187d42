"""Shared fixtures.

The pytest-homeassistant-custom-component plugin puts its own testing config
(with a `custom_components` package) on sys.path first; importing ours here,
before any Home Assistant loader runs, makes Wattkeeper the one that is found.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import custom_components  # noqa: F401  (before any Home Assistant loader runs, see above)
from simulators.flukso import FluksoSimulator
from simulators.homewizard import HomeWizardSimulator


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(request: pytest.FixtureRequest) -> None:
    """Let Home Assistant load Wattkeeper from this repository, in tests that run it."""
    if "recorder_mock" in request.fixturenames:
        # The recorder must exist before Home Assistant starts.
        request.getfixturevalue("recorder_mock")
    if "hass" in request.fixturenames:
        request.getfixturevalue("enable_custom_integrations")


@pytest.fixture(autouse=True)
def allow_loopback_sockets(socket_enabled: None) -> None:
    """Simulators are real servers; the plugin still limits connections to 127.0.0.1."""


@pytest.fixture
async def homewizard_sim(request: pytest.FixtureRequest) -> AsyncIterator[HomeWizardSimulator]:
    """A running HomeWizard twin; parametrise indirectly with the device type."""
    device_type = getattr(request, "param", "p1")
    sim = HomeWizardSimulator(device_type)
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
def homewizard_timeout(monkeypatch: pytest.MonkeyPatch) -> float:
    """HomeWizard calls give up after this long instead of 5 s, so a silent twin fails fast."""
    from custom_components.wattkeeper.meters import homewizard

    monkeypatch.setattr(homewizard, "DEFAULT_TIMEOUT", 0.3)
    return 0.3


@pytest.fixture
def flukso_counter_every() -> int:
    """Ticks between a Fluksometer twin's counter messages; a test module may override it."""
    return 2


async def _flukso_twin(model: str, counter_every: int) -> AsyncIterator[FluksoSimulator]:
    sim = FluksoSimulator(model, counter_every=counter_every)
    await sim.start(autorun=False)
    yield sim
    await sim.stop()


@pytest.fixture
async def flm02(flukso_counter_every: int) -> AsyncIterator[FluksoSimulator]:
    """A running FLM02 twin, ticked by the test."""
    async for sim in _flukso_twin("FLM02", flukso_counter_every):
        yield sim


@pytest.fixture
async def flm03(flukso_counter_every: int) -> AsyncIterator[FluksoSimulator]:
    """A running FLM03 twin, ticked by the test."""
    async for sim in _flukso_twin("FLM03", flukso_counter_every):
        yield sim


@pytest.fixture(params=["FLM02", "FLM03"])
async def any_model(
    request: pytest.FixtureRequest, flukso_counter_every: int
) -> AsyncIterator[FluksoSimulator]:
    """Each Fluksometer model in turn."""
    async for sim in _flukso_twin(request.param, flukso_counter_every):
        yield sim
