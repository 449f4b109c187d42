"""Flipping the sign of Fluksometer sensors: which sensors a wrong sign can come
from, and the entry options once they are flipped.

A Fluksometer entry keeps its per-sensor roles and signs in
`entry.options[CONF_ROLES]`, in the format meters/flukso_roles.py reads:
`{sensor id: {"role": "consumption" | "production" | "grid" | None, "sign": 1 | -1}}`.
A negative consumption or production total means a sensor of that role counts
the wrong way round (with no consumption sensor, consumption is grid +
production, so those are the suspects). Per-sensor series are raw readings
that are never sign-corrected, so they have nothing to flip.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from .const import CONF_KIND
from .coordinator import WattkeeperConfigEntry
from .meters.flukso_roles import Role, roles_from_options
from .meters.model import MeterKind, Quantity, QuantityKey

# The same key as flukso_entry.CONF_ROLES; not imported from there, because that
# module loads the MQTT driver, which the quality glue of other meters need not.
CONF_ROLES: Final = "roles"

_ROLES_OF: Final[Mapping[Quantity, frozenset[Role]]] = {
    Quantity.POWER_CONSUMPTION: frozenset({Role.CONSUMPTION}),
    Quantity.ENERGY_CONSUMPTION: frozenset({Role.CONSUMPTION}),
    Quantity.POWER_PRODUCTION: frozenset({Role.PRODUCTION}),
    Quantity.ENERGY_PRODUCTION: frozenset({Role.PRODUCTION}),
    Quantity.POWER_IMPORT: frozenset({Role.GRID}),
    Quantity.POWER_EXPORT: frozenset({Role.GRID}),
    Quantity.ENERGY_IMPORT: frozenset({Role.GRID}),
    Quantity.ENERGY_EXPORT: frozenset({Role.GRID}),
}


def sign_candidates(entry: WattkeeperConfigEntry, key: QuantityKey) -> list[str]:
    """Sensor ids whose sign may be wrong when `key` has an impossible sign."""
    if entry.data.get(CONF_KIND) != MeterKind.FLUKSO.value or key.channel is not None:
        return []
    try:
        roles = roles_from_options(entry.options.get(CONF_ROLES, {}))
    except ValueError:
        return []
    wanted = _ROLES_OF.get(key.quantity, frozenset())
    members = sorted(sensor for sensor, role in roles.items() if role.role in wanted)
    if not members and key.quantity is Quantity.POWER_CONSUMPTION:
        suspects = {Role.GRID, Role.PRODUCTION}
        members = sorted(sensor for sensor, role in roles.items() if role.role in suspects)
    return members


def flipped_options(options: Mapping[str, Any], sensors: Iterable[str]) -> dict[str, Any]:
    """The options with each sensor's sign reversed; raises ValueError on a bad mapping."""
    roles: dict[str, dict[str, Any]] = {
        sensor_id: dict(entry) for sensor_id, entry in options.get(CONF_ROLES, {}).items()
    }
    # Sensor ids are case-insensitive (roles_from_options lowercases them).
    stored = {sensor_id.lower(): sensor_id for sensor_id in roles}
    for sensor in sensors:
        sensor_id = stored.get(sensor.lower(), sensor)
        current = roles.get(sensor_id, {})
        roles[sensor_id] = {"role": None, **current, "sign": -int(current.get("sign", 1))}
    roles_from_options(roles)
    return {**options, CONF_ROLES: roles}
