"""Per-sensor roles and sign correction, and the quantities derived from them.

Like Voisin d'énergie's "signs" column, the user tells us per sensor what it
measures (consumption, production or the grid connection) and whether its
clamp reads the wrong way round (sign -1). Conventions after correction:
consumption and production are positive when energy is used or produced, the
grid is positive when importing.

On an FLM03 each current-clamp port publishes several sensors (pplus, pminus,
vrms …); a role or sign given to any of them applies to the whole port unless a
sibling has its own entry. A sensor counts along its clamp's arrow (direction
+1) except an FLM03 pminus (-1); direction times sign says which way it counts
after correction.

Per-sensor values (channel = sensor id) are the meter's own readings in
canonical units, never sign-corrected, as Voisin d'énergie keeps raw data and
applies signs when it computes totals. Counters of pminus sensors are
ENERGY_EXPORT, all other electricity counters ENERGY_IMPORT, whatever the role,
so a role change never renames a sensor's series.

Derived (channel-less) quantities:
- POWER_CONSUMPTION, POWER_PRODUCTION: the corrected sum of the role's sensors;
  POWER (net, import positive): the grid sensors' sum, and per phase (phase =
  n) when grid sensors carry phases. With no grid sensor, net = consumption -
  production; with no consumption sensor, consumption = net + production.
- ENERGY_CONSUMPTION, ENERGY_PRODUCTION, ENERGY_IMPORT: the sum of the role's
  counters that count in the role's positive direction; ENERGY_EXPORT: the grid
  counters that count the other way (an FLM03 pminus, or pplus with sign -1).
  Counters are never derived through the balance: their offsets differ.
A derived value is left out until every sensor it sums has reported, so a total
never jumps when a late sensor arrives.

`propose_roles` reads roles from the sensors' function names ("Verbruik",
"Panneaux solaires", "Netz L1") for the config flow to pre-fill; it never
guesses a sign.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from .flukso_config import MODEL_FLM03, FluksoDevice, FluksoSensor
from .flukso_readings import Kind, Reading
from .model import Quantity, QuantityKey


class Role(StrEnum):
    """What an electricity sensor measures."""

    CONSUMPTION = "consumption"
    PRODUCTION = "production"
    GRID = "grid"


@dataclass(frozen=True, slots=True)
class SensorRole:
    """The user's choice for one sensor."""

    role: Role | None = None
    sign: int = 1

    def __post_init__(self) -> None:
        if self.sign not in (1, -1):
            raise ValueError(f"sign must be 1 or -1, not {self.sign!r}")


NO_ROLE = SensorRole()

type Latest = Mapping[tuple[str, Kind], Reading]


def roles_from_options(options: Mapping[str, Any]) -> dict[str, SensorRole]:
    """Read `{sensor id: {"role": "grid" | None, "sign": 1 | -1}}` as stored by a flow.

    Raises ValueError on an unknown role or a sign other than ±1.
    """
    roles: dict[str, SensorRole] = {}
    for sensor_id, entry in options.items():
        if not isinstance(entry, Mapping):
            raise ValueError(f"role entry for {sensor_id} is not a mapping")
        raw_role = entry.get("role")
        role = Role(raw_role) if raw_role else None
        sign = entry.get("sign", 1)
        if isinstance(sign, bool) or not isinstance(sign, int | float) or sign not in (1, -1):
            raise ValueError(f"sign for {sensor_id} must be 1 or -1")
        roles[sensor_id.lower()] = SensorRole(role, int(sign))
    return roles


# Words in a sensor's function name that say its role, in the languages of
# Fluksometer users (en, nl, fr, de, and a few more). A word matches when it
# is one of these, or starts with one of four letters or more ("zonnepanelen",
# "Netzbezug", "photovoltaïque"); shorter ones must match whole ("net", "pv").
_ROLE_WORDS: Final[Mapping[Role, tuple[str, ...]]] = {
    Role.CONSUMPTION: (
        "consum",  # consumption, consumo
        "verbruik",
        "consomm",  # consommation
        "verbrauch",
        "usage",
        "house",
        "huis",
        "woning",
        "maison",
        "haus",
        "load",
    ),
    Role.PRODUCTION: (
        "solar",
        "solaire",
        "sun",
        "pv",
        "photovolt",
        "product",  # production, productie
        "opbrengst",
        "opwek",
        "erzeug",
        "zon",
        "zonne",
        "inverter",
        "omvormer",
        "onduleur",
        "wechselrichter",
        "wind",
    ),
    Role.GRID: ("grid", "net", "netz", "main", "reseau"),
}


def role_from_name(name: str | None) -> Role | None:
    """The role a sensor's function name suggests; None when it names none or several."""
    if not name:
        return None
    plain = unicodedata.normalize("NFKD", name.casefold())
    plain = "".join(char for char in plain if not unicodedata.combining(char))
    words = [word for word in re.split(r"[^a-z0-9]+", plain) if word]
    found = {
        role
        for role, stems in _ROLE_WORDS.items()
        for word in words
        for stem in stems
        if word == stem or (len(stem) >= 4 and word.startswith(stem))
    }
    return found.pop() if len(found) == 1 else None


def propose_roles(sensors: Iterable[FluksoSensor]) -> dict[str, SensorRole]:
    """Roles for the sensors whose function names say one; signs are left as measured."""
    proposed: dict[str, SensorRole] = {}
    for sensor in sensors:
        if sensor.active_power and (role := role_from_name(sensor.function)) is not None:
            proposed[sensor.id] = SensorRole(role)
    return proposed


def resolve_roles(device: FluksoDevice, roles: Mapping[str, SensorRole]) -> dict[str, SensorRole]:
    """Each sensor's effective role, FLM03 port siblings inheriting a configured one."""
    by_port: dict[int, SensorRole] = {}
    if device.model == MODEL_FLM03:
        for sensor in device.sensors.values():
            if sensor.id in roles and sensor.port is not None and sensor.active_power:
                by_port.setdefault(sensor.port, roles[sensor.id])
    resolved: dict[str, SensorRole] = {}
    for sensor in device.sensors.values():
        if sensor.id in roles:
            resolved[sensor.id] = roles[sensor.id]
        elif sensor.port is not None and sensor.port in by_port:
            resolved[sensor.id] = by_port[sensor.port]
        else:
            resolved[sensor.id] = NO_ROLE
    return resolved


def snapshot_values(
    device: FluksoDevice, roles: Mapping[str, SensorRole], latest: Latest
) -> dict[QuantityKey, float]:
    """Per-sensor values (channel = sensor id) followed by the derived totals."""
    resolved = resolve_roles(device, roles)
    values: dict[QuantityKey, float] = {}
    for (sensor_id, _kind), reading in sorted(latest.items()):
        sensor = device.sensors.get(sensor_id)
        if sensor is None or not sensor.enabled:
            continue
        key = QuantityKey(reading.quantity, phase=sensor.phase, channel=sensor_id)
        values[key] = reading.value
    values.update(derived_values(device, resolved, latest))
    return values


def derived_values(
    device: FluksoDevice, resolved: Mapping[str, SensorRole], latest: Latest
) -> dict[QuantityKey, float]:
    """The role totals; see the module docstring for the rules."""
    members: dict[Role, list[FluksoSensor]] = {role: [] for role in Role}
    for sensor in device.enabled_sensors:
        role = resolved[sensor.id].role
        if role is not None and sensor.active_power:
            members[role].append(sensor)

    def direction(sensor: FluksoSensor) -> int:
        return sensor.direction * resolved[sensor.id].sign

    def power(role: Role) -> float | None:
        return _sum((latest.get((s.id, Kind.GAUGE)), direction(s)) for s in members[role])

    def energy(role: Role, forward: bool) -> float | None:
        counters = [s for s in members[role] if (direction(s) > 0) == forward]
        if not counters:
            return None
        return _sum((latest.get((s.id, Kind.COUNTER)), 1) for s in counters)

    consumption = power(Role.CONSUMPTION)
    production = power(Role.PRODUCTION)
    grid = power(Role.GRID)
    has = {role: bool(members[role]) for role in Role}
    # A role without sensors contributes zero to the balance; one whose sensors
    # have not all reported yet makes the balance unknown.
    production_or_zero = production if has[Role.PRODUCTION] else 0.0
    if not has[Role.GRID] and has[Role.CONSUMPTION] and production_or_zero is not None:
        grid = None if consumption is None else consumption - production_or_zero
    if not has[Role.CONSUMPTION] and has[Role.GRID] and production_or_zero is not None:
        consumption = None if grid is None else grid + production_or_zero

    candidates = {
        QuantityKey(Quantity.POWER_CONSUMPTION): consumption,
        QuantityKey(Quantity.POWER_PRODUCTION): production,
        QuantityKey(Quantity.POWER): grid,
        QuantityKey(Quantity.ENERGY_CONSUMPTION): energy(Role.CONSUMPTION, True),
        QuantityKey(Quantity.ENERGY_PRODUCTION): energy(Role.PRODUCTION, True),
        QuantityKey(Quantity.ENERGY_IMPORT): energy(Role.GRID, True),
        QuantityKey(Quantity.ENERGY_EXPORT): energy(Role.GRID, False),
    }
    phases = sorted({s.phase for s in members[Role.GRID] if s.phase is not None})
    for phase in phases:
        candidates[QuantityKey(Quantity.POWER, phase=phase)] = _sum(
            (latest.get((s.id, Kind.GAUGE)), direction(s))
            for s in members[Role.GRID]
            if s.phase == phase
        )
    return {key: value for key, value in candidates.items() if value is not None}


def _sum(terms: Iterable[tuple[Reading | None, int]]) -> float | None:
    """Signed sum of readings; None when there are none or one is missing."""
    total = 0.0
    count = 0
    for reading, factor in terms:
        if reading is None:
            return None
        total += factor * reading.value
        count += 1
    return total if count else None
