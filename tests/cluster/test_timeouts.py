"""A server that accepts connections and never answers (issue 14, item 14, the CLI's side):
the message names the server and how long it waited."""

from __future__ import annotations

import re
import socket
import threading

import pytest
import yaml

from ktui.cluster.kube.config import load
from ktui.cluster.kube.transport import Transport, Unreachable


@pytest.fixture
def silent_server():
    """Accepts, reads nothing, answers nothing."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()
    for s in held:
        s.close()


def test_no_answer_names_the_server_and_the_time_waited(silent_server, tmp_path):
    kc = tmp_path / "kc"
    kc.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "a",
        "clusters": [{"name": "c", "cluster": {"server": silent_server}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "a", "context": {"cluster": "c", "user": "u"}}]}))
    transport = Transport(load(str(kc)).api_client)
    with pytest.raises(Unreachable) as info:
        transport.get("/version", timeout=(2.0, 1.5))
    assert re.fullmatch(rf"cannot reach the cluster at {silent_server}: connected, but no answer after \d+ s",
                        str(info.value)), str(info.value)
    assert info.value.waited is not None and 1.4 < info.value.waited < 10
