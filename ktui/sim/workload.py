"""What a simulated container does: how long it runs, how it exits, and what it logs.

By default a pod runs a synthetic training loop: a start line echoing the trial's
parameters (annotation `ktui.dev/params`, or an indexed sweep's mounted ConfigMap: see
ktui.sim.trialparams), one metric line per simulated second, and a
final line. Its duration (20-60 simulated seconds) and learning curve are derived
deterministically from the parameters. Pod annotations script it instead:

  sim.ktui.dev/duration        seconds of simulated run time
  sim.ktui.dev/exit-code       non-zero: the container exits with it (reason Error)
  sim.ktui.dev/fail-attempts   only the first N attempts fail (restarts or new pods)
  sim.ktui.dev/oom             "true": OOMKilled, exit 137, partway through
  sim.ktui.dev/log             the whole log, emitted byte for byte
  sim.ktui.dev/fail-indexes    "2,4" or "0-3": only pods of these Indexed Job completion
                               indexes (or PyTorchJob replica indexes) fail (with exit-code,
                               default 1); the others succeed

An image containing "does-not-exist" or ":badtag" never pulls (ErrImagePull/ImagePullBackOff).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import random
from dataclasses import dataclass, field
from typing import Any

from ktui.wire.names import PARAMS_ANNOTATION as ANN_PARAMS

ANN_DURATION = "sim.ktui.dev/duration"
ANN_EXIT = "sim.ktui.dev/exit-code"
ANN_FAIL_ATTEMPTS = "sim.ktui.dev/fail-attempts"
ANN_OOM = "sim.ktui.dev/oom"
ANN_LOG = "sim.ktui.dev/log"
ANN_FAIL_INDEXES = "sim.ktui.dev/fail-indexes"
ANN_INDEX = "batch.kubernetes.io/job-completion-index"
LABEL_REPLICA_INDEX = "training.kubeflow.org/replica-index"

_NANO = 1_000_000_000


def image_pull_fails(image: str) -> bool:
    return "does-not-exist" in image or ":badtag" in image


def _params(annotations: dict[str, str]) -> dict[str, Any] | None:
    raw = annotations.get(ANN_PARAMS)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _stable_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


@dataclass
class Script:
    duration: float  # simulated seconds from start to exit
    exit_code: int
    reason: str  # Completed | Error | OOMKilled
    params: dict[str, Any] | None
    seed: int
    quality: float  # final accuracy the learning curve approaches
    log_text: bytes | None = None
    # False: every log line is written at start (a server's start-up lines), not spread.
    spread: bool = True
    # A line the kubelet's simulation writes first (the files the trial sees in its workdir).
    preamble: bytes | None = None
    _lines: list[tuple[float, bytes]] | None = field(default=None, repr=False)

    def lines(self) -> list[tuple[float, bytes]]:
        """(simulated seconds after start, line bytes) for a run that is not cut short."""
        if self._lines is None:
            self._lines = self._literal() if self.log_text is not None else self._training()
            if self.preamble:
                self._lines.insert(0, (0.0, self.preamble))
        return self._lines

    def _literal(self) -> list[tuple[float, bytes]]:
        text = self.log_text or b""
        # Only "\n" ends a line (like the kubelet's CRI log); "\r" stays inside it.
        parts = [p + b"\n" for p in text.split(b"\n")]
        parts[-1] = parts[-1][:-1]
        if not parts[-1]:
            parts.pop()
        n = len(parts)
        # Spread over the run so `logs -f` shows progress; bytes are emitted unchanged.
        return [(self.duration * i / n if n and self.spread else 0.0, p)
                for i, p in enumerate(parts)]

    def _training(self) -> list[tuple[float, bytes]]:
        rng = random.Random(self.seed)
        params = json.dumps(self.params, separators=(",", ":")) if self.params else "{}"
        out: list[tuple[float, bytes]] = [(0.0, f"starting training params={params}\n".encode())]
        end = self.duration
        steps = max(1, int(self.duration))
        tau = max(2.0, steps / 3.5)
        best = 0.0
        epoch = 1
        while epoch < end:
            progress = 1.0 - math.exp(-epoch / tau)
            loss = max(0.01, 2.3 * (1.0 - progress) * (1.05 - self.quality) * 4 + 0.02
                       + rng.gauss(0, 0.015))
            acc = min(0.999, max(0.0, 0.1 + (self.quality - 0.1) * progress + rng.gauss(0, 0.006)))
            best = max(best, acc)
            out.append((float(epoch), f"epoch={epoch} loss={loss:.3f} accuracy={acc:.3f}\n".encode()))
            epoch += 1
        if self.reason == "Completed":
            out.append((self.duration, f"training complete best_accuracy={best:.3f}\n".encode()))
        elif self.reason == "Error":
            for line in ("Traceback (most recent call last):\n",
                         '  File "/workspace/train.py", line 87, in <module>\n',
                         "    main()\n",
                         f"RuntimeError: simulated failure (exit code {self.exit_code})\n"):
                out.append((self.duration, line.encode()))
        return out

    def visible(self, start_ns: int, speed: float, until_ns: int) -> list[tuple[int, bytes]]:
        """Lines whose wall timestamp is <= until_ns, with nanosecond timestamps."""
        out = []
        for t, line in self.lines():
            ts = start_ns + int(t * _NANO / speed)
            if ts > until_ns:
                break
            out.append((ts, line))
        return out


def plan_from_status(pod: dict[str, Any], container_name: str, attempt: int,
                     terminated: dict[str, Any] | None, speed: float) -> Script:
    """The script of a run known only from its status (pre-populated history): its exit
    and duration come from the recorded termination, the rest from the parameters."""
    script = plan(pod, container_name, attempt)
    if terminated is None:
        return script
    from ktui.sim.clock import parse_rfc3339  # local: clock is tiny, keep imports flat

    script.exit_code = int(terminated.get("exitCode") or 0)
    script.reason = terminated.get("reason") or ("Completed" if script.exit_code == 0 else "Error")
    if terminated.get("startedAt") and terminated.get("finishedAt"):
        wall = parse_rfc3339(terminated["finishedAt"]) - parse_rfc3339(terminated["startedAt"])
        script.duration = max(0.0, wall * speed)
    return script


# Controllers whose pods are servers: their containers run until stopped.
SERVER_OWNERS = ("DaemonSet", "StatefulSet", "ReplicaSet")
SERVER_SECONDS = 1e12


def server_log(container_name: str) -> bytes:
    if "dcgm-exporter" in container_name:
        return (b'time=2026-01-01T00:00:00.000Z level=INFO msg="Starting dcgm-exporter" '
                b'Version=4.5.3-4.8.2\n'
                b'time=2026-01-01T00:00:00.000Z level=INFO msg="Kubernetes metrics collection '
                b'enabled!"\n'
                b'time=2026-01-01T00:00:00.000Z level=INFO msg="Starting webserver"\n')
    return f"{container_name}: listening\n".encode()


def plan(pod: dict[str, Any], container_name: str, attempt: int,
         params: dict[str, Any] | None = None) -> Script:
    """``params``: the trial's parameters where the pod does not carry them (an indexed sweep's,
    read from its mounted ConfigMaps by ktui.sim.trialparams)."""
    meta = pod.get("metadata") or {}
    if any(ref.get("controller") and ref.get("kind") in SERVER_OWNERS
           for ref in meta.get("ownerReferences") or ()):
        return Script(SERVER_SECONDS, 0, "Completed", None, 0, 0.0, server_log(container_name),
                      spread=False)
    ann: dict[str, str] = meta.get("annotations") or {}
    params = params if params is not None else _params(ann)
    basis = json.dumps(params, sort_keys=True) if params else (
        (meta.get("labels") or {}).get("job-name") or meta.get("name", ""))
    seed = _stable_int(f"{basis}|{container_name}|{attempt}")
    duration = 20.0 + _stable_int(basis) % 41
    if ANN_DURATION in ann:
        with contextlib.suppress(ValueError):
            duration = max(0.0, float(ann[ANN_DURATION]))
    quality = 0.75 + (_stable_int(basis + "|q") % 2000) / 10000.0
    if params:
        lr = params.get("lr", params.get("learning_rate"))
        if isinstance(lr, (int, float)) and lr > 0:
            quality = max(0.5, 0.97 - 0.12 * abs(math.log10(lr) + 2.5))
    exit_code, reason = 0, "Completed"
    fail_code = 0
    if ANN_EXIT in ann:
        try:
            fail_code = int(ann[ANN_EXIT])
        except ValueError:
            fail_code = 1
    fail_attempts = None
    if ANN_FAIL_ATTEMPTS in ann:
        try:
            fail_attempts = int(ann[ANN_FAIL_ATTEMPTS])
        except ValueError:
            fail_attempts = None
        if not fail_code:
            fail_code = 1
    if ANN_FAIL_INDEXES in ann:
        from ktui.sim.controllers.indexed import parse_indexes  # local: workload stays leaf

        # An Indexed Job's completion index, or a training-operator replica's index.
        raw = ann.get(ANN_INDEX) or (meta.get("labels") or {}).get(LABEL_REPLICA_INDEX, "")
        try:
            index = int(raw)
        except ValueError:
            index = -1
        listed = index in parse_indexes(ann[ANN_FAIL_INDEXES])
        fail_code = (fail_code or 1) if listed else 0
    failing = fail_code != 0 and (fail_attempts is None or attempt < fail_attempts)
    if ann.get(ANN_OOM, "").lower() == "true" and (fail_attempts is None or attempt < fail_attempts):
        exit_code, reason = 137, "OOMKilled"
    elif failing:
        exit_code, reason = fail_code, "Error"
    log_text = ann[ANN_LOG].encode() if ANN_LOG in ann else None
    script = Script(duration, exit_code, reason, params, seed, quality, log_text)
    if reason == "OOMKilled":
        script.duration = duration * 0.6
    return script
