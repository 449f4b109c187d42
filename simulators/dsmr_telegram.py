"""Write the meter model's state as a P1 telegram of one DSMR version.

Every number is formatted the way that version's meters print it, and the
ground truth is taken from the formatted text (never from the unrounded
state), so a test can demand exact equality. Also here: the CRC16 the P1
standard appends and the AES-GCM framing of Luxembourg Smarty meters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Final

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from custom_components.wattkeeper.meters.model import Quantity, QuantityKey, Snapshot

from .dsmr_meter import MBUS_GAS, MBUS_HEAT, MBUS_WATER, MBusMeter, MeterModel, next_month

VERSIONS: Final = ("2.2", "4", "5", "5B", "5L", "5S", "Q3D")
CHECKSUM_VERSIONS: Final = frozenset({"4", "5", "5B", "5L", "5S"})
SMARTY_AUTH_KEY: Final = bytes.fromhex("00112233445566778899AABBCCDDEEFF")

K = QuantityKey
Q = Quantity
_KILO: Final = Decimal(1000)


@dataclass(frozen=True)
class Identity:
    """What the meter says about itself in every telegram."""

    header: str
    equipment_id: str | None
    mbus: tuple[tuple[int, int, str], ...] = ()


# Identification lines and ids per version (made up, in each maker's style).
IDENTITIES: Final[dict[str, Identity]] = {
    "2.2": Identity("/KMP5 KA6U001587315111", "KMP0158731511", ((1, MBUS_GAS, "G0012004589621"),)),
    "4": Identity(
        "/XMX5LGBBFG1012463245", "E0047000123456716", ((1, MBUS_GAS, "G0059003587061012"),)
    ),
    "5": Identity("/ISK5\\2M550T-1012", "E0044007654321019", ((1, MBUS_GAS, "G0070016542187320"),)),
    "5B": Identity(
        "/FLU5\\253770234_A",
        "1SAG1100042181",
        ((1, MBUS_GAS, "3SAG5100019733"), (2, MBUS_WATER, "2ITR0211004870")),
    ),
    "5L": Identity("/SAG5\\253705143_D", "SAG1030700012345"),
    "5S": Identity("/ELL5\\253655291_A", None),
    "Q3D": Identity("/ESY5Q3DA1004 V3.04", "1ESY1336001560"),
}


@dataclass
class Truth:
    """What one telegram says, in the shared model's keys and canonical units."""

    version: str
    serial: str
    measured_at: datetime | None
    values: dict[QuantityKey, float] = field(default_factory=dict)
    # M-Bus serial → (capture time, values).
    sub_meters: dict[str, tuple[datetime, dict[QuantityKey, float]]] = field(default_factory=dict)
    monthly_peak_at: datetime | None = None
    # (month "YYYY-MM", time of the peak, W), oldest first.
    demand_history: list[tuple[str, datetime, float]] = field(default_factory=list)
    # (end of the failure, seconds).
    failure_log: list[tuple[datetime, int]] = field(default_factory=list)
    text: str = ""
    # time.perf_counter() when its last byte was handed to the links (set by the server).
    sent_at: float = 0.0

    def mismatches(self, snapshot: Snapshot) -> list[str]:
        """How a driver's snapshot of this telegram differs from the truth; [] when it does not."""
        out: list[str] = []
        if snapshot.identity.serial != self.serial:
            out.append(f"serial {snapshot.identity.serial!r} != {self.serial!r}")
        if self.measured_at is not None and snapshot.measured_at != self.measured_at:
            out.append(f"measured_at {snapshot.measured_at} != {self.measured_at}")
        got = dict(snapshot.values)
        for key in sorted(set(got) | set(self.values)):
            if got.get(key) != self.values.get(key):
                out.append(f"{key.id}: {got.get(key)} != {self.values.get(key)}")
        subs = {
            sub.identity.serial: (sub.measured_at, dict(sub.values)) for sub in snapshot.sub_meters
        }
        if subs != self.sub_meters:
            out.append(f"sub-meters {subs} != {self.sub_meters}")
        texts = snapshot.texts
        if self.monthly_peak_at is not None:
            if texts.get("monthly_peak_at") != self.monthly_peak_at.isoformat():
                out.append(f"monthly_peak_at {texts.get('monthly_peak_at')}")
            history = [
                (row["month"], row["at"], row["value"])
                for row in json.loads(texts.get("max_demand_history", "[]"))
            ]
            want = [(m, at.isoformat(), v) for m, at, v in self.demand_history]
            if history != want:
                out.append(f"max_demand_history {history} != {want}")
        if self.failure_log:
            log = [
                (row["end"], row["duration"])
                for row in json.loads(texts.get("power_failure_log", "[]"))
            ]
            want_log = [(end.isoformat(), seconds) for end, seconds in self.failure_log]
            if log != want_log:
                out.append(f"power_failure_log {log} != {want_log}")
        return out


class _Builder:
    """Collects telegram lines and the truth they carry."""

    def __init__(self, truth: Truth) -> None:
        self.lines: list[str] = []
        self.truth = truth

    def raw(self, line: str) -> None:
        self.lines.append(line)

    def num(
        self,
        obis: str,
        value: float,
        digits: int,
        decimals: int,
        unit: str | None = None,
        key: QuantityKey | None = None,
        *,
        scale: Decimal = Decimal(1),
        floor: bool = False,
        signed: bool = False,
    ) -> Decimal:
        text = fmt(value, digits, decimals, floor=floor, signed=signed)
        self.lines.append(f"{obis}({text}*{unit})" if unit else f"{obis}({text})")
        number = Decimal(text)
        if key is not None:
            self.truth.values[key] = float(number * scale)
        return number

    def text(self) -> str:
        return "\r\n".join(self.lines) + "\r\n!"


def fmt(
    value: float, digits: int, decimals: int, *, floor: bool = False, signed: bool = False
) -> str:
    """Zero-padded fixed point: `digits` before the point, `decimals` after."""
    quantum = Decimal(1).scaleb(-decimals)
    number = Decimal(repr(value)).quantize(quantum, ROUND_FLOOR if floor else ROUND_HALF_UP)
    sign = "-" if number < 0 and signed else ""
    number = abs(number) if signed else max(number, Decimal(0))
    width = digits + (decimals + 1 if decimals else 0)
    return f"{sign}{number:0{width}.{decimals}f}"


def stamp(moment: datetime) -> str:
    """YYMMDDhhmmss plus S (summer time) or W (winter time)."""
    return moment.strftime("%y%m%d%H%M%S") + ("S" if moment.dst() else "W")


def hex_id(text: str) -> str:
    return text.encode("ascii").hex().upper()


def crc16(data: bytes) -> int:
    """CRC-16/ARC (reflected 0x8005, start 0) as P1 telegrams use, '/' through '!'."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def finish(version: str, body: str) -> str:
    """Append the checksum (where the version has one) and the final CRLF."""
    if version in CHECKSUM_VERSIONS:
        return f"{body}{crc16(body.encode('ascii')):04X}\r\n"
    return f"{body}\r\n"


def encrypt_smarty(plain: bytes, key: bytes, system_title: bytes, frame_counter: int) -> bytes:
    """Wrap a telegram the way a Luxembourg Smarty meter sends it (AES-128-GCM)."""
    security = 0x30
    iv = system_title + frame_counter.to_bytes(4, "big")
    encryptor = Cipher(algorithms.AES(key), modes.GCM(iv)).encryptor()
    encryptor.authenticate_additional_data(bytes([security]) + SMARTY_AUTH_KEY)
    ciphertext = encryptor.update(plain) + encryptor.finalize()
    body = bytes([security]) + frame_counter.to_bytes(4, "big") + ciphertext + encryptor.tag[:12]
    return b"\xdb\x08" + system_title + b"\x82" + len(body).to_bytes(2, "big") + body


def render(version: str, model: MeterModel, identity: Identity | None = None) -> Truth:
    """The telegram (in `.text`) for the model's current state, with its truth."""
    ident = identity or IDENTITIES[version]
    serial = ident.equipment_id or ident.header.lstrip("/")
    has_time = version not in ("2.2", "Q3D")
    truth = Truth(
        version=version,
        serial=serial,
        measured_at=model.now.replace(microsecond=0).astimezone(UTC) if has_time else None,
    )
    b = _Builder(truth)
    b.raw(ident.header)
    b.raw("")
    match version:
        case "2.2":
            _v2_2(b, model, ident)
        case "4" | "5":
            _nl(b, model, ident, version)
        case "5B":
            _be(b, model, ident)
        case "5L":
            _lu(b, model, ident)
        case "5S":
            _se(b, model)
        case "Q3D":
            _q3d(b, model, ident)
        case _:
            raise ValueError(f"Unknown DSMR version {version}")
    truth.text = finish(version, b.text())
    return truth


def _tariffs(b: _Builder, model: MeterModel, digits: int) -> None:
    """1.8.1/1.8.2 and 2.8.1/2.8.2, and the totals they add up to."""
    for obis, registers, quantity in (
        ("1-0:1.8", model.import_wh, Q.ENERGY_IMPORT),
        ("1-0:2.8", model.export_wh, Q.ENERGY_EXPORT),
    ):
        total = Decimal(0)
        for tariff in (1, 2):
            total += b.num(
                f"{obis}.{tariff}",
                registers[tariff - 1] / 1000.0,
                digits,
                3,
                "kWh",
                K(quantity, tariff=tariff),
                floor=True,
            )
        b.truth.values[K(quantity)] = float(total)


def _tariff_indicator(b: _Builder, model: MeterModel) -> None:
    b.raw(f"0-0:96.14.0({model.tariff:04d})")
    b.truth.values[K(Q.TARIFF)] = float(model.tariff)


def _total_power(b: _Builder, model: MeterModel, digits: int, decimals: int) -> None:
    net = model.net_total_w
    imp = b.num(
        "1-0:1.7.0", max(net, 0) / 1000.0, digits, decimals, "kW", K(Q.POWER_IMPORT), scale=_KILO
    )
    exp = b.num(
        "1-0:2.7.0", max(-net, 0) / 1000.0, digits, decimals, "kW", K(Q.POWER_EXPORT), scale=_KILO
    )
    b.truth.values[K(Q.POWER)] = float((imp - exp) * _KILO)


def _phase_power(b: _Builder, model: MeterModel, digits: int) -> None:
    imports: list[Decimal] = []
    for p in range(model.phases):
        imports.append(
            b.num(
                f"1-0:{20 * p + 21}.7.0",
                max(model.net_w[p], 0) / 1000.0,
                digits,
                3,
                "kW",
                K(Q.POWER_IMPORT, phase=p + 1),
                scale=_KILO,
            )
        )
    for p in range(model.phases):
        exported = b.num(
            f"1-0:{20 * p + 22}.7.0",
            max(-model.net_w[p], 0) / 1000.0,
            digits,
            3,
            "kW",
            K(Q.POWER_EXPORT, phase=p + 1),
            scale=_KILO,
        )
        b.truth.values[K(Q.POWER, phase=p + 1)] = float((imports[p] - exported) * _KILO)


def _voltages(b: _Builder, model: MeterModel, digits: int = 3) -> None:
    for p in range(model.phases):
        b.num(f"1-0:{20 * p + 32}.7.0", model.voltage[p], digits, 1, "V", K(Q.VOLTAGE, phase=p + 1))


def _currents(b: _Builder, model: MeterModel, digits: int, decimals: int) -> None:
    for p in range(model.phases):
        b.num(
            f"1-0:{20 * p + 31}.7.0",
            model.current_a(p),
            digits,
            decimals,
            "A",
            K(Q.CURRENT, phase=p + 1),
        )


def _grid_events(b: _Builder, model: MeterModel, *, log: bool = True) -> None:
    b.num("0-0:96.7.21", model.power_failures, 5, 0, None, K(Q.POWER_FAILURES))
    b.num("0-0:96.7.9", model.long_power_failures, 5, 0, None, K(Q.LONG_POWER_FAILURES))
    if log:
        entries = "".join(
            f"({stamp(end)})({seconds:010d}*s)" for end, seconds in reversed(model.failure_log)
        )
        b.raw(f"1-0:99.97.0({len(model.failure_log)})(0-0:96.7.19){entries}")
        b.truth.failure_log = [(end.astimezone(UTC), s) for end, s in reversed(model.failure_log)]
    for p in range(model.phases):
        b.num(f"1-0:{20 * p + 32}.32.0", model.sags[p], 5, 0, None, K(Q.VOLTAGE_SAGS, phase=p + 1))
    for p in range(model.phases):
        b.num(
            f"1-0:{20 * p + 32}.36.0", model.swells[p], 5, 0, None, K(Q.VOLTAGE_SWELLS, phase=p + 1)
        )


def _mbus(b: _Builder, model: MeterModel, id_obis: str, gas_obis: str) -> None:
    """M-Bus devices: type, id, (valve), and the last captured reading."""
    for meter in model.mbus:
        ch = meter.channel
        b.raw(f"0-{ch}:24.1.0({meter.device_type:03d})")
        b.raw(f"0-{ch}:{id_obis}({hex_id(meter.serial)})")
        if meter.device_type == MBUS_GAS and id_obis == "96.1.1":
            b.raw(f"0-{ch}:24.4.0(1)")
        obis = gas_obis if meter.device_type == MBUS_GAS else "24.2.1"
        quantity, unit = _mbus_quantity(meter)
        _mbus_reading(b, meter, f"0-{ch}:{obis}", quantity, unit)


def _mbus_quantity(meter: MBusMeter) -> tuple[Quantity, str]:
    if meter.device_type == MBUS_HEAT:
        return Q.HEAT, "GJ"
    return (Q.WATER if meter.device_type == MBUS_WATER else Q.GAS), "m3"


def _mbus_reading(b: _Builder, meter: MBusMeter, obis: str, quantity: Quantity, unit: str) -> None:
    assert meter.captured_at is not None
    text = fmt(meter.captured, 5, 3, floor=True)
    b.raw(f"{obis}({stamp(meter.captured_at)})({text}*{unit})")
    b.truth.sub_meters[meter.serial] = (
        meter.captured_at.astimezone(UTC),
        {K(quantity): float(Decimal(text))},
    )


def _v2_2(b: _Builder, model: MeterModel, ident: Identity) -> None:
    b.raw(f"0-0:96.1.1({hex_id(ident.equipment_id or '')})")
    _tariffs(b, model, 5)
    _tariff_indicator(b, model)
    _total_power(b, model, 4, 2)
    b.raw("0-0:17.0.0(0999.00*kW)")
    b.raw("0-0:96.3.10(1)")
    b.raw("0-0:96.13.1()")
    b.raw("0-0:96.13.0()")
    for meter in model.mbus:
        # DSMR 2.2 prints the hourly gas value on a line of its own.
        assert meter.captured_at is not None
        text = fmt(meter.captured, 5, 3, floor=True)
        b.raw(f"0-{meter.channel}:24.1.0(3)")
        b.raw(f"0-{meter.channel}:96.1.0({hex_id(meter.serial)})")
        b.raw(
            f"0-{meter.channel}:24.3.0({meter.captured_at.strftime('%y%m%d%H%M%S')})(00)(60)(1)(0-{meter.channel}:24.2.1)(m3)"
        )
        b.raw(f"({text})")
        b.raw(f"0-{meter.channel}:24.4.0(1)")
        b.truth.sub_meters[meter.serial] = (
            meter.captured_at.astimezone(UTC),
            {K(Q.GAS): float(Decimal(text))},
        )


def _nl(b: _Builder, model: MeterModel, ident: Identity, version: str) -> None:
    b.raw(f"1-3:0.2.8({'42' if version == '4' else '50'})")
    b.raw(f"0-0:1.0.0({stamp(model.now)})")
    b.raw(f"0-0:96.1.1({hex_id(ident.equipment_id or '')})")
    _tariffs(b, model, 6)
    _tariff_indicator(b, model)
    _total_power(b, model, 2, 3)
    _grid_events(b, model)
    if version == "4":
        b.raw("0-0:96.13.1()")
    b.raw("0-0:96.13.0()")
    if version == "5":
        _voltages(b, model)
    _currents(b, model, 3, 0)
    _phase_power(b, model, 2)
    _mbus(b, model, "96.1.0", "24.2.1")


def _be(b: _Builder, model: MeterModel, ident: Identity) -> None:
    b.raw("0-0:96.1.4(50217)")
    b.raw(f"0-0:96.1.1({hex_id(ident.equipment_id or '')})")
    b.raw(f"0-0:1.0.0({stamp(model.now)})")
    _tariffs(b, model, 6)
    _tariff_indicator(b, model)
    demand = model.demand
    b.num(
        "1-0:1.4.0",
        demand.current_average_w() / 1000.0,
        2,
        3,
        "kW",
        K(Q.AVERAGE_DEMAND),
        scale=_KILO,
    )
    peak_at = demand.month_peak_at or demand.block_start
    peak = fmt(demand.month_peak_w / 1000.0, 2, 3)
    b.raw(f"1-0:1.6.0({stamp(peak_at)})({peak}*kW)")
    b.truth.values[K(Q.MONTHLY_PEAK)] = float(Decimal(peak) * _KILO)
    b.truth.monthly_peak_at = peak_at.astimezone(UTC)
    # Each month is stamped when the meter closed it: midnight on the 1st of the next.
    history = "".join(
        f"({stamp(next_month(month))})({stamp(at)})({fmt(value / 1000.0, 2, 3)}*kW)"
        for month, at, value in reversed(demand.history)
    )
    b.raw(f"0-0:98.1.0({len(demand.history)})(1-0:1.6.0)(1-0:1.6.0){history}")
    b.truth.demand_history = [
        (month.strftime("%Y-%m"), at.astimezone(UTC), float(Decimal(fmt(v / 1000.0, 2, 3)) * _KILO))
        for month, at, v in demand.history
    ]
    _total_power(b, model, 2, 3)
    _phase_power(b, model, 2)
    _voltages(b, model)
    _currents(b, model, 3, 2)
    b.raw("0-0:96.3.10(1)")
    b.raw("0-0:17.0.0(999.9*kW)")
    b.raw("1-0:31.4.0(999*A)")
    b.raw("0-0:96.13.0()")
    _mbus(b, model, "96.1.1", "24.2.3")


def _lu(b: _Builder, model: MeterModel, ident: Identity) -> None:
    b.raw("1-3:0.2.8(42)")
    b.raw(f"0-0:1.0.0({stamp(model.now)})")
    b.raw(f"0-0:42.0.0({hex_id(ident.equipment_id or '')})")
    _register_totals(b, model, 6, 3)
    _total_power(b, model, 2, 3)
    net_q = sum(model.reactive_var(p) for p in range(model.phases))
    b.raw(f"1-0:3.7.0({fmt(max(net_q, 0) / 1000.0, 2, 3)}*kvar)")
    b.raw(f"1-0:4.7.0({fmt(max(-net_q, 0) / 1000.0, 2, 3)}*kvar)")
    b.raw("0-0:17.0.0(999.9*kVA)")
    b.raw("0-0:96.3.10(1)")
    _grid_events(b, model)
    b.raw("0-0:96.13.0()")
    _voltages(b, model)
    _currents(b, model, 3, 0)
    _phase_power(b, model, 2)


def _se(b: _Builder, model: MeterModel) -> None:
    b.raw(f"0-0:1.0.0({stamp(model.now)})")
    _register_totals(b, model, 8, 3)
    _total_power(b, model, 4, 3)
    net_q = sum(model.reactive_var(p) for p in range(model.phases))
    b.raw(f"1-0:3.7.0({fmt(max(net_q, 0) / 1000.0, 4, 3)}*kvar)")
    b.raw(f"1-0:4.7.0({fmt(max(-net_q, 0) / 1000.0, 4, 3)}*kvar)")
    _phase_power(b, model, 4)
    for p in range(model.phases):
        q = model.reactive_var(p)
        pos = b.num(f"1-0:{20 * p + 23}.7.0", max(q, 0) / 1000.0, 4, 3, "kvar")
        neg = b.num(f"1-0:{20 * p + 24}.7.0", max(-q, 0) / 1000.0, 4, 3, "kvar")
        b.truth.values[K(Q.REACTIVE_POWER, phase=p + 1)] = float((pos - neg) * _KILO)
    _voltages(b, model)
    _currents(b, model, 3, 1)


def _register_totals(b: _Builder, model: MeterModel, digits: int, decimals: int) -> None:
    """Single-register meters (LU, SE): totals over both tariffs, and reactive energy."""
    b.num(
        "1-0:1.8.0",
        sum(model.import_wh) / 1000.0,
        digits,
        decimals,
        "kWh",
        K(Q.ENERGY_IMPORT),
        floor=True,
    )
    b.num(
        "1-0:2.8.0",
        sum(model.export_wh) / 1000.0,
        digits,
        decimals,
        "kWh",
        K(Q.ENERGY_EXPORT),
        floor=True,
    )
    b.raw(f"1-0:3.8.0({fmt(model.reactive_import_varh / 1000.0, digits, 3, floor=True)}*kvarh)")
    b.raw(f"1-0:4.8.0({fmt(model.reactive_export_varh / 1000.0, digits, 3, floor=True)}*kvarh)")


def _q3d(b: _Builder, model: MeterModel, ident: Identity) -> None:
    b.raw("1-0:0.0.0*255(1336001560)")
    b.num(
        "1-0:1.8.0*255", sum(model.import_wh) / 1000.0, 8, 7, "kWh", K(Q.ENERGY_IMPORT), floor=True
    )
    b.num(
        "1-0:2.8.0*255", sum(model.export_wh) / 1000.0, 8, 7, "kWh", K(Q.ENERGY_EXPORT), floor=True
    )
    # EasyMeter prints one signed power per phase and in total.
    for p in range(model.phases):
        value = b.num(f"1-0:{20 * p + 21}.7.0*255", model.net_w[p], 6, 2, "W", signed=True)
        _signed_power(b, value, p + 1)
    total = b.num("1-0:1.7.0*255", model.net_total_w, 6, 2, "W", signed=True)
    _signed_power(b, total, None)
    b.raw("1-0:96.5.5*255(80)")
    b.raw(f"0-0:96.1.255*255({ident.equipment_id})")


def _signed_power(b: _Builder, value: Decimal, phase: int | None) -> None:
    b.truth.values[K(Q.POWER_IMPORT, phase=phase)] = float(max(value, Decimal(0)))
    b.truth.values[K(Q.POWER_EXPORT, phase=phase)] = float(max(-value, Decimal(0)))
    b.truth.values[K(Q.POWER, phase=phase)] = float(value)


def capture_period(version: str) -> timedelta:
    """How often the M-Bus readings in the telegram are refreshed."""
    return timedelta(hours=1) if version in ("2.2", "4") else timedelta(minutes=5)
