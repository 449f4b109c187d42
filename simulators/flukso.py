"""A Fluksometer twin: an amqtt broker on 127.0.0.1 with an FLM02 or FLM03 publishing.

Like the real meter, the broker is the Fluksometer's own: the configuration
topics are retained, every sensor publishes a gauge each meter second and a
counter each minute (`counter_every`), all stamped with the meter's clock.
`time_scale` speeds the clock up (50 → a meter second every 20 ms); with
`autorun=False` a test drives the meter itself with `tick()`.

The wiring behind the readings (ground truth in `truth`):
- FLM02, "1p": sensor 1 clamps the house's consumption, sensor 2 the PV
  inverter, sensor 3 is disabled; pulse sensors count water and gas litres. The
  FLM02 measures no direction, so every gauge is positive.
- FLM03, "3p+n": ports 1-3 clamp the grid lines L1-L3 (port 2's clamp is
  mounted the wrong way round), port 4 the single-phase PV inverter on L1 (also
  reversed); ports 5 and 6 count water and gas. Each clamp port publishes the
  twelve FLM03 sensors (pplus, pminus, q1-q4, vrms, irms, pf, vthd, ithd, alpha).
`expected_roles()` gives the roles and signs a user should enter for that wiring.

Faults (`fault`, switchable at run time): garbage payloads next to the good
ones, wrong units on one sensor, silence (nothing published, broker up); and
`restart_broker()`, which drops every connection and brings the broker back
on the same port with the config retained again.

Run: python -m simulators.flukso --device flm02:18830 --device flm03:18831 --time-scale 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from amqtt.broker import Broker
from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import Session

MODELS = ("FLM02", "FLM03")
DEFAULT_START = 1_700_000_000  # 2023-11-14T22:13:20Z, a fixed meter clock for tests

FLM03_CLAMP_SUBTYPES = (
    "pplus",
    "pminus",
    "q1",
    "q2",
    "q3",
    "q4",
    "vrms",
    "irms",
    "pf",
    "vthd",
    "ithd",
    "alpha",
)
_FLM03_COUNTER_SUBTYPES = frozenset({"pplus", "pminus", "q1", "q2", "q3", "q4"})
_FLM03_GAUGE_UNITS = {
    "pplus": "W",
    "pminus": "W",
    "vrms": "V",
    "irms": "A",
    "pf": "",
    "vthd": "%",
    "ithd": "%",
    "alpha": "°",
    **{f"q{n}": "VAR" for n in range(1, 5)},
}


class Fault(StrEnum):
    """What the twin does wrong, on purpose."""

    NONE = "none"
    GARBAGE = "garbage"  # unreadable payloads next to the good ones
    WRONG_UNITS = "wrong_units"  # one electricity and one water sensor in the wrong unit
    SILENCE = "silence"  # publish nothing; the broker stays up


class PasswordAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """Accept exactly one username/password, like a Fluksometer with a password set."""

    @dataclass
    class Config:
        username: str = ""
        password: str = ""

    async def authenticate(self, *, session: Session) -> bool | None:
        config = self.context.config
        assert isinstance(config, PasswordAuthPlugin.Config)
        return bool(session.username == config.username and session.password == config.password)


@dataclass(frozen=True, slots=True)
class SimSensor:
    """One sensor as the meter is configured, and what it is clamped on."""

    id: str
    index: int
    port: int
    type: str  # electricity, water, gas
    function: str
    subtype: str | None = None
    enabled: bool = True
    # Physical flow the clamp sees ("net1".."net3", "production", "consumption",
    # "water", "gas") and +1/-1 for how it is mounted.
    source: str = ""
    mount: int = 1

    @property
    def has_counter(self) -> bool:
        return self.subtype is None or self.subtype in _FLM03_COUNTER_SUBTYPES


@dataclass(frozen=True, slots=True)
class EnergyTruth:
    """The counters as the meter last published them, in kWh and m³ (None: not metered)."""

    timestamp: int
    import_kwh: float | None
    export_kwh: float | None
    consumption_kwh: float | None
    production_kwh: float
    water_m3: float
    gas_m3: float


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """The physical truth at the last tick."""

    timestamp: int
    consumption_w: float
    production_w: float
    net_w: float  # import positive
    phase_net_w: tuple[float, float, float]
    water_flow_lpm: float
    energy: EnergyTruth


@dataclass
class FluksoSimulator:
    """One simulated Fluksometer with its own broker on 127.0.0.1."""

    model: str = "FLM02"
    port: int = 0
    seed: int = 1
    time_scale: float = 1.0
    counter_every: int = 60
    start_time: int = DEFAULT_START
    username: str | None = None
    password: str | None = None
    fault: Fault = Fault.NONE
    device_id: str = field(init=False)
    sensors: list[SimSensor] = field(init=False)
    published: int = field(init=False, default=0)
    _rng: random.Random = field(init=False)
    _broker: Broker | None = field(init=False, default=None)
    _runner: asyncio.Task[None] | None = field(init=False, default=None)
    _step: int = field(init=False, default=0)
    _flows: dict[str, float] = field(init=False, default_factory=dict)
    _energy_wh: dict[str, float] = field(init=False, default_factory=dict)
    _truth: GroundTruth | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.model = self.model.upper()
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}")
        # Seeded per model so an FLM02 and an FLM03 never share ids.
        self._rng = random.Random(f"{self.model}-{self.seed}")
        self.device_id = self._new_id()
        self.sensors = self._flm02_sensors() if self.model == "FLM02" else self._flm03_sensors()

    # -- lifecycle --------------------------------------------------------------

    @property
    def host(self) -> str:
        return "127.0.0.1"

    async def start(self, *, autorun: bool = True) -> None:
        await self._start_broker()
        if autorun:
            self._runner = asyncio.create_task(self._run(), name=f"flukso-sim-{self.model}")

    async def stop(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None
        await self._stop_broker()

    async def restart_broker(self, downtime: float = 0.0) -> None:
        """Drop every client, then serve again on the same port with the config retained."""
        await self._stop_broker()
        if downtime:
            await asyncio.sleep(downtime)
        await self._start_broker()

    async def _start_broker(self) -> None:
        plugins: dict[str, Any] = {}
        if self.username is not None:
            plugins["simulators.flukso.PasswordAuthPlugin"] = {
                "username": self.username,
                "password": self.password or "",
            }
        else:
            plugins["amqtt.plugins.authentication.AnonymousAuthPlugin"] = {"allow_anonymous": True}
        broker = Broker(
            {
                "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
                "plugins": plugins,
            }
        )
        await broker.start()
        server = broker._servers["default"].instance  # amqtt keeps the bound server here
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]
        self._broker = broker
        for topic, payload in self.config_payloads().items():
            await broker.retain_message(None, topic, payload, 0)

    async def _stop_broker(self) -> None:
        broker, self._broker = self._broker, None
        if broker is not None:
            await broker.shutdown()

    async def _run(self) -> None:
        while True:
            await self.tick()
            await asyncio.sleep(1.0 / self.time_scale)

    # -- what the meter publishes ------------------------------------------------

    @property
    def truth(self) -> GroundTruth:
        if self._truth is None:
            raise RuntimeError("no tick yet")
        return self._truth

    @property
    def electricity_sensors(self) -> list[SimSensor]:
        return [s for s in self.sensors if s.type == "electricity" and s.enabled]

    def connected_clients(self) -> list[str]:
        """Client ids of the MQTT connections the broker holds open now."""
        if self._broker is None:
            return []
        return sorted(
            client_id
            for client_id, (session, _) in self._broker.sessions.items()
            if session.transitions.state == "connected"
        )

    def sensor(self, *, port: int, subtype: str | None = None) -> SimSensor:
        return next(s for s in self.sensors if s.port == port and s.subtype == subtype)

    def expected_roles(self) -> dict[str, dict[str, Any]]:
        """The roles and signs a user enters for this wiring (options-flow shape)."""
        if self.model == "FLM02":
            return {
                self.sensor(port=1).id: {"role": "consumption", "sign": 1},
                self.sensor(port=2).id: {"role": "production", "sign": 1},
            }
        # Only the pplus sensor of each port: its siblings inherit.
        return {
            self.sensor(port=port, subtype="pplus").id: {
                "role": "production" if port == 4 else "grid",
                "sign": -1 if port in (2, 4) else 1,
            }
            for port in (1, 2, 3, 4)
        }

    def config_payloads(self) -> dict[str, bytes]:
        """The retained config topics, in the firmware's shapes."""
        base = f"/device/{self.device_id}/config"
        if self.model == "FLM02":
            return {f"{base}/sensor": _json(self._flm02_config())}
        return {
            f"{base}/sensor": _json(self._flm03_config()),
            f"{base}/flx": _json(self._flm03_flx()),
        }

    async def tick(self) -> int:
        """Advance the meter one second and publish; returns the messages sent."""
        timestamp = self.start_time + self._step
        self._advance(timestamp)
        publish_counters = self._step % self.counter_every == 0
        self._truth = self._make_truth(timestamp, with_energy=publish_counters)
        self._step += 1
        if self.fault is Fault.SILENCE or self._broker is None:
            return 0
        messages = [(f"/sensor/{s.id}/gauge", self._gauge(s, timestamp)) for s in self._live()]
        if publish_counters:
            messages += [
                (f"/sensor/{s.id}/counter", self._counter(s, timestamp))
                for s in self._live()
                if s.has_counter
            ]
        if self.fault is Fault.GARBAGE:
            messages = self._with_garbage(messages, timestamp)
        for topic, payload in messages:
            await self._broker.internal_message_broadcast(topic, payload, 0)
        self.published += len(messages)
        return len(messages)

    # -- physics ----------------------------------------------------------------

    def _advance(self, timestamp: int) -> None:
        k = timestamp - self.start_time
        phases = [
            max(20, round(base * (1 + 0.3 * math.sin(k / 40 + n)) + self._rng.uniform(-15, 15)))
            for n, base in enumerate((420, 260, 160))
        ]
        production = max(0, round(1200 + 900 * math.sin(k / 7)))
        water = 6.0 if (k // 10) % 3 == 0 else 0.0
        gas = 2.5 if (k // 30) % 2 == 0 else 0.0
        flows = {
            "consumption": float(sum(phases)),
            "production": float(production),
            "net1": float(phases[0] - production),
            "net2": float(phases[1]),
            "net3": float(phases[2]),
            "water": water,
            "gas": gas,
        }
        self._flows = flows
        # Counters integrate the second that just started, as a meter does.
        energy = self._energy_wh
        for name in ("consumption", "production"):
            energy[name] = energy.get(name, 0.0) + flows[name] / 3600
        for n in (1, 2, 3):
            net = flows[f"net{n}"]
            energy[f"import{n}"] = energy.get(f"import{n}", 0.0) + max(net, 0.0) / 3600
            energy[f"export{n}"] = energy.get(f"export{n}", 0.0) + max(-net, 0.0) / 3600
        energy["water"] = energy.get("water", 0.0) + water / 60
        energy["gas"] = energy.get("gas", 0.0) + gas / 60

    def _quantize_counter(self, value: float) -> float:
        # FLM02 counts whole Wh / litres; the FLM03 publishes three decimals.
        return float(math.floor(value)) if self.model == "FLM02" else round(value, 3)

    def _make_truth(self, timestamp: int, *, with_energy: bool) -> GroundTruth:
        flows = self._flows
        previous = self._truth
        energy = (
            self._energy_truth(timestamp) if with_energy or previous is None else previous.energy
        )
        return GroundTruth(
            timestamp=timestamp,
            consumption_w=flows["consumption"],
            production_w=flows["production"],
            net_w=flows["consumption"] - flows["production"],
            phase_net_w=(flows["net1"], flows["net2"], flows["net3"]),
            water_flow_lpm=flows["water"],
            energy=energy,
        )

    def _energy_truth(self, timestamp: int) -> EnergyTruth:
        e, q = self._energy_wh, self._quantize_counter
        # The FLM03 wiring meters the grid lines, the FLM02 wiring the consumption.
        flm03 = self.model == "FLM03"
        return EnergyTruth(
            timestamp=timestamp,
            import_kwh=sum(q(e[f"import{n}"]) for n in (1, 2, 3)) / 1000 if flm03 else None,
            export_kwh=sum(q(e[f"export{n}"]) for n in (1, 2, 3)) / 1000 if flm03 else None,
            consumption_kwh=None if flm03 else q(e["consumption"]) / 1000,
            production_kwh=q(e["production"]) / 1000,
            water_m3=q(e["water"]) / 1000,
            gas_m3=q(e["gas"]) / 1000,
        )

    def _measured(self, sensor: SimSensor) -> float:
        """What the clamp sees: the flow as mounted (FLM03 keeps the direction)."""
        return sensor.mount * self._flows[sensor.source]

    def _gauge(self, sensor: SimSensor, timestamp: int) -> bytes:
        if sensor.type in ("water", "gas"):
            unit = "m3/h" if self._wrong_unit(sensor) else "L/min"
            return _json([timestamp, round(self._flows[sensor.source], 3), unit])
        if self.model == "FLM02":
            unit = "Wh" if self._wrong_unit(sensor) else "W"
            return _json([timestamp, round(abs(self._measured(sensor))), unit])
        measured = self._measured(sensor)
        value = {
            "pplus": max(measured, 0.0),
            "pminus": max(-measured, 0.0),
            "vrms": 230.0 + sensor.port,
            "irms": round(abs(measured) / (230.0 + sensor.port), 3),
            "pf": 0.95,
            "vthd": 1.5,
            "ithd": 8.0,
            "alpha": 12.0,
        }.get(sensor.subtype or "", 10.0)
        unit = _FLM03_GAUGE_UNITS[sensor.subtype or ""]
        if self._wrong_unit(sensor):
            unit = "Wh"
        return _json([timestamp, round(value, 3), unit])

    def _counter(self, sensor: SimSensor, timestamp: int) -> bytes:
        e, q = self._energy_wh, self._quantize_counter
        if sensor.type in ("water", "gas"):
            return _json([timestamp, q(e[sensor.source]), "L"])
        unit = "W" if self._wrong_unit(sensor) else "Wh"
        if self.model == "FLM02":
            return _json([timestamp, q(e[sensor.source]), unit])
        if sensor.subtype in ("pplus", "pminus"):
            forward = sensor.subtype == "pplus"
            value = self._directional_wh(sensor, forward=forward)
            return _json([timestamp, q(value), unit])
        return _json([timestamp, round(self._step * 0.01, 3), "VARh"])

    def _directional_wh(self, sensor: SimSensor, *, forward: bool) -> float:
        """Energy through a clamp along (forward) or against its arrow."""
        e = self._energy_wh
        with_the_flow = forward == (sensor.mount > 0)
        if sensor.source == "production":
            # The inverter only ever feeds in: all of it flows one way.
            return e["production"] if with_the_flow else 0.0
        n = sensor.source[-1]
        return e[f"import{n}"] if with_the_flow else e[f"export{n}"]

    def _wrong_unit(self, sensor: SimSensor) -> bool:
        if self.fault is not Fault.WRONG_UNITS:
            return False
        return sensor.id in {s.id for s in self.wrong_unit_sensors()}

    def wrong_unit_sensors(self) -> list[SimSensor]:
        """The sensors the WRONG_UNITS fault corrupts: one clamp sensor and the water meter."""
        first = self.electricity_sensors[0]
        water = next(s for s in self.sensors if s.type == "water")
        return [first, water]

    def _with_garbage(
        self, messages: list[tuple[str, bytes]], timestamp: int
    ) -> list[tuple[str, bytes]]:
        target = self.electricity_sensors[-1].id
        garbage = [
            (f"/sensor/{target}/gauge", b"\x00\xff\xfe not json"),
            (f"/sensor/{target}/gauge", b'{"value": 12}'),
            (f"/sensor/{target}/gauge", b"[1700000000]"),
            (f"/sensor/{target}/gauge", _json([timestamp, "twelve", "W"])),
            (f"/sensor/{target}/gauge", b'[1700000000, NaN, "W"]'),
            (f"/sensor/{target}/counter", b'[12, 34, "Wh"]'),  # clock not set
            (f"/sensor/{'f' * 32}/gauge", _json([timestamp, 5, "W"])),  # unknown sensor
            (f"/device/{self.device_id}/config/sensor", b"{garbage"),
        ]
        # Ahead of the good ones, so each meter second still ends on a real reading.
        return garbage + messages

    def _live(self) -> list[SimSensor]:
        return [s for s in self.sensors if s.enabled]

    # -- configuration ----------------------------------------------------------

    def _new_id(self) -> str:
        return f"{self._rng.getrandbits(128):032x}"

    def _flm02_sensors(self) -> list[SimSensor]:
        new = self._new_id
        return [
            SimSensor(new(), 1, 1, "electricity", "Consumption", source="consumption"),
            SimSensor(new(), 2, 2, "electricity", "Solar", source="production"),
            SimSensor(new(), 3, 3, "electricity", "Heat pump", enabled=False, source="net3"),
            SimSensor(new(), 4, 4, "water", "Water", source="water"),
            SimSensor(new(), 5, 5, "gas", "Gas", source="gas"),
        ]

    def _flm03_sensors(self) -> list[SimSensor]:
        sensors: list[SimSensor] = []
        wiring = {1: ("net1", 1), 2: ("net2", -1), 3: ("net3", 1), 4: ("production", -1)}
        index = 1
        for port, (source, mount) in wiring.items():
            for subtype in FLM03_CLAMP_SUBTYPES:
                sensors.append(
                    SimSensor(
                        self._new_id(),
                        index,
                        port,
                        "electricity",
                        _FLM03_PORT_NAMES[port],
                        subtype=subtype,
                        source=source,
                        mount=mount,
                    )
                )
                index += 1
        water, gas = _FLM03_PORT_NAMES[5], _FLM03_PORT_NAMES[6]
        sensors.append(SimSensor(self._new_id(), index, 5, "water", water, source="water"))
        sensors.append(SimSensor(self._new_id(), index + 1, 6, "gas", gas, source="gas"))
        return sensors

    def _flm02_config(self) -> dict[str, Any]:
        # UCI stores every option as text; the FLM02 publishes it that way.
        config: dict[str, Any] = {
            str(s.index): {
                "id": s.id,
                "class": "analog" if s.type == "electricity" else "pulse",
                "type": s.type,
                "function": s.function,
                "enable": "1" if s.enabled else "0",
                "port": [str(s.port)],
                **({"voltage": "230", "current": "50"} if s.type == "electricity" else {}),
                **({"constant": "1"} if s.type != "electricity" else {}),
            }
            for s in self.sensors
        }
        config["6"] = {"id": self._id_for_slot(6), "class": "uart", "enable": "0"}
        config["main"] = {"phase": "1p", "max_analog_sensors": "3", "led_mode": "255"}
        return config

    def _flm03_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {}
        for s in self.sensors:
            entry: dict[str, Any] = {
                "id": s.id,
                "type": s.type,
                "enable": 1 if s.enabled else 0,
                "rid": 0,
                "port": [s.port],
                "data_type": "counter" if s.has_counter else "gauge",
            }
            if s.subtype is not None:
                entry["subtype"] = s.subtype
            config[str(s.index)] = entry
        # Unassigned slots carry an id only.
        config[str(len(self.sensors) + 1)] = {"id": self._id_for_slot(len(self.sensors) + 1)}
        config["tmpo"] = {"root": "/flukso/"}
        config["mqtt"] = {"bridge_address": "api.flukso.net", "bridge_port": 8883}
        config["daemon"] = {"wan_base_url": "https://api.flukso.net/"}
        return config

    def _flm03_flx(self) -> dict[str, Any]:
        flx: dict[str, Any] = {
            str(port): {"enable": 1, "class": "ct", "name": name, "shift": 0, "current": 50}
            for port, name in _FLM03_PORT_NAMES.items()
            if port <= 4
        }
        flx["5"] = {"enable": 1, "class": "pulse", "name": _FLM03_PORT_NAMES[5], "constant": 1}
        flx["6"] = {"enable": 1, "class": "pulse", "name": _FLM03_PORT_NAMES[6], "constant": 10}
        flx["7"] = {"enable": 0, "class": "uart", "name": "P1", "dsmr": 4}
        flx["main"] = {"led_mode": 255, "phase": "3p+n", "theta": 130}
        return flx

    def _id_for_slot(self, slot: int) -> str:
        return f"{random.Random(f'{self.seed}-{slot}').getrandbits(128):032x}"


# Named as a household in Brussels (Voisin d'énergie) names its ports; the FLM02
# twin is named in English. Both are names the role proposal (flukso_roles.py) reads.
_FLM03_PORT_NAMES = {
    1: "Réseau L1",
    2: "Réseau L2",
    3: "Réseau L3",
    4: "Panneaux solaires",
    5: "Eau",
    6: "Gaz",
}


def _json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


async def _serve(args: argparse.Namespace) -> None:
    sims: list[FluksoSimulator] = []
    for spec in args.device:
        model, _, port = spec.partition(":")
        sim = FluksoSimulator(
            model=model,
            port=int(port or 0),
            seed=len(sims) + 1,
            time_scale=args.time_scale,
            counter_every=args.counter_every,
            username=args.username,
            password=args.password,
        )
        await sim.start()
        sims.append(sim)
        print(f"{sim.model} {sim.device_id} on mqtt://127.0.0.1:{sim.port}")
        print(f"  roles: {json.dumps(sim.expected_roles())}")
    try:
        await asyncio.Event().wait()
    finally:
        for sim in sims:
            await sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--device",
        action="append",
        default=[],
        help="MODEL:PORT, e.g. flm02:18830 (repeatable; default one FLM02 on 18830)",
    )
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--counter-every", type=int, default=60)
    parser.add_argument("--username")
    parser.add_argument("--password")
    args = parser.parse_args()
    args.device = args.device or ["flm02:18830"]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
