"""Runs `scripts/develop` headless on free ports and makes sure Chromium is there.

The demo is started once per module and stopped with SIGTERM, as a person
stops it with Ctrl+C; whatever is still alive in its process group after that
is killed, so no Home Assistant or simulator outlives the test run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_socket  # type: ignore[import-untyped]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts"
BROWSER = Path("/usr/bin/chromium")
BANNER = "Wattkeeper demo is running."
START_SECONDS = 170  # Home Assistant alone takes ~30 s here; setup may install first
STOP_SECONDS = 30
SIMULATORS = 7  # scripts/develop: four HomeWizard twins, DSMR, SUN2000, Fluksometer


@dataclass(frozen=True)
class Demo:
    """A running `scripts/develop`."""

    base: str
    config: Path
    log: Path


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))  # noqa: S104  (Home Assistant binds all addresses)
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def free_port_run(count: int) -> int:
    """The first of `count` consecutive free ports: the kernel's ephemeral range
    never hands out 8123 or the simulators' 18001, so a developer's demo is safe."""
    # Home Assistant's plugin disables sockets outside test functions (pytest-socket).
    pytest_socket.enable_socket()
    try:
        for _ in range(50):
            first = free_port()
            if first + count < 65536 and all(port_is_free(first + n) for n in range(count)):
                return first
    finally:
        pytest_socket.disable_socket(allow_unix_socket=True)
    raise RuntimeError(f"no {count} consecutive free ports found")


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, installed by scripts/ensure_chromium when it is missing."""
    result = subprocess.run(
        [REPO / "scripts" / "ensure_chromium"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0 or not BROWSER.exists():
        pytest.skip(f"Chromium cannot be installed here: {result.stderr.strip()[-500:]}")
    return BROWSER


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to scripts/develop, which stops its children; then clear its group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    # Anything left in the demo's own process group (it was started in a new session).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def demo(chromium: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`scripts/develop` with a fresh config folder, on ports nobody else uses.

    Asks for Chromium first, so a machine without it skips before starting anything.
    """
    ARTIFACTS.mkdir(exist_ok=True)
    config = tmp_path_factory.mktemp("demo-config")
    log = ARTIFACTS / "demo-develop.log"
    port = free_port_run(1 + SIMULATORS)  # Home Assistant, then the simulators
    env = {
        **os.environ,
        "WATTKEEPER_CONFIG_DIR": str(config),
        "WATTKEEPER_PORT": str(port),
        "WATTKEEPER_SIM_PORT": str(port + 1),
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [REPO / "scripts" / "develop"],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_SECONDS
        while BANNER not in log.read_text(errors="replace"):
            if process.poll() is not None:
                pytest.fail(
                    f"scripts/develop exited with {process.returncode}:\n{tail(log)}\n"
                    f"Home Assistant:\n{tail(config / 'hass.log')}"
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"scripts/develop did not start within {START_SECONDS} s:\n{tail(log)}\n"
                    f"Home Assistant:\n{tail(config / 'hass.log')}"
                )
            time.sleep(0.5)
        yield Demo(base=f"http://127.0.0.1:{port}", config=config, log=log)
    finally:
        stop(process)
        if (config / "hass.log").exists():
            shutil.copyfile(config / "hass.log", ARTIFACTS / "demo-hass.log")
