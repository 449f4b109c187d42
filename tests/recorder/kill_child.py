"""Child process of the kill tests: sends the outbox and stalls at a chosen kill point.

The parent SIGKILLs this process once the marker file appears:

- `before-commit`: a batch is in the database but not committed;
- `after-commit`: the backend committed a batch, and the outbox has not deleted it.
"""

from __future__ import annotations

import asyncio
import pickle
import sys
from pathlib import Path

from custom_components.wattkeeper.recorder import (
    Outbox,
    RecordBatch,
    Sender,
    WriteResult,
    create_backend,
)

from . import backends  # noqa: F401  backends registered there must exist here too

KILL_POINTS = ("before-commit", "after-commit")


async def main(outbox_path: str, config: object, marker: Path, point: str) -> None:
    outbox = Outbox(outbox_path)
    await outbox.open()
    backend = create_backend(config)

    async def stall(state: str) -> None:
        marker.write_text(state)  # noqa: ASYNC240  the parent kills us right after
        await asyncio.Event().wait()

    if point == "before-commit":
        backend.before_commit_hook = lambda: stall("staged")
    else:
        committed_write = backend.write

        async def write_then_stall(batch: RecordBatch) -> WriteResult:
            await committed_write(batch)
            await stall("committed")
            raise AssertionError("unreachable: killed while stalled")

        backend.write = write_then_stall  # type: ignore[method-assign]
    sender = Sender(outbox, backend, site="home", batch_size=1000)
    await sender.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    outbox_path, config_path, marker, point = sys.argv[1:5]
    if point not in KILL_POINTS:
        raise SystemExit(f"kill point {point!r} is not one of {KILL_POINTS}")
    config = pickle.loads(Path(config_path).read_bytes())  # noqa: S301  written by the test
    asyncio.run(main(outbox_path, config, Path(marker), point))
