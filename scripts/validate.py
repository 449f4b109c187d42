"""Checks the integration's metadata the way hassfest and HACS validation would.

manifest.json, hacs.json, services.yaml, strings.json and icons.json: required
keys, types, known values, and that every service and translation key they
name is documented; and that every third-party module the package imports is
installed by a manifest requirement, by Home Assistant itself, or on demand
(on_demand.py). Exit 1 with one line per problem.

    .venv/bin/python scripts/validate.py
"""

from __future__ import annotations

import ast
import functools
import json
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml
from awesomeversion import AwesomeVersion
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
COMPONENT = ROOT / "custom_components" / "wattkeeper"

MANIFEST_REQUIRED = {
    "domain": str,
    "name": str,
    "codeowners": list,
    "config_flow": bool,
    "documentation": str,
    "iot_class": str,
    "issue_tracker": str,
    "requirements": list,
    "version": str,
}
MANIFEST_OPTIONAL = {
    "dependencies": list,
    "after_dependencies": list,
    "integration_type": str,
    "loggers": list,
    "zeroconf": list,
    "usb": list,
    "dhcp": list,
    "quality_scale": str,
    "single_config_entry": bool,
}
IOT_CLASSES = {
    "assumed_state",
    "cloud_polling",
    "cloud_push",
    "local_polling",
    "local_push",
    "calculated",
}
INTEGRATION_TYPES = {"device", "hub", "service", "helper", "entity", "hardware", "system"}
REQUIREMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[\w,]+\])?([<>=!~]=?[\w.*]+,?)+$")


def check_manifest(problems: list[str]) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((COMPONENT / "manifest.json").read_text("utf-8"))
    for key, kind in {**MANIFEST_REQUIRED, **MANIFEST_OPTIONAL}.items():
        if key in manifest and not isinstance(manifest[key], kind):
            problems.append(f"manifest.json: {key} must be a {kind.__name__}")
    for key in MANIFEST_REQUIRED:
        if key not in manifest:
            problems.append(f"manifest.json: {key} is required for a custom integration")
    for key in set(manifest) - set(MANIFEST_REQUIRED) - set(MANIFEST_OPTIONAL):
        problems.append(f"manifest.json: unknown key {key}")
    if manifest.get("domain") != COMPONENT.name:
        problems.append("manifest.json: domain must equal the folder name")
    if manifest.get("iot_class") not in IOT_CLASSES:
        problems.append(f"manifest.json: iot_class {manifest.get('iot_class')} is not valid")
    if manifest.get("integration_type", "hub") not in INTEGRATION_TYPES:
        problems.append("manifest.json: integration_type is not valid")
    if not AwesomeVersion(manifest.get("version", "")).valid:
        problems.append("manifest.json: version is not a valid version")
    for requirement in manifest.get("requirements", []):
        if not REQUIREMENT.match(requirement.replace(" ", "")):
            problems.append(f"manifest.json: requirement {requirement!r} is not pinned")
    keys = list(manifest)
    expected = ["domain", "name", *sorted(k for k in keys if k not in ("domain", "name"))]
    if keys != expected:
        problems.append("manifest.json: keys must be domain, name, then sorted")
    return manifest


def imported_modules(package: Path) -> dict[str, set[str]]:
    """Absolute top-level modules imported anywhere in `package` → the files importing them.

    Counts `import x`, `from x import y` and `importlib.import_module("x")`
    (libraries loaded only where they exist, such as spidev).
    """
    found: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"), filename=str(path))
        for name in _imports(tree):
            found.setdefault(name.split(".")[0], set()).add(path.relative_to(package).as_posix())
    return found


def _imports(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and not node.args[0].value.startswith(".")
        ):
            yield node.args[0].value


def _names(requirements: Iterable[str]) -> set[str]:
    """Canonical distribution names of requirements that apply unconditionally."""
    names: set[str] = set()
    for text in requirements:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            names.add(canonicalize_name(requirement.name))
    return names


def on_demand_requirements() -> list[str]:
    """The literal REQUIREMENTS table of on_demand.py, read without importing Home Assistant."""
    tree = ast.parse((COMPONENT / "on_demand.py").read_text("utf-8"))
    for node in tree.body:
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == "REQUIREMENTS"
            and isinstance(node.value, ast.Dict)
        ):
            return [
                item.value
                for value in node.value.values
                if isinstance(value, ast.List)
                for item in value.elts
                if isinstance(item, ast.Constant) and isinstance(item.value, str)
            ]
    return []


@functools.cache
def _installed() -> Mapping[str, list[str]]:
    return metadata.packages_distributions()


def _distributions(module: str) -> set[str]:
    """The distributions that provide `module`; its own name when none is installed."""
    provided = _installed().get(module)
    return {canonicalize_name(d) for d in provided} if provided else {canonicalize_name(module)}


def _requires(distribution: str) -> set[str]:
    try:
        return _names(metadata.requires(distribution) or [])
    except metadata.PackageNotFoundError:
        return set()


def check_imports(problems: list[str], manifest: dict[str, Any]) -> None:
    """Every third-party module the package imports has a declared source."""
    declared = _names(manifest.get("requirements", []))
    core = _requires("homeassistant")
    on_demand = _names(on_demand_requirements())
    local = {"custom_components", "homeassistant"}
    for module, files in sorted(imported_modules(COMPONENT).items()):
        if module in sys.stdlib_module_names or module in local:
            continue
        distributions = _distributions(module)
        if distributions & (declared | core | on_demand):
            continue
        problems.append(
            f"manifest.json: {module} (imported in {', '.join(sorted(files))}) comes from "
            f"{', '.join(sorted(distributions))}, which is neither a manifest requirement, "
            "a Home Assistant core dependency, nor an on-demand requirement"
        )


def check_hacs(problems: list[str]) -> None:
    hacs: dict[str, Any] = json.loads((ROOT / "hacs.json").read_text("utf-8"))
    if not isinstance(hacs.get("name"), str):
        problems.append("hacs.json: name is required")
    if not AwesomeVersion(hacs.get("homeassistant", "")).valid:
        problems.append("hacs.json: homeassistant must name the minimum version")
    for key in set(hacs) - {"name", "homeassistant", "render_readme", "zip_release", "filename"}:
        problems.append(f"hacs.json: unknown key {key}")
    if hacs.get("zip_release") and not hacs.get("filename", "").endswith(".zip"):
        problems.append("hacs.json: zip_release needs a filename ending in .zip")


def registered_services() -> set[str]:
    """Service names, from the SERVICE_<NAME> = "name" constants the glue registers."""
    source = "\n".join(p.read_text("utf-8") for p in COMPONENT.glob("*.py"))
    return set(re.findall(r'^SERVICE_\w+(?:: Final)? = "(\w+)"', source, re.MULTILINE))


def check_services(problems: list[str], strings: dict[str, Any]) -> None:
    services_file = COMPONENT / "services.yaml"
    services: dict[str, Any] = {}
    if services_file.exists():
        services = yaml.safe_load(services_file.read_text("utf-8")) or {}
    for name in registered_services() - set(services):
        problems.append(f"services.yaml: service {name} is registered but not documented")
    translated = strings.get("services", {})
    for name, spec in services.items():
        if name not in translated:
            problems.append(f"strings.json: services.{name} is missing")
            continue
        for text in ("name", "description"):
            if not translated[name].get(text):
                problems.append(f"strings.json: services.{name}.{text} is missing")
        for field in (spec or {}).get("fields", {}):
            if field not in translated[name].get("fields", {}):
                problems.append(f"strings.json: services.{name}.fields.{field} is missing")


def check_strings(problems: list[str]) -> dict[str, Any]:
    strings: dict[str, Any] = json.loads((COMPONENT / "strings.json").read_text("utf-8"))
    allowed = {"config", "options", "entity", "exceptions", "issues", "services", "selector"}
    for key in set(strings) - allowed:
        problems.append(f"strings.json: unknown top-level key {key}")
    for section in ("config", "options"):
        for step_id, step in strings.get(section, {}).get("step", {}).items():
            for key in set(step) - {
                "title",
                "description",
                "data",
                "data_description",
                "menu_options",
                "sections",
            }:
                problems.append(f"strings.json: {section}.step.{step_id}.{key} is not allowed")
            for field in step.get("data_description", {}):
                if field not in step.get("data", {}):
                    problems.append(
                        f"strings.json: {section}.step.{step_id}.data_description.{field} "
                        "describes a field that has no label"
                    )
    return strings


def check_icons(problems: list[str], strings: dict[str, Any]) -> None:
    icons_file = COMPONENT / "icons.json"
    if not icons_file.exists():
        problems.append("icons.json is missing")
        return
    icons: dict[str, Any] = json.loads(icons_file.read_text("utf-8"))
    for key in set(icons) - {"entity", "services"}:
        problems.append(f"icons.json: unknown top-level key {key}")
    for platform, entities in icons.get("entity", {}).items():
        for key, spec in entities.items():
            if key not in strings.get("entity", {}).get(platform, {}):
                problems.append(f"icons.json: entity.{platform}.{key} has no translation key")
            if not str(spec.get("default", "")).startswith("mdi:"):
                problems.append(f"icons.json: entity.{platform}.{key}.default must be mdi:")
    for service in icons.get("services", {}):
        if service not in strings.get("services", {}):
            problems.append(f"icons.json: services.{service} is not a documented service")
    for service in strings.get("services", {}):
        if service not in icons.get("services", {}):
            problems.append(f"icons.json: service {service} has no icon")


def main() -> int:
    problems: list[str] = []
    manifest = check_manifest(problems)
    check_imports(problems, manifest)
    check_hacs(problems)
    strings = check_strings(problems)
    check_services(problems, strings)
    check_icons(problems, strings)
    # services.yaml against hassfest's schema, and the translation keys the code uses.
    sys.path.insert(0, str(ROOT))
    from scripts import validate_strings  # noqa: PLC0415 (needs ROOT on the path)

    problems += validate_strings.check(COMPONENT, strings)
    for problem in problems:
        print(problem)
    if not problems:
        print(
            "manifest.json, hacs.json, services.yaml, strings.json and icons.json are valid; "
            "every imported library has a declared source."
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
