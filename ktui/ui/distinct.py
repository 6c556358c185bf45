"""How many distinct values a trial attribute takes, kept current as trials change, so the job
table can show a column (IMAGE, CODE) only when the trials differ in it without a pass over
150,000 trials per tick: each change costs a few dict operations."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any

from ktui.cluster.model import Trial, TrialKey


class Distinct:
    """Counts of one attribute's values (``value_of(trial)``, None = not known: not counted),
    over all trials and per sweep ((namespace, sweep))."""

    def __init__(self, value_of: Callable[[Trial], Hashable | None]) -> None:
        self.value_of = value_of
        self._seen: dict[TrialKey, tuple[tuple[str, str], Hashable]] = {}
        self._all: Counter[Hashable] = Counter()
        self._by_sweep: dict[tuple[str, str], Counter[Hashable]] = {}

    def update(self, changed: Mapping[TrialKey, Trial], removed: Iterable[TrialKey]) -> None:
        for k in removed:
            self._drop(k)
        for k, t in changed.items():
            v = self.value_of(t)
            group = (t.namespace, t.sweep or "")
            if self._seen.get(k) == (group, v):
                continue
            self._drop(k)
            if v is None:
                continue
            self._seen[k] = (group, v)
            self._all[v] += 1
            self._by_sweep.setdefault(group, Counter())[v] += 1

    def _drop(self, k: TrialKey) -> None:
        old = self._seen.pop(k, None)
        if old is None:
            return
        group, v = old
        _dec(self._all, v)
        c = self._by_sweep.get(group)
        if c is not None:
            _dec(c, v)
            if not c:
                del self._by_sweep[group]

    def differ(self, sweep: str | None = None) -> bool:
        """More than one value among all trials, or among one sweep's (in any namespace)."""
        if sweep is None:
            return len(self._all) > 1
        values: set[Any] = set()
        for (_, name), c in self._by_sweep.items():
            if name == sweep:
                values.update(c)
                if len(values) > 1:
                    return True
        return False


def _dec(c: Counter[Hashable], v: Hashable) -> None:
    c[v] -= 1
    if c[v] <= 0:
        del c[v]


def submitted_image(t: Trial) -> str | None:
    return (t.provenance or {}).get("image") or None


def code_sha(t: Trial) -> str | None:
    """The snapshot's hash; "" for a ktui trial that ships none (it runs the image's code)."""
    if t.provenance is None:
        return None
    return ((t.provenance.get("code") or {}).get("sha256")) or ""


class Differing:
    """Which of IMAGE and CODE the trials differ in: the image as submitted or the digest
    their pods resolved (a trial not run yet has none: not a difference), the code snapshot."""

    def __init__(self) -> None:
        self.images = Distinct(submitted_image)
        self.digests = Distinct(lambda t: t.image_id)
        self.codes = Distinct(code_sha)

    def reset(self, trials: Mapping[TrialKey, Trial]) -> None:
        for d in (self.images, self.digests, self.codes):
            d.update(trials, ())

    def update(self, changed: Mapping[TrialKey, Trial], removed: Iterable[TrialKey]) -> None:
        removed = list(removed)
        for d in (self.images, self.digests, self.codes):
            d.update(changed, removed)

    def columns(self, sweep: str | None = None) -> tuple[str, ...]:
        out = []
        if self.images.differ(sweep) or self.digests.differ(sweep):
            out.append("image")
        if self.codes.differ(sweep):
            out.append("code")
        return tuple(out)
