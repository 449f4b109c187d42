"""Checks the integration's metadata the way hassfest and HACS validation would.

manifest.json, hacs.json, services.yaml, strings.json and icons.json: required
keys, types, known values, and that every service and translation key they
name is documented. Exit 1 with one line per problem.

    .venv/bin/python scripts/validate.py
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml
from awesomeversion import AwesomeVersion

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
    check_manifest(problems)
    check_hacs(problems)
    strings = check_strings(problems)
    check_services(problems, strings)
    check_icons(problems, strings)
    for problem in problems:
        print(problem)
    if not problems:
        print("manifest.json, hacs.json, services.yaml, strings.json and icons.json are valid.")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
