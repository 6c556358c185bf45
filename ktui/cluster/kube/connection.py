"""Asking the API server whether it answers, until it does.

Before anything else: a server that accepts connections and never answers would hold every
reflector's first request for its whole read timeout (two minutes for a list page), and a
request stuck waiting for headers cannot be aborted. So nothing starts before one small
request (``/version``) is answered; meanwhile the store says "connecting", with the last
error, and the screen says so from its first frame.

Then, whenever a request finds the server unreachable: the reflectors back off up to 30 s
each, so the server being back would be noticed up to 30 s late. The monitor asks every few
seconds instead and, on the first answer (its own, or anyone's), wakes them all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ktui.cluster.kube.backoff import Backoff
from ktui.cluster.kube.transport import ApiError, Transport, Unreachable
from ktui.cluster.store import Store

IDLE_CHECK = 0.5  # s between looks at the store while the server answers


class ConnectionMonitor:
    def __init__(
        self,
        transport: Transport,
        store: Store,
        on_answer: Callable[[bool], None],
        *,
        backoff: Backoff | None = None,
        timeout: tuple[float, float] = (5.0, 15.0),
    ) -> None:
        """``on_answer(first)``: the server answered after silence (``first``: ever)."""
        self.transport = transport
        self.store = store
        self.on_answer = on_answer
        self.backoff = backoff or Backoff(0.5, 5.0)
        self.timeout = timeout
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ktui-connection", daemon=True)

    def start(self) -> None:
        self.store.connecting(self.transport.server)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _ask(self) -> bool:
        sent = time.monotonic()
        try:
            self.transport.get("/version", timeout=self.timeout)
        except ApiError:
            pass  # an answer all the same (/version may be closed to this user)
        except Unreachable as exc:
            if not self._stop.is_set():
                self.store.connection_failed(str(exc), exc.why, sent)
            return False
        self.store.connection_ok()
        return True

    def _run(self) -> None:
        first = True
        last_up: float | None = None
        while not self._stop.is_set():
            c = self.store.connection()
            if c is not None and c.state == "up":
                if first or c.since != last_up:
                    last_up = c.since
                    self.backoff.reset()
                    self.on_answer(first)
                    first = False
                self._stop.wait(IDLE_CHECK)
            elif not self._ask():
                self._stop.wait(self.backoff.next())
