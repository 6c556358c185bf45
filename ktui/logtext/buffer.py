"""A bounded buffer of log lines, fed from a worker thread and drained by the UI on a tick.

Writers (a log stream in a worker thread) only append under a lock; the reader takes
everything pending at once, so a chatty pod costs one redraw per tick, not one per line.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

MAX_LINES = 100_000


@dataclass
class LogBuffer:
    max_lines: int = MAX_LINES
    lines: list[str] = field(default_factory=list)
    # Lines dropped from the front to stay within max_lines; line i of the pod's log is
    # lines[i - dropped].
    dropped: int = 0
    _pending: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    ended: str | None = None  # why the stream stopped, once it has

    def feed(self, new_lines: list[str]) -> None:
        """Thread-safe; called by the stream's worker."""
        with self._lock:
            self._pending.extend(new_lines)

    def end(self, why: str) -> None:
        with self._lock:
            self.ended = why

    def drain(self) -> tuple[int, int]:
        """Move pending lines into `lines` (UI thread). Returns (added, trimmed from the front)."""
        with self._lock:
            pending, self._pending = self._pending, []
        if not pending:
            return 0, 0
        if len(pending) >= self.max_lines:
            trimmed = len(self.lines) + len(pending) - self.max_lines
            self.lines = pending[-self.max_lines :]
        else:
            self.lines.extend(pending)
            trimmed = 0
            # Trim in slabs (a tenth) so the memmove is paid rarely, not on every drain.
            if len(self.lines) > self.max_lines:
                trimmed = len(self.lines) - self.max_lines + self.max_lines // 10
                del self.lines[:trimmed]
        self.dropped += trimmed
        return len(pending), trimmed

    def clear(self) -> None:
        with self._lock:
            self._pending = []
            self.ended = None
        self.lines = []
        self.dropped = 0
