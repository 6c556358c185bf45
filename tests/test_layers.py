"""The lower layers know nothing of the UI: ktui/sweep and ktui/cluster never import textual,
and ktui/sweep imports nothing from ktui's other layers."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "ktui"


def imports_of(folder: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for f in sorted(folder.rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(f.relative_to(PKG.parent))] = names
    return found


@pytest.mark.parametrize("layer", ["sweep", "logtext", "cluster", "sim"])
def test_layer_source_never_imports_textual(layer):
    offenders = {f: sorted(n for n in names if n.split(".")[0] == "textual")
                 for f, names in imports_of(PKG / layer).items()}
    assert not {f: n for f, n in offenders.items() if n}


def test_sweep_is_pure():
    allowed = {"ktui.sweep"}
    for f, names in imports_of(PKG / "sweep").items():
        for n in names:
            if n.startswith("ktui"):
                assert any(n == a or n.startswith(a + ".") for a in allowed), f"{f} imports {n}"
            assert n.split(".")[0] not in {"kubernetes", "aiohttp", "rich", "textual", "msgspec"}, f"{f} imports {n}"


@pytest.mark.parametrize("layer", ["ktui.sweep", "ktui.logtext", "ktui.cluster", "ktui.sim"])
def test_importing_a_layer_loads_no_textual(layer):
    code = (
        "import importlib, pkgutil, sys\n"
        f"pkg = importlib.import_module({layer!r})\n"
        "for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ""
