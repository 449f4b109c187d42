"""One Modbus connection per SUN2000 host and port, shared by every entry and flow that uses it.

The SDongle takes a single Modbus client: a second connection from Wattkeeper
itself (a second inverter behind the same dongle, a config flow probing while
an entry polls) would be refused. So connections live in a ref-counted
registry in `hass.data`, keyed by host and port; the last user closes it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from homeassistant.core import HomeAssistant
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN
from .meters.sun2000_connection import ConnectionOptions, Sun2000Connection

# The connection discipline every SUN2000 link uses (the library's SDongle defaults).
CONNECTION_OPTIONS: ConnectionOptions = ConnectionOptions()


@dataclass(slots=True)
class _Link:
    connection: Sun2000Connection
    users: int


_LINKS: Final[HassKey[dict[tuple[str, int], _Link]]] = HassKey(f"{DOMAIN}_sun2000_links")


def _key(host: str, port: int) -> tuple[str, int]:
    return host.strip().lower(), int(port)


def acquire_link(hass: HomeAssistant, host: str, port: int) -> Sun2000Connection:
    """The connection to host:port, shared; pair every call with `release_link`."""
    links = hass.data.setdefault(_LINKS, {})
    key = _key(host, port)
    link = links.get(key)
    if link is None:
        # Nothing is opened here: the connection opens on its first request.
        link = links[key] = _Link(Sun2000Connection(key[0], key[1], CONNECTION_OPTIONS), 0)
    link.users += 1
    return link.connection


async def release_link(hass: HomeAssistant, connection: Sun2000Connection) -> None:
    """Give back a connection; the last user closes it."""
    links = hass.data.get(_LINKS, {})
    key = _key(connection.host, connection.port)
    link = links.get(key)
    if link is None or link.connection is not connection:
        await connection.close()
        return
    link.users -= 1
    if link.users <= 0:
        del links[key]
        await connection.close()


def link_users(hass: HomeAssistant, host: str, port: int) -> int:
    """How many entries and flows hold the connection to host:port (for tests and diagnostics)."""
    link = hass.data.get(_LINKS, {}).get(_key(host, port))
    return 0 if link is None else link.users


class _QuietPymodbus:
    """Nested-safe: pymodbus logs an ERROR for every exception answer, and probing expects them."""

    def __init__(self) -> None:
        self.depth = 0
        self.saved = logging.NOTSET

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        logger = logging.getLogger("pymodbus")
        if self.depth == 0:
            self.saved = logger.level
            logger.setLevel(logging.CRITICAL)
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
            if self.depth == 0:
                logger.setLevel(self.saved)


quiet_pymodbus = _QuietPymodbus()
