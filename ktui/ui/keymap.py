"""User key remapping: `$XDG_CONFIG_HOME/ktui/keys.yaml` maps binding ids to keys.

    # ~/.config/ktui/keys.yaml
    jobs.cancel: x
    app.quit: ctrl+q
    table.down: down,j,ctrl+n

Every binding has an id (shown in the help screen, `?`), so any of them can be moved."""

from __future__ import annotations

import os
from pathlib import Path

import yaml


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ktui"


def keymap_path() -> Path:
    return config_dir() / "keys.yaml"


def load_keymap(path: Path | None = None) -> tuple[dict[str, str], str | None]:
    """(binding id -> keys, problem). A broken file is reported, never fatal."""
    path = path or keymap_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, None
    except OSError as e:
        return {}, f"{path}: cannot read: {e.strerror or e}"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        return {}, f"{path}{where}: invalid YAML: {getattr(e, 'problem', e)}"
    if data is None:
        return {}, None
    if not isinstance(data, dict):
        return {}, f"{path}: expected a mapping of binding id to keys, e.g. 'jobs.cancel: x'"
    out: dict[str, str] = {}
    bad: list[str] = []
    for k, v in data.items():
        if isinstance(k, str) and isinstance(v, str) and v.strip():
            out[k] = v.replace(" ", "")
        else:
            bad.append(str(k))
    return out, (f"{path}: ignored entries that are not 'id: keys': {', '.join(bad)}" if bad else None)
