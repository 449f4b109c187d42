"""Checks that every Home Assistant name Wattkeeper imports exists in the newest release.

The newest Home Assistant needs a newer Python than ours, so it cannot be
imported here: download its wheel without dependencies and look each name up
in the source text of the module it is imported from. Skips (exit 0, with a
clear message) only when the package registry cannot be reached.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import zipfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "custom_components" / "wattkeeper"
CACHE = Path.home() / ".cache" / "wattkeeper" / "ha-wheels"


def imported_names() -> dict[str, set[str]]:
    """module → names imported from it, over the whole package."""
    names: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("homeassistant"):
                assert node.module is not None
                names[node.module].update(alias.name for alias in node.names)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("homeassistant"):
                        names[alias.name]
    return names


def newest_version() -> str | None:
    result = subprocess.run(
        # Newer releases need a newer Python than ours; we only read their text.
        [
            sys.executable,
            "-m",
            "pip",
            "index",
            "versions",
            "--ignore-requires-python",
            "homeassistant",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    match = re.search(r"homeassistant \(([^)]+)\)", result.stdout)
    return match.group(1) if match else None


def wheel_for(version: str) -> Path | None:
    CACHE.mkdir(parents=True, exist_ok=True)
    found = sorted(CACHE.glob(f"homeassistant-{version}-*.whl"))
    if found:
        return found[0]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--ignore-requires-python",
            "--dest",
            str(CACHE),
            f"homeassistant=={version}",
        ],
        check=False,
        timeout=600,
    )
    found = sorted(CACHE.glob(f"homeassistant-{version}-*.whl"))
    return found[0] if found else None


def defines(source: str, name: str) -> bool:
    """True when the module text defines or re-exports `name`."""
    patterns = (
        rf"^\s*(async\s+)?def\s+{name}\b",
        rf"^\s*class\s+{name}\b",
        rf"^\s*(type\s+)?{name}\b\s*(:[^=]*)?=",
        rf"^\s*{name}\s*:",
        rf"\bimport\s+[^\n]*\b{name}\b",
        rf"^\s+{name},?\s*(#.*)?$",  # inside a parenthesised import list
        rf"\bas\s+{name}\b",
    )
    return any(re.search(pattern, source, re.MULTILINE) for pattern in patterns)


def module_source(wheel: zipfile.ZipFile, module: str) -> str | None:
    base = module.replace(".", "/")
    for candidate in (f"{base}.py", f"{base}/__init__.py"):
        try:
            return wheel.read(candidate).decode("utf-8")
        except KeyError:
            continue
    return None


def main() -> int:
    version = newest_version()
    if version is None:
        print("SKIPPED: the package registry cannot be reached; forward compatibility unchecked.")
        return 0
    wheel_path = wheel_for(version)
    if wheel_path is None:
        print(f"SKIPPED: could not download the homeassistant {version} wheel from the registry.")
        return 0
    missing: list[str] = []
    checked = 0
    with zipfile.ZipFile(wheel_path) as wheel:
        for module, names in sorted(imported_names().items()):
            source = module_source(wheel, module)
            if source is None:
                missing.append(f"module {module}")
                continue
            for name in sorted(names):
                checked += 1
                is_submodule = module_source(wheel, f"{module}.{name}") is not None
                if not is_submodule and not defines(source, name):
                    missing.append(f"{module}.{name}")
    if missing:
        print(f"Home Assistant {version} lacks names Wattkeeper imports:")
        for item in missing:
            print(f"  {item}")
        return 1
    print(f"All {checked} imported Home Assistant names exist in Home Assistant {version}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
