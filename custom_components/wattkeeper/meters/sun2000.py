"""Huawei SUN2000 inverters, with their DTSU666-H power meter and LUNA2000 battery, over Modbus TCP.

`Sun2000Meter` is a `PolledMeter`: `identify()` reads model, serial and
firmware from the inverter's own registers (the serial makes the unique id)
and learns which parts exist; `read()` performs the batched plan for the
enabled fields and returns the inverter's snapshot with the power meter and
the battery as sub-meters. Several unit ids behind one dongle share one
`Sun2000Connection`. `probe()` finds the inverters behind a connection.

To poll the power meter more often than the inverter, give two meters on the
same connection and unit id different `fields`: their requests share the
connection's lock like everything else.
"""

from __future__ import annotations

import logging
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
# The inverter's Wi-Fi answers on unit 0 (or 1); a dongle numbers inverters from 1.
DEFAULT_PROBE_UNITS: Final = tuple(range(17))
METER_STATUS_NORMAL: Final = "Normal"
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

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field this device can report (the glue's `has_fn`)."""
        return available_fields(
            pv_strings=self.pv_strings,
            parts=self.parts,
            phases=self.phases,
            meter_phases=self.meter_phases,
        )


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
        self._plan: tuple[ReadRequest, ...] = ()
        self._products: tuple[Product, ...] = ()

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
        """The requests one `read()` sends (empty before `identify()`)."""
        return self._plan

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
        meter, battery, capacity = await self._discover_parts(identity)
        meter_phases = 3 if meter is not None and meter.model.startswith("DTSU") else 1
        model = identity.model
        device = Sun2000Device(
            unit_id=self.unit_id,
            identity=identity,
            pn=str(values.get("pn") or ""),
            software=str(values.get("software") or ""),
            pv_strings=int(_number(values, "pv_strings")),
            mppt_count=int(_number(values, "mppt_count")),
            phases=1 if "-L1" in model.upper() else 3,
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
    ) -> tuple[MeterIdentity | None, MeterIdentity | None, float | None]:
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
            three_phase = values.get("meter_type") == "three-phase"
            meter = MeterIdentity(
                kind=MeterKind.SUN2000,
                serial=f"{identity.serial}-{Part.METER.value}",
                model="DTSU666-H" if three_phase else "DDSU666-H",
                manufacturer=MANUFACTURER,
                name="Power meter",
                address=self.address,
            )
        capacity = _optional(values, "battery_capacity")
        if capacity:
            battery = MeterIdentity(
                kind=MeterKind.SUN2000,
                serial=f"{identity.serial}-{Part.BATTERY.value}",
                model="LUNA2000",
                manufacturer=MANUFACTURER,
                name="Battery",
                address=self.address,
            )
        return meter, battery, capacity or None

    def _make_plan(self, device: Sun2000Device) -> None:
        available = device.fields
        wanted = available if self._fields is None else [f for f in available if f in self._fields]
        registers, self._products = registers_for(wanted)
        if self._batched:
            self._plan = plan_reads(
                registers, max_registers=self._max_registers, max_gap=self._max_gap
            )
        else:
            self._plan = plan_each(registers)

    async def read(self) -> Snapshot:
        device = self._device or await self.discover()
        # set_fields() may change the plan while this read waits on the dongle.
        plan, products = self._plan, self._products
        raw = await _read_all(self.connection, self.unit_id, plan)
        values: dict[Part, dict[QuantityKey, float]] = {part: {} for part in Part}
        texts: dict[Part, dict[str, str]] = {part: {} for part in Part}
        for request in plan:
            for register in request.registers:
                value = raw[register.name]
                if register.key is not None and isinstance(value, float):
                    values[register.part][register.key] = value
                elif register.text is not None and isinstance(value, str):
                    texts[register.part][register.text] = value
        for product in products:
            left, right = (raw.get(name) for name in product.factors)
            if isinstance(left, float) and isinstance(right, float):
                values[product.part][product.key] = left * right
        if texts[Part.METER].get("meter_status", METER_STATUS_NORMAL) != METER_STATUS_NORMAL:
            # An offline meter repeats its last numbers; only its status is true.
            values[Part.METER].clear()
        measured_at = self._clock()
        subs: list[Snapshot] = []
        for part, identity in ((Part.METER, device.meter), (Part.BATTERY, device.battery)):
            if identity is not None and (values[part] or texts[part]):
                subs.append(
                    Snapshot(
                        identity=identity,
                        measured_at=measured_at,
                        values=values[part],
                        texts=texts[part],
                    )
                )
        return Snapshot(
            identity=device.identity,
            measured_at=measured_at,
            values=values[Part.INVERTER],
            texts=texts[Part.INVERTER],
            sub_meters=tuple(subs),
        )

    async def close(self) -> None:
        if self._owns_connection:
            await self.connection.close()


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


async def probe(
    connection: Sun2000Connection,
    unit_ids: Iterable[int] = DEFAULT_PROBE_UNITS,
    *,
    time_limit: float | None = None,
) -> dict[int, MeterIdentity]:
    """Ask each unit id for its identity; returns the inverters that answered.

    A unit id nobody answers for (the dongle says so, or silence) is skipped;
    a connection that cannot be opened raises, since then nothing can be probed.
    """
    (request,) = plan_reads(PROBE_IDENTITY)
    found: dict[int, MeterIdentity] = {}
    for unit in unit_ids:
        address = f"{connection.address} unit {unit}"
        try:
            values = await _read_all(connection, unit, (request,), retries=0, time_limit=time_limit)
            found[unit] = _identity(values, address)
        except ModbusUnavailableError as exc:
            if exc.code not in GATEWAY_CODES:
                raise
        except (MeterTimeoutError, ModbusRejectedError, MeterUnsupportedError) as exc:
            _LOGGER.debug("probe: nothing usable at %s: %s", address, exc)
    return found
