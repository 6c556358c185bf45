"""Which files of a directory belong in its snapshot: `.gitignore` and `.ktuiignore` files (at
every level, each relative to its own directory, a deeper one overriding a shallower one as
git does), then the sweep's `exclude:` patterns, all with gitwildmatch semantics (pathspec):
`/build` anchors, `build/` matches directories only, `**` spans levels, `!keep.txt` negates.
`.git` is never taken."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pathspec

IGNORE_FILES = (".gitignore", ".ktuiignore")
ALWAYS_LEFT_OUT = ".git"


@dataclass(frozen=True)
class _Rules:
    base: Path  # patterns are relative to this directory
    spec: pathspec.GitIgnoreSpec


def _read(base: Path, name: str) -> _Rules | None:
    f = base / name
    try:
        lines = f.read_text(encoding="utf-8", errors="replace").splitlines()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
        return None
    return _Rules(base, pathspec.GitIgnoreSpec.from_lines(lines))


class Ignorer:
    """Answers "is this path left out?" while the tree is walked top-down: ``enter`` a
    directory before asking about its entries, so its own ignore files apply to them."""

    def __init__(self, root: Path, exclude: Sequence[str] = (), parents: Sequence[Path] = ()) -> None:
        self.root = root
        self._by_dir: dict[Path, list[_Rules]] = {}
        # The ignore files of the directories above the root, up to the git work tree's top,
        # apply as git would apply them (a snapshot of a repository's subdirectory).
        inherited: list[_Rules] = []
        for d in parents:
            inherited += [r for r in (_read(d, n) for n in IGNORE_FILES) if r is not None]
        self._inherited = inherited
        self._exclude = _Rules(root, pathspec.GitIgnoreSpec.from_lines(list(exclude))) if exclude else None

    def enter(self, directory: Path) -> None:
        if directory == self.root:
            above = list(self._inherited)
        else:
            above = list(self._by_dir.get(directory.parent, self._inherited))
        above += [r for r in (_read(directory, n) for n in IGNORE_FILES) if r is not None]
        self._by_dir[directory] = above

    def ignored(self, path: Path, is_dir: bool) -> bool:
        if path.name == ALWAYS_LEFT_OUT:
            return True
        verdict = False
        rules = list(self._by_dir.get(path.parent, ()))
        if self._exclude is not None:
            rules.append(self._exclude)  # the sweep's own patterns win: checked last
        for r in rules:
            rel = path.relative_to(r.base).as_posix() + ("/" if is_dir else "")
            include = r.spec.check_file(rel).include
            if include is not None:
                verdict = include
        return verdict
