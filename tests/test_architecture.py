"""The architecture as contracts: the layers of pyproject's `[tool.importlinter]`, checked by
import-linter, and no module reaching into another module's `_private` names."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ptc_jupyter"
TOP_LEVEL = {
    "__init__.py",
    "api.py",
    "conversation.py",
    "options.py",
    "constants.py",
    "errors.py",
    "pricing.py",
    "script_cell.py",
}  # the import line every saved script cell begins with


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_import_contracts_are_kept():
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if lint_imports is None:
        pytest.fail("lint-imports is missing: pip install -e '.[test]' installs import-linter")
    result = subprocess.run([lint_imports, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "BROKEN" not in result.stdout and "5 kept, 0 broken" in result.stdout, result.stdout[-2000:]


def private_imports(source: str, own: str) -> list[str]:
    """`from ptc_jupyter.x import _name`, and `module._name` where `module` is another of our
    modules, in the source of module `own`."""
    tree = ast.parse(source)
    found, aliases = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ptc_jupyter"):
            for alias in node.names:
                target = f"{node.module}.{alias.name}"
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{own}: from {node.module} import {alias.name}")
                elif (ROOT / target.replace(".", "/")).with_suffix(".py").exists():
                    aliases[alias.asname or alias.name] = target
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("ptc_jupyter") and alias.asname:
                    aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and aliases[node.value.id] != own
        ):
            found.append(f"{own}: {aliases[node.value.id]}.{node.attr}")
    return found


def test_no_module_imports_another_modules_private_names():
    found = [
        line
        for path in sorted(PACKAGE.rglob("*.py"))
        for line in private_imports(path.read_text(encoding="utf-8"), module_name(path))
    ]
    assert not found, "\n".join(found)


def test_the_private_name_check_sees_a_private_import():
    source = "from ptc_jupyter.calls.deadlines import _hidden\nfrom ptc_jupyter.calls import threads\nthreads._x\n"
    assert private_imports(source, "ptc_jupyter.calls.dispatch") == [
        "ptc_jupyter.calls.dispatch: from ptc_jupyter.calls.deadlines import _hidden",
        "ptc_jupyter.calls.dispatch: ptc_jupyter.calls.threads._x",
    ]


def test_only_the_top_level_modules_sit_directly_in_the_package():
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in TOP_LEVEL)
    assert not loose, f"modules belong in a layer folder (docs/architecture.md): {loose}"
