"""An ordered, filtered view of many records, kept sorted incrementally.

At 150,000 trials a full re-sort per tick costs ~100 ms; churn touches a handful of rows.
So the view keeps (sort key, record key) pairs in a sorted list and moves only the rows that
changed (bisect + list insert/delete, which are memmoves in C). Descending order is the
same list read backwards, so sort keys never need to be negatable.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")


class Reversed(Sequence[K]):
    """A list read backwards, without copying it."""

    def __init__(self, items: list[K]) -> None:
        self._items = items

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i):  # type: ignore[no-untyped-def]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self._items)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        return self._items[n - 1 - i]

    def __iter__(self) -> Iterator[K]:
        return reversed(self._items)

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        return len(self._items) - 1 - self._items.index(value)


class SortedView(Generic[K, R]):
    def __init__(
        self,
        sort_key: Callable[[R], tuple[Any, ...]],
        matches: Callable[[R], bool] = lambda r: True,
        reverse: bool = False,
    ) -> None:
        self._sort_key = sort_key
        self._matches = matches
        self.reverse = reverse
        self._records: dict[K, R] = {}
        self._pairs: list[tuple[tuple[Any, ...], K]] = []  # ascending, (sort key, key)
        self._keys: list[K] = []  # the keys of _pairs, same order
        self._placed: dict[K, tuple[Any, ...]] = {}  # key -> its sort key, for rows in view

    @property
    def keys(self) -> Sequence[K]:
        return Reversed(self._keys) if self.reverse else self._keys

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def total(self) -> int:
        return len(self._records)

    def record(self, key: K) -> R | None:
        return self._records.get(key)

    def records(self) -> Mapping[K, R]:
        return self._records

    def reset(self, records: Mapping[K, R]) -> None:
        self._records = dict(records)
        self._rebuild()

    def configure(
        self,
        sort_key: Callable[[R], tuple[Any, ...]] | None = None,
        matches: Callable[[R], bool] | None = None,
        reverse: bool | None = None,
    ) -> None:
        """Change sort or filter: one full rebuild (on a keypress, not per tick)."""
        if sort_key is not None:
            self._sort_key = sort_key
        if matches is not None:
            self._matches = matches
        if reverse is not None:
            self.reverse = reverse
        if sort_key is not None or matches is not None:
            self._rebuild()

    def _rebuild(self) -> None:
        sk, ok = self._sort_key, self._matches
        pairs = [((sk(r)), k) for k, r in self._records.items() if ok(r)]
        pairs.sort(key=lambda p: p[0])
        self._pairs = pairs
        self._keys = [k for _, k in pairs]
        self._placed = {k: s for s, k in pairs}

    def update(self, changed: Mapping[K, R], removed: Iterable[K] = ()) -> bool:
        """Apply changed and removed records; True when the order of rows changed."""
        moved = False
        for key in removed:
            self._records.pop(key, None)
            moved |= self._unplace(key)
        sk, ok = self._sort_key, self._matches
        for key, rec in changed.items():
            self._records[key] = rec
            new = sk(rec) if ok(rec) else None
            old = self._placed.get(key)
            if old is not None and new is not None and old == new:
                continue  # same place: the row repaints, nothing moves
            moved |= self._unplace(key)
            if new is not None:
                i = bisect.bisect_right(self._pairs, (new,), key=lambda p: (p[0],))
                # bisect on the sort key alone; equal sort keys keep arrival order
                self._pairs.insert(i, (new, key))
                self._keys.insert(i, key)
                self._placed[key] = new
                moved = True
        return moved

    def _unplace(self, key: K) -> bool:
        old = self._placed.pop(key, None)
        if old is None:
            return False
        lo = bisect.bisect_left(self._pairs, (old,), key=lambda p: (p[0],))
        for i in range(lo, len(self._pairs)):
            if self._pairs[i][1] == key:
                del self._pairs[i]
                del self._keys[i]
                return True
            if self._pairs[i][0] != old:
                break
        raise AssertionError(f"sorted view lost track of {key!r}")  # pragma: no cover

