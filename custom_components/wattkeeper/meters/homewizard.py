"""HomeWizard Energy devices over their local HTTP API (v1, and v2 with a token).

Talks through python-homewizard-energy, the library Home Assistant core uses,
and maps its models onto the shared quantities.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Final

from aiohttp import ClientSession
from homewizard_energy import HomeWizardEnergy, HomeWizardEnergyV1, HomeWizardEnergyV2
from homewizard_energy.errors import (
    DisabledError,
    InvalidStateError,
    NotFoundError,
    RequestError,
    ResponseError,
    UnauthorizedError,
    UnsupportedError,
)
from homewizard_energy.models import CombinedModels, Device, ExternalDevice, Measurement

from .errors import (
    MeterAuthError,
    MeterConnectionError,
    MeterDataError,
    MeterDisabledError,
    MeterTimeoutError,
    MeterUnsupportedError,
)
from .model import TEXT_MONTHLY_PEAK_AT, MeterIdentity, MeterKind, Quantity, QuantityKey, Snapshot

LOGGER = logging.getLogger(__name__)

MANUFACTURER: Final = "HomeWizard"
# Bounds one call to the device, the library's own retries included.
DEFAULT_TIMEOUT: Final = 5.0

# Product types that have a relay Wattkeeper can switch.
SWITCHABLE_PRODUCTS: Final = frozenset({"HWE-SKT"})

# Measurement attribute → (quantity, tariff, phase). The library already folds
# the v1 and v2 field names into one model.
_FIELDS: Final[tuple[tuple[str, Quantity, int | None, int | None], ...]] = (
    ("energy_import_kwh", Quantity.ENERGY_IMPORT, None, None),
    *((f"energy_import_t{t}_kwh", Quantity.ENERGY_IMPORT, t, None) for t in range(1, 5)),
    ("energy_export_kwh", Quantity.ENERGY_EXPORT, None, None),
    *((f"energy_export_t{t}_kwh", Quantity.ENERGY_EXPORT, t, None) for t in range(1, 5)),
    ("power_w", Quantity.POWER, None, None),
    *((f"power_l{p}_w", Quantity.POWER, None, p) for p in range(1, 4)),
    ("voltage_v", Quantity.VOLTAGE, None, None),
    *((f"voltage_l{p}_v", Quantity.VOLTAGE, None, p) for p in range(1, 4)),
    ("current_a", Quantity.CURRENT, None, None),
    *((f"current_l{p}_a", Quantity.CURRENT, None, p) for p in range(1, 4)),
    ("apparent_power_va", Quantity.APPARENT_POWER, None, None),
    *((f"apparent_power_l{p}_va", Quantity.APPARENT_POWER, None, p) for p in range(1, 4)),
    ("reactive_power_var", Quantity.REACTIVE_POWER, None, None),
    *((f"reactive_power_l{p}_var", Quantity.REACTIVE_POWER, None, p) for p in range(1, 4)),
    ("power_factor", Quantity.POWER_FACTOR, None, None),
    *((f"power_factor_l{p}", Quantity.POWER_FACTOR, None, p) for p in range(1, 4)),
    ("frequency_hz", Quantity.FREQUENCY, None, None),
    ("tariff", Quantity.TARIFF, None, None),
    *((f"voltage_sag_l{p}_count", Quantity.VOLTAGE_SAGS, None, p) for p in range(1, 4)),
    *((f"voltage_swell_l{p}_count", Quantity.VOLTAGE_SWELLS, None, p) for p in range(1, 4)),
    ("any_power_fail_count", Quantity.POWER_FAILURES, None, None),
    ("long_power_fail_count", Quantity.LONG_POWER_FAILURES, None, None),
    ("average_power_15m_w", Quantity.AVERAGE_DEMAND, None, None),
    ("monthly_power_peak_w", Quantity.MONTHLY_PEAK, None, None),
    ("active_liter_lpm", Quantity.WATER_FLOW, None, None),
    ("total_liter_m3", Quantity.WATER, None, None),
    ("state_of_charge_pct", Quantity.BATTERY_SOC, None, None),
    ("wifi_strength", Quantity.WIFI_STRENGTH, None, None),
)

# Single-tariff devices (kWh meters, sockets) report their total again as tariff 1;
# that copy is left out, as Home Assistant core does, so nothing counts it twice.
_TARIFF_1_COPIES: Final = (
    ("energy_import_t1_kwh", "energy_import_t2_kwh"),
    ("energy_export_t1_kwh", "energy_export_t2_kwh"),
)

# M-Bus device type → quantity and the model name of its device.
_EXTERNAL: Final[dict[ExternalDevice.DeviceType, tuple[Quantity, str]]] = {
    ExternalDevice.DeviceType.GAS_METER: (Quantity.GAS, "Gas meter"),
    ExternalDevice.DeviceType.WATER_METER: (Quantity.WATER, "Water meter"),
    ExternalDevice.DeviceType.WARM_WATER_METER: (Quantity.WATER, "Warm water meter"),
    ExternalDevice.DeviceType.HEAT_METER: (Quantity.HEAT, "Heat meter"),
    ExternalDevice.DeviceType.INLET_HEAT_METER: (Quantity.HEAT, "Inlet heat meter"),
}

# (unit the device reports, canonical unit) → factor. M-Bus meters report what
# they were built with: GJ or kWh for heat, m³ (spelt "m3") or litres for volume.
_UNIT_FACTORS: Final[dict[tuple[str, str | None], float]] = {
    ("m3", "m³"): 1.0,
    ("m³", "m³"): 1.0,
    ("l", "m³"): 0.001,
    ("dm3", "m³"): 0.001,
    ("gj", "GJ"): 1.0,
    ("mj", "GJ"): 0.001,
    ("kwh", "GJ"): 0.0036,
    ("mwh", "GJ"): 3.6,
}


class HomeWizardMeter:
    """One HomeWizard device; a PolledMeter."""

    def __init__(
        self,
        host: str,
        session: ClientSession,
        *,
        token: str | None = None,
        timeout: float | None = None,
    ) -> None:
        timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        self.host = host
        self._client: HomeWizardEnergy
        if token:
            self._client = HomeWizardEnergyV2(host, token=token, clientsession=session)
        else:
            self._client = HomeWizardEnergyV1(
                host, clientsession=session, timeout=max(1, round(timeout))
            )
        # Bounds a whole call, including the library's own retries.
        self._timeout = timeout
        self._identity: MeterIdentity | None = None
        # M-Bus units we could not convert, each logged once.
        self._unknown_units: set[tuple[str, str]] = set()

    async def identify(self) -> MeterIdentity:
        device = await _call(self._client.device(reset_cache=True), self._timeout)
        if isinstance(self._client, HomeWizardEnergyV1) and device.api_version.major != 1:
            # What answers on plain HTTP must speak v1; anything else is not a device we know.
            raise MeterUnsupportedError(
                f"The device at {self.host} speaks API {device.api_version}, not v1"
            )
        self._identity = _identity(device, self.host)
        return self._identity

    async def read(self) -> Snapshot:
        combined = await _call(self._client.combined(), self._timeout)
        if combined.device is None or combined.measurement is None:
            raise MeterDataError(f"HomeWizard device at {self.host} sent no measurement")
        if self._identity is None:
            self._identity = _identity(combined.device, self.host)
        return _snapshot(self._identity, combined, self._external_value)

    async def set_switch(self, on: bool) -> None:
        await _call(self._client.state(power_on=on), self._timeout)

    async def close(self) -> None:
        # The session is Home Assistant's shared one; nothing of ours to close.
        return None

    def _external_value(self, device: ExternalDevice, quantity: Quantity) -> float | None:
        """An M-Bus reading in the quantity's unit; None (logged once) for a unit we cannot read."""
        canonical = QuantityKey(quantity).unit
        unit = str(device.unit or "").strip()
        factor = _UNIT_FACTORS.get((unit.lower(), canonical))
        if factor is not None:
            return float(device.value) * factor
        if (str(device.unique_id), unit) not in self._unknown_units:
            self._unknown_units.add((str(device.unique_id), unit))
            LOGGER.warning(
                "Ignoring the %s behind HomeWizard device %s: unit %r cannot be read as %s",
                device.type,
                self.host,
                unit,
                canonical,
            )
        return None


async def request_token(host: str, session: ClientSession, name: str) -> str:
    """Ask a v2 device for a token; succeeds only within 30 s of a button press."""
    client = HomeWizardEnergyV2(host, clientsession=session)
    try:
        return await _call(client.get_token(name), 10)
    except MeterDisabledError as err:
        # v2 answers 403 to token requests until its button has been pressed.
        raise MeterAuthError("Press the button on the device first") from err
    finally:
        await client.close()


async def _call[T](awaitable: Awaitable[T], timeout: float) -> T:
    """Translate the library's errors into ours, once."""
    try:
        async with asyncio.timeout(timeout):
            return await awaitable
    except DisabledError as err:
        raise MeterDisabledError("The local API is disabled in the HomeWizard app") from err
    except UnauthorizedError as err:
        raise MeterAuthError("The device refused the token") from err
    except InvalidStateError as err:
        # v2: the button was not pressed before asking for a token.
        raise MeterAuthError("Press the button on the device first") from err
    except (UnsupportedError, NotFoundError) as err:
        # NotFoundError: a 404, the device has no such endpoint.
        raise MeterUnsupportedError(str(err) or "The device has no such API endpoint") from err
    except TimeoutError as err:
        raise MeterTimeoutError(f"The device did not answer within {timeout:g} s") from err
    except RequestError as err:
        if isinstance(err.__cause__, TimeoutError):
            raise MeterTimeoutError(str(err)) from err
        raise MeterConnectionError(str(err)) from err
    except (ResponseError, ValueError, LookupError, TypeError) as err:
        # Invalid JSON (orjson raises ValueError) or a payload that does not fit
        # the model (mashumaro raises LookupError/ValueError subclasses).
        raise MeterDataError(f"Unreadable answer from the device: {err}") from err


def _identity(device: Device, host: str) -> MeterIdentity:
    return MeterIdentity(
        kind=MeterKind.HOMEWIZARD,
        serial=device.serial,
        model=device.product_type,
        manufacturer=MANUFACTURER,
        name=device.product_name,
        firmware=device.firmware_version,
        address=host,
    )


type _ExternalValue = Callable[[ExternalDevice, Quantity], float | None]


def _snapshot(
    identity: MeterIdentity, combined: CombinedModels, external_value: _ExternalValue
) -> Snapshot:
    now = datetime.now(UTC)
    measurement: Measurement = combined.measurement
    copies = {t1 for t1, t2 in _TARIFF_1_COPIES if getattr(measurement, t2) is None}
    values: dict[QuantityKey, float] = {}
    for attribute, quantity, tariff, phase in _FIELDS:
        value = getattr(measurement, attribute)
        if value is not None and attribute not in copies:
            values[QuantityKey(quantity, tariff=tariff, phase=phase)] = float(value)
    system = combined.system
    if system is not None and system.wifi_strength_pct is not None:
        values[QuantityKey(Quantity.WIFI_STRENGTH)] = float(system.wifi_strength_pct)
    if system is not None and system.uptime_s is not None:
        values[QuantityKey(Quantity.UPTIME)] = float(system.uptime_s)
    texts: dict[str, str] = {}
    if measurement.monthly_power_peak_timestamp is not None:
        texts[TEXT_MONTHLY_PEAK_AT] = measurement.monthly_power_peak_timestamp.isoformat()
    switch_on = combined.state.power_on if combined.state is not None else None
    return Snapshot(
        identity=identity,
        measured_at=now,
        values=values,
        texts=texts,
        switch_on=switch_on if identity.model in SWITCHABLE_PRODUCTS else None,
        sub_meters=tuple(
            sub
            for device in (measurement.external_devices or {}).values()
            if (sub := _external_snapshot(identity, device, now, external_value)) is not None
        ),
    )


def _external_snapshot(
    parent: MeterIdentity, device: ExternalDevice, now: datetime, external_value: _ExternalValue
) -> Snapshot | None:
    if device.type is None or device.type not in _EXTERNAL:
        return None
    quantity, model = _EXTERNAL[device.type]
    value = external_value(device, quantity)
    if value is None:
        return None
    serial = str(device.unique_id)
    measured_at = device.timestamp
    if measured_at.tzinfo is None:
        # The P1 port reports local meter time without zone; keep ours then.
        measured_at = now
    return Snapshot(
        identity=MeterIdentity(
            kind=MeterKind.HOMEWIZARD,
            serial=serial,
            model=model,
            manufacturer="M-Bus",
            name=model,
            address=parent.address,
        ),
        measured_at=measured_at,
        values={QuantityKey(quantity): value},
    )
