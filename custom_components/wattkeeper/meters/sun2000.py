"""Huawei SUN2000 inverters, with their DTSU666-H power meter and LUNA2000 battery, over Modbus TCP.

`Sun2000Meter` is a `PolledMeter`: `identify()` reads model, serial and
firmware from the inverter's own registers (the serial makes the unique id)
and learns which parts exist; `read()` performs the batched plan for the
enabled fields and returns the inverter's snapshot with the power meter and
the battery as sub-meters. Several unit ids behind one dongle share one
`Sun2000Connection`. `probe()` finds the inverters behind a connection.

The power meter changes faster than the rest: with `inverter_every=n`, only
every n-th `read()` reads the inverter and the battery, the others read the
meter alone and repeat the inverter's and battery's last readings with the
time they were taken (so nothing downstream mistakes them for new ones).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Self

from . import sun2000_codec as codec
from .errors import MeterDataError, MeterTimeoutError, MeterUnsupportedError
from .model import MeterIdentity, MeterKind, QuantityKey, Snapshot
from .sun2000_connection import (
    GATEWAY_CODES,
    ConnectionOptions,
    ModbusRejectedError,
    ModbusUnavailableError,
    Sun2000Connection,
)
from .sun2000_planner import DEFAULT_MAX_GAP, ReadRequest, plan_each, plan_reads
from .sun2000_registers import (
    DEFAULT_MAX_REGISTERS,
    DISCOVERY,
    IDENTITY,
    PROBE_IDENTITY,
    DataType,
    Part,
    Product,
    Register,
    available_fields,
    field_id,
    registers_for,
)

_LOGGER = logging.getLogger(__name__)

MANUFACTURER: Final = "Huawei"
# Polling intervals the issue asks for; the dongle cannot sustain much faster.
DEFAULT_INVERTER_INTERVAL: Final = timedelta(seconds=30)
DEFAULT_METER_INTERVAL: Final = timedelta(seconds=10)
MIN_INTERVAL: Final = timedelta(seconds=5)
# The inverter's own Wi-Fi (port 6607) answers for itself on unit 0 or 1; a dongle
# numbers its inverters from 1, and 0 is only worth asking when nothing else answers.
WIFI_PORT: Final = 6607
WIFI_PROBE_UNITS: Final = (0, 1)
DONGLE_PROBE_UNITS: Final = tuple(range(1, 17))
# A silent unit id costs a timeout and a reconnect: stop after this many unit ids
# in a row without an inverter past the last one found.
PROBE_STOP_AFTER: Final = 3
METER_STATUS_NORMAL: Final = "normal"
# Single-phase families: SUN2000L-…, and suffixes -L0, -L1, -LC0 (three-phase ones are -M…).
_SINGLE_PHASE_MODEL: Final = re.compile(r"^SUN2000L-|-LC?\d+$", re.IGNORECASE)
# Sub-meters carry the inverter's serial with the part as suffix.
_SUB_PARTS: Final = (Part.METER, Part.BATTERY)


@dataclass(frozen=True, slots=True, kw_only=True)
class Sun2000Device:
    """What `identify()` learned about one inverter and the parts attached to it."""

    unit_id: int
    identity: MeterIdentity
    pn: str
    software: str
    pv_strings: int
    mppt_count: int
    phases: int
    meter_phases: int
    rated_power: float | None
    meter: MeterIdentity | None = None
    battery: MeterIdentity | None = None
    battery_capacity: float | None = None  # Wh

    @property
    def parts(self) -> frozenset[Part]:
        parts = {Part.INVERTER}
        if self.meter is not None:
            parts.add(Part.METER)
        if self.battery is not None:
            parts.add(Part.BATTERY)
        return frozenset(parts)

    def part_identity(self, part: Part) -> MeterIdentity | None:
        """The identity of `part`, None when the inverter has none."""
        if part is Part.METER:
            return self.meter
        return self.battery if part is Part.BATTERY else self.identity

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field this device can report (the glue's `has_fn`)."""
        return available_fields(
            pv_strings=self.pv_strings,
            parts=self.parts,
            phases=self.phases,
            meter_phases=self.meter_phases,
        )


def part_serial(serial: str, part: Part) -> str:
    """The serial a part's readings are keyed by: the inverter's, with the part for sub-devices."""
    return serial if part is Part.INVERTER else f"{serial}-{part.value}"


def _decode(register: Register, words: Sequence[int]) -> str | float | None:
    if register.dtype in (DataType.STR, DataType.BITS) or register.labels:
        return codec.text(register, words)
    return codec.number(register, words)


async def _read_all(
    connection: Sun2000Connection,
    unit: int,
    requests: Iterable[ReadRequest],
    *,
    retries: int | None = None,
    time_limit: float | None = None,
) -> dict[str, str | float | None]:
    """Perform `requests` and decode every register in them by name."""
    values: dict[str, str | float | None] = {}
    for request in requests:
        words = await connection.read_holding(
            unit, request.address, request.count, retries=retries, time_limit=time_limit
        )
        for register in request.registers:
            try:
                values[register.name] = _decode(register, request.words(register, words))
            except ValueError as exc:
                raise MeterDataError(f"unit {unit}: {exc}") from exc
    return values


def _identity(values: Mapping[str, str | float | None], address: str) -> MeterIdentity:
    serial = str(values.get("serial") or "")
    model = str(values.get("model") or "")
    if not serial or not model:
        raise MeterUnsupportedError(
            f"{address} answered but reports no model or serial; is it a SUN2000 inverter?"
        )
    firmware = str(values.get("firmware") or values.get("software") or "") or None
    return MeterIdentity(
        kind=MeterKind.SUN2000,
        serial=serial,
        model=model,
        manufacturer=MANUFACTURER,
        name=model,
        firmware=firmware,
        address=address,
    )


class Sun2000Meter:
    """One SUN2000 inverter (one unit id) and the meter and battery it reports for."""

    def __init__(
        self,
        connection: Sun2000Connection,
        unit_id: int = 1,
        *,
        fields: Collection[str] | None = None,
        batched: bool = True,
        max_registers: int = DEFAULT_MAX_REGISTERS,
        max_gap: int = DEFAULT_MAX_GAP,
        owns_connection: bool = False,
        clock: Callable[[], datetime] | None = None,
        inverter_every: int = 1,
    ) -> None:
        self.connection = connection
        self.unit_id = unit_id
        self._fields = None if fields is None else frozenset(fields)
        self._batched = batched
        self._max_registers = max_registers
        self._max_gap = max_gap
        self._owns_connection = owns_connection
        self._clock = clock or (lambda: datetime.now(UTC))
        self._device: Sun2000Device | None = None
        self._plans: dict[Part, _PartPlan] = {}
        self._inverter_every = max(1, inverter_every)
        self._since_inverter: int | None = None  # reads since the last full one
        self._last: dict[Part, Snapshot] = {}

    @classmethod
    def over_tcp(
        cls,
        host: str,
        port: int = 502,
        unit_id: int = 1,
        *,
        options: ConnectionOptions | None = None,
        fields: Collection[str] | None = None,
        batched: bool = True,
    ) -> Self:
        """A meter with a connection of its own, closed with the meter."""
        connection = Sun2000Connection(host, port, options)
        return cls(connection, unit_id, fields=fields, batched=batched, owns_connection=True)

    @property
    def address(self) -> str:
        return f"{self.connection.address} unit {self.unit_id}"

    @property
    def device(self) -> Sun2000Device | None:
        return self._device

    @property
    def plan(self) -> tuple[ReadRequest, ...]:
        """The requests a full `read()` sends (empty before `identify()`)."""
        return _requests(self._plans, tuple(self._plans))

    @property
    def root_every(self) -> int:
        """Every how many `read()` calls the inverter's own values are new (SlowerRoot)."""
        device = self._device
        return 1 if device is not None and device.meter is None else self._inverter_every

    @property
    def reads_until_inverter(self) -> int:
        """How many `read()` calls until one reads the inverter and battery (1: the next)."""
        device, since = self._device, self._since_inverter
        if device is None or device.meter is None or since is None:
            return 1
        return max(1, self._inverter_every - since)

    def plan_of(self, part: Part) -> tuple[ReadRequest, ...]:
        """The requests that read `part`."""
        return _requests(self._plans, (part,))

    def set_fields(self, fields: Collection[str] | None) -> None:
        """Change which fields are read (None: all); disabled entities cost no traffic."""
        self._fields = None if fields is None else frozenset(fields)
        if self._device is not None:
            self._make_plan(self._device)

    async def identify(self) -> MeterIdentity:
        return (await self.discover()).identity

    async def discover(self) -> Sun2000Device:
        """Read identity and learn which parts exist; plans the polls."""
        plan = plan_reads(IDENTITY, max_registers=self._max_registers, max_gap=self._max_gap)
        values = await _read_all(self.connection, self.unit_id, plan)
        identity = _identity(values, self.address)
        meter, battery, capacity, phase_b = await self._discover_parts(identity)
        meter_phases = 3 if meter is not None and meter.model.startswith("DTSU") else 1
        device = Sun2000Device(
            unit_id=self.unit_id,
            identity=identity,
            pn=str(values.get("pn") or ""),
            software=str(values.get("software") or ""),
            pv_strings=int(_number(values, "pv_strings")),
            mppt_count=int(_number(values, "mppt_count")),
            phases=_phases(identity.model, phase_b),
            meter_phases=meter_phases,
            rated_power=_optional(values, "rated_power"),
            meter=meter,
            battery=battery,
            battery_capacity=capacity,
        )
        self._device = device
        self._make_plan(device)
        return device

    async def _discover_parts(
        self, identity: MeterIdentity
    ) -> tuple[MeterIdentity | None, MeterIdentity | None, float | None, _PhaseB]:
        values: dict[str, str | float | None] = {}
        # Read once: any gap is worth skipping a round trip for.
        limit = self._max_registers
        for request in plan_reads(DISCOVERY, max_registers=limit, max_gap=limit):
            try:
                values |= await _read_all(self.connection, self.unit_id, (request,))
            except ModbusRejectedError:
                # Inverters without meter or battery support reject those blocks.
                continue
        meter = battery = None
        if values.get("meter_status") == METER_STATUS_NORMAL:
            three_phase = values.get("meter_type") == "three_phase"
            meter = MeterIdentity(
                kind=MeterKind.SUN2000,
                serial=part_serial(identity.serial, Part.METER),
                model="DTSU666-H" if three_phase else "DDSU666-H",
                manufacturer=MANUFACTURER,
                name="Power meter",
                address=self.address,
                serial_is_made_up=True,  # the inverter does not pass the meter's on
            )
        capacity = _optional(values, "battery_capacity")
        if capacity:
            battery = MeterIdentity(
                kind=MeterKind.SUN2000,
                serial=part_serial(identity.serial, Part.BATTERY),
                model="LUNA2000",
                manufacturer=MANUFACTURER,
                name="Battery",
                address=self.address,
                serial_is_made_up=True,
                label_serial=_text(values, "battery_serial"),
            )
        read = values.get("grid_voltage_l2", _UNREAD)
        phase_b = _UNREAD if isinstance(read, str) else read
        return meter, battery, capacity or None, phase_b

    def _make_plan(self, device: Sun2000Device) -> None:
        """One plan per part: a part's registers are never batched with another part's."""
        available = device.fields
        wanted = available if self._fields is None else [f for f in available if f in self._fields]
        plans: dict[Part, _PartPlan] = {}
        for part in Part:
            registers, products = registers_for(f for f in wanted if f.startswith(f"{part}."))
            if not registers:
                continue
            if self._batched:
                requests = plan_reads(
                    registers, max_registers=self._max_registers, max_gap=self._max_gap
                )
            else:
                requests = plan_each(registers)
            plans[part] = _PartPlan(requests, products)
        self._plans = plans

    async def read(self) -> Snapshot:
        """The enabled fields; the inverter and battery only every `inverter_every` reads."""
        device = self._device or await self.discover()
        since = self._since_inverter
        full = device.meter is None or since is None or since + 1 >= self._inverter_every
        try:
            snapshot = await self.read_parts(None if full else (Part.METER,))
        except BaseException:
            # What is repeated between inverter readings predates the failure: read anew.
            self._since_inverter = None
            raise
        self._since_inverter = 0 if full or since is None else since + 1
        return snapshot

    async def read_parts(self, parts: Collection[Part] | None = None) -> Snapshot:
        """Read the enabled fields of `parts` (all when None); the others repeat their last."""
        device = self._device or await self.discover()
        # set_fields() may change the plans while this read waits on the dongle.
        plans = self._plans
        reading = tuple(plans) if parts is None else tuple(p for p in plans if p in parts)
        if Part.INVERTER not in reading and Part.INVERTER not in self._last:
            reading = tuple(plans)  # nothing to repeat yet
        requests = _requests(plans, reading)
        raw = await _read_all(self.connection, self.unit_id, requests)
        values: dict[Part, dict[QuantityKey, float]] = {part: {} for part in Part}
        texts: dict[Part, dict[str, str]] = {part: {} for part in Part}
        for request in requests:
            for register in request.registers:
                value = raw[register.name]
                if register.key is not None and isinstance(value, float):
                    values[register.part][register.key] = value
                elif register.text is not None and isinstance(value, str):
                    texts[register.part][register.text] = value
        for part in reading:
            for product in plans[part].products:
                left, right = (raw.get(name) for name in product.factors)
                if isinstance(left, float) and isinstance(right, float):
                    values[part][product.key] = left * right
        if texts[Part.METER].get("meter_status", METER_STATUS_NORMAL) != METER_STATUS_NORMAL:
            # An offline meter repeats its last numbers; only its status is true.
            values[Part.METER].clear()
        measured_at = self._clock()
        for part in reading:
            identity = device.part_identity(part)
            if identity is not None and (part is Part.INVERTER or values[part] or texts[part]):
                self._last[part] = Snapshot(
                    identity=identity,
                    measured_at=measured_at,
                    values=values[part],
                    texts=texts[part],
                )
            else:
                self._last.pop(part, None)
        for part in [p for p in self._last if p not in plans]:
            del self._last[part]  # no longer read at all: nothing to repeat
        root = self._last.get(Part.INVERTER) or Snapshot(
            identity=device.identity, measured_at=measured_at
        )
        subs = tuple(self._last[p] for p in _SUB_PARTS if p in self._last)
        return Snapshot(
            identity=root.identity,
            measured_at=root.measured_at,
            values=root.values,
            texts=root.texts,
            sub_meters=subs,
        )

    async def close(self) -> None:
        if self._owns_connection:
            await self.connection.close()


class _Unread:
    """Phase B's voltage was not read (the inverter rejected the request)."""


_UNREAD: Final = _Unread()
_PhaseB = float | None | _Unread


def _phases(model: str, phase_b: _PhaseB) -> int:
    """1 or 3: phase B's voltage says so when it can, else the model name."""
    if phase_b is None:  # Huawei's "no value": there is no phase B
        return 1
    if isinstance(phase_b, float) and phase_b > 0:
        return 3
    # Read as 0 V (grid down, inverter asleep) or not at all: the name decides.
    return 1 if _SINGLE_PHASE_MODEL.search(model) else 3


def alarm_names(text: str) -> list[str]:
    """The active alarms in an `alarms` text (as the codec joins them); [] when none."""
    return [] if text == codec.NO_ALARMS else text.split(codec.ALARM_SEPARATOR)


@dataclass(frozen=True, slots=True)
class _PartPlan:
    requests: tuple[ReadRequest, ...]
    products: tuple[Product, ...]


def _requests(plans: Mapping[Part, _PartPlan], parts: Iterable[Part]) -> tuple[ReadRequest, ...]:
    """The requests of `parts`, in address order."""
    requests = [r for part in parts if part in plans for r in plans[part].requests]
    return tuple(sorted(requests, key=lambda r: r.address))


def snapshot_fields(snapshot: Snapshot) -> dict[str, float | str]:
    """A SUN2000 snapshot flattened to `field id → value` (the ids of `Sun2000Device.fields`)."""
    fields: dict[str, float | str] = {}
    for meter in snapshot.all_meters():
        serial = meter.identity.serial
        part = next((p for p in _SUB_PARTS if serial.endswith(f"-{p.value}")), Part.INVERTER)
        for key, value in meter.values.items():
            fields[field_id(part, key, None)] = value
        for name, text in meter.texts.items():
            fields[field_id(part, None, name)] = text
    return fields


def _number(values: Mapping[str, str | float | None], name: str) -> float:
    value = values.get(name)
    if not isinstance(value, float):
        raise MeterDataError(f"register {name} has no value")
    return value


def _optional(values: Mapping[str, str | float | None], name: str) -> float | None:
    value = values.get(name)
    return value if isinstance(value, float) else None


def _text(values: Mapping[str, str | float | None], name: str) -> str | None:
    value = values.get(name)
    return value.strip() or None if isinstance(value, str) else None


def probe_units(port: int) -> tuple[int, ...]:
    """The unit ids worth asking behind `port`, in order."""
    return WIFI_PROBE_UNITS if port == WIFI_PORT else DONGLE_PROBE_UNITS


async def probe(
    connection: Sun2000Connection,
    unit_ids: Iterable[int] | None = None,
    *,
    time_limit: float | None = None,
    stop_after: int = PROBE_STOP_AFTER,
) -> dict[int, MeterIdentity]:
    """Ask unit ids for their identity; returns the inverters that answered.

    By default the ids `probe_units()` gives for the connection's port, then
    unit 0 on a dongle where none of them answered. A unit id nobody answers
    for (the dongle says so, or silence) or whose answer does not fit is
    skipped, and after `stop_after` of those in a row past the last inverter
    found the probe stops. A connection that cannot be opened, or a device
    that says it is busy, raises: then nothing can be probed.
    """
    units = probe_units(connection.port) if unit_ids is None else tuple(unit_ids)
    found: dict[int, MeterIdentity] = {}
    missed = 0
    for unit in units:
        if found and missed >= stop_after:
            break
        identity = await _probe_one(connection, unit, time_limit)
        if identity is None:
            missed += 1
        else:
            found[unit], missed = identity, 0
    last_resort = not found and unit_ids is None and 0 not in units
    if last_resort and (identity := await _probe_one(connection, 0, time_limit)) is not None:
        found[0] = identity
    return found


async def _probe_one(
    connection: Sun2000Connection, unit: int, time_limit: float | None
) -> MeterIdentity | None:
    (request,) = plan_reads(PROBE_IDENTITY)
    address = f"{connection.address} unit {unit}"
    try:
        values = await _read_all(connection, unit, (request,), retries=0, time_limit=time_limit)
        return _identity(values, address)
    except ModbusUnavailableError as exc:
        if exc.code not in GATEWAY_CODES:
            raise
        _LOGGER.debug("probe: no inverter at %s: %s", address, exc)
    except (MeterTimeoutError, MeterDataError, MeterUnsupportedError) as exc:
        # MeterDataError: rejected, undecodable, or an answer for another request.
        _LOGGER.debug("probe: nothing usable at %s: %s", address, exc)
    return None
