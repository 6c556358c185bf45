"""The next sort column's view, built ahead in a worker and kept current, so that `s`
(which cycles TRIAL_SORTS in order) swaps it in instead of sorting on the UI thread.

No widgets here: UiState owns one and feeds it every change it applies to the shown view;
the main screen's pacing (ui/pacing.py) says when a worker may build it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from ktui.cluster.model import Trial, TrialKey
from ktui.ui.sortedview import CHUNK, SortedView

# A tick with more changes than this is not applied to the speculative view at once: on the
# UI thread it would cost what the shown view costs. They are noted; once it is calm a
# worker catches the view up (or `s` does, first).
MAX_CHANGES = 2000
CALM = 2.0  # s without a tick of more than MAX_CHANGES before building ahead again
# Changes noted beyond which the speculative view is dropped: building it again costs less.
STALE_MAX = 20_000

View = SortedView[TrialKey, Trial]


def replay(view: View, keys: set[TrialKey], records: Mapping[TrialKey, Trial]) -> None:
    """Bring `view` up to `records` for `keys` (changed, or gone when not in `records`)."""
    view.update({k: records[k] for k in keys if k in records}, [k for k in keys if k not in records])


class PrebuiltSort:
    def __init__(self) -> None:
        self.view: View | None = None
        self.column: str | None = None
        # Changed since the view's snapshot and not applied to it: while it is built or
        # caught up (`busy`, in a worker), or after a big tick (stale). None: current.
        self.dirty: set[TrialKey] | None = None
        self.busy = False
        self._catchup: set[TrialKey] = set()  # what the worker catching up applies
        self._gen = 0
        # `s` asked for the column being built: that build becomes the re-sort (at full
        # speed), and install() swaps it in.
        self.promoted = False
        self.churn_at = -CALM  # time.monotonic() of the last tick too big to follow

    def drop(self) -> None:
        self.view = self.column = self.dirty = None
        self.busy = False
        self._catchup = set()
        self._gen += 1
        self.promoted = False

    def end_churn(self) -> None:
        """The first list is in: its big ticks were a load, not a storm that goes on, so
        the next column may be built ahead at once."""
        self.churn_at = -CALM

    def wanted(self) -> bool:
        """Work for a worker, now that it is calm: no speculative view (build one), or a
        stale one (catch it up)."""
        if self.busy or time.monotonic() - self.churn_at < CALM:
            return False
        return self.column is None or bool(self.dirty)

    def current(self, token: int) -> bool:
        """The build `token` is still wanted (a worker stops when it is not)."""
        return token == self._gen

    def start(self, column: str) -> int:
        """UI thread: `column`'s view is to be built, or the stale one caught up (`build`, in
        a worker); changes from now on are noted for `install`. Returns its token."""
        if self.view is not None and self.column == column and self.dirty:
            self._catchup, self.dirty = self.dirty, set()
        else:
            self.drop()
            self.column = column
            self.dirty = set()
        self.busy = True
        return self._gen

    def build(self, token: int, records: dict[TrialKey, Trial], sort_key: Callable[[str], Callable[[Trial], str]],
              tag: Any, pause: Callable[[], None] | None = None, chunk: int = CHUNK) -> View | None:
        """Worker: build the view `start` asked for from `records` (a snapshot of the shown
        view's), or catch the stale one up; None if it was dropped since. The UI thread
        leaves the view alone until install()."""
        column, view = self.column, self.view
        if token != self._gen or column is None:
            return None
        if view is not None:
            view.share_records(records)  # its own, while the UI thread updates the shared one
            replay(view, self._catchup, records)
            return view
        return SortedView.build(records, sort_key(column), False, tag, pause, chunk)

    def catch_up(self, view: View, records: Mapping[TrialKey, Trial]) -> None:
        """Apply to `view` what changed since its snapshot."""
        dirty, self.dirty = self.dirty, None
        if dirty:
            replay(view, dirty, records)

    def install(self, token: int, view: View | None, base: View) -> bool:
        """UI thread: catch the built view up with what changed while it was built; from
        now on it shares `base`'s records (the shown view's, which every change updates),
        so only the changes that may move rows need applying to it."""
        if view is None or token != self._gen or self.dirty is None:
            return False
        self.busy, self._catchup = False, set()
        self.catch_up(view, base.records())
        self.view = view
        view.share_records(base.shared_records())
        return True

    def take(self, base: View) -> View:
        """The view, caught up, for the shown sort; this one is empty again."""
        view = self.view
        assert view is not None
        self.catch_up(view, base.records())
        self.view = self.column = None
        self.promoted = False
        return view

    def follow(self, changed: Mapping[TrialKey, Trial], removed: Any, retagged: set[TrialKey] | None,
               resorted: set[TrialKey] | None) -> None:
        """The changes applied to the shown view (`resorted`: those that may move a row in
        any order, None: any): applied to this view, or noted when too many."""
        if resorted is not None and len(resorted) < len(changed):
            # It shares the records: it needs only the rows that may move (usage readings
            # of every running trial come in bursts of thousands).
            changed = {k: changed[k] for k in resorted}
        big = len(changed) + len(removed) > MAX_CHANGES
        if big:
            self.churn_at = time.monotonic()  # a storm, or a big load: no new build yet
        if self.column is None:
            return
        if self.dirty is None and not big:
            assert self.view is not None
            self.view.update(changed, removed, retagged)
            return
        # Noted for later: cheaper, over a storm, than following it tick by tick.
        dirty = self.dirty if self.dirty is not None else set()
        dirty.update(changed)
        dirty.update(removed)
        self.dirty = dirty
        if len(dirty) > STALE_MAX:
            self.drop()
