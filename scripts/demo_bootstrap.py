"""Prepares a running demo Home Assistant the way a person would, over its own APIs.

Creates the owner account through the onboarding API (or logs in when it
exists), adds one Wattkeeper entry per simulated device through the config
flow's REST API, and points the Energy dashboard at Wattkeeper's sensors.
Idempotent: run it again and it only adds what is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

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
                if response.status in (200, 401):
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


async def onboard_or_login(session: aiohttp.ClientSession, base: str) -> str:
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
        await remove_weather(session, base, headers)
        return token
    return await login(session, base)


async def remove_weather(
    session: aiohttp.ClientSession, base: str, headers: dict[str, str]
) -> None:
    """Onboarding adds a met.no weather entry; this machine has no internet for it."""
    async with session.get(
        f"{base}/api/config/config_entries/entry", params={"domain": "met"}, headers=headers
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


async def add_homewizard(
    session: aiohttp.ClientSession, base: str, headers: dict[str, str], host: str
) -> None:
    flows = f"{base}/api/config/config_entries/flow"
    async with session.post(flows, json={"handler": "wattkeeper"}, headers=headers) as response:
        response.raise_for_status()
        flow = await response.json()
    steps: list[dict[str, Any]] = [{"next_step_id": "homewizard"}, {"host": host}]
    for payload in steps:
        async with session.post(
            f"{flows}/{flow['flow_id']}", json=payload, headers=headers
        ) as response:
            response.raise_for_status()
            flow = await response.json()
    outcome = flow.get("type")
    reason = flow.get("reason", flow.get("errors"))
    print(f"  HomeWizard at {host}: {outcome}{'' if outcome == 'create_entry' else f' ({reason})'}")


async def configure_energy(base: str, token: str, session: aiohttp.ClientSession) -> None:
    """Energy dashboard: grid import/export of the P1 meter, gas, water, a device."""
    async with session.ws_connect(f"{base}/api/websocket") as ws:
        await ws.receive_json()
        await ws.send_json({"type": "auth", "access_token": token})
        await ws.receive_json()
        await ws.send_json({"id": 1, "type": "config/entity_registry/list_for_display"})
        entities = (await ws.receive_json())["result"]["entities"]
        wattkeeper = [e["ei"] for e in entities if e.get("pl") == "wattkeeper"]

        def pick(entity_id: str) -> str | None:
            return entity_id if entity_id in wattkeeper else None

        # Entity ids follow the simulated devices' names (see simulators/fixtures).
        grid_import = pick("sensor.p1_meter_energy_import")
        grid_export = pick("sensor.p1_meter_energy_export")
        gas = pick("sensor.gas_meter_gas")
        water = pick("sensor.watermeter_water")
        socket_energy = pick("sensor.energy_socket_energy_import")
        sources: list[dict[str, Any]] = []
        if grid_import:
            sources.append(
                {
                    "type": "grid",
                    "flow_from": [{"stat_energy_from": grid_import, **NO_PRICE, "stat_cost": None}],
                    "flow_to": [
                        {"stat_energy_to": grid_export, **NO_PRICE, "stat_compensation": None}
                    ]
                    if grid_export
                    else [],
                    "cost_adjustment_day": 0,
                }
            )
        if gas:
            sources.append({"type": "gas", "stat_energy_from": gas, **NO_PRICE, "stat_cost": None})
        if water:
            sources.append(
                {"type": "water", "stat_energy_from": water, **NO_PRICE, "stat_cost": None}
            )
        prefs: dict[str, Any] = {"energy_sources": sources}
        if socket_energy:
            prefs["device_consumption"] = [{"stat_consumption": socket_energy}]
        await ws.send_json({"id": 2, "type": "energy/save_prefs", **prefs})
        result = await ws.receive_json()
        print(f"  Energy dashboard: {'configured' if result.get('success') else result}")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8123")
    parser.add_argument("--homewizard", action="append", default=[], help="HOST:PORT")
    parser.add_argument("--wait", type=float, default=180)
    args = parser.parse_args()
    async with aiohttp.ClientSession() as session:
        await wait_until_up(session, args.base, args.wait)
        token = await onboard_or_login(session, args.base)
        headers = {"Authorization": f"Bearer {token}"}
        for host in args.homewizard:
            await add_homewizard(session, args.base, headers, host)
        await asyncio.sleep(2)  # let the new entities register
        await configure_energy(args.base, token, session)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
