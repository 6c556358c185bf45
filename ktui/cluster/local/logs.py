"""A local trial attempt's log file, read line by line, followed until the attempt ends."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from ktui.cluster.model import LogLine
from ktui.logtext.sanitize import decode_log

_BLOCK = 65536


def _tail_offset(f: BinaryIO, lines: int) -> int:
    """Offset of the start of the last ``lines`` complete-or-partial lines of ``f``."""
    f.seek(0, os.SEEK_END)
    end = f.tell()
    if lines <= 0:
        return end
    pos = end
    seen = 0
    # A trailing newline ends the last line; it does not start another.
    f.seek(max(0, end - 1))
    skip_last = f.read(1) == b"\n"
    while pos > 0:
        start = max(0, pos - _BLOCK)
        f.seek(start)
        chunk = f.read(pos - start)
        i = len(chunk)
        while True:
            i = chunk.rfind(b"\n", 0, i)
            if i < 0:
                break
            if skip_last and start + i == end - 1:
                continue
            seen += 1
            if seen == lines:
                return start + i + 1
        pos = start
    return 0


class LocalLogStream:
    """Iterate to get LogLines; ``close()`` from any thread ends the iteration promptly.

    ``ended()`` says whether the attempt has finished writing (its exit is recorded, or it
    was cancelled); with ``follow`` the stream waits for more lines until then, and a last
    line without a newline is delivered once the attempt has ended.
    """

    def __init__(self, path: Path, ended: Callable[[], bool], *, follow: bool = True,
                 tail: int | None = None, poll: float = 0.25) -> None:
        self.path = Path(path)
        self.ended = ended
        self.follow = follow
        self.tail = tail
        self.poll = poll
        self._closed = threading.Event()

    def close(self) -> None:
        self._closed.set()

    def _open(self) -> BinaryIO | None:
        while True:
            try:
                return open(self.path, "rb")
            except FileNotFoundError:
                if not self.follow or self.ended() or self._closed.wait(self.poll):
                    return None

    def __iter__(self) -> Iterator[LogLine]:
        for batch in self.batches():
            yield from batch

    def batches(self) -> Iterator[list[LogLine]]:
        f = self._open()
        if f is None:
            return
        with f:
            if self.tail is not None:
                f.seek(_tail_offset(f, self.tail))
            else:
                f.seek(0)
            partial = b""
            while not self._closed.is_set():
                # Decide "ended" before reading, so nothing written before the end is missed.
                done = not self.follow or self.ended()
                chunk = f.read(_BLOCK)
                if chunk:
                    data = partial + chunk
                    *lines, partial = data.split(b"\n")
                    if lines:
                        yield [LogLine(None, decode_log(raw)) for raw in lines]
                    continue
                if done:
                    if partial:
                        yield [LogLine(None, decode_log(partial))]
                    return
                self._closed.wait(self.poll)
