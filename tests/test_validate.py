"""The metadata validator catches what hassfest would."""

from __future__ import annotations

import json
import re
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


def _package(root: Path, requirements: list[str], sources: dict[str, str]) -> Path:
    component = root / "wattkeeper"
    component.mkdir()
    (component / "manifest.json").write_text(json.dumps({"requirements": requirements}))
    (component / "on_demand.py").write_text(
        (validate.COMPONENT / "on_demand.py").read_text("utf-8")
    )
    for name, source in sources.items():
        (component / name).write_text(source)
    return component


_SOURCES = {
    "flukso.py": "import aiomqtt\nfrom homeassistant.core import HomeAssistant\n",
    "core_deps.py": "import numpy as np\nfrom voluptuous import Schema\n",
    "cassandra_backend.py": "from cassandra.cluster import Cluster\n",
    "spi.py": "import importlib\nspidev = importlib.import_module('spidev')\n",
    "local.py": "from . import flukso\nfrom custom_components.wattkeeper import spi\nimport json\n",
    "dsmr.py": "import serial_asyncio_fast\n",
}


def test_every_imported_library_has_a_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = json.loads((validate.COMPONENT / "manifest.json").read_text())
    component = _package(tmp_path, manifest["requirements"], _SOURCES)
    monkeypatch.setattr(validate, "COMPONENT", component)
    problems: list[str] = []
    validate.check_imports(problems, {"requirements": manifest["requirements"]})
    assert problems == []


def test_an_undeclared_library_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = json.loads((validate.COMPONENT / "manifest.json").read_text())
    # Without aiomqtt and dsmr-parser (which installs pyserial-asyncio-fast);
    # numpy stays covered, as a Home Assistant core dependency.
    requirements = [
        r for r in manifest["requirements"] if not r.startswith(("aiomqtt", "dsmr-parser", "numpy"))
    ]
    sources = {**_SOURCES, "extra.py": "import amqtt\n"}
    component = _package(tmp_path, requirements, sources)
    on_demand = component / "on_demand.py"
    text, removed = re.subn(r"OnDemand\.SPIDEV: \[[^\]]*\],", "", on_demand.read_text())
    assert removed == 1
    on_demand.write_text(text)
    monkeypatch.setattr(validate, "COMPONENT", component)
    problems: list[str] = []
    validate.check_imports(problems, {"requirements": requirements})
    assert [p.split(" (")[0] for p in problems] == [
        "manifest.json: aiomqtt",
        "manifest.json: amqtt",
        "manifest.json: serial_asyncio_fast",
        "manifest.json: spidev",
    ]
    assert "imported in flukso.py" in problems[0]
