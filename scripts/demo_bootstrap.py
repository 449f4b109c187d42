"""Prepares a running demo Home Assistant the way a person would, over its own APIs.

Creates the owner account through the onboarding API (or logs in when it
exists), adds one Wattkeeper entry per simulated device through the config
flow's REST API, points the Energy dashboard at Wattkeeper's sensors and
imports 48 hours of plausible history for them, so the dashboard shows figures
at once. Idempotent: run it again and it only adds what is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import random
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

CLIENT_ID = "http://127.0.0.1:8123/"
NO_PRICE = {"entity_energy_price": None, "number_energy_price": None}
USERNAME = "demo"
PASSWORD = "wattkeeper-demo"


async def wait_until_up(session: aiohttp.ClientSession, base: str, seconds: float) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        try:
            async with session.get(f"{base}/api/onboarding") as response:
                # 404 once onboarding is complete: its views are gone then.
                if response.status in (200, 401, 404):
                    return
        except aiohttp.ClientError:
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise SystemExit(f"Home Assistant did not answer at {base} within {seconds:.0f} s")
        await asyncio.sleep(1)


async def token_from_code(session: aiohttp.ClientSession, base: str, code: str) -> str:
    async with session.post(
        f"{base}/auth/token",
        data={"grant_type": "authorization_code", "code": code, "client_id": CLIENT_ID},
    ) as response:
        response.raise_for_status()
        body = await response.json()
        return str(body["access_token"])


async def onboard_or_login(session: aiohttp.ClientSession, base: str) -> tuple[str, bool]:
    """A token, and whether this run created the owner (a brand-new configuration)."""
    async with session.get(f"{base}/api/onboarding") as response:
        steps = await response.json() if response.status == 200 else []
    user_done = any(step["step"] == "user" and step["done"] for step in steps) or not steps
    if not user_done:
        async with session.post(
            f"{base}/api/onboarding/users",
            json={
                "client_id": CLIENT_ID,
                "name": "Demo",
                "username": USERNAME,
                "password": PASSWORD,
                "language": "en",
            },
        ) as response:
            response.raise_for_status()
            code = (await response.json())["auth_code"]
        token = await token_from_code(session, base, code)
        headers = {"Authorization": f"Bearer {token}"}
        for step, payload in (
            ("core_config", {}),
            ("analytics", {}),
            (
                "integration",
                {"client_id": CLIENT_ID, "redirect_uri": f"{CLIENT_ID}?auth_callback=1"},
            ),
        ):
            async with session.post(
                f"{base}/api/onboarding/{step}", json=payload, headers=headers
            ) as response:
                if response.status not in (200, 403):  # 403: step already done
                    response.raise_for_status()
        return token, True
    return await login(session, base), False


# Entries onboarding adds that need the internet (or ffmpeg), which the demo has not.
ONLINE_ONLY = ("met", "radio_browser", "google_translate")


async def remove_online_only(
    session: aiohttp.ClientSession, base: str, headers: dict[str, str]
) -> None:
    """Onboarding adds weather, radio and speech entries; they only fill the log here."""
    for domain in ONLINE_ONLY:
        async with session.get(
            f"{base}/api/config/config_entries/entry", params={"domain": domain}, headers=headers
        ) as response:
            entries = await response.json() if response.status == 200 else []
        for entry in entries:
            async with session.delete(
                f"{base}/api/config/config_entries/entry/{entry['entry_id']}", headers=headers
            ):
                pass


async def login(session: aiohttp.ClientSession, base: str) -> str:
    async with session.post(
        f"{base}/auth/login_flow",
        json={
            "client_id": CLIENT_ID,
            "handler": ["homeassistant", None],
            "redirect_uri": CLIENT_ID,
        },
    ) as response:
        flow = await response.json()
    async with session.post(
        f"{base}/auth/login_flow/{flow['flow_id']}",
        json={"client_id": CLIENT_ID, "username": USERNAME, "password": PASSWORD},
    ) as response:
        result = await response.json()
    if result.get("type") != "create_entry":
        raise SystemExit("Could not log in as the demo user; remove config/.storage to start over.")
    return await token_from_code(session, base, result["result"])


async def run_flow(
    session: aiohttp.ClientSession,
    base: str,
    headers: dict[str, str],
    label: str,
    answers: list[dict[str, Any]],
) -> None:
    """Starts a Wattkeeper config flow and answers its menus and forms in order,
    as a person would in the UI; a form answered with {} takes its defaults."""
    flows = f"{base}/api/config/config_entries/flow"
    async with session.post(flows, json={"handler": "wattkeeper"}, headers=headers) as response:
        response.raise_for_status()
        flow = await response.json()
    for payload in answers:
        if flow.get("type") not in ("menu", "form"):
            break
        async with session.post(
            f"{flows}/{flow['flow_id']}", json=payload, headers=headers
        ) as response:
            response.raise_for_status()
            flow = await response.json()
    outcome = flow.get("type")
    reason = flow.get("reason", flow.get("errors"))
    print(f"  {label}: {outcome}{'' if outcome == 'create_entry' else f' ({reason})'}")


def address(host_port: str) -> dict[str, Any]:
    host, port = host_port.rsplit(":", 1)
    return {"host": host, "port": int(port)}


# What the demo adds: the kind's menu choice, then the answers to its forms.
def homewizard_answers(host: str) -> list[dict[str, Any]]:
    return [{"next_step_id": "homewizard"}, {"host": host}]


def dsmr_answers(host_port: str) -> list[dict[str, Any]]:
    # Auto-detect, as a newcomer would choose: the twin speaks Belgian DSMR 5B.
    return [
        {"next_step_id": "dsmr"},
        {"next_step_id": "dsmr_tcp"},
        {**address(host_port), "version": "auto"},
    ]


def sun2000_answers(host_port: str) -> list[dict[str, Any]]:
    return [{"next_step_id": "sun2000"}, address(host_port), {}]  # every inverter found


def flukso_answers(host_port: str) -> list[dict[str, Any]]:
    return [{"next_step_id": "flukso"}, address(host_port), {}]  # the roles the flow proposes


def recorder_answers() -> list[dict[str, Any]]:
    # The embedded SQLite database in the configuration folder, every meter.
    return [{"next_step_id": "recorder"}, {"backend": "sqlite", "site": "demo"}]


class HomeAssistantSocket:
    """Home Assistant's websocket API: one command at a time, answers by id."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._id = 0

    @classmethod
    @asynccontextmanager
    async def connect(
        cls, session: aiohttp.ClientSession, base: str, token: str
    ) -> AsyncIterator[HomeAssistantSocket]:
        async with session.ws_connect(f"{base}/api/websocket") as ws:
            await ws.receive_json()  # auth_required
            await ws.send_json({"type": "auth", "access_token": token})
            answer = await ws.receive_json()
            if answer.get("type") != "auth_ok":
                raise SystemExit(f"Home Assistant refused the websocket login: {answer}")
            yield cls(ws)

    async def call(self, command: str, **payload: Any) -> Any:
        self._id += 1
        await self._ws.send_json({"id": self._id, "type": command, **payload})
        while True:
            answer = await self._ws.receive_json()
            if answer.get("id") == self._id and answer.get("type") == "result":
                break
        if not answer.get("success"):
            raise SystemExit(f"{command} failed: {answer.get('error')}")
        return answer.get("result")


# The Energy dashboard's sources, found by the device model and the end of the
# unique id ("<serial>_<quantity key>"), so renamed devices or entities still match.
SOURCES: dict[str, tuple[str | None, str]] = {
    "grid_import": ("HWE-P1", "_energy_import"),
    "grid_export": ("HWE-P1", "_energy_export"),
    "gas": (None, "_gas"),  # a meter on the P1 meter's M-Bus
    "water": ("HWE-WTR", "_water"),
    "socket": ("HWE-SKT", "_energy_import"),
    "solar": (None, "_pv_energy"),  # the SUN2000 inverter's lifetime yield
}


async def find_sources(ha: HomeAssistantSocket) -> dict[str, str]:
    """Role (a key of SOURCES) -> entity id, for the roles the demo's devices provide."""
    devices = {d["id"]: d for d in await ha.call("config/device_registry/list")}
    entities = [
        e for e in await ha.call("config/entity_registry/list") if e["platform"] == "wattkeeper"
    ]
    found: dict[str, str] = {}
    for role, (model, suffix) in SOURCES.items():
        for entity in entities:
            device = devices.get(entity.get("device_id") or "", {})
            if entity["unique_id"].endswith(suffix) and model in (None, device.get("model")):
                found[role] = entity["entity_id"]
                break
    return found


async def configure_energy(ha: HomeAssistantSocket, sources: dict[str, str]) -> None:
    """Energy dashboard: grid import/export of the P1 meter, solar, gas, water, a device."""
    grid_import = sources.get("grid_import")
    grid_export = sources.get("grid_export")
    prefs_sources: list[dict[str, Any]] = []
    if grid_import:
        prefs_sources.append(
            {
                "type": "grid",
                "flow_from": [{"stat_energy_from": grid_import, **NO_PRICE, "stat_cost": None}],
                "flow_to": [{"stat_energy_to": grid_export, **NO_PRICE, "stat_compensation": None}]
                if grid_export
                else [],
                "cost_adjustment_day": 0,
            }
        )
    if solar := sources.get("solar"):
        prefs_sources.append(
            {"type": "solar", "stat_energy_from": solar, "config_entry_solar_forecast": None}
        )
    for role in ("gas", "water"):
        if entity_id := sources.get(role):
            prefs_sources.append(
                {"type": role, "stat_energy_from": entity_id, **NO_PRICE, "stat_cost": None}
            )
    prefs: dict[str, Any] = {"energy_sources": prefs_sources}
    if socket_energy := sources.get("socket"):
        prefs["device_consumption"] = [{"stat_consumption": socket_energy}]
    await ha.call("energy/save_prefs", **prefs)
    print(f"  Energy dashboard: configured with {', '.join(sorted(sources)) or 'no sources'}")


HISTORY_HOURS = 48


def hourly_use(role: str, local_hour: int, rng: random.Random, sunny: float) -> float:
    """What a household plausibly counts in one hour, in the entity's unit."""
    evening = 17 <= local_hour <= 22
    morning = 6 <= local_hour <= 8
    sun = max(0.0, math.sin(math.pi * (local_hour - 7) / 12)) * sunny  # 07:00-19:00
    noise = rng.uniform(0.8, 1.2)
    # The home's use is import + solar - export: in every hour, even at the ends of
    # the noise, the import stays above the socket and the solar above the export,
    # or the charts would show a negative use of the home.
    match role:
        case "grid_import":  # kWh: more while people are at home
            base = 0.3 + (0.5 if morning else 0.0) + (0.8 if evening else 0.0)
            return round((base + (0.15 if sun > 0 else 0.0)) * noise, 3)
        case "grid_export":  # kWh: a small winter surplus of solar panels around noon
            return round(max(0.0, 0.3 * sun - 0.1) * noise, 3)
        case "solar":  # kWh: at least the export of every hour, whatever the day's sun
            daylight = max(0.0, math.sin(math.pi * (local_hour - 7) / 12))
            return round((0.4 + 0.4 * noise) * daylight, 3)
        case "gas":  # m³, heating and hot water
            return round((0.3 if morning else 0.2 if evening else 0.05) * noise, 3)
        case "water":  # m³: showers in the morning, cooking and dishes at night
            litres = 45 if local_hour == 7 else 25 if local_hour in (19, 20) else 3
            return round(litres * noise / 1000 if local_hour >= 6 else 0.0, 4)
        case "socket":  # kWh: a freezer cycling, and the dishwasher after dinner
            return round((0.6 if local_hour == 20 else 0.07) * noise, 3)
    return 0.0


def history_rows(
    role: str, end: datetime, end_state: float, offset: float, zone: ZoneInfo
) -> list[dict[str, Any]]:
    """Hourly rows for HISTORY_HOURS before `end`, counting up to `end_state`.

    The sum is state + offset, the same relation Home Assistant keeps in the
    statistics it compiles next, so the series continues without a jump.
    """
    rng = random.Random(f"{role}:{end.isoformat()}")
    starts = [end - timedelta(hours=n) for n in range(HISTORY_HOURS, 0, -1)]
    days = sorted({start.astimezone(zone).date() for start in starts})
    sunny = {day: rng.uniform(0.4, 1.0) for day in days}
    uses = [
        hourly_use(role, s.astimezone(zone).hour, rng, sunny[s.astimezone(zone).date()])
        for s in starts
    ]
    scale = min(1.0, end_state / sum(uses)) if sum(uses) > 0 else 1.0  # never below zero
    rows: list[dict[str, Any]] = []
    state = end_state
    for start, use in zip(reversed(starts), reversed(uses), strict=True):
        rows.append({"start": start.isoformat(), "state": state, "sum": state + offset})
        state = round(state - use * scale, 6)
    return rows[::-1]


async def numeric_states(
    ha: HomeAssistantSocket, entity_ids: list[str], seconds: float
) -> dict[str, tuple[float, str | None]]:
    """entity id -> (state, unit), waiting until every entity reports a number."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        found: dict[str, tuple[float, str | None]] = {}
        for state in await ha.call("get_states"):
            if state["entity_id"] in entity_ids:
                with contextlib.suppress(ValueError):
                    unit = state["attributes"].get("unit_of_measurement")
                    found[state["entity_id"]] = (float(state["state"]), unit)
        if len(found) == len(entity_ids) or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(1)


async def import_history(ha: HomeAssistantSocket, sources: dict[str, str]) -> None:
    """Gives the Energy dashboard figures at once: 48 hours of plausible history.

    Only for entities without hourly statistics. Home Assistant's first compiled
    5-minute statistic starts its sum at 0 from the state it sees, or continues
    the short-term statistics that already exist; the imported hours end there.
    """
    ids = list(sources.values())
    now = datetime.now(UTC)
    hourly = await ha.call(
        "recorder/statistics_during_period",
        start_time=(now - timedelta(days=3650)).isoformat(),
        statistic_ids=ids,
        period="month",
        types=["sum"],
    )
    short_term = await ha.call(
        "recorder/statistics_during_period",
        start_time=(now - timedelta(days=1)).isoformat(),
        statistic_ids=ids,
        period="5minute",
        types=["state", "sum"],
    )
    states = await numeric_states(ha, ids, 30)
    zone = ZoneInfo((await ha.call("get_config"))["time_zone"])
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    imported: list[str] = []
    for role, entity_id in sources.items():
        if hourly.get(entity_id) or entity_id not in states:
            continue
        state, unit = states[entity_id]
        end, offset = this_hour, -state
        if first := (short_term.get(entity_id) or [None])[0]:
            # Continue the short-term series; end before its first hour.
            started = datetime.fromtimestamp(first["start"] / 1000, UTC)
            end = min(end, started.replace(minute=0, second=0, microsecond=0))
            state, offset = first["state"], first["sum"] - first["state"]
        await ha.call(
            "recorder/import_statistics",
            metadata={
                "has_mean": False,
                "has_sum": True,
                "name": None,
                "source": "recorder",
                "statistic_id": entity_id,
                "unit_of_measurement": unit,
            },
            stats=history_rows(role, end, state, offset, zone),
        )
        imported.append(entity_id)
    if imported:
        print(f"  History: {HISTORY_HOURS} hours imported for {', '.join(imported)}")
    else:
        print("  History: statistics exist already, nothing imported")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8123")
    parser.add_argument("--homewizard", action="append", default=[], help="HOST:PORT")
    parser.add_argument("--dsmr", action="append", default=[], help="HOST:PORT of a P1 bridge")
    parser.add_argument("--sun2000", action="append", default=[], help="HOST:PORT of a dongle")
    parser.add_argument("--flukso", action="append", default=[], help="HOST:PORT of its broker")
    parser.add_argument(
        "--recorder", action="store_true", help="an external recorder on embedded SQLite"
    )
    parser.add_argument("--wait", type=float, default=180)
    args = parser.parse_args()
    flows: list[tuple[str, list[dict[str, Any]]]] = [
        *((f"HomeWizard at {h}", homewizard_answers(h)) for h in args.homewizard),
        *((f"DSMR P1 at {h}", dsmr_answers(h)) for h in args.dsmr),
        *((f"SUN2000 at {h}", sun2000_answers(h)) for h in args.sun2000),
        *((f"Fluksometer at {h}", flukso_answers(h)) for h in args.flukso),
    ]
    if args.recorder:
        flows.append(("External recorder (embedded SQLite)", recorder_answers()))
    async with aiohttp.ClientSession() as session:
        await wait_until_up(session, args.base, args.wait)
        token, onboarded = await onboard_or_login(session, args.base)
        headers = {"Authorization": f"Bearer {token}"}
        for label, answers in flows:
            await run_flow(session, args.base, headers, label, answers)
        await asyncio.sleep(2)  # let the new entities register
        if onboarded:
            # Onboarding adds these entries in the background; they exist by now.
            await remove_online_only(session, args.base, headers)
        async with HomeAssistantSocket.connect(session, args.base, token) as ha:
            sources = await find_sources(ha)
            await configure_energy(ha, sources)
            await import_history(ha, sources)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
