"""Checks that every Home Assistant name Wattkeeper uses exists in the newest release.

The newest Home Assistant needs a newer Python than ours, so it can neither be
imported nor parsed here: download its wheel without dependencies and look
each name up in the source text of its module. Checked: every
`from homeassistant… import name`, every attribute used on an imported Home
Assistant module (`er.async_get`, `selector.NumberSelector`, `cv.string`), and
the members used on imported classes (`SensorDeviceClass.GAS`). A name counts
as defined only at module level (def, class, assignment, a module-level import
or `__all__`), so class attributes and keyword arguments of the same name do
not hide a removal. Skips (exit 0, with a clear message) only when the package
registry cannot be reached.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "custom_components" / "wattkeeper"
CACHE = Path.home() / ".cache" / "wattkeeper" / "ha-wheels"
HA = "homeassistant"
# Bases that give a class no members our code reads: an enum's members are its own.
_PLAIN_BASES = frozenset(
    {"Enum", "StrEnum", "IntEnum", "Flag", "IntFlag", "object", "str", "int", "float"}
)
# `from X import (a, b as c)` or `from X import a, b` at module level.
_IMPORT_FROM = re.compile(r"^from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)", re.M)
_IMPORT = re.compile(r"^import[ \t]+([^\n]+)", re.M)
_ALL = re.compile(r"^__all__\s*(?::[^=\n]*)?[+]?=\s*[\[(]([^\])]*)[\])]", re.M)


class RegistryUnreachable(Exception):
    """pip could not reach the package registry in time."""


@dataclass(frozen=True, order=True)
class Use:
    """A dotted name used in the package: `module` and the attributes after it."""

    module: str
    names: tuple[str, ...]

    def __str__(self) -> str:
        return ".".join((self.module, *self.names))


def used_names() -> set[Use]:
    """Every Home Assistant name the package imports or reads off an imported module."""
    uses: set[Use] = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        uses.update(uses_in(tree))
    return uses


def uses_in(tree: ast.AST) -> Iterator[Use]:
    """The uses in one module: imports, and attribute chains rooted at imported names."""
    bound: dict[str, Use] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and _is_ha(node.module):
            assert node.module is not None
            for alias in node.names:
                use = Use(node.module, (alias.name,))
                bound[alias.asname or alias.name] = use
                yield use
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if not _is_ha(alias.name):
                    continue
                yield Use(alias.name, ())
                if alias.asname:
                    bound[alias.asname] = Use(alias.name, ())
                else:  # `import homeassistant.util.dt` binds `homeassistant`
                    bound[HA] = Use(HA, ())
    attributes = [node for node in ast.walk(tree) if isinstance(node, ast.Attribute)]
    inner = {id(node.value) for node in attributes if isinstance(node.value, ast.Attribute)}
    for node in attributes:
        chain = None if id(node) in inner else _chain(node)
        if chain and chain[0] in bound:
            root = bound[chain[0]]
            yield Use(root.module, root.names + tuple(chain[1:]))


def _is_ha(module: str | None) -> bool:
    return module is not None and (module == HA or module.startswith(f"{HA}."))


def _chain(node: ast.Attribute) -> list[str] | None:
    """`a.b.c` → ["a", "b", "c"]; None when the chain starts at a call or subscript."""
    parts = [node.attr]
    value = node.value
    while isinstance(value, ast.Attribute):
        parts.append(value.attr)
        value = value.value
    if not isinstance(value, ast.Name):
        return None
    parts.append(value.id)
    return parts[::-1]


@dataclass
class Wheel:
    """The source text of one Home Assistant wheel, looked up by module name."""

    archive: zipfile.ZipFile
    _cache: dict[str, tuple[str, bool] | None] = field(default_factory=dict)

    def module(self, module: str) -> tuple[str, bool] | None:
        """(source, is_package), or None when the wheel has no such module."""
        if module not in self._cache:
            self._cache[module] = self._read(module)
        return self._cache[module]

    def _read(self, module: str) -> tuple[str, bool] | None:
        base = module.replace(".", "/")
        for candidate, package in ((f"{base}.py", False), (f"{base}/__init__.py", True)):
            try:
                return self.archive.read(candidate).decode("utf-8"), package
            except KeyError:
                continue
        return None

    def source(self, module: str) -> str | None:
        found = self.module(module)
        return None if found is None else found[0]

    def resolve(self, module: str, relative: str) -> str:
        """The absolute name of `relative` as imported from `module`."""
        level = len(relative) - len(relative.lstrip("."))
        if level == 0:
            return relative
        found = self.module(module)
        parts = module.split(".")
        if not (found and found[1]):
            parts = parts[:-1]  # a plain module imports relative to its package
        parts = parts[: len(parts) - (level - 1)]
        rest = relative[level:]
        return ".".join(parts + ([rest] if rest else []))


def module_imports(source: str) -> Iterator[tuple[str, str, str]]:
    """(from_module, name, bound_as) for each module-level `from … import`; name "*" for stars."""
    for match in _IMPORT_FROM.finditer(source):
        names = re.sub(r"#[^\n]*", "", match.group(2)).strip("() \t\n")
        for item in names.split(","):
            parts = item.split()
            if len(parts) == 1:
                yield match.group(1), parts[0], parts[0]
            elif len(parts) == 3 and parts[1] == "as":
                yield match.group(1), parts[0], parts[2]


def defines(source: str, name: str) -> bool:
    """True when the module text defines or re-exports `name` at module level."""
    patterns = (
        rf"^(async[ \t]+)?def[ \t]+{name}\b",
        rf"^class[ \t]+{name}\b",
        rf"^(type[ \t]+)?{name}\b[ \t]*(:[^=\n]*)?=",
        rf"^{name}[ \t]*:",
    )
    if any(re.search(pattern, source, re.MULTILINE) for pattern in patterns):
        return True
    if any(bound == name for _, _, bound in module_imports(source)):
        return True
    for match in _IMPORT.finditer(source):
        for item in match.group(1).split("#")[0].split(","):
            parts = item.split()
            bound = parts[2] if len(parts) == 3 and parts[1] == "as" else None
            if bound == name or (bound is None and parts and parts[0].split(".")[0] == name):
                return True
    return any(re.search(rf"[\"']{name}[\"']", m.group(1)) for m in _ALL.finditer(source))


def defined_in(wheel: Wheel, module: str, name: str, depth: int = 0) -> bool:
    """`defines`, following `from … import *` into the modules it names."""
    source = wheel.source(module)
    if source is None or depth > 10:
        return False
    if defines(source, name):
        return True
    return any(
        defined_in(wheel, wheel.resolve(module, origin), name, depth + 1)
        for origin, imported, _ in module_imports(source)
        if imported == "*"
    )


def is_deprecated(source: str, name: str) -> bool:
    """A deprecated constant, still served by the module's `__getattr__` (with a warning)."""
    return bool(
        re.search(rf"^_DEPRECATED_{name}\b[ \t]*(:[^=\n]*)?=", source, re.MULTILINE)
        and re.search(r"^(def[ \t]+)?__getattr__\b", source, re.MULTILINE)
    )


@dataclass
class Report:
    missing: list[str] = field(default_factory=list)
    deprecated: list[str] = field(default_factory=list)
    checked: int = 0


def check(wheel: Wheel, uses: set[Use]) -> Report:
    report = Report()
    for use in sorted(uses):
        report.checked += 1
        if wheel.source(use.module) is None:
            report.missing.append(f"module {use.module}")
            continue
        module, names = use.module, list(use.names)
        # Walk down submodules: `homeassistant.helpers.entity_registry.async_get`.
        while names and wheel.source(f"{module}.{names[0]}") is not None:
            module = f"{module}.{names.pop(0)}"
        if not names:
            continue
        source = wheel.source(module)
        assert source is not None
        name = names[0]
        if not defined_in(wheel, module, name):
            if is_deprecated(source, name):
                report.deprecated.append(f"{module}.{name}")
            else:
                report.missing.append(f"{module}.{name}")
            continue
        if len(names) > 1 and not has_member(wheel, module, name, names[1]):
            report.missing.append(f"{module}.{name}.{names[1]}")
    return report


def has_member(wheel: Wheel, module: str, name: str, member: str, depth: int = 0) -> bool:
    """False only when `name` is a class we can read and neither it nor its bases has `member`.

    Functions, instances and classes built on bases outside the wheel's text are
    not judged (True): only what the text proves missing is reported.
    """
    located = locate_class(wheel, module, name)
    if located is None or depth > 10:
        return True
    class_module, body, bases = located
    indent = re.match(r"[ \t]+", body)
    if indent is None:
        return True
    pad = indent.group(0)
    patterns = (
        rf"^{pad}(async[ \t]+)?def[ \t]+{member}\b",
        rf"^{pad}{member}\b[ \t]*(:[^=\n]*)?=",
        rf"^{pad}{member}[ \t]*:",
    )
    if any(re.search(pattern, body, re.MULTILINE) for pattern in patterns):
        return True
    for base in bases:
        if base in _PLAIN_BASES:
            continue
        if locate_class(wheel, class_module, base) is None:
            return True  # inherits from something we cannot read
        if has_member(wheel, class_module, base, member, depth + 1):
            return True
    return False


def locate_class(
    wheel: Wheel, module: str, name: str, depth: int = 0
) -> tuple[str, str, list[str]] | None:
    """(module, class body, base names) of class `name` as seen from `module`, following imports."""
    source = wheel.source(module)
    if source is None or depth > 10:
        return None
    header = rf"^class[ \t]+{name}\b(?:\[[^\]]*\])?(?:\(([^)]*)\))?[ \t]*:[^\n]*\n"
    match = re.search(header + r"((?:[ \t]+[^\n]*\n|[ \t]*\n)*)", source, re.MULTILINE)
    if match is not None:
        bases = [
            base.strip().split("[")[0].split(".")[-1]
            for base in (match.group(1) or "").split(",")
            if base.strip() and "=" not in base
        ]
        return module, match.group(2), bases
    for origin, imported, bound in module_imports(source):
        if bound == name and imported != "*":
            return locate_class(wheel, wheel.resolve(module, origin), imported, depth + 1)
    # A plain alias: `Platform = EntityPlatforms`.
    alias = re.search(rf"^{name}[ \t]*(?::[^=\n]*)?=[ \t]*(\w+)[ \t]*(?:#[^\n]*)?$", source, re.M)
    if alias is not None and alias.group(1) != name:
        return locate_class(wheel, module, alias.group(1), depth + 1)
    return None


def _pip(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [sys.executable, "-m", "pip", *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as err:
        raise RegistryUnreachable(f"pip {args[0]} gave no answer within {timeout:g} s") from err


def newest_version() -> str | None:
    # Newer releases need a newer Python than ours; we only read their text.
    result = _pip("index", "versions", "--ignore-requires-python", HA, timeout=120)
    match = re.search(r"homeassistant \(([^)]+)\)", result.stdout)
    return match.group(1) if match else None


def wheel_for(version: str) -> Path | None:
    CACHE.mkdir(parents=True, exist_ok=True)
    found = sorted(CACHE.glob(f"homeassistant-{version}-*.whl"))
    if not found:
        _pip(
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--ignore-requires-python",
            "--dest",
            str(CACHE),
            f"{HA}=={version}",
            timeout=600,
        )
        found = sorted(CACHE.glob(f"homeassistant-{version}-*.whl"))
    return found[0] if found else None


def main() -> int:
    try:
        version = newest_version()
        wheel_path = None if version is None else wheel_for(version)
    except RegistryUnreachable as err:
        print(f"SKIPPED: the package registry did not answer ({err}); nothing checked.")
        return 0
    if version is None:
        print("SKIPPED: the package registry cannot be reached; forward compatibility unchecked.")
        return 0
    if wheel_path is None:
        print(f"SKIPPED: could not download the homeassistant {version} wheel from the registry.")
        return 0
    with zipfile.ZipFile(wheel_path) as archive:
        report = check(Wheel(archive), used_names())
    for item in report.deprecated:
        print(f"warning: {item} is deprecated in Home Assistant {version}")
    if report.missing:
        print(f"Home Assistant {version} lacks names Wattkeeper uses:")
        for item in report.missing:
            print(f"  {item}")
        return 1
    print(f"All {report.checked} Home Assistant names in use exist in Home Assistant {version}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
