"""A Fluksometer config entry: what its data and options hold, and the driver built from them.

Entry data: host, port and (optionally) the broker's username and password;
the unique id is the Fluksometer's device id, which also picks that meter when
several are bridged onto one broker. Options: the role and sign of each sensor
(`roles`, as flukso_roles.roles_from_options reads them), the tmpo API's base
URL and the flukso.net sensor tokens used for the history backfill.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant

from .const import CONF_TOKEN
from .coordinator import WattkeeperConfigEntry
from .meters.flukso import DEFAULT_PORT, FluksoMeter
from .meters.flukso_config import (
    MODEL_FLM03,
    SUBTYPE_PPLUS,
    FluksoDevice,
    FluksoSensor,
    sensor_names,
)
from .meters.flukso_roles import Role, SensorRole, roles_from_options
from .meters.flukso_tmpo import DEFAULT_BASE_URL

CONF_ROLES: Final = "roles"
CONF_TMPO_URL: Final = "tmpo_url"
# {sensor id: token}; kept under the "token" key so diagnostics redact all of it.
CONF_TMPO_TOKENS: Final = CONF_TOKEN

# How long the config flow waits for the retained configuration topics.
DISCOVERY_TIMEOUT: float = 10.0


def create_flukso_meter(hass: HomeAssistant, entry: WattkeeperConfigEntry) -> FluksoMeter:
    """The driver of an entry, with the roles and signs of its options."""
    return meter_from_data(entry.data, entry.unique_id, entry.options.get(CONF_ROLES, {}))


def meter_from_data(
    data: Mapping[str, Any],
    device_id: str | None = None,
    roles: Mapping[str, Any] | None = None,
    *,
    discovery_timeout: float | None = None,
) -> FluksoMeter:
    """A driver for the broker that `data` (entry data or a flow's input) points at."""
    extra: dict[str, Any] = {}
    if discovery_timeout is not None:
        extra["discovery_timeout"] = discovery_timeout
    return FluksoMeter(
        data[CONF_HOST],
        int(data.get(CONF_PORT, DEFAULT_PORT)),
        username=data.get(CONF_USERNAME) or None,
        password=data.get(CONF_PASSWORD) or None,
        device_id=device_id,
        roles=roles_from_options(roles or {}),
        **extra,
    )


def tmpo_url(options: Mapping[str, Any]) -> str:
    return str(options.get(CONF_TMPO_URL) or DEFAULT_BASE_URL)


def role_sensors(device: FluksoDevice) -> list[FluksoSensor]:
    """The sensors a user gives a role: one per FLM03 clamp port, every FLM02 clamp.

    An FLM03 port's siblings (pminus, vrms …) inherit the role of its pplus
    sensor (flukso_roles.resolve_roles), so offering them too would only invite
    contradictions.
    """
    candidates = [s for s in device.enabled_sensors if s.active_power]
    if device.model != MODEL_FLM03:
        return candidates
    chosen: dict[int | str, FluksoSensor] = {}
    for sensor in candidates:
        slot: int | str = sensor.port if sensor.port is not None else sensor.id
        current = chosen.get(slot)
        if current is None or (
            sensor.subtype == SUBTYPE_PPLUS and current.subtype != SUBTYPE_PPLUS
        ):
            chosen[slot] = sensor
    return list(chosen.values())


def counter_sensors(device: FluksoDevice) -> list[FluksoSensor]:
    """The sensors whose counter history flukso.net keeps: active energy, gas, water."""
    return [s for s in device.enabled_sensors if s.active_power or s.type.value in ("gas", "water")]


def token_fields(device: FluksoDevice) -> dict[str, FluksoSensor]:
    """The backfill form's token fields, keyed by the sensors' names.

    A form shows a field's key where it has no translation, and these keys
    are the user's own sensor names (flukso_config.sensor_names).
    """
    names = sensor_names(device)
    return {
        names[s.id] if names[s.id] != CONF_TMPO_URL else s.id: s for s in counter_sensors(device)
    }


def describe(sensor: FluksoSensor) -> str:
    """A line naming a sensor the way the Fluksometer's own configuration does."""
    kind = sensor.type.value if sensor.subtype is None else f"{sensor.type.value} {sensor.subtype}"
    where = f", port {sensor.port}" if sensor.port is not None else ""
    state = "" if sensor.enabled else ", disabled"
    return f"{sensor.function or sensor.id} ({kind}{where}{state})"


def label(sensor: FluksoSensor) -> str:
    """A short name for a sensor in a selector."""
    name = sensor.function or sensor.id[:8]
    return f"{name} (port {sensor.port})" if sensor.port is not None else name


def roles_by_role(roles: Mapping[str, SensorRole]) -> dict[Role, list[str]]:
    """Invert stored roles into {role: sensor ids} for a form's defaults."""
    result: dict[Role, list[str]] = {role: [] for role in Role}
    for sensor_id, sensor_role in roles.items():
        if sensor_role.role is not None:
            result[sensor_role.role].append(sensor_id)
    return result
