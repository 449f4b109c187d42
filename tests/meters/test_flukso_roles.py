"""Roles, sign correction and derived quantities, against hand-computed values."""

from __future__ import annotations

import pytest

from custom_components.wattkeeper.meters.flukso_config import (
    MODEL_FLM02,
    MODEL_FLM03,
    FluksoDevice,
    FluksoSensor,
    SensorType,
)
from custom_components.wattkeeper.meters.flukso_readings import Kind, Reading
from custom_components.wattkeeper.meters.flukso_roles import (
    Role,
    SensorRole,
    propose_roles,
    resolve_roles,
    role_from_name,
    roles_from_options,
    snapshot_values,
)
from custom_components.wattkeeper.meters.model import Quantity, QuantityKey

TS = 1700000000


def sensor(
    sensor_id: str,
    port: int,
    *,
    subtype: str | None = None,
    phase: int | None = None,
    enabled: bool = True,
) -> FluksoSensor:
    return FluksoSensor(
        id=sensor_id,
        type=SensorType.ELECTRICITY,
        function=None,
        phase=phase,
        enabled=enabled,
        port=port,
        subtype=subtype,
    )


def device(model: str, *sensors: FluksoSensor) -> FluksoDevice:
    return FluksoDevice(device_id="d", model=model, sensors={s.id: s for s in sensors})


def readings(
    gauges: dict[str, float], counters: dict[str, tuple[Quantity, float]] | None = None
) -> dict[tuple[str, Kind], Reading]:
    latest = {(sid, Kind.GAUGE): Reading(TS, Quantity.POWER, w) for sid, w in gauges.items()}
    for sid, (quantity, kwh) in (counters or {}).items():
        latest[(sid, Kind.COUNTER)] = Reading(TS, quantity, kwh)
    return latest


def derived(values: dict[QuantityKey, float]) -> dict[str, float]:
    return {key.id: value for key, value in values.items() if key.channel is None}


IMPORT, EXPORT = Quantity.ENERGY_IMPORT, Quantity.ENERGY_EXPORT


def test_consumption_and_production_give_the_net() -> None:
    flm02 = device(MODEL_FLM02, sensor("cons", 1), sensor("pv", 2), sensor("off", 3, enabled=False))
    roles = {"cons": SensorRole(Role.CONSUMPTION), "pv": SensorRole(Role.PRODUCTION)}
    latest = readings(
        {"cons": 900, "pv": 1500, "off": 77},
        {"cons": (IMPORT, 12.0), "pv": (IMPORT, 30.0), "off": (IMPORT, 1.0)},
    )

    values = snapshot_values(flm02, roles, latest)

    assert derived(values) == {
        "power_consumption": 900,
        "power_production": 1500,
        "power": -600,
        "energy_consumption": 12.0,
        "energy_production": 30.0,
    }
    # Per-sensor values are the meter's own; disabled sensors are left out.
    assert values[QuantityKey(Quantity.POWER, channel="pv")] == 1500
    assert values[QuantityKey(IMPORT, channel="cons")] == 12.0
    assert QuantityKey(Quantity.POWER, channel="off") not in values


def test_grid_and_production_give_the_consumption() -> None:
    flm02 = device(MODEL_FLM02, sensor("grid", 1), sensor("pv", 2))
    roles = {"grid": SensorRole(Role.GRID), "pv": SensorRole(Role.PRODUCTION)}

    values = snapshot_values(flm02, roles, readings({"grid": 300, "pv": 1500}))

    assert derived(values) == {
        "power_consumption": 1800,
        "power_production": 1500,
        "power": 300,
    }


def test_a_missing_member_withholds_the_totals_it_feeds() -> None:
    flm02 = device(MODEL_FLM02, sensor("cons", 1), sensor("pv", 2))
    roles = {"cons": SensorRole(Role.CONSUMPTION), "pv": SensorRole(Role.PRODUCTION)}

    values = snapshot_values(flm02, roles, readings({"cons": 900}))

    assert derived(values) == {"power_consumption": 900}
    assert values[QuantityKey(Quantity.POWER, channel="cons")] == 900


def test_flm03_port_siblings_inherit_role_and_sign() -> None:
    flm03 = device(
        MODEL_FLM03,
        sensor("p1+", 1, subtype="pplus", phase=1),
        sensor("p1-", 1, subtype="pminus", phase=1),
        sensor("p1v", 1, subtype="vrms", phase=1),
        sensor("p2+", 2, subtype="pplus", phase=2),
        sensor("p2-", 2, subtype="pminus", phase=2),
        sensor("pv+", 4, subtype="pplus"),
        sensor("pv-", 4, subtype="pminus"),
    )
    roles = {
        "p1+": SensorRole(Role.GRID),
        "p2+": SensorRole(Role.GRID, -1),  # clamp mounted the wrong way round
        "pv+": SensorRole(Role.PRODUCTION, -1),
    }
    latest = readings(
        {"p1+": 500, "p1-": 0, "p2+": 0, "p2-": 200, "pv+": 0, "pv-": 1000},
        {
            "p1+": (IMPORT, 10.0),
            "p1-": (EXPORT, 4.0),
            "p2+": (IMPORT, 1.0),
            "p2-": (EXPORT, 7.0),
            "pv+": (IMPORT, 0.5),
            "pv-": (EXPORT, 20.0),
        },
    )

    resolved = resolve_roles(flm03, roles)
    values = snapshot_values(flm03, roles, latest)

    assert resolved["p2-"] == SensorRole(Role.GRID, -1)
    assert resolved["p1v"] == SensorRole(Role.GRID)
    assert derived(values) == {
        # Net: 500 on L1 plus 200 imported through the reversed L2 clamp.
        "power": 700,
        "power_l1": 500,
        "power_l2": 200,
        "power_production": 1000,
        "power_consumption": 1700,
        # Import counts along the corrected direction: p1+ and the reversed p2-.
        "energy_import": 17.0,
        "energy_export": 5.0,
        "energy_production": 20.0,
    }
    assert values[QuantityKey(EXPORT, phase=2, channel="p2-")] == 7.0


def test_a_sibling_with_its_own_entry_keeps_it() -> None:
    flm03 = device(
        MODEL_FLM03,
        sensor("a+", 1, subtype="pplus"),
        sensor("a-", 1, subtype="pminus"),
    )
    roles = {"a+": SensorRole(Role.GRID), "a-": SensorRole(None)}

    assert resolve_roles(flm03, roles)["a-"] == SensorRole(None)


def test_roles_from_options() -> None:
    roles = roles_from_options(
        {"AB12": {"role": "grid", "sign": -1}, "cd34": {"role": None}, "ef56": {"role": ""}}
    )

    assert roles == {
        "ab12": SensorRole(Role.GRID, -1),
        "cd34": SensorRole(None, 1),
        "ef56": SensorRole(None, 1),
    }


@pytest.mark.parametrize(
    "options",
    [
        {"a": {"role": "battery"}},
        {"a": {"role": "grid", "sign": 2}},
        {"a": {"role": "grid", "sign": True}},
        {"a": "grid"},
    ],
)
def test_roles_from_options_rejects_bad_entries(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011  (each case has its own message)
        roles_from_options(options)


def test_sign_must_be_plus_or_minus_one() -> None:
    with pytest.raises(ValueError, match="sign"):
        SensorRole(Role.GRID, 0)


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("Consumption", Role.CONSUMPTION),
        ("Verbruik woning", Role.CONSUMPTION),
        ("Consommation", Role.CONSUMPTION),
        ("Hausverbrauch", Role.CONSUMPTION),  # a compound starting with a stem
        ("Verbrauch", Role.CONSUMPTION),
        ("Solar", Role.PRODUCTION),
        ("PV", Role.PRODUCTION),
        ("Zonnepanelen", Role.PRODUCTION),
        ("Panneaux solaires", Role.PRODUCTION),
        ("Photovoltaïque", Role.PRODUCTION),
        ("productie", Role.PRODUCTION),
        ("Grid L1", Role.GRID),
        ("net", Role.GRID),
        ("Main", Role.GRID),
        ("Réseau L2", Role.GRID),
        ("Netzbezug", Role.GRID),
        # Nothing said, or two roles at once: no proposal.
        ("Heat pump", None),
        ("Zone 1", None),
        ("Netflix", None),
        ("Solar net", None),
        ("", None),
        (None, None),
    ],
)
def test_role_from_name(name: str | None, role: Role | None) -> None:
    assert role_from_name(name) == role


def test_proposals_name_active_power_sensors_only() -> None:
    named = [
        FluksoSensor(
            id=sensor_id,
            type=sensor_type,
            function=function,
            phase=None,
            enabled=True,
            port=port,
        )
        for sensor_id, sensor_type, function, port in (
            ("a", SensorType.ELECTRICITY, "Verbruik", 1),
            ("b", SensorType.ELECTRICITY, "Zon", 2),
            ("c", SensorType.ELECTRICITY, "Heat pump", 3),
            ("d", SensorType.WATER, "Net water", 4),  # a water meter is never the grid
        )
    ]
    assert propose_roles(named) == {
        "a": SensorRole(Role.CONSUMPTION),
        "b": SensorRole(Role.PRODUCTION),
    }
