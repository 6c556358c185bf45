"""`ktui logs` never lets a trial's escape sequences reach the terminal (issue 14, item 4):
the log pane's sanitiser on a terminal and into a pipe; `--raw` for the bytes exactly."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from tests.local.conftest import job, wait_for

from .conftest import eventually, job_manifest

# A title (OSC 0), a clipboard write (OSC 52), a cursor report request that types a reply
# into the shell (ESC[6n), a clear screen, and a harmless colour.
HOSTILE = "title\x1b]0;pwned\x07 clip\x1b]52;c;ZXZpbA==\x07 ask\x1b[6n clear\x1b[2J \x1b[31mred\x1b[0m end"


def _in_a_terminal(argv: list[str], env: dict[str, str]) -> bytes:
    """What `ktui ARGV` writes when its stdout is a terminal."""
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "ktui", *argv], stdout=slave, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the other end closed
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert p.wait(30) == 0, p.stderr.read() if p.stderr else ""
    return out


def _piped(argv: list[str], env: dict[str, str]) -> bytes:
    r = subprocess.run([sys.executable, "-m", "ktui", *argv], capture_output=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _assert_inert(out: bytes) -> None:
    for bad in (b"\x1b]", b"\x1b[6n", b"\x1b[2J", b"\x07"):
        assert bad not in out, (bad, out)
    text = out.decode()
    assert "^[]0;pwned^G" in text and "^[[6n" in text and "^[[2J" in text and "end" in text


def test_cluster_logs_are_inert_on_a_terminal_and_in_a_pipe_and_exact_with_raw(sim):
    sim.create(job_manifest("hostile", log=HOSTILE + "\n", duration=0.2))
    eventually(lambda: any((p.get("status") or {}).get("phase") == "Succeeded" for p in sim.objects("pods")),
               timeout=10)
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "300"}
    env.pop("NO_COLOR", None)
    argv = ["logs", "hostile", "--kubeconfig", str(sim.kubeconfig)]
    tty = _in_a_terminal(argv, env)
    _assert_inert(tty)
    assert b"\x1b[31mred" in tty or b"\x1b[31m" in tty  # colours are kept, as in the log pane
    piped = _piped(argv, env)
    _assert_inert(piped)
    assert b"\x1b" not in piped  # no colours into a pipe either
    assert _piped([*argv, "--raw"], env) == HOSTILE.encode() + b"\n"


def test_local_logs_are_inert_and_raw_keeps_every_byte(tmp_path, monkeypatch):
    from ktui.cluster.local.backend import LocalBackend

    state = tmp_path / "state"
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path), "TERM": "xterm-256color", "KUBECONFIG": str(tmp_path / "none")}
    env.pop("NO_COLOR", None)
    payload = HOSTILE.encode() + b" bin\xff\xfe\x80 done"
    code = f"import sys; sys.stdout.buffer.write({payload!r} + b'\\n')"
    b = LocalBackend(tmp_path, state_dir=state / "ktui", cpus=1, poll_interval=0.05)
    b.start()
    try:
        b.submit([job("h-000", code, sweep="h")])
        wait_for(lambda: (t := b.store.get_trial(("default", "h-000"))) is not None and t.phase == "Succeeded",
                 30, "the trial to finish")
    finally:
        b.stop()
    env["XDG_STATE_HOME"] = str(state)
    argv = ["logs", "h-000", "--local"]
    tty = _in_a_terminal(argv, env)
    _assert_inert(tty)
    shown = re.sub(r"\x1b\[[0-9;]*m", "", tty.decode())  # the styles aside
    assert "bin\\xff\\xfe\\x80 done" in shown  # bytes that are not UTF-8 show, inert
    _assert_inert(_piped(argv, env))
    assert _piped([*argv, "--raw"], env) == payload + b"\n"


def test_log_writer_into_a_file_is_plain(tmp_path):
    from ktui.cli.cluster import log_writer

    with open(tmp_path / "out", "w", encoding="utf-8") as f:
        write = log_writer(raw=False, out=f)
        write(HOSTILE)
    _assert_inert(Path(tmp_path / "out").read_bytes())
