"""The simulator is a server library: no UI imports, and no reading of reference captures."""

from __future__ import annotations

import ast
from pathlib import Path

SIM = Path(__file__).resolve().parents[2] / "ktui" / "sim"


def test_sim_never_imports_textual_or_other_ktui_layers() -> None:
    # ktui.sweep is the pure bottom layer (the quantity grammar lives there); nothing else.
    for f in SIM.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for n in names:
                assert n.split(".")[0] != "textual", f
                assert not n.startswith("ktui.") or n.startswith(("ktui.sim", "ktui.sweep")), (f, n)


def test_runtime_data_ships_inside_the_package() -> None:
    for name in ("disc-api-aggregated", "disc-apis-aggregated", "openapi-v3-api-v1",
                 "openapi-v3-apis-batch-v1", "table-columns"):
        assert (SIM / "data" / f"{name}.json.gz").is_file()
    for f in SIM.rglob("*.py"):
        assert "/work/shared" not in f.read_text(), f
