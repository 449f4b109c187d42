"""A Huawei SUN2000 twin: a pymodbus TCP server on 127.0.0.1 serving Huawei's register map.

Each unit id is one inverter with its house: PV strings follow a day curve
(sunrise to sunset, with passing clouds) on a simulated clock, a household
load draws power, a LUNA2000 battery soaks up surplus and covers the evening,
and the DTSU666-H meter sees the rest and counts import and export. Energy
counters integrate from midnight in one-minute steps, so a clock set to 13:00
shows a morning's yield.

The twin writes registers from its own table (`sun2000_table`, not the
driver's map) in Huawei's conventions (meter power positive when feeding the
grid) and keeps the ground truth in Wattkeeper's (import positive), so tests
compare what the driver decodes against what the twin knows, value for value.
Faults switch at run time: slow answers, no answer, exceptions (illegal
address, device busy), dropped connections, and refusing a second connection
as the SDongle does. Every request is logged; `wait_for()` lets a test wait
until the twin has seen what it expects instead of sleeping.

Run: python -m simulators.sun2000 --port 5020 --units 1,2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import random
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.pdu.register_message import ReadHoldingRegistersResponse

from custom_components.wattkeeper.meters import sun2000_compat as compat
from custom_components.wattkeeper.meters.sun2000_tcpserver import ModbusRequestServer

from .sun2000_table import (
    BATTERY_STATUS,
    DEVICE_STATUS,
    METER_STATUS,
    REGISTERS,
    UNDOCUMENTED,
    alarm_text,
    encode,
    quantize,
)

_REFUSE_GRACE: Final = 0.05  # let a client's old connection finish closing first
_LAG: Final = 35.0  # W the battery leaves to the grid while following the house
_STEP: Final = 60.0  # seconds per integration step of the energy counters
_MAX_BACKFILL: Final = timedelta(days=2)
_WAIT_LIMIT: Final = 10.0  # s a test waits for the twin before giving up


class Fault(StrEnum):
    """What the twin does wrong, on purpose."""

    NONE = "none"
    SLOW = "slow"  # answer after `slow_seconds`
    NO_ANSWER = "no_answer"  # read the request, never answer
    ILLEGAL_ADDRESS = "illegal_address"  # exception 02
    BUSY = "busy"  # exception 06
    DROP = "drop"  # close the connection instead of answering
    SHORT_ANSWER = "short_answer"  # answer one register fewer than asked for
    NO_INVERTER = "no_inverter"  # exception 0B: the dongle gets no answer from the inverter


@dataclass(slots=True, kw_only=True)
class LoggedRequest:
    """One request the twin received and what it did with it."""

    connection: int
    unit: int
    function_code: int
    address: int
    count: int
    # "pending", then "ok", "exception 2", "dropped", "no answer" or "refused".
    outcome: str = "pending"


class SimClock:
    """The twin's notion of now: real time, or a time tests set and advance."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now if self._now is not None else datetime.now().astimezone()

    def set(self, moment: datetime) -> None:
        self._now = moment

    def advance(self, seconds: float) -> None:
        self._now = self.now() + timedelta(seconds=seconds)


@dataclass(frozen=True, slots=True, kw_only=True)
class InverterSpec:
    """One simulated inverter behind the dongle."""

    unit_id: int = 1
    serial: str = "HV2250012345"
    model: str = "SUN2000-6KTL-M1"
    model_id: int = 424
    phases: int = 3
    pv_strings: int = 2
    peak_w: float = 6000.0
    meter: bool = True
    battery: bool = True
    battery_capacity_wh: int = 10000
    battery_serial: str = "HV2310054321"
    sunrise: float = 6.5  # hours
    sunset: float = 20.5
    seed: int = 1


_q = quantize


@dataclass
class _Counters:
    day: datetime
    yield_total: float
    yield_day: float = 0.0
    imported: float = 0.0
    exported: float = 0.0
    charged: float = 0.0
    discharged: float = 0.0
    charged_day: float = 0.0
    discharged_day: float = 0.0
    soc: float = 40.0


class SimulatedInverter:
    """The physics of one inverter, its meter and battery; registers and ground truth."""

    def __init__(self, spec: InverterSpec, now: datetime) -> None:
        self.spec = spec
        rng = random.Random(spec.seed)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        self._c = _Counters(day=midnight, yield_total=10000 + 5000 * rng.random())
        self._c.imported = 6000 + 3000 * rng.random()
        self._c.exported = 4000 + 2000 * rng.random()
        self._c.charged = 1200 + 300 * rng.random()
        self._c.discharged = self._c.charged * 0.93
        self.alarms: tuple[int, int, int] = (0, 0, 0)
        self._now = midnight
        self._state: dict[str, float] = self._instant(midnight)
        self.registers: dict[int, int] = {}
        self.overrides: dict[int, int] = {}  # raw words a test put in place
        self.truth: dict[str, float | str] = {}
        self.refresh(now, force=True)

    @property
    def identity(self) -> dict[str, str]:
        return {
            "model": self.spec.model,
            "serial": self.spec.serial,
            "pn": "01075347",
            "firmware": "V200R001C00SPC116",
            "software": "V100R001C00SPC153",
        }

    # The physical model. Values are quantised to register resolution here,
    # so the truth is exactly what a correct decoder must produce.
    def _noise(self, stream: int, slot: int) -> float:
        """A repeatable number in [0, 1) for one time slot of one noise stream."""
        mixed = (slot * 0x9E3779B1 + stream * 0x85EBCA77 + self.spec.seed * 0xC2B2AE3D) % 2**32
        mixed = (mixed ^ (mixed >> 15)) * 0x2C1B3C6D % 2**32
        return (mixed ^ (mixed >> 12)) / 2**32

    def _cloud(self, moment: datetime) -> float:
        return 0.65 + 0.35 * self._noise(1, int(moment.timestamp() // 300))

    def _irradiance(self, moment: datetime) -> float:
        hours = moment.hour + moment.minute / 60 + moment.second / 3600
        s = self.spec
        if not s.sunrise < hours < s.sunset:
            return 0.0
        height = math.sin(math.pi * (hours - s.sunrise) / (s.sunset - s.sunrise))
        return float(height**1.5)

    def _load(self, moment: datetime) -> float:
        hours = moment.hour + moment.minute / 60
        noise = self._noise(2, int(moment.timestamp() // 60))
        evening = 900.0 if 17 <= hours < 22 else 0.0
        morning = 500.0 if 7 <= hours < 8 else 0.0
        return 250.0 + 150.0 * noise + evening + morning

    def _instant(self, moment: datetime) -> dict[str, float]:
        s, c = self.spec, self._c
        st: dict[str, float] = {}
        sun = self._irradiance(moment)
        irr = sun * self._cloud(moment)
        dc = s.peak_w * irr
        weights = [1 + 0.05 * j for j in range(s.pv_strings)]
        input_power = 0.0
        for j, weight in enumerate(weights, start=1):
            if dc < 5:
                volts = amps = 0.0
            else:
                volts = _q(f"pv{j}_voltage", 330 + 60 * irr**0.2 - 2 * j)
                amps = _q(f"pv{j}_current", dc * weight / sum(weights) / volts)
            st[f"pv{j}_voltage"], st[f"pv{j}_current"] = volts, amps
            input_power += volts * amps
        st["input_power"] = _q("input_power", input_power)
        efficiency = _q("efficiency", 96.0 + 2.5 * min(1.0, 4 * irr)) if input_power else 0.0
        st["efficiency"] = efficiency
        ac = _q("active_power", st["input_power"] * efficiency / 100)
        st["active_power"] = ac
        reactive = _q("reactive_power", 0.03 * ac)
        st["reactive_power"] = reactive
        st["power_factor"] = _q("power_factor", ac / math.hypot(ac, reactive) if ac else 1.0)
        minute = moment.minute + moment.second / 60
        for p in range(1, s.phases + 1):
            volts = _q(f"grid_voltage_l{p}", 230 + 2.5 * math.sin(minute / 9 + p))
            st[f"grid_voltage_l{p}"] = volts
            st[f"grid_current_l{p}"] = _q(f"grid_current_l{p}", ac / s.phases / volts)
        st["grid_frequency"] = _q("grid_frequency", 50 + 0.03 * math.sin(minute))
        st["internal_temperature"] = _q("internal_temperature", 18 + 30 * irr)
        st["device_status"] = 0x0200 if ac > 0 else 0xA000
        load = round(self._load(moment))
        battery = 0.0
        if s.battery:
            # The battery chases zero grid flow but lags it by a few tens of watts.
            surplus = ac - load
            if surplus > _LAG and c.soc < 100:
                battery = min(surplus - _LAG, 3000.0)
            elif surplus < -_LAG and c.soc > 5:
                battery = -min(-surplus - _LAG, 3000.0)
        st["battery_power"] = battery = _q("battery_power", battery)
        st["battery_soc"] = _q("battery_soc", c.soc)
        st["battery_status"] = 2 if s.battery else 0
        bus = _q("battery_bus_voltage", 440 + 0.6 * c.soc)
        st["battery_bus_voltage"] = bus if s.battery else 0.0
        st["battery_bus_current"] = _q("battery_bus_current", battery / bus) if s.battery else 0.0
        grid = load - ac + battery  # import positive
        st["grid"] = grid
        third = round(grid / 3)
        powers = (third, third, grid - 2 * third)
        for p, power in zip((1, 2, 3), powers, strict=True):
            volts = _q(f"meter_voltage_l{p}", 231 + 2 * math.sin(minute / 7 + p))
            st[f"meter_voltage_l{p}"] = volts
            st[f"meter_power_l{p}"] = power
            st[f"meter_current_l{p}"] = _q(f"meter_current_l{p}", power / volts)
        st["meter_active_power"] = float(sum(powers))
        st["meter_reactive_power"] = _q("meter_reactive_power", 0.1 * load)
        st["meter_power_factor"] = _q("meter_power_factor", 0.97)
        st["meter_frequency"] = _q("meter_frequency", st["grid_frequency"])
        return st

    def _integrate(self, until: datetime) -> None:
        """Advance the counters from the last refresh to `until` in small steps."""
        c = self._c
        if until - self._now > _MAX_BACKFILL:
            self._now = until - _MAX_BACKFILL
        while self._now < until:
            step = min(_STEP, (until - self._now).total_seconds())
            moment = self._now + timedelta(seconds=step)
            hours = step / 3600
            state = self._state
            produced = state["active_power"] * hours / 1000
            c.yield_total += produced
            c.yield_day += produced
            grid = state["grid"]
            c.imported += max(grid, 0) * hours / 1000
            c.exported += max(-grid, 0) * hours / 1000
            battery = state["battery_power"]
            c.charged += max(battery, 0) * hours / 1000
            c.charged_day += max(battery, 0) * hours / 1000
            c.discharged += max(-battery, 0) * hours / 1000
            c.discharged_day += max(-battery, 0) * hours / 1000
            if self.spec.battery:
                c.soc = min(
                    100.0, max(0.0, c.soc + battery * hours / self.spec.battery_capacity_wh * 100)
                )
            midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
            if midnight > c.day:
                c.day = midnight
                c.yield_day = c.charged_day = c.discharged_day = 0.0
            self._now = moment
            self._state = self._instant(moment)

    def refresh(self, now: datetime, *, force: bool = False) -> None:
        """Bring registers and truth to `now` (a no-op when the clock has not moved)."""
        if now == self._now and not force:
            return
        if now > self._now:
            self._integrate(now)
        self._state = self._instant(now)
        self._now = now
        self._publish()

    def _publish(self) -> None:
        s, c = self.spec, self._c
        st: dict[str, float | str | None] = dict(self._state)
        st["accumulated_yield"] = _q("accumulated_yield", c.yield_total)
        st["daily_yield"] = _q("daily_yield", c.yield_day)
        st["meter_imported_energy"] = _q("meter_imported_energy", c.imported)
        st["meter_exported_energy"] = _q("meter_exported_energy", c.exported)
        st["battery_total_charge"] = _q("battery_total_charge", c.charged)
        st["battery_total_discharge"] = _q("battery_total_discharge", c.discharged)
        st["battery_day_charge"] = _q("battery_day_charge", c.charged_day)
        st["battery_day_discharge"] = _q("battery_day_discharge", c.discharged_day)
        st["meter_status"] = 1 if s.meter else 0
        st["meter_type"] = 1
        st["battery_capacity"] = s.battery_capacity_wh if s.battery else 0
        st["battery_serial"] = s.battery_serial if s.battery else ""
        st |= {f"alarm_{n}": word for n, word in enumerate(self.alarms, start=1)}
        st |= {
            **self.identity,
            "model_id": s.model_id,
            "pv_strings": s.pv_strings,
            "mppt_count": (s.pv_strings + 1) // 2,
            "rated_power": s.peak_w,
        }
        for p in range(s.phases + 1, 4):
            # A single-phase inverter has no phase B and C: Huawei's "no value".
            st[f"grid_voltage_l{p}"] = st[f"grid_current_l{p}"] = None
        for prefix, present in (("battery_", s.battery), ("meter_", s.meter)):
            if not present:
                for name in [n for n in st if n.startswith(prefix) and n != "battery_serial"]:
                    st[name] = 0
        registers: dict[int, int] = {}
        for name, register in REGISTERS.items():
            value = st.get(name, 0)
            for offset, word in enumerate(encode(name, value)):
                registers[register.address + offset] = word
        self.registers = registers | self.overrides
        self.truth = self._truth(st)

    def _truth(self, st: Mapping[str, float | str | None]) -> dict[str, float | str]:
        s = self.spec
        present = {"inverter", *(["meter"] if s.meter else []), *(["battery"] if s.battery else [])}
        truth: dict[str, float | str] = {}
        for name, register in REGISTERS.items():
            field = register.field
            value = st.get(name)
            if field is None or field.split(".")[0] not in present or value is None:
                continue
            if name.startswith("pv") and int(name[2:].split("_")[0]) > s.pv_strings:
                continue
            truth[field] = float(value)
        for j in range(1, s.pv_strings + 1):
            volts, amps = float(st[f"pv{j}_voltage"] or 0), float(st[f"pv{j}_current"] or 0)
            truth[f"inverter.pv_power_c{j}"] = volts * amps
        truth["inverter.device_status"] = DEVICE_STATUS[int(st["device_status"] or 0)]
        truth["inverter.alarms"] = alarm_text(self.alarms)
        if s.meter:
            truth["meter.meter_status"] = METER_STATUS[1]
        if s.battery:
            truth["battery.battery_status"] = BATTERY_STATUS[int(st["battery_status"] or 0)]
        return truth


@dataclass
class _FaultState:
    fault: Fault = Fault.NONE
    remaining: int | None = None  # None: until switched off
    units: frozenset[int] | None = None


class Sun2000Simulator:
    """The twin: a Modbus TCP server answering for several simulated inverters."""

    def __init__(
        self,
        inverters: Sequence[InverterSpec] = (InverterSpec(),),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: SimClock | None = None,
        max_registers: int = 125,
        latency: float = 0.0,
    ) -> None:
        self.host = host
        self.clock = clock or SimClock()
        self.max_registers = max_registers
        self.latency = latency  # seconds added to every answer, like a dongle's RTU hop
        self.slow_seconds = 2.0
        self.refuse_second_connection = False
        now = self.clock.now()
        self.devices: dict[int, SimulatedInverter] = {
            spec.unit_id: SimulatedInverter(spec, now) for spec in inverters
        }
        self.requests: list[LoggedRequest] = []
        self.connections_opened = 0
        self.connections_refused = 0
        self.max_in_flight = 0  # most requests one connection had unanswered at once
        self._fault = _FaultState()
        self._in_flight: dict[int, int] = {}
        self._refusing: set[int] = set()
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._changed = asyncio.Event()
        self._server = ModbusRequestServer(
            self._answer,
            host=host,
            port=port,
            on_connect=self._on_connect,
            on_disconnect=lambda _: self._notify(),
        )

    # Lifecycle.
    @property
    def port(self) -> int:
        return self._server.port

    @property
    def open_connections(self) -> tuple[int, ...]:
        return self._server.connections

    @property
    def settled(self) -> bool:
        """No request in flight and no second connection waiting for the twin's verdict."""
        return not self._refusing and not any(self._in_flight.values())

    async def wait_for(self, condition: Callable[[], bool]) -> None:
        """Wait until `condition()` holds; it is checked each time the twin's state changes.

        Changes are requests arriving or answered, connections opening or closing,
        and second connections refused or let through.
        """
        async with asyncio.timeout(_WAIT_LIMIT):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()

    async def start(self) -> None:
        await self._server.start()

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        await self._server.stop()

    # Faults, switched at run time.
    def set_fault(
        self, fault: Fault, *, count: int | None = None, units: Sequence[int] | None = None
    ) -> None:
        """Apply `fault` to the next `count` requests (all when None) of `units` (all)."""
        self._fault = _FaultState(fault, count, None if units is None else frozenset(units))

    def clear_fault(self) -> None:
        self._fault = _FaultState()

    def drop_connections(self) -> None:
        """Close every client connection now, as a dongle reboot would."""
        for connection in self._server.connections:
            self._server.drop(connection)

    def set_alarms(self, unit: int, words: tuple[int, int, int]) -> None:
        device = self.devices[unit]
        device.alarms = words
        device.refresh(self.clock.now(), force=True)

    def poke(self, unit: int, words: Mapping[int, int]) -> None:
        """Serve these raw words (address → word) for `unit` from now on, whatever the physics."""
        device = self.devices[unit]
        device.overrides.update(words)
        device.refresh(self.clock.now(), force=True)

    # Ground truth.
    def truth(self, unit: int) -> dict[str, float | str]:
        """Every field the driver should report for `unit`, in Wattkeeper's conventions."""
        device = self.devices[unit]
        device.refresh(self.clock.now())
        return dict(device.truth)

    def identity(self, unit: int) -> dict[str, str]:
        return self.devices[unit].identity

    def clear_log(self) -> None:
        self.requests.clear()

    # Serving.
    def _on_connect(self, connection: int) -> None:
        self.connections_opened += 1
        self._notify()
        if self.refuse_second_connection and len(self._server.connections) > 1:
            # Decide after a moment: the client may still be closing its old one.
            self._refusing.add(connection)
            self._timers[connection] = asyncio.get_running_loop().call_later(
                _REFUSE_GRACE, self._refuse_if_still_second, connection
            )

    def _refuse_if_still_second(self, connection: int) -> bool:
        if (timer := self._timers.pop(connection, None)) is not None:
            timer.cancel()
        self._refusing.discard(connection)
        self._notify()
        others = [c for c in self._server.connections if c != connection]
        if connection in self._server.connections and others:
            self._server.drop(connection)
            self.connections_refused += 1
            return True
        return False

    def _take_fault(self, unit: int) -> Fault:
        state = self._fault
        if state.fault is Fault.NONE or (state.units is not None and unit not in state.units):
            return Fault.NONE
        if state.remaining is not None:
            state.remaining -= 1
            if state.remaining <= 0:
                self._fault = _FaultState()
        return state.fault

    async def _answer(self, pdu: ModbusPDU, connection: int) -> ModbusPDU | None:
        # Logged on arrival, so the log's order is the order requests came in.
        entry = LoggedRequest(
            connection=connection,
            unit=pdu.dev_id,
            function_code=pdu.function_code,
            address=pdu.address,
            count=pdu.count,
        )
        self.requests.append(entry)
        if connection in self._refusing and self._refuse_if_still_second(connection):
            entry.outcome = "refused"
            return None
        in_flight = self._in_flight.get(connection, 0) + 1
        self._in_flight[connection] = in_flight
        self.max_in_flight = max(self.max_in_flight, in_flight)
        self._notify()
        try:
            response, entry.outcome = await self._respond(pdu, connection)
        finally:
            self._in_flight[connection] -= 1
            self._notify()
        return response

    async def _respond(self, pdu: ModbusPDU, connection: int) -> tuple[ModbusPDU | None, str]:
        fault = self._take_fault(pdu.dev_id)
        if self.latency:
            await asyncio.sleep(self.latency)
        if fault is Fault.DROP:
            self._server.drop(connection)
            return None, "dropped"
        if fault is Fault.NO_ANSWER:
            return None, "no answer"
        if fault is Fault.SLOW:
            await asyncio.sleep(self.slow_seconds)
        if fault is Fault.BUSY:
            return _exception(pdu, compat.DEVICE_BUSY)
        if fault is Fault.ILLEGAL_ADDRESS:
            return _exception(pdu, compat.ILLEGAL_ADDRESS)
        if fault is Fault.NO_INVERTER:
            return _exception(pdu, compat.GATEWAY_NO_RESPONSE)
        response, outcome = self._read(pdu)
        if fault is Fault.SHORT_ANSWER and isinstance(response, ReadHoldingRegistersResponse):
            response.registers = response.registers[:-1]
            outcome = "short"
        return response, outcome

    def _read(self, pdu: ModbusPDU) -> tuple[ModbusPDU, str]:
        if pdu.function_code != 3:
            return _exception(pdu, compat.ILLEGAL_FUNCTION)
        device = self.devices.get(pdu.dev_id)
        if device is None:
            # What a dongle answers when nothing replies on the RS-485 side.
            return _exception(pdu, compat.GATEWAY_NO_RESPONSE)
        start, end = pdu.address, pdu.address + pdu.count
        if not 1 <= pdu.count <= self.max_registers:
            return _exception(pdu, compat.ILLEGAL_VALUE)
        undocumented = start <= UNDOCUMENTED[-1] and UNDOCUMENTED[0] < end
        if start < 30000 or end > 50000 or undocumented:
            return _exception(pdu, compat.ILLEGAL_ADDRESS)
        device.refresh(self.clock.now())
        words = [device.registers.get(address, 0) for address in range(start, end)]
        return ReadHoldingRegistersResponse(registers=words), "ok"


def _exception(pdu: ModbusPDU, code: int) -> tuple[ModbusPDU, str]:
    return ExceptionResponse(pdu.function_code, code), f"exception {code}"


def register_words(sim: Sun2000Simulator, unit: int, address: int, count: int) -> list[int]:
    """The words the twin serves for `count` registers from `address` of `unit` right now."""
    device = sim.devices[unit]
    device.refresh(sim.clock.now())
    return [device.registers.get(address + i, 0) for i in range(count)]


@contextlib.asynccontextmanager
async def running(
    inverters: Sequence[InverterSpec] = (InverterSpec(),),
    *,
    clock: SimClock | None = None,
    max_registers: int = 125,
    latency: float = 0.0,
) -> AsyncIterator[Sun2000Simulator]:
    """A started twin on 127.0.0.1, stopped on exit (for tests and the benchmark)."""
    sim = Sun2000Simulator(inverters, clock=clock, max_registers=max_registers, latency=latency)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


def _specs(units: str, strings: int) -> list[InverterSpec]:
    return [
        InverterSpec(
            unit_id=int(unit),
            serial=f"HV22500{int(unit):05d}",
            pv_strings=strings,
            meter=index == 0,  # one meter and one battery per site, on the first inverter
            battery=index == 0,
            seed=int(unit),
        )
        for index, unit in enumerate(units.split(","))
    ]


async def _serve(args: argparse.Namespace) -> None:
    sim = Sun2000Simulator(
        _specs(args.units, args.strings),
        host=args.host,
        port=args.port,
        max_registers=args.max_registers,
        latency=args.latency_ms / 1000,
    )
    sim.refuse_second_connection = args.one_connection
    await sim.start()
    print(f"SUN2000 twin on {sim.host}:{sim.port}, unit ids {sorted(sim.devices)}")
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5020)
    parser.add_argument("--units", default="1", help="comma-separated unit ids, e.g. 1,2")
    parser.add_argument("--strings", type=int, default=2, help="PV strings per inverter")
    parser.add_argument("--max-registers", type=int, default=125)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument(
        "--one-connection", action="store_true", help="refuse a second client like a SDongle"
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
