"""Child process of the kill test: sends the outbox and stalls right before the commit.

The parent SIGKILLs this process once the marker file appears, i.e. while a
batch is in the database but not committed.
"""

from __future__ import annotations

import asyncio
import pickle
import sys
from pathlib import Path

from custom_components.wattkeeper.recorder import Outbox, Sender, create_backend

from . import backends  # noqa: F401  backends registered there must exist here too


async def main(outbox_path: str, config: object, marker: Path) -> None:
    outbox = Outbox(outbox_path)
    await outbox.open()
    backend = create_backend(config)

    async def stall() -> None:
        marker.write_text("staged")  # noqa: ASYNC240  the parent kills us right after
        await asyncio.Event().wait()

    backend.before_commit_hook = stall
    sender = Sender(outbox, backend, site="home", batch_size=1000)
    await sender.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    outbox_path, config_path, marker = sys.argv[1:4]
    config = pickle.loads(Path(config_path).read_bytes())  # noqa: S301  written by the test
    asyncio.run(main(outbox_path, config, Path(marker)))
