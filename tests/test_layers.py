"""The layers know only the one below them, checked on the source (every import statement,
relative ones resolved) and on what importing a layer loads.

- ktui/wire (names and wording shared across processes) is the bottom: it imports nothing of ktui;
- ktui/sweep is pure: it imports only ktui.wire of ktui's other layers, and no I/O library;
- ktui/sweep, logtext, wire, cluster and sim never import textual;
- the simulator is a server library: it may use ktui.sweep (the quantity grammar) and ktui.wire;
- the UI reaches the cluster only through the Backend interface: never cluster.kube or cluster.local;
- the two backends do not know each other.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "ktui"


def _module_name(f: Path) -> str:
    parts = list(f.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(f: Path, node: ast.ImportFrom) -> list[str]:
    """Absolute names an ImportFrom brings in; `from . import x` counts as importing `pkg.x`."""
    if node.level == 0:
        return [node.module] if node.module else []
    package = _module_name(f).split(".")
    if f.name != "__init__.py":
        package.pop()
    base = package[: len(package) - (node.level - 1)]
    if node.module:
        return [".".join([*base, node.module])]
    return [".".join([*base, a.name]) for a in node.names]


def imports_of(folder: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for f in sorted(folder.rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                names.update(_resolve(f, node))
        found[str(f.relative_to(PKG.parent))] = names
    return found


def _offenders(folder: Path, bad: Callable[[str], bool]) -> dict[str, list[str]]:
    out = {f: sorted(n for n in names if bad(n)) for f, names in imports_of(folder).items()}
    return {f: n for f, n in out.items() if n}


def _under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_relative_imports_are_resolved():
    """The walker itself: a relative import is seen as the absolute name it brings in."""
    f = PKG / "ui" / "widgets" / "jobs.py"
    node = ast.parse("from ..state import X\nfrom . import line\nfrom ...cluster.kube import backend").body
    assert _resolve(f, node[0]) == ["ktui.ui.state"]
    assert _resolve(f, node[1]) == ["ktui.ui.widgets.line"]
    assert _resolve(f, node[2]) == ["ktui.cluster.kube"]


@pytest.mark.parametrize("layer", ["sweep", "logtext", "wire", "cluster", "sim", "snapshot"])
def test_layer_source_never_imports_textual(layer):
    assert not _offenders(PKG / layer, lambda n: _under(n, "textual"))


def test_sweep_is_pure():
    io_libs = ("kubernetes", "aiohttp", "rich", "textual", "msgspec", "urllib3", "psutil", "pynvml")
    assert not _offenders(PKG / "sweep", lambda n: (n.startswith("ktui") and not _under(n, "ktui.sweep", "ktui.wire"))
                          or _under(n, *io_libs))


def test_snapshot_reads_a_directory_only():
    """The code snapshot is a library of its own: no UI, no cluster client, no other layer."""
    io_libs = ("kubernetes", "aiohttp", "textual", "urllib3", "msgspec")
    assert not _offenders(PKG / "snapshot", lambda n: (n.startswith("ktui") and not _under(n, "ktui.snapshot"))
                          or _under(n, *io_libs))


def test_wire_is_the_bottom():
    assert not _offenders(PKG / "wire", lambda n: n.startswith("ktui") and not _under(n, "ktui.wire"))


def test_sim_uses_only_the_sweep_layer_of_ktui():
    assert not _offenders(PKG / "sim", lambda n: n.startswith("ktui") and not _under(n, "ktui.sim", "ktui.sweep", "ktui.wire"))


def test_sim_reads_no_reference_captures_and_ships_its_data():
    sim = PKG / "sim"
    for name in ("disc-api-aggregated", "disc-apis-aggregated", "openapi-v3-api-v1",
                 "openapi-v3-apis-batch-v1", "table-columns"):
        assert (sim / "data" / f"{name}.json.gz").is_file()
    for f in sim.rglob("*.py"):
        assert "/work/shared" not in f.read_text(), f


def test_ui_reaches_the_cluster_only_through_the_backend_interface():
    assert not _offenders(PKG / "ui", lambda n: _under(n, "ktui.cluster.kube", "ktui.cluster.local", "ktui.sim"))


def test_the_ui_never_reaches_up_into_the_commands():
    # (What a command and a screen share lives in a layer below both: cluster/shipment.py,
    # cluster/trialdiff.py.)
    assert not _offenders(PKG / "ui", lambda n: _under(n, "ktui.cli"))


def test_the_backends_do_not_know_each_other():
    assert not _offenders(PKG / "cluster" / "kube", lambda n: _under(n, "ktui.cluster.local"))
    assert not _offenders(PKG / "cluster" / "local", lambda n: _under(n, "ktui.cluster.kube"))


def test_the_walker_sees_a_forbidden_import(tmp_path, monkeypatch):
    """A layer rule that would pass on an empty walk is no rule: plant one offender and see it."""
    fake = tmp_path / "ktui"
    (fake / "ui").mkdir(parents=True)
    (fake / "ui" / "x.py").write_text("from ..cluster.kube.backend import KubeBackend\nimport textual\n")
    monkeypatch.setattr(sys.modules[__name__], "PKG", fake)
    found = _offenders(fake / "ui", lambda n: _under(n, "ktui.cluster.kube"))
    assert found == {"ktui/ui/x.py": ["ktui.cluster.kube.backend"]}


@pytest.mark.parametrize("layer", ["ktui.sweep", "ktui.logtext", "ktui.wire", "ktui.cluster", "ktui.sim"])
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
