"""SQLite backend specifics: the file, its schema and its errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from custom_components.wattkeeper.recorder import (
    BackendUnavailableError,
    SchemaVersionError,
    SqliteConfig,
    create_backend,
)

from .data import POWER, T0_US, batch


async def test_readings_view_shows_readable_times(tmp_path: Path) -> None:
    path = tmp_path / "recorder.db"
    backend = create_backend(SqliteConfig(path=path))
    await backend.open()
    await backend.write(batch({POWER: [(T0_US + 250_000, 42.5)]}))
    await backend.close()
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT device, quantity, time, value FROM readings").fetchall()
    conn.close()
    assert rows == [(POWER.device, POWER.quantity, "2024-03-30T22:00:00.250Z", 42.5)]


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "recorder.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT)")
        conn.execute("INSERT INTO schema_version VALUES (99, 'later')")
    conn.close()
    backend = create_backend(SqliteConfig(path=path))
    with pytest.raises(SchemaVersionError):
        await backend.open()


async def test_unusable_path_is_unavailable(tmp_path: Path) -> None:
    backend = create_backend(SqliteConfig(path=tmp_path / "missing" / "recorder.db"))
    with pytest.raises(BackendUnavailableError):
        await backend.open()


def test_unknown_time_zone_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="time zone"):
        SqliteConfig(path=tmp_path / "x.db", time_zone="Nowhere/Special")
