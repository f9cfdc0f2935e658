"""The layout holds: layers import downward, no cycles, integrations on public names only."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
INTEGRATIONS = sorted(p.parent for p in ROOT.glob("integrations/*/pyproject.toml"))
PACKAGES = [
    "convtrack",
    *(f"convtrack_{p.name}" for p in INTEGRATIONS),
    "convtrack_demo",
]


def _imported_modules(text: str, filename: str) -> list[str]:
    """Every module a source imports, lazily or not (`from a import b` counts `a.b` too)."""
    found = []
    for node in ast.walk(ast.parse(text, filename)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def test_import_linter_contracts_are_kept() -> None:
    """`lint-imports` (the contracts in pyproject.toml) passes."""
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_import_cycles() -> None:
    """No module of the core, an integration or the demo reaches back to a module importing it."""
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    cycles = sorted(
        (module, imported)
        for module in graph.modules
        for imported in graph.find_modules_directly_imported_by(module)
        if graph.chain_exists(importer=imported, imported=module)
    )
    assert cycles == []


@pytest.mark.parametrize("folder", [*INTEGRATIONS, ROOT / "demo"], ids=lambda p: p.name)
def test_integrations_use_public_names_only(folder: Path) -> None:
    """No file of an integration (or the demo) imports a private module of the core."""
    private = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in folder.rglob("*.py")
        for name in _imported_modules(path.read_text(), str(path))
        if re.match(r"convtrack(\.[a-z_]+)*\._", name)
    }
    assert private == set()


@pytest.mark.parametrize("folder", INTEGRATIONS, ids=lambda p: p.name)
def test_integrations_have_a_version_and_a_range_of_the_core(folder: Path) -> None:
    """Each integration has `__version__` and depends on `convtrack>=X,<Y`, never `==`."""
    module = __import__(f"convtrack_{folder.name}")
    assert re.fullmatch(r"\d+\.\d+\.\d+", module.__version__)
    pyproject = (folder / "pyproject.toml").read_text()
    assert re.search(r'"convtrack(\[[a-z,]+\])?>=[\d.]+,<[\d.]+"', pyproject), pyproject


def test_the_core_wheel_ships_no_demo_and_imports_no_integration(tmp_path: Path) -> None:
    """The `convtrack` wheel holds no demo code, and none of its modules imports an integration."""
    from hatchling.builders.wheel import WheelBuilder

    [wheel] = list(WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"]))
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        sources = {n: archive.read(n).decode() for n in names if n.endswith(".py")}
    assert all(n.startswith(("convtrack/", "convtrack-")) for n in names), names
    assert not [n for n in names if "demo" in n]
    offenders = {
        f"{name}: {module}"
        for name, text in sources.items()
        for module in _imported_modules(text, name)
        if module.startswith("convtrack_")
    }
    assert offenders == set()
