"""scripts/validate_strings.py: services.yaml as hassfest sees it, and the
translation keys, placeholders, flow errors and abort reasons the code uses."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from scripts import validate, validate_strings

STRINGS: dict[str, Any] = {
    "config": {
        "error": {"cannot_connect": "Cannot connect"},
        "abort": {"already_configured": "Already configured"},
    },
    "options": {"error": {"invalid_token": "Invalid token"}},
    "exceptions": {"no_reading": {"message": "No reading from {name} on {channel}"}},
    "issues": {"offline": {"title": "{name} is offline", "description": "Since {since}."}},
    "entity": {"sensor": {"power": {"name": "Power"}}},
    "selector": {"backend": {"options": {"sqlite": "SQLite"}}},
}


def _package(tmp_path: Path, services: str = "", **sources: str) -> Path:
    package = tmp_path / "wattkeeper"
    package.mkdir()
    (package / "services.yaml").write_text(textwrap.dedent(services))
    for name, source in sources.items():
        (package / f"{name}.py").write_text(textwrap.dedent(source))
    return package


def test_the_repository_passes() -> None:
    strings = json.loads((validate.COMPONENT / "strings.json").read_text("utf-8"))
    assert validate_strings.check(validate.COMPONENT, strings) == []


def test_valid_services_pass(tmp_path: Path) -> None:
    package = _package(
        tmp_path,
        """
        flush:
          fields:
            timeout:
              default: 30
              selector:
                number:
                  min: 0
                  max: 3600
        dim_light:
          target:
            entity:
              domain: light
          fields:
            advanced:
              collapsed: true
              fields:
                delay:
                  example: 5
                  filter:
                    supported_features:
                      - light.LightEntityFeature.TRANSITION
                  selector:
                    number:
                      min: 0
                      max: 60
        reload:
        """,
    )
    assert validate_strings.check_services_schema(package / "services.yaml") == []


@pytest.mark.parametrize(
    ("services", "problem"),
    [
        ("flush:\n  fields:\n    timeout:\n      selector:\n        gauge: {}\n", "gauge"),
        (
            "flush:\n  fields:\n    timeout:\n      selector:\n        number:\n"
            "          mode: dial\n",
            "mode",
        ),
        ("flush:\n  fields:\n    timeout:\n      default:\n", "null"),
        ("flush:\n  fields:\n    timeout:\n      requried: true\n", "requried"),
        ("flush:\n  icon: mdi:broom\n", "icon"),
        (
            # A filter only makes sense on a service that takes a target.
            "flush:\n  fields:\n    timeout:\n      filter:\n        supported_features:\n"
            "          - light.LightEntityFeature.TRANSITION\n",
            "filter",
        ),
        (
            "flush:\n  fields:\n    timeout: {}\n    more:\n      fields:\n        timeout: {}\n",
            "twice",
        ),
        ("Flush Now:\n  fields: {}\n", "Flush Now"),
    ],
    ids=[
        "unknown-selector",
        "bad-selector-option",
        "null-default",
        "misspelt-key",
        "unknown-service-key",
        "filter-without-target",
        "field-twice",
        "service-not-a-slug",
    ],
)
def test_invalid_services_are_reported(tmp_path: Path, services: str, problem: str) -> None:
    package = _package(tmp_path, services)
    (found,) = validate_strings.check_services_schema(package / "services.yaml")
    assert found.startswith("services.yaml: ")
    assert problem in found


def test_keys_the_code_uses_exist(tmp_path: Path) -> None:
    package = _package(
        tmp_path,
        flow="""
        async def async_step_user(self, user_input):
            errors = {}
            if user_input is None:
                errors["base"] = "cannot_connect"
                return self.async_show_form(step_id="user", errors={"token": "invalid_token"})
            return self.async_abort(reason="already_configured")

        def validate(value):
            return None, "cannot_connect"
        """,
        glue="""
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="no_reading",
            translation_placeholders={"name": name, "channel": "1"},
        )
        ir.async_create_issue(
            hass, DOMAIN, "id", translation_key="offline",
            translation_placeholders={"name": name, "since": since},
        )
        # Built at run time, or passed on: their placeholders cannot be read.
        ir.async_create_issue(hass, DOMAIN, "id", translation_key="offline", **common)
        raise HomeAssistantError(
            translation_key="no_reading", translation_placeholders=placeholders
        )
        SensorEntityDescription(key="power", translation_key="power")
        SelectSelectorConfig(options=["sqlite"], translation_key="backend")
        """,
    )
    assert validate_strings.check_code_keys(package, STRINGS) == []


def test_missing_keys_and_placeholders_are_reported(tmp_path: Path) -> None:
    package = _package(
        tmp_path,
        flow="""
        async def async_step_user(self, user_input):
            errors["base"] = "timeout"
            if user_input:
                return self.async_show_form(step_id="user", errors={"base": "busy"})
            return self.async_abort(reason="reauth_gone")

        def validate(value):
            return None, "unreadable"
        """,
        glue="""
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_channel")
        raise UpdateFailed(
            translation_key="no_reading", translation_placeholders={"name": name}
        )
        ir.async_create_issue(hass, DOMAIN, "id", translation_key="offline")
        ir.async_create_issue(hass, DOMAIN, "id", translation_key="no_reading")
        helper(translation_key="nowhere")
        """,
    )
    assert sorted(validate_strings.check_code_keys(package, STRINGS)) == [
        "flow.py:3: flow error timeout has no text",
        "flow.py:5: flow error busy has no text",
        "flow.py:6: abort reason reauth_gone has no text",
        "flow.py:9: flow error unreadable has no text",
        "glue.py:2: exceptions.no_channel is missing from strings.json",
        "glue.py:3: exceptions.no_reading needs placeholders channel",
        "glue.py:6: issues.offline needs placeholders name, since",
        "glue.py:7: issues.no_reading is missing from strings.json",
        "glue.py:8: translation key nowhere has no text",
    ]


def test_validate_reports_what_validate_strings_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """scripts/validate.py runs these checks too (and fails on them)."""
    monkeypatch.setattr(
        validate_strings,
        "CHECKS",
        (lambda package, strings: [f"found in {package.name}"],),
    )
    assert validate.main() == 1
    assert "found in wattkeeper" in capsys.readouterr().out
