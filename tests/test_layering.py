"""The layers of the level's own model (STYLE.md, 'The house'): cloud/ is the simulation
and nothing else, game/ never reaches the terminal game, and the cloud's core imports no
mechanism. The import-linter contracts in pyproject.toml say it; these tests run them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import cloudquest.cloud

CLOUD_DIR = Path(cloudquest.cloud.__file__).parent
FORBIDDEN_MODULES = ("cloudquest.game", "cloudquest.tui", "textual", "rich")
FORBIDDEN_IMPORTS = {"os", "pathlib", "io", "socket", "subprocess", "time", "datetime", "shutil", "tempfile"}


ROOT = CLOUD_DIR.parent.parent


def test_import_linter_contracts_are_kept():
    out = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports())"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "3 kept, 0 broken" in out.stdout


def test_importing_cloud_pulls_in_no_game_tui_or_textual():
    code = (
        "import sys, importlib, pkgutil, cloudquest.cloud as c\n"
        "for m in pkgutil.iter_modules(c.__path__): importlib.import_module('cloudquest.cloud.' + m.name)\n"
        f"bad = [n for n in sys.modules if n.startswith({FORBIDDEN_MODULES!r})]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"cloud/ imported: {out.stdout.strip()}"


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                names.append(node.module)
            elif node.level >= 2:
                names.append("cloudquest." + (node.module or ""))
    return names


def test_cloud_sources_import_no_io_and_no_upper_layer():
    offenders = []
    for path in sorted(CLOUD_DIR.glob("*.py")):
        for name in _imports(path):
            root = name.split(".")[0]
            if root in FORBIDDEN_IMPORTS or name.startswith(FORBIDDEN_MODULES):
                offenders.append(f"{path.name}: {name}")
    assert not offenders


def test_cloud_never_uses_the_global_random_generator():
    offenders = []
    for path in sorted(CLOUD_DIR.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value
                if isinstance(owner, ast.Name) and owner.id == "random" and node.func.attr != "Random":
                    offenders.append(f"{path.name}:{node.lineno} random.{node.func.attr}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("print", "open", "input"):
                offenders.append(f"{path.name}:{node.lineno} {node.func.id}()")
    assert not offenders


def test_every_cloud_module_is_either_core_or_a_mechanism_in_the_contract():
    """The core-imports-no-mechanism contract lists modules by name: a new module must be
    placed on one side, or the contract would silently not cover it."""
    import pkgutil
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (contract,) = [c for c in config if c["name"].startswith("the cloud's core imports no mechanism")]
    core, mechanisms = set(contract["source_modules"]), set(contract["forbidden_modules"])
    modules = {f"cloudquest.cloud.{m.name}" for m in pkgutil.iter_modules([str(CLOUD_DIR)])}
    assert not core & mechanisms
    assert modules == core | mechanisms, f"unplaced: {sorted(modules - core - mechanisms)}, gone: {sorted((core | mechanisms) - modules)}"
