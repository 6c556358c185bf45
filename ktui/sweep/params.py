"""Parameter spaces that count their trials without building them.

Every space answers `count()` in O(axes) and `trial(i)` in O(axes), so a 100^6 grid is
refused instantly and a huge sweep is rendered lazily, one trial at a time.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Protocol

Value = str | int | float | bool
Params = dict[str, Value]


class Space(Protocol):
    def count(self) -> int: ...

    def trial(self, index: int) -> Params: ...


@dataclass(frozen=True)
class GridSpace:
    """Cartesian product; the last axis varies fastest, like itertools.product."""

    axes: tuple[tuple[str, tuple[Value, ...]], ...]

    def count(self) -> int:
        return math.prod(len(values) for _, values in self.axes)

    def trial(self, index: int) -> Params:
        picked: list[tuple[str, Value]] = []
        for name, values in reversed(self.axes):
            index, r = divmod(index, len(values))
            picked.append((name, values[r]))
        return dict(reversed(picked))


@dataclass(frozen=True)
class ListSpace:
    entries: tuple[tuple[tuple[str, Value], ...], ...]

    def count(self) -> int:
        return len(self.entries)

    def trial(self, index: int) -> Params:
        return dict(self.entries[index])


@dataclass(frozen=True)
class Choice:
    values: tuple[Value, ...]

    def sample(self, rng: random.Random) -> Value:
        return self.values[rng.randrange(len(self.values))]


@dataclass(frozen=True)
class Uniform:
    low: float
    high: float

    def sample(self, rng: random.Random) -> Value:
        return _round(rng.uniform(self.low, self.high))


@dataclass(frozen=True)
class LogUniform:
    low: float
    high: float

    def sample(self, rng: random.Random) -> Value:
        return _round(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))


@dataclass(frozen=True)
class RandInt:
    low: int
    high: int  # inclusive, as in the sweep file

    def sample(self, rng: random.Random) -> Value:
        return rng.randint(self.low, self.high)


Distribution = Choice | Uniform | LogUniform | RandInt


def _round(x: float) -> float:
    # Six significant digits: enough for any hyperparameter, short enough to read in a table.
    return float(f"{x:.6g}")


@dataclass(frozen=True)
class RandomSpace:
    """`trials` samples; trial i draws from its own RNG seeded by (seed, i), so any
    trial can be rebuilt alone and relaunching yields the same values."""

    trials: int
    seed: int
    dims: tuple[tuple[str, Distribution], ...]

    def count(self) -> int:
        return self.trials

    def trial(self, index: int) -> Params:
        rng = random.Random(f"ktui/{self.seed}/{index}")
        return {name: dist.sample(rng) for name, dist in self.dims}


@dataclass(frozen=True)
class ZipAxis:
    """Paired values: row k takes the k-th value of every key."""

    keys: tuple[str, ...]
    rows: tuple[tuple[Value, ...], ...]


@dataclass(frozen=True)
class ParameterSpace:
    """A base space, crossed with an optional zip axis, each trial repeated `repeat` times."""

    base: GridSpace | ListSpace | RandomSpace | None
    zip: ZipAxis | None = None
    repeat: int | None = None  # None: no `seed` parameter is added

    def count(self) -> int:
        n = self.base.count() if self.base is not None else 1
        if self.zip is not None:
            n *= len(self.zip.rows)
        return n * (self.repeat or 1)

    def trial(self, index: int) -> Params:
        if not 0 <= index < self.count():
            raise IndexError(index)
        index, seed = divmod(index, self.repeat or 1)
        zip_row: tuple[Value, ...] = ()
        if self.zip is not None:
            index, z = divmod(index, len(self.zip.rows))
            zip_row = self.zip.rows[z]
        params: Params = self.base.trial(index) if self.base is not None else {}
        if self.zip is not None:
            params.update(zip(self.zip.keys, zip_row, strict=True))
        if self.repeat is not None:
            params["seed"] = seed
        return params
