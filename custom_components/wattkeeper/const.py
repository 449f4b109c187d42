"""Constants shared by the Home Assistant glue."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Final

DOMAIN: Final = "wattkeeper"
LOGGER = logging.getLogger(__package__)

# Config entry data.
CONF_KIND: Final = "kind"
CONF_TOKEN: Final = "token"
CONF_API_VERSION: Final = "api_version"

# Options.
CONF_SCAN_INTERVAL: Final = "scan_interval"

DEFAULT_SCAN_INTERVAL: Final = timedelta(seconds=5)
MIN_SCAN_INTERVAL_SECONDS: Final = 1

# Sent with every snapshot a meter delivers: (entry_id, Snapshot). The external
# recorder listens to it so readings reach the outbox at full resolution.
SIGNAL_SNAPSHOT: Final = f"{DOMAIN}_snapshot"
