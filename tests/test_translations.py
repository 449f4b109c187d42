"""Translations: all four languages complete, nothing missing, nothing unused.

"Used" is read from the package's source with `ast`: the step ids of the flows,
the errors and abort reasons they set, the translation keys of entities,
selectors, exceptions and issues, and the services in services.yaml. Keys that
Home Assistant's own flow helpers use count as used where the code calls them.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from custom_components.wattkeeper.sensor import SENSORS, Variant

COMPONENT = Path(__file__).resolve().parent.parent / "custom_components" / "wattkeeper"
LANGUAGES = ("en", "nl", "fr", "de")


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def _load(path: Path) -> dict[str, str]:
    return _flatten(json.loads(path.read_text(encoding="utf-8")))


STRINGS = _load(COMPONENT / "strings.json")
TREE: dict[str, Any] = json.loads((COMPONENT / "strings.json").read_text(encoding="utf-8"))

# Reasons Home Assistant's flow helpers abort with: `_abort_if_unique_id_configured`,
# the flow manager (a second flow for the same device), and
# `async_update_reload_and_abort` after a reauth or reconfigure step.
HA_ABORTS = {
    "already_configured": "_abort_if_unique_id_configured",
    "already_in_progress": "async_set_unique_id",
    "reauth_successful": "async_update_reload_and_abort",
    "reconfigure_successful": "async_update_reload_and_abort",
}


def test_english_translation_is_strings_json() -> None:
    assert _load(COMPONENT / "translations" / "en.json") == STRINGS


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_in_every_language(language: str) -> None:
    translated = _load(COMPONENT / "translations" / f"{language}.json")
    assert sorted(set(STRINGS) - set(translated)) == []
    assert sorted(set(translated) - set(STRINGS)) == []
    for key, text in translated.items():
        assert text.strip(), f"{language}: {key} is empty"
        # Placeholders must survive translation, or Home Assistant shows raw braces.
        assert set(re.findall(r"{\w+}", text)) == set(re.findall(r"{\w+}", STRINGS[key])), key


# -- what the source uses -------------------------------------------------------------


@cache
def _trees() -> tuple[ast.Module, ...]:
    return tuple(
        ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for path in sorted(COMPONENT.rglob("*.py"))
    )


def _nodes() -> Iterator[ast.AST]:
    for tree in _trees():
        yield from ast.walk(tree)


def _constant(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _called(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _keywords(name: str, *, calls: set[str] | None = None) -> set[str]:
    """Literal values of keyword `name` in calls (of `calls`, when given)."""
    found = set()
    for node in _nodes():
        if isinstance(node, ast.Call) and (calls is None or _called(node) in calls):
            for keyword in node.keywords:
                if keyword.arg == name and (value := _constant(keyword.value)) is not None:
                    found.add(value)
    return found


@cache
def _string_constants() -> frozenset[str]:
    """Every string literal of the package, f-strings' literal parts included."""
    return frozenset(
        node.value
        for node in _nodes()
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    )


def _prefixes() -> set[str]:
    """Keys built at run time: `translation_key=f"outbox_quota_{level}"`."""
    found = set()
    for node in _nodes():
        if isinstance(node, ast.keyword) and node.arg == "translation_key":
            value = node.value
            first = _constant(value.values[0]) if isinstance(value, ast.JoinedStr) else None
            if first and re.fullmatch(r"\w+_", first):
                found.add(first)
    return found


def _is_used(key: str) -> bool:
    return key in _string_constants() or key.startswith(tuple(_prefixes()))


def _assigned(attribute: str) -> set[str]:
    """Literal values assigned to `attribute` (`_attr_translation_key = "x"`)."""
    found = set()
    for node in _nodes():
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = {getattr(t, "id", getattr(t, "attr", None)) for t in targets}
            if attribute in names and (value := _constant(node.value)) is not None:
                found.add(value)
    return found


def _step_ids() -> set[str]:
    """Steps the flows have: `async_step_<id>` methods and `step_id="<id>"` forms."""
    defined = {
        node.name.removeprefix("async_step_")
        for node in _nodes()
        if isinstance(node, ast.AsyncFunctionDef) and node.name.startswith("async_step_")
    }
    return defined | _keywords("step_id")


def _errors() -> set[str]:
    """Error keys the flows show: errors[...] = "x", {"base": "x"}, `return None, "x"`."""
    found = set()
    for node in _nodes():
        if isinstance(node, ast.Assign) and (value := _constant(node.value)) is not None:
            for target in node.targets:
                if isinstance(target, ast.Subscript) and "error" in ast.unparse(target.value):
                    found.add(value)
        if isinstance(node, ast.Call) and _called(node) == "async_show_form":
            for keyword in node.keywords:
                if keyword.arg == "errors" and isinstance(keyword.value, ast.Dict):
                    found |= {v for v in map(_constant, keyword.value.values) if v is not None}
        items = (
            node.value.elts
            if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple)
            else []
        )
        # `return None, "error_key"`: the flows' validators.
        validator = len(items) == 2 and _constant(items[1]) is not None
        if validator and isinstance(items[0], ast.Constant) and items[0].value is None:
            found.add(str(_constant(items[1])))
    return found


def _defined(section: str, kind: str) -> set[str]:
    return set(TREE.get(section, {}).get(kind, {}))


# -- config and options flows ---------------------------------------------------------


def _translated_steps() -> set[str]:
    steps = _defined("config", "step") | _defined("options", "step")
    for issue in TREE.get("issues", {}).values():
        steps |= set(issue.get("fix_flow", {}).get("step", {}))
    return steps


def test_every_flow_step_is_translated_and_every_translated_step_exists() -> None:
    shown = _keywords("step_id", calls={"async_show_form", "async_show_menu"})
    assert sorted(shown - _translated_steps()) == []
    assert sorted(_translated_steps() - _step_ids()) == []


def test_every_flow_error_exists_and_is_used() -> None:
    defined = _defined("config", "error") | _defined("options", "error")
    assert sorted(_errors() - defined) == []
    assert sorted(key for key in defined if not _is_used(key)) == []


def test_every_abort_reason_exists_and_is_used() -> None:
    defined = _defined("config", "abort") | _defined("options", "abort")
    used = _keywords("reason", calls={"async_abort", "async_update_reload_and_abort"})
    assert sorted(used - defined) == []
    by_home_assistant = {
        reason for reason, helper in HA_ABORTS.items() if helper in _called_names()
    }
    unused = {key for key in defined - by_home_assistant if not _is_used(key)}
    assert sorted(unused) == []


@cache
def _called_names() -> frozenset[str]:
    return frozenset(_called(node) for node in _nodes() if isinstance(node, ast.Call))


# -- selectors, entities, exceptions, issues ------------------------------------------


def _services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((COMPONENT / "services.yaml").read_text("utf-8"))
    return services


def _service_selector_keys(node: Any) -> set[str]:
    """translation_key of every selector in services.yaml."""
    if isinstance(node, dict):
        found = {node["translation_key"]} if isinstance(node.get("translation_key"), str) else set()
        return found.union(*(_service_selector_keys(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_service_selector_keys(value) for value in node))
    return set()


def test_every_selector_is_translated_and_used() -> None:
    named = _keywords("translation_key", calls={"SelectSelectorConfig"})
    named |= _service_selector_keys(_services())
    defined = set(TREE.get("selector", {}))
    assert sorted(named - defined) == []
    # Helpers that build selectors take the key as an argument: any literal counts.
    assert sorted(key for key in defined - named if not _is_used(key)) == []
    for key, spec in TREE["selector"].items():
        # Options are the values the code offers; numbered ones (channels) are built.
        unused = [o for o in spec["options"] if not o.isdigit() and not _is_used(o)]
        assert unused == [], key


def _generated_sensor_keys() -> set[str]:
    """The names scripts/translations.py makes for the description table."""
    keys = set()
    for quantity, description in SENSORS.items():
        keys.add(quantity.value)
        keys |= {f"{quantity.value}_{variant}" for variant in description.variants}
        if {Variant.PHASE, Variant.CHANNEL} <= description.variants:
            keys.add(f"{quantity.value}_{Variant.PHASE}_{Variant.CHANNEL}")
    return keys


def test_every_entity_key_is_translated_and_used() -> None:
    entity_keys = {f"{platform}.{key}" for platform, keys in TREE["entity"].items() for key in keys}
    named = {key.split(".", 1)[1] for key in entity_keys}
    # Entities that set their key as a class attribute must find it translated.
    assert sorted(_assigned("_attr_translation_key") - named) == []
    generated = _generated_sensor_keys()
    unused = sorted(
        key
        for key in entity_keys
        if key.split(".", 1)[1] not in generated and not _is_used(key.split(".", 1)[1])
    )
    assert unused == []
    for platform, keys in TREE["entity"].items():
        for key, spec in keys.items():
            states = [s for s in spec.get("state", {}) if not _is_used(s)]
            assert states == [], f"entity.{platform}.{key}.state"
            attributes = [a for a in spec.get("state_attributes", {}) if not _is_used(a)]
            assert attributes == [], f"entity.{platform}.{key}.state_attributes"


def test_every_exception_and_issue_key_is_used_and_exists() -> None:
    defined = {key.split(".")[1] for key in STRINGS if key.startswith(("exceptions.", "issues."))}
    elsewhere = set(TREE.get("selector", {})) | {
        key for keys in TREE["entity"].values() for key in keys
    }
    source = "\n".join(p.read_text(encoding="utf-8") for p in COMPONENT.rglob("*.py"))
    literal = _keywords("translation_key")
    # UpdateFailed's update_<reason>, built from each error's `key`.
    update_reasons = set(re.findall(r'^\s+key = "(\w+)"', source, re.MULTILINE))
    used = literal | {f"update_{reason}" for reason in update_reasons}
    assert sorted(used - defined - elsewhere) == []
    unused = {key for key in defined - used if not _is_used(key)}
    assert sorted(unused) == []


# -- services -----------------------------------------------------------------------


def test_every_service_and_field_is_translated_and_documented() -> None:
    services = _services()
    translated = TREE.get("services", {})
    assert sorted(set(services) ^ set(translated)) == []
    for name, spec in services.items():
        fields = set((spec or {}).get("fields", {}))
        for section in (spec or {}).get("fields", {}).values():
            # Collapsible sections hold fields of their own.
            fields |= set((section or {}).get("fields", {}))
        assert sorted(fields ^ set(translated[name].get("fields", {}))) == [], name
