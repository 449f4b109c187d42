"""What hassfest checks in services.yaml, and the translation keys the code uses.

- services.yaml: each service, section and field against the schema hassfest
  applies to a custom integration (keys, types, selectors built with Home
  Assistant's own selector validation, `target` and field filters only on
  services that take a target, no field twice across sections).
- Code (read with `ast`, nothing imported): every literal `translation_key=`
  of an exception or repair issue exists, with the `translation_placeholders`
  its text needs; every flow error (`errors[...] = "x"`, `errors={...}`,
  `return None, "x"`) and abort reason (`async_abort(reason=...)`) has a text.

Called by scripts/validate.py; returns one line per problem.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import voluptuous as vol
import yaml
from homeassistant.const import CONF_SELECTOR
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import selector, service
from voluptuous.humanize import humanize_error

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _not_none(value: Any) -> Any:
    if value is None:
        raise vol.Invalid("a value is required, not null")
    return value


def _field_schema(*, targeted: bool) -> vol.Schema:
    field: dict[Any, Any] = {
        vol.Optional("name"): str,
        vol.Optional("description"): str,
        vol.Optional("example"): _not_none,
        vol.Optional("default"): _not_none,
        vol.Optional("required"): bool,
        vol.Optional("advanced"): bool,
        vol.Optional(CONF_SELECTOR): selector.validate_selector,
    }
    if targeted:
        # A filter narrows what the target picks: without one it has nothing to act on.
        field[vol.Optional("filter")] = {
            vol.Exclusive("attribute", "field_filter"): {
                vol.Required(str): [vol.All(str, service.validate_attribute_option)]
            },
            vol.Exclusive("supported_features", "field_filter"): [
                vol.All(str, service.validate_supported_feature)
            ],
        }
    return vol.Schema(field)


def _no_field_twice(fields: Mapping[str, Any]) -> Mapping[str, Any]:
    seen: set[str] = set()
    for name, spec in fields.items():
        names = list(spec["fields"]) if isinstance(spec, dict) and "fields" in spec else [name]
        for field in names:
            if field in seen:
                raise vol.Invalid(f"field {field} appears twice")
            seen.add(field)
    return fields


def _service_schema(*, targeted: bool) -> vol.Schema:
    field = _field_schema(targeted=targeted)
    section = vol.Schema(
        {
            vol.Optional("name"): str,
            vol.Optional("description"): str,
            vol.Optional("collapsed"): bool,
            vol.Required("fields"): vol.Schema({str: field}),
        }
    )
    schema: dict[Any, Any] = {
        vol.Optional("name"): str,
        vol.Optional("description"): str,
        vol.Optional("fields"): vol.All(
            vol.Schema({str: vol.Any(field, section)}), _no_field_twice
        ),
    }
    if targeted:
        schema[vol.Required("target")] = vol.Any(selector.TargetSelector.CONFIG_SCHEMA, None)
    return vol.Schema(schema)


SERVICES_SCHEMA = vol.Schema(
    {cv.slug: vol.Any(_service_schema(targeted=True), _service_schema(targeted=False), None)}
)


def check_services_schema(services_file: Path) -> list[str]:
    """services.yaml against hassfest's schema for custom integrations."""
    if not services_file.exists():
        return []
    data = yaml.safe_load(services_file.read_text("utf-8")) or {}
    problems = []
    # One service at a time, so that each problem names its service.
    for name, spec in data.items():
        try:
            SERVICES_SCHEMA({name: spec})
        except vol.Invalid as err:
            problems.append(f"services.yaml: {name}: {humanize_error({name: spec}, err)}")
    return problems


# -- translation keys in the code ------------------------------------------------------


def _trees(package: Path) -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(package.rglob("*.py")):
        yield (
            path.relative_to(package).as_posix(),
            ast.parse(path.read_text("utf-8"), filename=str(path)),
        )


def _literal(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _calls(tree: ast.Module) -> Iterator[ast.Call]:
    return (node for node in ast.walk(tree) if isinstance(node, ast.Call))


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _texts(strings: Mapping[str, Any], section: str, key: str) -> list[str]:
    """Every text under strings[section][key] (an issue's title, description, fix flow)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str):
            found.append(node)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)

    walk(strings.get(section, {}).get(key))
    return found


# Calls whose translation_key names an issue, and the exceptions Home Assistant
# translates (HomeAssistantError and its kind: ServiceValidationError,
# ConfigEntryNotReady, ConfigEntryAuthFailed, UpdateFailed ...). Other calls with
# a translation_key (descriptions, selectors, the package's own helpers) only
# need the key to exist somewhere.
_ISSUE_CALLS = {"async_create_issue", "create_issue"}
_RAISED = ("Error", "Failed", "NotReady", "Exception")


def check_code_keys(package: Path, strings: Mapping[str, Any]) -> list[str]:
    """Translation keys, placeholders, flow errors and abort reasons the code uses."""
    problems: list[str] = []
    others = set(strings.get("selector", {})) | {
        key for platform in strings.get("entity", {}).values() for key in platform
    }
    errors = set(strings.get("config", {}).get("error", {})) | set(
        strings.get("options", {}).get("error", {})
    )
    aborts = set(strings.get("config", {}).get("abort", {})) | set(
        strings.get("options", {}).get("abort", {})
    )
    for file, tree in _trees(package):
        for call in _calls(tree):
            problems += _check_call(file, call, strings, others)
            reason = _literal(_keyword(call, "reason"))
            aborting = _name(call) in {"async_abort", "async_update_reload_and_abort"}
            if aborting and reason and reason not in aborts:
                problems.append(f"{file}:{call.lineno}: abort reason {reason} has no text")
        for line, error in _flow_errors(tree):
            if error not in errors:
                problems.append(f"{file}:{line}: flow error {error} has no text")
    return problems


def _check_call(
    file: str, call: ast.Call, strings: Mapping[str, Any], others: set[str]
) -> list[str]:
    key = _literal(_keyword(call, "translation_key"))
    if key is None:
        return []
    where = f"{file}:{call.lineno}"
    name = _name(call)
    if name in _ISSUE_CALLS:
        section = "issues"
    elif name.endswith(_RAISED):
        section = "exceptions"
    else:
        known = others | set(strings.get("exceptions", {})) | set(strings.get("issues", {}))
        return [] if key in known else [f"{where}: translation key {key} has no text"]
    if key not in strings.get(section, {}):
        return [f"{where}: {section}.{key} is missing from strings.json"]
    given = _keyword(call, "translation_placeholders")
    if any(k.arg is None for k in call.keywords) or not (
        given is None or (isinstance(given, ast.Dict) and all(map(_literal, given.keys)))
    ):
        return []  # placeholders built at run time
    needed = {name for text in _texts(strings, section, key) for name in _PLACEHOLDER.findall(text)}
    missing = needed - ({str(_literal(k)) for k in given.keys} if given is not None else set())
    if missing:
        return [f"{where}: {section}.{key} needs placeholders {', '.join(sorted(missing))}"]
    return []


def _flow_errors(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and (value := _literal(node.value)) is not None:
            for target in node.targets:
                if isinstance(target, ast.Subscript) and "error" in ast.unparse(target.value):
                    yield node.lineno, value
        elif isinstance(node, ast.Call) and _name(node) == "async_show_form":
            errors = _keyword(node, "errors")
            if isinstance(errors, ast.Dict):
                for value in map(_literal, errors.values):
                    if value is not None:
                        yield node.lineno, value
        elif isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple):
            items = node.value.elts
            value = _literal(items[1]) if len(items) == 2 else None
            # `return None, "error_key"`: a flow's validator found a problem.
            if value is not None and isinstance(items[0], ast.Constant) and items[0].value is None:
                yield node.lineno, value


CHECKS: tuple[Callable[[Path, Mapping[str, Any]], list[str]], ...] = (
    lambda package, strings: check_services_schema(package / "services.yaml"),
    check_code_keys,
)


def check(package: Path, strings: Mapping[str, Any]) -> list[str]:
    """All of the above for one integration package and its strings.json."""
    return [problem for run in CHECKS for problem in run(package, strings)]
