"""The metadata validator catches what hassfest would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts import validate


def test_repository_metadata_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert validate.main() == 0, capsys.readouterr().out


def test_a_broken_manifest_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    component = tmp_path / "wattkeeper"
    component.mkdir()
    manifest = json.loads((validate.COMPONENT / "manifest.json").read_text())
    del manifest["version"]
    manifest["iot_class"] = "local_magic"
    manifest["requirements"] = ["numpy"]
    (component / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setattr(validate, "COMPONENT", component)
    problems: list[str] = []
    validate.check_manifest(problems)
    assert "manifest.json: version is required for a custom integration" in problems
    assert "manifest.json: iot_class local_magic is not valid" in problems
    assert "manifest.json: requirement 'numpy' is not pinned" in problems
