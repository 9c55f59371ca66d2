"""The tree shows the architecture, and the imports keep to it: the core imports nothing of the
others, the doors (bulk, http) never import each other or the CLI, and no module imports one
that imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICE = Path(__file__).resolve().parents[1] / "service"
PACKAGE = "healthcoop"

# what each part may import (besides itself, healthcoop.schemas and healthcoop.prompts)
ALLOWED = {
    "errors": set(),
    "settings": set(),
    "files": {"errors"},
    "archive": {"core", "errors", "files"},
    "core": {"errors"},
    "llm": {"errors", "settings"},
    "extraction": {"core", "llm", "errors", "settings"},
    "bulk": {"extraction", "llm", "core", "errors", "settings", "files", "archive"},
    "http": {"extraction", "llm", "core", "errors", "settings"},
    "scoring": {"core", "errors", "files"},
    "export": {"analysis"},  # `healthcoop.export`, the analysis tables under their public name
    "analysis": {"core", "scoring", "errors", "files", "archive"},
}
ALWAYS = {"schemas", "prompts"}
# the CLI drives the doors through their packages' public names, never their modules
CLI_VIA_PACKAGE = {"bulk", "http"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SERVICE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([PACKAGE, *parts])


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _imports(path: Path) -> list[str]:
    """Dotted names of the healthcoop modules (or names in them) `path` imports, anywhere in it."""
    name = _module_name(path)
    package = name if _is_package(path) else name.rsplit(".", 1)[0]
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == PACKAGE]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target.split(".")[0] != PACKAGE:
                continue
            # `from pkg import mod` imports the module pkg.mod when there is one
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.append(candidate if _exists(candidate) else target)
    return found


def _exists(dotted: str) -> bool:
    rel = Path(*dotted.split(".")[1:])
    return (SERVICE / rel).with_suffix(".py").is_file() or (SERVICE / rel / "__init__.py").is_file()


def _part(dotted: str) -> str:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


MODULES = sorted(SERVICE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SERVICE)))
def test_each_part_imports_only_what_its_layer_allows(path: Path):
    me = _part(_module_name(path))
    for target in _imports(path):
        other = _part(target)
        if other == me or other in ALWAYS:
            continue
        if me == "__init__":
            continue  # the Python API may reach anything
        if me == "cli":
            if other in CLI_VIA_PACKAGE:
                assert target == f"{PACKAGE}.{other}", f"cli imports {target}: use {other}'s API"
            continue  # and the Python API: every command wraps a function of it
        assert other != "__init__", f"{path.name} imports the top-level healthcoop package"
        assert other in ALLOWED[me], f"{me} ({path.name}) may not import {target}"


def test_no_module_imports_one_that_imports_it_back():
    graph = {_module_name(p): set(_imports(p)) for p in MODULES}
    graph = {m: {t for t in targets if t in graph and t != m} for m, targets in graph.items()}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph[start]:
            if nxt == goal:
                return True
            # a package's __init__ importing its own modules is how a package is made
            if nxt not in seen and not goal.startswith(nxt + "."):
                seen.add(nxt)
                if reaches(nxt, goal, seen):
                    return True
        return False

    circles = [
        (m, t)
        for m, targets in graph.items()
        for t in targets
        if not t.startswith(m + ".") and not m.startswith(t + ".") and reaches(t, m, set())
    ]
    assert circles == []


def test_every_subpackage_says_what_it_is_and_what_it_may_import():
    for init in SERVICE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text("utf-8"))) or ""
        assert "import" in doc, f"{init.parent.name}/__init__.py: say what it may import"


def test_openai_and_instructor_are_imported_in_the_client_module_only():
    for path in MODULES:
        names = {
            (n.module or "") if isinstance(n, ast.ImportFrom) else a.name
            for n in ast.walk(ast.parse(path.read_text("utf-8")))
            if isinstance(n, (ast.Import, ast.ImportFrom))
            for a in (n.names if isinstance(n, ast.Import) else [n])
        }
        roots = {name.split(".")[0] for name in names}
        if roots & {"openai", "instructor"}:
            assert path == SERVICE / "llm" / "client.py", path
