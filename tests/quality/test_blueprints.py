"""The five automation blueprints load with Home Assistant's blueprint schema.

Running them inside Home Assistant on simulated readings is a separate test;
this one checks the files themselves: schema, metadata, selectors filtered to
Wattkeeper, every !input declared, defaults valid, templates parse, and the
automation each one produces passes the automation schema.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jinja2
import pytest
import yaml
from homeassistant.components.automation.config import (
    AUTOMATION_BLUEPRINT_SCHEMA,
    async_validate_config_item,
)
from homeassistant.components.blueprint.models import Blueprint, BlueprintInputs
from homeassistant.core import HomeAssistant
from homeassistant.helpers import selector
from homeassistant.util.yaml import load_yaml_dict

FOLDER = Path(__file__).parents[2] / "blueprints" / "automation" / "wattkeeper"
NAMES = {
    "meter_problem_notify.yaml",
    "solar_surplus_load.yaml",
    "capacity_peak_guard.yaml",
    "recorder_health_notify.yaml",
    "daily_energy_summary.yaml",
}
PATHS = sorted(FOLDER.glob("*.yaml"))
SOURCE = "https://github.com/wattkeeper/wattkeeper/blob/main/blueprints/automation/wattkeeper"
# Entities Wattkeeper does not own: the loads a blueprint switches, and its memory.
LOAD_DOMAINS = {"switch", "input_boolean", "light", "fan", "input_text"}


def _load(path: Path) -> Blueprint:
    return Blueprint(
        load_yaml_dict(path),
        path=str(path),
        expected_domain="automation",
        schema=AUTOMATION_BLUEPRINT_SCHEMA,
    )


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in _strings(value)]
    return []


def _sample(name: str, spec: dict[str, Any]) -> Any:
    """A plausible user choice for an input, from its selector."""
    ((kind, config),) = spec["selector"].items()
    config = config or {}
    if kind == "entity":
        domains = config["filter"][0]["domain"]
        domain = domains[0] if isinstance(domains, list) else domains
        entity = f"{domain}.{name}"
        return [entity, f"{entity}_2"] if config.get("multiple") else entity
    if "default" in spec:
        return spec["default"]
    raise AssertionError(f"no sample for input {name} ({kind})")


def test_all_five_blueprints_are_there() -> None:
    assert {path.name for path in PATHS} == NAMES


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_blueprint_schema_and_metadata(path: Path) -> None:
    blueprint = _load(path)
    assert blueprint.domain == "automation"
    assert blueprint.validate() is None  # min_version is met by the pinned release
    assert blueprint.name.startswith("Wattkeeper – ")
    assert len(blueprint.metadata["description"]) > 150
    assert blueprint.inputs
    # Where "re-import blueprint" fetches it from: this file in the repository.
    assert blueprint.metadata["source_url"] == f"{SOURCE}/{path.name}"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_inputs_have_valid_selectors_and_defaults(path: Path) -> None:
    wattkeeper_entities = 0
    for name, spec in _load(path).inputs.items():
        assert spec.get("name"), name
        validator = selector.selector(spec["selector"])
        if "default" in spec:
            validator(spec["default"])
        ((kind, config),) = spec["selector"].items()
        if kind != "entity":
            continue
        for entity_filter in config["filter"]:
            if entity_filter.get("integration") == "wattkeeper":
                wattkeeper_entities += 1
            else:
                assert set(entity_filter["domain"]) <= LOAD_DOMAINS, name
    assert wattkeeper_entities > 0


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_templates_parse(path: Path) -> None:
    environment = jinja2.Environment(autoescape=False)  # noqa: S701 (parsing only)
    templates = [s for s in _strings(load_yaml_dict(path)) if "{{" in s or "{%" in s]
    assert templates
    for template in templates:
        environment.parse(template)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
async def test_instantiated_automation_validates(hass: HomeAssistant, path: Path) -> None:
    blueprint = _load(path)
    chosen = {name: _sample(name, spec) for name, spec in blueprint.inputs.items()}
    inputs = BlueprintInputs(
        blueprint,
        {"use_blueprint": {"path": f"wattkeeper/{path.name}", "input": chosen}},
    )
    inputs.validate()
    config = {"id": path.stem, "alias": path.stem, **inputs.async_substitute()}
    # Validates triggers, conditions and actions as Home Assistant does on save.
    automation = await async_validate_config_item(hass, path.stem, config)
    assert automation is not None
    assert automation.validation_error is None
    assert automation["triggers"]
    assert automation["actions"]


README = FOLDER.parents[2] / "README.md"
RAW = (
    "https://raw.githubusercontent.com/wattkeeper/wattkeeper/main/blueprints/automation/wattkeeper"
)


def readme_examples() -> list[dict[str, Any]]:
    """The example automations of the README (its YAML block after "Example automations")."""
    text = README.read_text("utf-8")
    block = text.split("Example automations", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    examples: list[dict[str, Any]] = yaml.safe_load(block)
    return examples


def test_the_readme_has_an_import_button_for_every_blueprint() -> None:
    links = re.findall(
        r"\(https://my\.home-assistant\.io/redirect/blueprint_import/\?blueprint_url=([^)]+)\)",
        README.read_text("utf-8"),
    )
    assert sorted(unquote(link) for link in links) == [f"{RAW}/{path.name}" for path in PATHS]


async def test_the_readme_examples_are_valid_automations(hass: HomeAssistant) -> None:
    examples = readme_examples()
    assert len(examples) >= 2
    environment = jinja2.Environment(autoescape=False)  # noqa: S701 (parsing only)
    for number, example in enumerate(examples):
        for template in (s for s in _strings(example) if "{{" in s or "{%" in s):
            environment.parse(template)
        config = {"id": f"example_{number}", **example}
        automation = await async_validate_config_item(hass, f"example_{number}", config)
        assert automation is not None
        assert automation.validation_error is None, example["alias"]
