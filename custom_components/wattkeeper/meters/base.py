"""The contract every meter driver implements."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from .model import MeterIdentity, Snapshot


@runtime_checkable
class PolledMeter(Protocol):
    """A meter we ask for readings (HomeWizard, SUN2000, CT clamps)."""

    async def identify(self) -> MeterIdentity:
        """Read the meter's identity; raises a MeterError subclass on failure."""
        ...

    async def read(self) -> Snapshot:
        """Read one snapshot; raises a MeterError subclass on failure."""
        ...

    async def close(self) -> None:
        """Release sockets and sessions the driver owns."""
        ...


@runtime_checkable
class StreamingMeter(Protocol):
    """A meter that pushes readings (DSMR telegrams, Fluksometer MQTT)."""

    async def identify(self) -> MeterIdentity:
        """Wait for enough data to know the meter's identity."""
        ...

    def stream(self) -> AsyncIterator[Snapshot]:
        """Yield snapshots as they arrive; ends or raises when the link breaks."""
        ...

    async def close(self) -> None:
        """Release the link."""
        ...


@runtime_checkable
class SlowerRoot(Protocol):
    """A polled meter whose own readings come only every `root_every`-th poll (a
    SUN2000 with a power meter: the meter every poll, the inverter less often)."""

    @property
    def root_every(self) -> int: ...
