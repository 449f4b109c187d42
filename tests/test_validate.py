"""The metadata validator catches what hassfest would."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from scripts import check_forward_compat, validate


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
    # Without aiomqtt and pyserial-asyncio-fast; numpy stays covered, as a Home
    # Assistant core dependency.
    requirements = [
        r
        for r in manifest["requirements"]
        if not r.startswith(("aiomqtt", "pyserial-asyncio-fast", "numpy"))
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


def test_forward_compat_collects_attribute_uses_of_imported_modules() -> None:
    tree = ast.parse(
        "from homeassistant.helpers import selector, entity_registry as er\n"
        "import homeassistant.helpers.config_validation as cv\n"
        "import homeassistant.util.dt\n"
        "from homeassistant.const import UnitOfPower\n"
        "import voluptuous as vol\n"
        "schema = vol.Schema({'a': cv.string, 'b': selector.NumberSelector()})\n"
        "disabled = er.RegistryEntryDisabler.USER\n"
        "now = homeassistant.util.dt.utcnow().isoformat()\n"
        "unit = UnitOfPower.WATT.value\n"
    )
    uses = {str(use) for use in check_forward_compat.uses_in(tree)}
    assert {
        "homeassistant.helpers.selector",
        "homeassistant.helpers.selector.NumberSelector",
        "homeassistant.helpers.entity_registry.RegistryEntryDisabler.USER",
        "homeassistant.helpers.config_validation.string",
        "homeassistant.util.dt.utcnow",
        "homeassistant.const.UnitOfPower.WATT.value",
    } <= uses
    assert not any(use.startswith("voluptuous") or ".isoformat" in use for use in uses)


def test_forward_compat_counts_only_module_level_definitions() -> None:
    source = (
        "from .const import (\n    KEPT,  # re-exported\n    Other as Renamed,\n)\n"
        "from .models import *\n"
        "import homeassistant.util.dt as dt_util\n"
        "__all__ = ['LAZY']\n"
        "TOP: Final = 1\n"
        "class Holder:\n    attribute: str\n    assigned = 2\n    def method(self): ...\n"
        "def caller():\n    return make(keyword=1)\n"
    )
    defines = check_forward_compat.defines
    for name in ("KEPT", "Renamed", "dt_util", "LAZY", "TOP", "Holder", "caller"):
        assert defines(source, name), name
    for name in ("attribute", "assigned", "method", "keyword", "Other", "make"):
        assert not defines(source, name), name


def _wheel(tmp_path: Path, files: dict[str, str]) -> check_forward_compat.Wheel:
    path = tmp_path / "homeassistant-9999.1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return check_forward_compat.Wheel(zipfile.ZipFile(path))


def test_forward_compat_reports_removed_names_members_and_deprecations(tmp_path: Path) -> None:
    wheel = _wheel(
        tmp_path,
        {
            "homeassistant/__init__.py": "",
            "homeassistant/helpers/__init__.py": "",
            "homeassistant/helpers/selector.py": (
                "class NumberSelectorMode(StrEnum):\n    BOX = 'box'\n"
                "class Selector:\n    NumberSelector = None  # a class attribute, not the class\n"
            ),
            "homeassistant/const.py": (
                "from .generated import Platforms\nPlatform = Platforms\nfrom .units import *\n"
                "_DEPRECATED_OLD_UNIT = DeprecatedConstant('x', 'y', '2099.1')\n"
                "__getattr__ = partial(check_if_deprecated_constant, module_globals=globals())\n"
            ),
            "homeassistant/generated.py": "class Platforms(StrEnum):\n    SENSOR = 'sensor'\n",
            "homeassistant/units.py": "KILO = 1000\n",
        },
    )
    use = check_forward_compat.Use
    report = check_forward_compat.check(
        wheel,
        {
            use("homeassistant.helpers", ("selector", "NumberSelectorMode", "BOX")),
            use("homeassistant.helpers", ("selector", "NumberSelectorMode", "SLIDER")),
            use("homeassistant.helpers.selector", ("NumberSelector",)),
            use("homeassistant.const", ("Platform", "SENSOR")),
            use("homeassistant.const", ("Platform", "SWITCH")),
            use("homeassistant.const", ("OLD_UNIT",)),
            use("homeassistant.const", ("KILO",)),
            use("homeassistant.const", ("MEGA",)),
            use("homeassistant.helpers.gone", ("thing",)),
        },
    )
    assert sorted(report.missing) == [
        "homeassistant.const.MEGA",
        "homeassistant.const.Platform.SWITCH",
        "homeassistant.helpers.selector.NumberSelector",
        "homeassistant.helpers.selector.NumberSelectorMode.SLIDER",
        "module homeassistant.helpers.gone",
    ]
    assert report.deprecated == ["homeassistant.const.OLD_UNIT"]


def test_forward_compat_skips_when_pip_times_out(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def hanging(args: list[str], **kwargs: object) -> None:
        raise subprocess.TimeoutExpired(args, kwargs["timeout"])  # type: ignore[arg-type]

    monkeypatch.setattr(check_forward_compat.subprocess, "run", hanging)
    assert check_forward_compat.main() == 0
    out = capsys.readouterr().out
    assert out.startswith("SKIPPED: the package registry did not answer")
    assert "within 120 s" in out
