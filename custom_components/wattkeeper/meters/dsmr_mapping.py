"""Turn a parsed dsmr-parser Telegram into the shared Snapshot.

Values (canonical units; meters' kW, Wh, kvar are converted):
- ENERGY_IMPORT / ENERGY_EXPORT with tariff=1, 2 (1.8.1/1.8.2, 2.8.1/2.8.2) and
  without tariff the total (1.8.0/2.8.0, else the sum of the tariffs).
  Tariff numbers are the meter's own: in NL 1 = low, in BE 1 = day.
- TARIFF: the current tariff (96.14.0).
- POWER_IMPORT / POWER_EXPORT total (1.7.0/2.7.0) and per phase (21/41/61.7.0,
  22/42/62.7.0); POWER = import - export, total and per phase. Meters that send
  one signed power (Q3D) give import and export from its sign.
- VOLTAGE, CURRENT, VOLTAGE_SAGS, VOLTAGE_SWELLS per phase; REACTIVE_POWER per
  phase (Sweden); POWER_FAILURES (96.7.21), LONG_POWER_FAILURES (96.7.9).
- AVERAGE_DEMAND (BE 1.4.0) and MONTHLY_PEAK (BE 1.6.0), in W.
- M-Bus devices (gas, water, heat) become sub-meter Snapshots with their own
  identity (serial = decoded equipment id) stamped with the M-Bus reading time.

Texts (keys are the TEXT_* constants below):
- `dsmr_version`: the protocol version the telegram was read as ("5", "5B" …).
- `p1_version`: the P1 version the meter states (0.2.8, or 96.1.4 in Belgium).
- `header`: the identification line without the leading "/".
- `text_message`: the utility's text message (96.13.0), decoded, when not empty.
- `monthly_peak_at`: ISO 8601 UTC time of this month's peak (BE 1.6.0).
- `max_demand_history`: JSON list, oldest first, of
  {"month": "YYYY-MM", "at": ISO 8601 UTC or null, "value": W} (BE 98.1.0).
  Each 98.1.0 entry is stamped when the meter closed that month, local
  midnight on the 1st of the next one (e-MUCS P1: "(200501000000S)
  (200423192538S)(03.695*kW)" is April's peak), so "month" is the local
  month that ends at the stamp.
- `power_failure_log`: JSON list of {"end": ISO 8601 UTC or null, "duration": s}
  (99.97.0).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from zoneinfo import ZoneInfo

from .model import MeterIdentity, MeterKind, Quantity, QuantityKey, Snapshot

LOGGER = logging.getLogger(__name__)

TEXT_DSMR_VERSION: Final = "dsmr_version"
TEXT_P1_VERSION: Final = "p1_version"
TEXT_HEADER: Final = "header"
TEXT_MESSAGE: Final = "text_message"
TEXT_MONTHLY_PEAK_AT: Final = "monthly_peak_at"
TEXT_MAX_DEMAND_HISTORY: Final = "max_demand_history"
TEXT_POWER_FAILURE_LOG: Final = "power_failure_log"

# The FLAG id (first three letters of the header) of common P1 meter makers.
MANUFACTURERS: Final[dict[str, str]] = {
    "ISK": "Iskraemeco",
    "KFM": "Kaifa",
    "XMX": "Landis+Gyr",
    "LGF": "Landis+Gyr",
    "KMP": "Kamstrup",
    "SAG": "Sagemcom",
    "EST": "Sagemcom",
    "ESY": "EasyMeter",
    "ELL": "Elster",
    "EIT": "Elster",
    "ADN": "Aidon",
    "FLU": "Fluvius",
    "SMR": "Sagemcom",
    "ZCF": "Ziv",
}

# Where each flavour puts the electricity meter's own id, in order of preference.
ID_FIELDS: Final = (
    "EQUIPMENT_IDENTIFIER",
    "BELGIUM_EQUIPMENT_IDENTIFIER",
    "LUXEMBOURG_EQUIPMENT_IDENTIFIER",
    "Q3D_EQUIPMENT_SERIALNUMBER",
    "Q3D_EQUIPMENT_IDENTIFIER",
)

# Belgian capacity-tariff months are local calendar months.
_METER_ZONE: Final = ZoneInfo("Europe/Brussels")
# A 98.1.0 month's stamp is the start of the next month: this earlier is inside it.
_JUST_BEFORE: Final = timedelta(seconds=1)

# Telegram attribute → quantity key, for the plain one-value lines.
_SIMPLE: Final[tuple[tuple[str, QuantityKey], ...]] = (
    ("ELECTRICITY_USED_TARIFF_1", QuantityKey(Quantity.ENERGY_IMPORT, tariff=1)),
    ("ELECTRICITY_USED_TARIFF_2", QuantityKey(Quantity.ENERGY_IMPORT, tariff=2)),
    ("ELECTRICITY_DELIVERED_TARIFF_1", QuantityKey(Quantity.ENERGY_EXPORT, tariff=1)),
    ("ELECTRICITY_DELIVERED_TARIFF_2", QuantityKey(Quantity.ENERGY_EXPORT, tariff=2)),
    ("ELECTRICITY_IMPORTED_TOTAL", QuantityKey(Quantity.ENERGY_IMPORT)),
    ("ELECTRICITY_EXPORTED_TOTAL", QuantityKey(Quantity.ENERGY_EXPORT)),
    ("ELECTRICITY_ACTIVE_TARIFF", QuantityKey(Quantity.TARIFF)),
    ("SHORT_POWER_FAILURE_COUNT", QuantityKey(Quantity.POWER_FAILURES)),
    ("LONG_POWER_FAILURE_COUNT", QuantityKey(Quantity.LONG_POWER_FAILURES)),
    ("BELGIUM_CURRENT_AVERAGE_DEMAND", QuantityKey(Quantity.AVERAGE_DEMAND)),
    *((f"INSTANTANEOUS_VOLTAGE_L{p}", QuantityKey(Quantity.VOLTAGE, phase=p)) for p in range(1, 4)),
    *((f"INSTANTANEOUS_CURRENT_L{p}", QuantityKey(Quantity.CURRENT, phase=p)) for p in range(1, 4)),
    *(
        (f"VOLTAGE_SAG_L{p}_COUNT", QuantityKey(Quantity.VOLTAGE_SAGS, phase=p))
        for p in range(1, 4)
    ),
    *(
        (f"VOLTAGE_SWELL_L{p}_COUNT", QuantityKey(Quantity.VOLTAGE_SWELLS, phase=p))
        for p in range(1, 4)
    ),
)

# (attribute for import or positive, attribute for export or negative, phase).
_POWER_PAIRS: Final[tuple[tuple[str, str, int | None], ...]] = (
    ("CURRENT_ELECTRICITY_USAGE", "CURRENT_ELECTRICITY_DELIVERY", None),
    *(
        (
            f"INSTANTANEOUS_ACTIVE_POWER_L{p}_POSITIVE",
            f"INSTANTANEOUS_ACTIVE_POWER_L{p}_NEGATIVE",
            p,
        )
        for p in range(1, 4)
    ),
)
_REACTIVE_PAIRS: Final[tuple[tuple[str, str, int], ...]] = tuple(
    (
        f"INSTANTANEOUS_REACTIVE_POWER_L{p}_POSITIVE",
        f"INSTANTANEOUS_REACTIVE_POWER_L{p}_NEGATIVE",
        p,
    )
    for p in range(1, 4)
)

# (meter unit, canonical unit) → factor. A missing unit means the canonical one.
_FACTORS: Final[dict[tuple[str, str | None], Decimal]] = {
    ("kWh", "kWh"): Decimal(1),
    ("Wh", "kWh"): Decimal("0.001"),
    ("MWh", "kWh"): Decimal(1000),
    ("kW", "W"): Decimal(1000),
    ("W", "W"): Decimal(1),
    ("kvar", "var"): Decimal(1000),
    ("var", "var"): Decimal(1),
    ("V", "V"): Decimal(1),
    ("A", "A"): Decimal(1),
    ("m3", "m³"): Decimal(1),
    ("GJ", "GJ"): Decimal(1),
    ("MJ", "GJ"): Decimal("0.001"),
    ("kWh", "GJ"): Decimal("0.0036"),
    ("MWh", "GJ"): Decimal("3.6"),
}

# EN 13757-3 device types seen on a P1 port's M-Bus → (quantity, model).
_MBUS_TYPES: Final[dict[int, tuple[Quantity, str]]] = {
    3: (Quantity.GAS, "Gas meter"),
    4: (Quantity.HEAT, "Heat meter"),
    6: (Quantity.WATER, "Warm water meter"),
    7: (Quantity.WATER, "Water meter"),
    12: (Quantity.HEAT, "Heat meter"),
    13: (Quantity.HEAT, "Heat meter"),
}

_warned_units: set[str] = set()


def decode_id(raw: str | None) -> str | None:
    """Equipment ids are hex-encoded ASCII on most meters; plain text on some.

    Returns None for an absent or blank (all zeros) id.
    """
    if raw is None:
        return None
    text = raw.strip()
    if not text or set(text) <= {"0"}:
        return None
    if len(text) % 2 == 0:
        try:
            decoded = bytes.fromhex(text).decode("ascii")
        except ValueError:
            return text
        if decoded.isprintable() and decoded.strip():
            return decoded.strip()
    return text


def split_header(header: str) -> tuple[str, str]:
    """(manufacturer, model) from an identification line such as `ISK5\\2M550T-1012`."""
    text = header.lstrip("/").strip()
    flag = text[:3]
    model = text[4:]
    # `\\` + a digit after the baud-rate character marks an enhanced identification.
    if len(model) >= 2 and model[0] == "\\" and model[1].isdigit():
        model = model[2:]
    return MANUFACTURERS.get(flag.upper(), flag or "Unknown"), model.strip() or text


def raw_equipment_id(telegram: Any) -> str | None:
    """The first electricity equipment id the telegram carries, as sent."""
    for name in ID_FIELDS:
        raw = _raw(telegram, name)
        if raw:
            return raw
    return None


def identity_from(telegram: Any, header: str, version: str, address: str | None) -> MeterIdentity:
    manufacturer, model = split_header(header)
    serial = None
    for name in ID_FIELDS:
        serial = decode_id(_raw(telegram, name))
        if serial:
            break
    return MeterIdentity(
        kind=MeterKind.DSMR,
        # Swedish meters send no id at all: the header is the best we have.
        serial=serial or header.lstrip("/").strip(),
        model=model,
        manufacturer=manufacturer,
        name=f"DSMR {version} smart meter",
        address=address,
    )


def snapshot_from(
    telegram: Any,
    identity: MeterIdentity,
    *,
    header: str,
    version: str,
    received_at: datetime,
) -> Snapshot:
    """Map one telegram; `received_at` stamps it when the meter sends no time."""
    measured_at = _time(getattr(telegram, "P1_MESSAGE_TIMESTAMP", None)) or received_at
    values: dict[QuantityKey, float] = {}
    for name, key in _SIMPLE:
        value = _number(getattr(telegram, name, None), key.unit)
        if value is not None:
            values[key] = float(value)
    _add_totals(values, telegram)
    _add_power(values, telegram)
    texts = _texts(telegram, header, version)
    peak = getattr(telegram, "BELGIUM_MAXIMUM_DEMAND_MONTH", None)
    peak_value = _number(peak, "W")
    if peak_value is not None:
        values[QuantityKey(Quantity.MONTHLY_PEAK)] = float(peak_value)
        peak_at = _time(peak)
        if peak_at is not None:
            texts[TEXT_MONTHLY_PEAK_AT] = peak_at.isoformat()
    return Snapshot(
        identity=identity,
        measured_at=measured_at,
        values=values,
        texts=texts,
        sub_meters=tuple(_sub_meters(telegram, identity, measured_at)),
    )


def _add_totals(values: dict[QuantityKey, float], telegram: Any) -> None:
    """Meters without a total register get the sum of their tariff registers."""
    for quantity, names in (
        (Quantity.ENERGY_IMPORT, ("ELECTRICITY_USED_TARIFF_1", "ELECTRICITY_USED_TARIFF_2")),
        (
            Quantity.ENERGY_EXPORT,
            ("ELECTRICITY_DELIVERED_TARIFF_1", "ELECTRICITY_DELIVERED_TARIFF_2"),
        ),
    ):
        if QuantityKey(quantity) in values:
            continue
        parts = [_number(getattr(telegram, n, None), "kWh") for n in names]
        if all(p is not None for p in parts):
            values[QuantityKey(quantity)] = float(sum(p for p in parts if p is not None))


def _add_power(values: dict[QuantityKey, float], telegram: Any) -> None:
    for positive, negative, phase in _POWER_PAIRS:
        imp = _number(getattr(telegram, positive, None), "W")
        exp = _number(getattr(telegram, negative, None), "W")
        if imp is None and exp is None:
            continue
        if exp is None and imp is not None:
            # One signed value (EasyMeter): its sign says which way power flows.
            imp, exp = max(imp, Decimal(0)), max(-imp, Decimal(0))
        imp = imp if imp is not None else Decimal(0)
        exp = exp if exp is not None else Decimal(0)
        values[QuantityKey(Quantity.POWER_IMPORT, phase=phase)] = float(imp)
        values[QuantityKey(Quantity.POWER_EXPORT, phase=phase)] = float(exp)
        values[QuantityKey(Quantity.POWER, phase=phase)] = float(imp - exp)
    for positive, negative, phase in _REACTIVE_PAIRS:
        q_pos = _number(getattr(telegram, positive, None), "var")
        q_neg = _number(getattr(telegram, negative, None), "var")
        if q_pos is None and q_neg is None:
            continue
        reactive = (q_pos or Decimal(0)) - (q_neg or Decimal(0))
        values[QuantityKey(Quantity.REACTIVE_POWER, phase=phase)] = float(reactive)


def _texts(telegram: Any, header: str, version: str) -> dict[str, str]:
    texts = {TEXT_DSMR_VERSION: version, TEXT_HEADER: header.lstrip("/").strip()}
    p1 = _raw(telegram, "P1_MESSAGE_HEADER") or _raw(telegram, "BELGIUM_VERSION_INFORMATION")
    if p1:
        texts[TEXT_P1_VERSION] = p1
    message = _raw(telegram, "TEXT_MESSAGE")
    if message:
        texts[TEXT_MESSAGE] = decode_id(message) or message
    history = getattr(telegram, "BELGIUM_MAXIMUM_DEMAND_13_MONTHS", None)
    if isinstance(history, list):
        texts[TEXT_MAX_DEMAND_HISTORY] = json.dumps(_demand_history(history))
    failures = getattr(telegram, "POWER_EVENT_FAILURE_LOG", None)
    if failures is not None:
        texts[TEXT_POWER_FAILURE_LOG] = json.dumps(_failure_log(failures))
    return texts


def _demand_history(entries: Iterable[Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for entry in entries:
        closed = _time(entry)
        month = closed - _JUST_BEFORE if closed is not None else None
        value = _number(entry, "W")
        occurred = entry.occurred if isinstance(entry.occurred, datetime) else None
        if month is None or value is None:
            continue
        rows.append(
            {
                "month": month.astimezone(_METER_ZONE).strftime("%Y-%m"),
                "at": occurred.astimezone(UTC).isoformat() if occurred else None,
                "value": float(value),
            }
        )
    rows.sort(key=lambda row: str(row["month"]))
    return rows


def _failure_log(log: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for event in log.buffer:
        end = _time(event)
        duration = event.value
        rows.append(
            {
                "end": end.isoformat() if end else None,
                "duration": int(duration) if duration is not None else None,
            }
        )
    return rows


def _sub_meters(telegram: Any, parent: MeterIdentity, fallback: datetime) -> Iterable[Snapshot]:
    for device in getattr(telegram, "MBUS_DEVICES", None) or ():
        reading = _first(device, "MBUS_METER_READING", "HOURLY_GAS_METER_READING")
        reading = reading or getattr(device, "GAS_METER_READING", None)
        if reading is None or reading.value is None:
            continue
        kind = _mbus_kind(device, reading)
        if kind is None:
            continue
        quantity, model = kind
        value = _number(reading, UNITS_OF[quantity])
        if value is None:
            continue
        ident = _first(device, "MBUS_EQUIPMENT_IDENTIFIER", "EQUIPMENT_IDENTIFIER_GAS")
        serial = decode_id(ident.value if ident is not None else None)
        yield Snapshot(
            identity=MeterIdentity(
                kind=MeterKind.DSMR,
                serial=serial or f"{parent.serial}-mbus{device.channel_id}",
                model=model,
                manufacturer="M-Bus",
                name=model,
                address=parent.address,
            ),
            measured_at=_time(reading) or fallback,
            values={QuantityKey(quantity): float(value)},
        )


UNITS_OF: Final[dict[Quantity, str | None]] = {
    Quantity.GAS: "m³",
    Quantity.WATER: "m³",
    Quantity.HEAT: "GJ",
}


def _mbus_kind(device: Any, reading: Any) -> tuple[Quantity, str] | None:
    type_obj = _first(device, "MBUS_DEVICE_TYPE", "DEVICE_TYPE")
    if type_obj is not None:
        try:
            return _MBUS_TYPES.get(int(str(type_obj.value)))
        except ValueError:
            pass
    # No (readable) device type: the unit tells heat from gas.
    unit = str(reading.unit or "")
    return (Quantity.HEAT, "Heat meter") if unit in {"GJ", "MJ"} else (Quantity.GAS, "Gas meter")


def _first(device: Any, *names: str) -> Any:
    for name in names:
        found = getattr(device, name, None)
        if found is not None:
            return found
    return None


def _raw(telegram: Any, name: str) -> str | None:
    obj = getattr(telegram, name, None)
    value = getattr(obj, "value", None)
    return None if value is None else str(value)


def _time(obj: Any) -> datetime | None:
    """A dsmr-parser timestamp (aware, UTC) from a Cosem or M-Bus object."""
    if obj is None:
        return None
    stamp = getattr(obj, "datetime", None)
    if stamp is None:
        stamp = getattr(obj, "value", None)
    if isinstance(stamp, datetime):
        return stamp.astimezone(UTC)
    return None


def _number(obj: Any, canonical: str | None) -> Decimal | None:
    """The object's value converted to `canonical`; None when absent or unreadable."""
    if obj is None:
        return None
    raw = obj.value
    if raw is None or isinstance(raw, datetime | list):
        return None
    try:
        value = raw if isinstance(raw, Decimal) else Decimal(str(raw).strip())
    except InvalidOperation:
        return None
    unit = obj.unit
    if not unit or unit == canonical:
        return value
    factor = _FACTORS.get((str(unit), canonical))
    if factor is None:
        if unit not in _warned_units:
            _warned_units.add(str(unit))
            LOGGER.warning("Ignoring DSMR values in unit %s (expected %s)", unit, canonical)
        return None
    return value * factor
