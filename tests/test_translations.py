"""Translations: all four languages complete, nothing missing, nothing unused."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

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


def _source() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in COMPONENT.rglob("*.py"))


def test_every_exception_and_issue_key_is_used_and_exists() -> None:
    source = _source()
    defined = {key.split(".")[1] for key in STRINGS if key.startswith(("exceptions.", "issues."))}
    elsewhere = {key.split(".")[1] for key in STRINGS if key.startswith("selector.")}
    elsewhere |= {key.split(".")[2] for key in STRINGS if key.startswith("entity.")}
    literal = set(re.findall(r'translation_key="(\w+)"', source))
    # Keys built at run time: UpdateFailed's update_<reason>, and f-string prefixes.
    update_reasons = set(re.findall(r'^\s+key = "(\w+)"', source, re.MULTILINE))
    prefixes = set(re.findall(r'translation_key=f"(\w+)\{', source))
    used = literal | {f"update_{reason}" for reason in update_reasons}
    assert sorted(used - defined - elsewhere) == []
    unused = {key for key in defined - used if not key.startswith(tuple(prefixes))}
    assert sorted(unused) == []


def test_every_flow_error_and_abort_reason_is_translated() -> None:
    source = _source()
    errors = set(re.findall(r'return None, "(\w+)"', source))
    aborts = set(re.findall(r'async_abort\(reason="?(\w+)', source))
    aborts |= set(re.findall(r'reason="(\w+)"', source))
    aborts -= {"error"}
    for error in errors:
        assert f"config.error.{error}" in STRINGS, error
    for reason in aborts:
        assert f"config.abort.{reason}" in STRINGS, reason
