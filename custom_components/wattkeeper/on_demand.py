"""Libraries installed only for the users who need them.

cassandra-driver (a large C extension) serves only recorder entries on
Cassandra, and spidev (which builds only on Linux) only CT clamp entries on a
Raspberry Pi. Listing them in the manifest would make every installation build
them; Home Assistant's own requirements manager installs them instead, the
first time such an entry is set up, with the same pip and constraints it uses
for manifest requirements.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from homeassistant.core import HomeAssistant
from homeassistant.requirements import RequirementsNotFound, async_process_requirements

from .const import DOMAIN, LOGGER


class OnDemand(StrEnum):
    CASSANDRA = "cassandra"
    SPIDEV = "spidev"


REQUIREMENTS: Final[dict[OnDemand, list[str]]] = {
    OnDemand.CASSANDRA: ["cassandra-driver>=3.29.2,<4"],
    OnDemand.SPIDEV: ["spidev>=3.6,<4"],
}


async def async_ensure(hass: HomeAssistant, feature: OnDemand) -> bool:
    """Install the feature's libraries when they are missing; False when pip cannot."""
    try:
        await async_process_requirements(hass, f"{DOMAIN}.{feature}", REQUIREMENTS[feature])
    except RequirementsNotFound as err:
        LOGGER.error("Could not install %s for Wattkeeper: %s", ", ".join(err.requirements), err)
        return False
    return True
