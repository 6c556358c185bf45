"""Every sweep file in examples/ loads and renders: the README points new users at them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ktui.sweep import Overrides, load_sweep

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.[jy][sa]*"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_loads(path: Path) -> None:
    sweep = load_sweep(str(path), Overrides())
    assert sweep.count() > 0
    assert sweep.name


def test_the_examples_are_there() -> None:
    names = {p.name for p in EXAMPLES}
    assert {"params.json", "grid.yaml", "ddp.yaml", "queued.yaml"} <= names
