"""The job filter: each trial's search text (the words `/` matches), the row tags that hold
it in the sorted views, and the scan that narrows a view to a filter in C-level passes.
Pure: no widgets, no store."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from functools import partial
from itertools import repeat
from operator import attrgetter
from typing import Any

from ktui.cluster.format import short_params
from ktui.cluster.model import Trial, TrialKey
from ktui.ui.sortedview import Narrowing, SortedView


def search_text(t: Trial) -> str:
    return " ".join(
        x for x in (t.namespace, t.name, t.sweep or "", short_params(t.params, 400), t.phase,
                    t.node or "", t.reason or "", "gpu-idle" if t.gpu_idle else "") if x
    ).lower()


class SearchTag:
    """A row's tag in the trial views: its search text (what the filter scans). `many`
    tags a batch with one C-level map (faster than calling this per row: see
    benchmarks/NOTES.md M25)."""

    def __init__(self, search: dict[TrialKey, str], text_of: Callable[[Trial], str]) -> None:
        self.search = search
        self.text_of = text_of

    def __call__(self, k: TrialKey, t: Trial) -> str:
        return self.search.get(k) or self.text_of(t)

    def many(self, keys: list[TrialKey], recs: list[Trial]) -> list[str]:
        out = list(map(self.search.get, keys))
        if None in out:
            out = [s if s is not None else self.text_of(t) for s, t in zip(out, recs, strict=True)]
        return out  # type: ignore[return-value]


def _contains_each(word: str, keys: list[TrialKey], tags: list[Any]) -> Iterator[bool]:
    """A narrowing step: which rows' search texts hold ``word``."""
    return map(operator.contains, tags, repeat(word))


def matcher(tag: SearchTag, text: str, sweep: str | None) -> Callable[[Trial], bool]:
    """Does one trial pass the filter (all words, and the sweep when one is chosen)?"""
    words = text.lower().split()

    def matches(t: Trial) -> bool:
        if sweep is not None and t.sweep != sweep:
            return False
        if not words:
            return True
        hay = tag((t.namespace, t.name), t)
        return all(word in hay for word in words)

    return matches


def filter_scan(base: SortedView[TrialKey, Trial], tag: SearchTag, text: str,
                sweep: str | None) -> Narrowing[TrialKey, Trial] | None:
    """A scan of `base` for the filter (None: no filter, `base` as it is)."""
    words = text.lower().split()
    if sweep is None and not words:
        return None
    records = base.records()
    selects: list[Callable[[list[TrialKey], list[Any]], Any]] = []
    if sweep is not None:
        selects.append(lambda keys, tags: map(operator.eq, map(attrgetter("sweep"), map(records.__getitem__, keys)),
                                              repeat(sweep)))
    for w in words:  # the rows' tags are their search texts
        selects.append(partial(_contains_each, w))
    return base.narrowing(selects, matcher(tag, text, sweep))
