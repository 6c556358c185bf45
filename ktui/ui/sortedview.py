"""An ordered, filtered view of many records, kept sorted incrementally.

A full re-sort per tick costs too much at scale (NOTES.md M6); churn touches a handful of rows.
So the view keeps the record keys and their sort keys in parallel sorted lists and moves
only the rows that changed (bisect + list insert/delete, which are memmoves in C).
Descending order is the same lists read backwards, so sort keys never need to be negatable.

A filter change does not sort: `narrowed` keeps the rows of an unfiltered view that pass,
in its order, with C-level map()s over its lists (NOTES.md M7). A full sort
(`build`) can be cut into steps for a worker thread, so the UI thread keeps the GIL.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from itertools import compress
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")

CHUNK = 16384  # rows per step of a build in a worker (a few ms of GIL each)
BATCH = 64  # rows moving in one update beyond which they are merged in, not inserted


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
    """Rows in ascending sort-key order: `_keys`, their sort keys `_sks` and, with a `tag`
    function, a per-row tag `_tags` (what a filter reads: scanning a list is several times
    faster than looking each key up in a dict), all parallel lists; `_placed` (key -> its
    sort key, for rows in the view) and `_records` (every record, matching or not; views
    narrowed from one another share it)."""

    def __init__(
        self,
        sort_key: Callable[[R], Any],
        matches: Callable[[R], bool] | None = None,
        reverse: bool = False,
        tag: Callable[[K, R], Any] | None = None,
    ) -> None:
        self._sort_key = sort_key
        self._matches = matches
        self._tag = tag
        self.reverse = reverse
        self._records: dict[K, R] = {}
        self._sks: list[Any] = []  # ascending sort keys
        self._keys: list[K] = []  # the keys of _sks, same order
        self._tags: list[Any] | None = [] if tag is not None else None
        self._placed: dict[K, Any] = {}  # key -> its sort key, for rows in view
        # A view narrowed from another reads a row's old sort key from its parent's
        # _placed instead of keeping its own (building one is costly at scale, on the UI
        # thread: NOTES.md M8); the parent must then be updated after it.
        self._parent: SortedView[K, R] | None = None

    @property
    def keys(self) -> Sequence[K]:
        return Reversed(self._keys) if self.reverse else self._keys

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def total(self) -> int:
        return len(self._records)

    def index(self, key: K) -> int:
        """Where `key` is in `keys` (ValueError if it is not in the view): a bisect on its
        sort key, not a scan."""
        placed = self._placed if self._parent is None else self._parent._placed
        sk = placed.get(key)
        i = -1 if sk is None else self._find(key, sk)
        if i < 0:
            raise ValueError(key)
        return len(self._keys) - 1 - i if self.reverse else i

    def record(self, key: K) -> R | None:
        return self._records.get(key)

    def records(self) -> Mapping[K, R]:
        return self._records

    def share_records(self, records: dict[K, R]) -> None:
        """Read the records from ``records`` from now on, a dict its owner keeps current (a
        view sorted another way over the same trials): the rows are not rebuilt, so the
        owner applies to this view only the changes that may move them."""
        self._records = records

    def shared_records(self) -> dict[K, R]:
        """The records dict itself, to share with another view (see share_records)."""
        return self._records

    def reset(self, records: Mapping[K, R]) -> None:
        self._records = dict(records)
        self._rebuild()

    def configure(
        self,
        sort_key: Callable[[R], Any] | None = None,
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

    def _rebuild(self, pause: Callable[[], None] | None = None, chunk: int = CHUNK) -> None:
        """Sort the matching records. With `pause`, the work is cut into steps of about
        `chunk` rows (a few ms each) with `pause()` between them: in a worker thread each
        step holds the GIL that long at most, so the UI thread keeps drawing frames."""
        records, sk, ok, tag = self._records, self._sort_key, self._matches, self._tag
        if ok is None:
            keys, recs = list(records), list(records.values())
        else:
            keys = [k for k, r in records.items() if ok(r)]
            recs = [records[k] for k in keys]
        n = len(keys)
        step = max(n, 1) if pause is None else chunk

        def steps(make: Callable[[int, int], Iterable[Any]]) -> list[Any]:
            out: list[Any] = []
            for a in range(0, n, step):
                out.extend(make(a, min(a + step, n)))
                if pause is not None:
                    pause()
            return out

        sks = steps(lambda a, b: map(sk, recs[a:b]))
        many = getattr(tag, "many", None)  # a batch form of `tag`, if it has one
        tags = (None if tag is None else steps(lambda a, b: many(keys[a:b], recs[a:b])) if many is not None
                else steps(lambda a, b: map(tag, keys[a:b], recs[a:b])))
        # Sort chunks, then merge them pairwise: list.sort finds the two sorted runs and
        # merges them in linear time. Stable: equal sort keys keep the records' order.
        runs = [sorted(range(a, min(a + step, n)), key=sks.__getitem__) for a in range(0, n, step)] or [[]]
        while len(runs) > 1:
            merged = []
            for i in range(0, len(runs) - 1, 2):
                run = runs[i] + runs[i + 1]
                run.sort(key=sks.__getitem__)
                merged.append(run)
                if pause is not None:
                    pause()
            runs = merged + runs[len(merged) * 2:]
        order = runs[0]
        self._keys = steps(lambda a, b: map(keys.__getitem__, order[a:b]))
        self._sks = steps(lambda a, b: map(sks.__getitem__, order[a:b]))
        self._tags = steps(lambda a, b: map(tags.__getitem__, order[a:b])) if tags is not None else None
        self._placed = {}
        steps(lambda a, b: self._placed.update(zip(self._keys[a:b], self._sks[a:b], strict=True)) or ())
        self._parent = None

    @classmethod
    def build(cls, records: dict[K, R], sort_key: Callable[[R], Any], reverse: bool = False,
              tag: Callable[[K, R], Any] | None = None, pause: Callable[[], None] | None = None,
              chunk: int = CHUNK) -> SortedView[K, R]:
        """A view of all `records` (unfiltered; it keeps the dict: pass a copy), built in
        steps with `pause()` between them (see `_rebuild`): for a worker thread."""
        view: SortedView[K, R] = cls(sort_key, None, reverse, tag)
        view._records = records
        view._rebuild(pause, chunk)
        return view

    def narrowed(self, selects: Iterable[Callable[[list[K], list[Any]], Iterable[bool]]],
                 matches: Callable[[R], bool]) -> SortedView[K, R]:
        """A view of this one's rows that pass every select, in the same order, without
        sorting; the new view has no tags. A select maps the rows' keys and tags (lists, ascending) to a keep-flag
        per row (at scale: a chain of C-level map()s); `matches` must accept exactly the
        rows the selects keep, for the incremental updates that follow. The new view shares
        this one's records and reads old sort keys from it: update it with the same
        changes, always before this one."""
        # No tags: it is narrowed no further (narrow its parent again instead).
        scan = self.narrowing(selects, matches)
        scan.step(len(self._keys))
        return scan.view

    def narrowing(self, selects: Iterable[Callable[[list[K], list[Any]], Iterable[bool]]],
                  matches: Callable[[R], bool]) -> Narrowing[K, R]:
        """`narrowed`, in steps from the top of the display: see Narrowing."""
        return Narrowing(self, list(selects), matches)

    def update(self, changed: Mapping[K, R], removed: Iterable[K] = (),
               retagged: set[K] | frozenset[K] | None = None) -> bool:
        """Apply changed and removed records; True when the order of rows changed.
        `retagged`: the changed rows whose tag may differ (None: any of them).

        Rows that move are taken out and put back in by bisect, one list insert each: a
        memmove of the whole list. For a few rows that is nothing; for thousands (a cluster
        still listing, a big sweep arriving) it was quadratic (NOTES.md M9). Beyond BATCH rows, they are merged
        in: appended and the lists re-sorted, which timsort does in one linear pass (the
        old rows are one sorted run, the new ones sorted first).
        """
        moved = False
        records = self._records
        parent = self._parent
        placed = self._placed if parent is None else parent._placed
        sk, ok, tag, tags = self._sort_key, self._matches, self._tag, self._tags
        gone: list[tuple[K, Any]] = [(key, placed.get(key)) for key in removed]
        for key in removed:
            records.pop(key, None)
        incoming: list[tuple[Any, K, R]] = []
        for key, rec in changed.items():
            records[key] = rec
            new = sk(rec) if ok is None or ok(rec) else None
            old = placed.get(key)
            if old is not None and new is not None and old == new:
                if parent is None and (tags is None or (retagged is not None and key not in retagged)):
                    # In place, and placed says the row is here: no bisect. Most of a watch
                    # storm is this (a retry count, a status that sorts the same).
                    continue
                i = self._find(key, old)
                if i >= 0:
                    if tags is not None:
                        tags[i] = tag(key, rec)  # type: ignore[misc]
                    continue  # same place: the row repaints, nothing moves
            gone.append((key, old))
            if new is not None:
                incoming.append((new, key, rec))
        if len(gone) + len(incoming) > BATCH:
            moved |= self._take_out_many(gone)
            tags = self._tags  # new lists: the inserts below go into them
        else:
            for key, old in gone:
                moved |= self._unplace(key, old)
        if len(incoming) > BATCH:
            self._merge_in(incoming)
            moved = True
        else:
            for new, key, rec in incoming:
                # bisect on the sort key alone; equal sort keys keep arrival order
                i = bisect.bisect_right(self._sks, new)
                self._sks.insert(i, new)
                self._keys.insert(i, key)
                if tags is not None:
                    tags.insert(i, tag(key, rec))  # type: ignore[misc]
                moved = True
        if parent is None:
            for new, key, _ in incoming:
                placed[key] = new
        return moved

    def _take_out_many(self, gone: list[tuple[K, Any]]) -> bool:
        """_unplace for many rows at once: find each by bisect, then one pass over the lists."""
        drop: set[int] = set()
        for key, old in gone:
            if old is None:
                continue
            i = self._find(key, old)
            if self._parent is None:
                del self._placed[key]
                if i < 0:
                    raise AssertionError(f"sorted view lost track of {key!r}")  # pragma: no cover
            if i >= 0:
                drop.add(i)
        if not drop:
            return False
        keep = [True] * len(self._keys)
        for i in drop:
            keep[i] = False
        self._keys = list(compress(self._keys, keep))
        self._sks = list(compress(self._sks, keep))
        if self._tags is not None:
            self._tags = list(compress(self._tags, keep))
        return True

    def _merge_in(self, incoming: list[tuple[Any, K, R]]) -> None:
        incoming.sort(key=lambda e: e[0])  # stable: arrival order among equal sort keys
        sks = self._sks + [e[0] for e in incoming]
        keys = self._keys + [e[1] for e in incoming]
        order = sorted(range(len(sks)), key=sks.__getitem__)  # two runs: a linear merge
        self._sks = list(map(sks.__getitem__, order))
        self._keys = list(map(keys.__getitem__, order))
        if self._tags is not None:
            tag = self._tag
            tags = self._tags + [tag(k, r) for _, k, r in incoming]  # type: ignore[misc]
            self._tags = list(map(tags.__getitem__, order))

    def _find(self, key: K, sort_key: Any) -> int:
        sks, keys = self._sks, self._keys
        for i in range(bisect.bisect_left(sks, sort_key), len(sks)):
            if keys[i] == key:
                return i
            if sks[i] != sort_key:
                break
        return -1

    def _unplace(self, key: K, old: Any) -> bool:
        if old is None:
            return False
        i = self._find(key, old)
        if self._parent is None:
            del self._placed[key]
            if i < 0:
                raise AssertionError(f"sorted view lost track of {key!r}")  # pragma: no cover
        elif i < 0:
            return False  # not in this narrowed view
        del self._sks[i]
        del self._keys[i]
        if self._tags is not None:
            del self._tags[i]
        return True


class Narrowing(Generic[K, R]):
    """`SortedView.narrowed`, scanned in steps from the top of the display down.

    The full pass is costly at scale (NOTES.md M7); the screen needs only the first few dozen
    matches to draw. `view` always holds every match among the rows scanned so far, which
    are the first rows of the display, so it shows exactly the top of the final view; the
    caller scans on (`step`) after the frame is drawn. The source view must not change
    until `done` (finish the scan before applying updates)."""

    def __init__(self, source: SortedView[K, R], selects: list[Callable[[list[K], list[Any]], Iterable[bool]]],
                 matches: Callable[[R], bool]) -> None:
        self.source = source
        self._selects = selects
        self._n = len(source._keys)
        self.scanned = 0  # rows of the source scanned, counted from the display top
        self.view: SortedView[K, R] = SortedView(source._sort_key, matches, source.reverse)
        self.view._records = source._records
        self.view._parent = source if source._parent is None else source._parent

    @property
    def done(self) -> bool:
        return self.scanned >= self._n

    @property
    def found(self) -> int:
        return len(self.view._keys)

    def step(self, rows: int) -> bool:
        """Scan `rows` more rows (display order) and extend `view`; True when done."""
        if self.done:
            return True
        src = self.source
        if src.reverse:  # the display top is the end of the ascending lists
            hi = self._n - self.scanned
            lo = max(hi - rows, 0)
        else:
            lo = self.scanned
            hi = min(lo + rows, self._n)
        keys, sks = src._keys[lo:hi], src._sks[lo:hi]
        tags = src._tags[lo:hi] if src._tags is not None else [None] * (hi - lo)
        for n, select in enumerate(self._selects, 1):
            flags = list(select(keys, tags))
            keys, sks = list(compress(keys, flags)), list(compress(sks, flags))
            if n < len(self._selects):
                tags = list(compress(tags, flags))
        self.scanned += hi - lo
        view = self.view
        # One concatenation per step, in C; reversed, the rows found go in front.
        if src.reverse:
            view._keys, view._sks = keys + view._keys, sks + view._sks
        else:
            view._keys, view._sks = view._keys + keys, view._sks + sks
        return self.done
