"""Sweep file errors: every problem is one line, `FILE:LINE:COL: what is wrong`."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Pos:
    """A 1-based line and column in the sweep file; line 0 means "not from the file" (a flag)."""

    line: int = 0
    col: int = 0


@dataclass(frozen=True)
class Problem:
    path: str
    pos: Pos
    message: str
    # About the file as a whole ("missing 'name'"): pointed at 1:1, listed after the
    # problems that have a place of their own.
    whole_file: bool = False

    def order(self) -> tuple[int, int, int]:
        """Problems from flags first, then in file order, then those about the whole file."""
        return (2 if self.whole_file else 0 if self.pos.line <= 0 else 1, self.pos.line, self.pos.col)

    def __str__(self) -> str:
        if self.pos.line <= 0:
            return f"{self.path}: {self.message}"
        return f"{self.path}:{self.pos.line}:{self.pos.col}: {self.message}"


class SweepError(Exception):
    """The one error type ktui/sweep raises; it holds one or more problems, one per line."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        if not self.problems:
            raise ValueError("SweepError needs at least one problem")
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)

    @property
    def first(self) -> Problem:
        return self.problems[0]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A suffix like ` (did you mean 'lr'?)`, or "" when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
