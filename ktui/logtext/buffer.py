"""A bounded buffer of log lines, fed from a worker thread and drained by the UI on a tick.

Writers (a log stream in a worker thread) make each line inert (sanitize) and measure it
in their own thread, then append under a lock; the reader takes everything pending at
once. So a chatty pod costs the UI thread one redraw per tick, not work per line.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from rich.cells import cell_len

from ktui.logtext.sanitize import SafeLine, sanitize

MAX_LINES = 100_000


@dataclass
class LogBuffer:
    max_lines: int = MAX_LINES
    colors: bool = True  # keep SGR colours (as safe styles) in the sanitised lines
    lines: list[str] = field(default_factory=list)  # as received: what "save" writes
    # lines[i] made inert, with its width in cells (what the view draws and lays out).
    safe: list[tuple[SafeLine, int]] = field(default_factory=list)
    # Lines dropped from the front to stay within max_lines; line i of the pod's log is
    # lines[i - dropped].
    dropped: int = 0
    _pending: list[str] = field(default_factory=list)
    _pending_safe: list[tuple[SafeLine, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    ended: str | None = None  # why the stream stopped, once it has

    def feed(self, new_lines: list[str]) -> None:
        """Thread-safe; called by the stream's worker, which pays for sanitising."""
        safe = []
        for raw in new_lines:
            line = sanitize(raw, self.colors)
            safe.append((line, cell_len(line.text)))
        with self._lock:
            self._pending.extend(new_lines)
            self._pending_safe.extend(safe)

    def end(self, why: str) -> None:
        with self._lock:
            self.ended = why

    def drain(self) -> tuple[int, int]:
        """Move pending lines into `lines` (UI thread). Returns (added, trimmed from the front)."""
        with self._lock:
            pending, self._pending = self._pending, []
            pending_safe, self._pending_safe = self._pending_safe, []
        if not pending:
            return 0, 0
        if len(pending) >= self.max_lines:
            trimmed = len(self.lines) + len(pending) - self.max_lines
            self.lines = pending[-self.max_lines :]
            self.safe = pending_safe[-self.max_lines :]
        else:
            self.lines.extend(pending)
            self.safe.extend(pending_safe)
            trimmed = 0
            # Trim in slabs (a tenth) so the memmove is paid rarely, not on every drain.
            if len(self.lines) > self.max_lines:
                trimmed = len(self.lines) - self.max_lines + self.max_lines // 10
                del self.lines[:trimmed]
                del self.safe[:trimmed]
        self.dropped += trimmed
        return len(pending), trimmed

    def clear(self) -> None:
        with self._lock:
            self._pending = []
            self._pending_safe = []
            self.ended = None
        self.lines = []
        self.safe = []
        self.dropped = 0
