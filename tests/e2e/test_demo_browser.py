"""The demo as a person sees it: log in, look at Wattkeeper's pages, read the figures.

`scripts/develop` runs headless (see conftest.py); Debian's Chromium, driven by
Playwright, logs in as the demo user and opens the integration page, the P1
meter's device page and the Energy dashboard. Every page lands as a screenshot
in artifacts/. What the pages show is compared with what Home Assistant itself
reports over its websocket API: the devices in its registry, the entities'
states and the long-term statistics behind the Energy dashboard.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from playwright.async_api import Locator, Page, async_playwright, expect

from scripts.demo_bootstrap import PASSWORD, USERNAME, HomeAssistantSocket, find_sources, login
from simulators.homewizard import load_fixture

from .conftest import ARTIFACTS, Demo

pytestmark = pytest.mark.timeout(240)

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TWINS = ("p1", "kwh3", "water", "socket")  # the HomeWizard twins scripts/develop runs
# The entries of its other twins and of its recorder, as the integration page titles them.
OTHER_ENTRIES = (
    "DSMR 5B smart meter",
    "SUN2000-6KTL-M1",
    "Fluksometer FLM02",
    "Recorder demo (sqlite)",
)
UI_TIMEOUT_MS = 30_000
# A figure as the frontend prints it (en-US): "13,779.59 kWh", "-0.08 kWh", "48 L".
FIGURE = re.compile(r"(-?[\d,]+(?:\.\d+)?)\s*(kWh|m³|L|W)(?!\w)")
TO_DISPLAY_UNIT = {("m³", "L"): 1000.0, ("kWh", "kWh"): 1.0, ("m³", "m³"): 1.0}
# innerText stops at shadow roots; this reads an element as it is rendered, shadow and all.
DEEP_TEXT = """element => {
  const parts = [];
  const walk = node => {
    if (node.nodeType === Node.TEXT_NODE) parts.push(node.textContent);
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) {
      if (child.nodeName !== "STYLE" && child.nodeName !== "SCRIPT") walk(child);
    }
  };
  walk(element);
  return parts.join(" ").replace(/\\s+/g, " ").trim();
}"""


@asynccontextmanager
async def home_assistant(demo: Demo) -> AsyncIterator[HomeAssistantSocket]:
    """Home Assistant's own view of things, over its websocket API."""
    async with aiohttp.ClientSession() as session:
        token = await login(session, demo.base)
        async with HomeAssistantSocket.connect(session, demo.base, token) as ha:
            yield ha


async def figure(element: Locator) -> tuple[float, str]:
    """The last figure an element shows, with its unit."""
    text = await element.evaluate(DEEP_TEXT)
    found = FIGURE.findall(text)
    assert found, f"no figure in {text!r}"
    number, unit = found[-1]
    return float(number.replace(",", "")), unit


async def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"demo-{name}.png"
    await page.screenshot(path=path, full_page=True)
    return path


@pytest.fixture
async def browser_page(demo: Demo, chromium: Path) -> AsyncIterator[Page]:
    """A logged-in Chromium page, in Home Assistant's time zone."""
    async with home_assistant(demo) as ha:
        zone = (await ha.call("get_config"))["time_zone"]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(
                viewport={"width": 1280, "height": 1400},
                locale="en-US",
                timezone_id=zone,
                reduced_motion="reduce",  # charts draw at once, so screenshots show them
            )
            context.set_default_timeout(UI_TIMEOUT_MS)
            expect.set_options(timeout=UI_TIMEOUT_MS)  # the frontend loads its data lazily
            page = await context.new_page()
            await page.goto(demo.base)
            # The login form of Home Assistant, filled in as a person does.
            await page.locator("input[name=username]").fill(USERNAME)
            await page.locator("input[name=password]").fill(PASSWORD)
            await page.get_by_role("button", name="Log in").click()
            await page.wait_for_url(lambda url: "/auth/" not in url)
            await expect(page.locator("ha-sidebar")).to_contain_text("Energy")
            yield page
        finally:
            await browser.close()


async def test_integration_page_lists_every_simulated_meter(demo: Demo, browser_page: Page) -> None:
    async with home_assistant(demo) as ha:
        devices = [
            d
            for d in await ha.call("config/device_registry/list")
            if any(domain == "wattkeeper" for domain, _ in d["identifiers"])
        ]
        entities = [
            e for e in await ha.call("config/entity_registry/list") if e["platform"] == "wattkeeper"
        ]
        config_entries = await ha.call("config_entries/get", domain="wattkeeper")
    hubs = [load_fixture(kind)["device"]["product_name"] for kind in TWINS] + list(OTHER_ENTRIES)
    assert len(config_entries) == len(hubs)
    for entry in config_entries:  # every entry, meter or recorder, has its device and its entities
        assert any(entry["entry_id"] in d["config_entries"] for d in devices), entry["title"]
        assert any(e["config_entry_id"] == entry["entry_id"] for e in entities), entry["title"]
    # Gas, water, the inverter's power meter and battery are devices of their own.
    assert len(devices) > len(config_entries)

    page = browser_page
    await page.goto(f"{demo.base}/config/integrations/integration/wattkeeper")
    entries = page.locator("ha-config-integration-page")
    await expect(entries.get_by_text("Hubs", exact=True)).to_be_visible()
    for hub in hubs:
        await expect(page.locator("ha-md-list-item", has_text=hub).first).to_be_visible()
    await expect(entries.get_by_text(f"{len(devices)} devices", exact=True)).to_be_visible()
    await expect(entries.get_by_text(f"{len(entities)} entities", exact=True)).to_be_visible()
    await screenshot(page, "integration")


async def test_device_page_shows_the_p1_meter_and_its_readings(
    demo: Demo, browser_page: Page
) -> None:
    p1 = load_fixture("p1")["device"]
    async with home_assistant(demo) as ha:
        device = next(
            d
            for d in await ha.call("config/device_registry/list")
            if d["serial_number"] == p1["serial"]
        )
        sensors = [
            e
            for e in await ha.call("config/entity_registry/list")
            if e["device_id"] == device["id"]
            and e["entity_id"].startswith("sensor.")
            and e["entity_category"] is None
            and e["disabled_by"] is None
            and e["hidden_by"] is None
        ]

    page = browser_page
    # As a person gets there: the P1 meter's entry, its devices, the meter.
    await page.goto(f"{demo.base}/config/integrations/integration/wattkeeper")
    entry = page.locator("ha-md-list-item", has_text=p1["product_name"]).first
    await entry.get_by_text(re.compile(r"^\d+ devices?$")).click()
    await page.wait_for_url("**/config/devices/dashboard**")
    await page.locator("ha-data-table").get_by_text(p1["product_name"], exact=True).click()
    await page.wait_for_url(f"**/config/devices/device/{device['id']}")

    info = page.locator("ha-device-info-card")
    for text in (p1["product_type"], "HomeWizard", p1["firmware_version"], p1["serial"]):
        await expect(info).to_contain_text(text)
    # The gas meter on its M-Bus hangs below it (the card sits low: a taller window).
    await page.set_viewport_size({"width": 1280, "height": 2100})
    via = page.locator("ha-device-via-devices-card")
    await expect(via).to_be_visible()
    await expect(via).to_contain_text("Gas meter")

    card = page.locator("ha-device-entities-card").first
    rows = card.locator("hui-sensor-entity-row")
    await expect(rows).to_have_count(len(sensors))
    async with home_assistant(demo) as ha:
        states = {s["entity_id"]: s for s in await ha.call("get_states")}
    energy_import = next(e for e in sensors if e["unique_id"].endswith("_energy_import"))
    state = states[energy_import["entity_id"]]
    name = state["attributes"]["friendly_name"].removeprefix(device["name"]).strip()
    row = rows.filter(has=page.get_by_text(name, exact=True))
    shown, unit = await figure(row)
    assert unit == state["attributes"]["unit_of_measurement"] == "kWh"
    # The counter moves while we look; a few watt-hours at most.
    assert shown == pytest.approx(float(state["state"]), abs=0.05)
    await screenshot(page, "device-p1")


async def expected_figures(ha: HomeAssistantSocket, day: datetime) -> dict[str, float]:
    """Source role -> what it counted on `day` in its own unit, from the hourly statistics."""
    sources = await find_sources(ha)
    stats: dict[str, list[dict[str, Any]]] = await ha.call(
        "recorder/statistics_during_period",
        start_time=day.isoformat(),
        end_time=(day + timedelta(days=1)).isoformat(),
        statistic_ids=list(sources.values()),
        period="hour",
        types=["change"],
    )
    return {
        role: sum(row["change"] or 0.0 for row in stats.get(entity_id, []))
        for role, entity_id in sources.items()
    }


async def test_energy_dashboard_shows_the_wattkeeper_figures(
    demo: Demo, browser_page: Page
) -> None:
    page = browser_page
    async with home_assistant(demo) as ha:
        zone = ZoneInfo((await ha.call("get_config"))["time_zone"])
        sources = await find_sources(ha)
        assert set(sources) == {"grid_import", "grid_export", "solar", "gas", "water", "socket"}
        states = {s["entity_id"]: s for s in await ha.call("get_states")}
        # Yesterday: a whole day of the imported history, whatever the time of the run.
        today = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
        day = (today - timedelta(days=1)).replace(tzinfo=None).replace(tzinfo=zone)
        await page.goto(f"{demo.base}/energy")
        await page.locator("hui-energy-period-selector ha-icon-button-prev").click()
        # The figures below belong to the day the dashboard says it shows.
        await expect(page.locator("hui-energy-period-selector")).to_contain_text(
            f"{day:%B} {day.day}, {day.year}"
        )
        table = page.locator("hui-energy-sources-table-card")
        rows = {
            role: table.locator("tr", has_text=states[sources[role]]["attributes"]["friendly_name"])
            for role in ("grid_import", "grid_export", "solar", "gas", "water")
        }
        for row in rows.values():
            await expect(row).to_contain_text(FIGURE)
        expected = await expected_figures(ha, day)  # after the page fetched its own
    assert expected["grid_import"] > 0  # the imported history has a figure for every hour

    for role, row in rows.items():
        shown, unit = await figure(row)
        scale = TO_DISPLAY_UNIT[(states[sources[role]]["attributes"]["unit_of_measurement"], unit)]
        # Export is shown as a negative figure; the table rounds to two decimals.
        assert abs(shown) == pytest.approx(expected[role] * scale, abs=0.0051 * scale), role
    # The socket is an individual device; the distribution card draws the flows.
    socket_name = states[sources["socket"]]["attributes"]["friendly_name"]
    await expect(page.locator("hui-energy-devices-detail-graph-card")).to_contain_text(socket_name)
    await expect(page.locator("hui-energy-distribution-card")).to_contain_text("kWh")
    await screenshot(page, "energy")
