"""A controller's work queue: keys marked during one turn of the event loop are handled once
each on the next, in order, so a burst of watch events about one object costs one sync."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class KeyQueue:
    def __init__(self, loop: Callable[[], asyncio.AbstractEventLoop], handle: Callable[[str], None]) -> None:
        """``loop``: the cluster's event loop (asked for when a key is first marked)."""
        self._loop = loop
        self._handle = handle
        self._dirty: set[str] = set()
        self._scheduled = False

    def mark(self, key: str) -> None:
        self._dirty.add(key)
        if not self._scheduled:
            self._scheduled = True
            self._loop().call_soon(self._process)

    def _process(self) -> None:
        self._scheduled = False
        dirty, self._dirty = self._dirty, set()
        for key in sorted(dirty):
            self._handle(key)
