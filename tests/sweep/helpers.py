from __future__ import annotations

from pathlib import Path

import pytest

from ktui.sweep import Overrides, Sweep, SweepError, load_sweep

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


@pytest.fixture
def write(tmp_path: Path):
    """write("name.yaml", text) -> path"""

    def _write(name: str, text: str | bytes) -> Path:
        p = tmp_path / name
        if isinstance(text, bytes):
            p.write_bytes(text)
        else:
            p.write_text(text)
        return p

    return _write


def load_text(tmp_path: Path, text: str, name: str = "s.yaml", **ov) -> Sweep:
    p = tmp_path / name
    p.write_text(text)
    return load_sweep(p, Overrides(**ov))


def error_of(tmp_path: Path, text: str | bytes, name: str = "s.yaml", **ov) -> SweepError:
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text)
    with pytest.raises(SweepError) as info:
        load_sweep(p, Overrides(**ov))
    return info.value
