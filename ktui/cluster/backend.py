"""The interface the UI consumes, whatever runs the trials.

The Kubernetes backend (ktui.cluster.kube.backend.KubeBackend) and the local backend
(ktui.cluster.local.backend.LocalBackend: trials as processes on this machine) implement it,
so the UI never branches on the backend. All methods are synchronous and thread-safe: the UI calls the
actions from a worker thread and reads ``store`` on its tick.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from ktui.cluster.model import (
    ActionResult,
    Capabilities,
    LogLine,
    SubmitProgress,
    SubmitResult,
    TrialDescription,
    TrialKey,
    TrialState,
)
from ktui.cluster.store import Store

ProgressFn = Callable[[SubmitProgress], None]


@runtime_checkable
class LogStream(Protocol):
    """An iterator of log lines that can be closed from another thread (the UI's)."""

    def __iter__(self) -> Iterator[LogLine]: ...

    def batches(self) -> Iterator[list[LogLine]]:
        """The same lines, one list per read: a reader that shows lines can show each list
        at once, without waiting for a next line that may come minutes later."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Backend(Protocol):
    #: "kubernetes" or "local": for the title bar, never for branching.
    name: str

    @property
    def store(self) -> Store:
        """Joined, continuously updated trials/nodes/sweeps, with a change feed."""
        ...

    @property
    def capabilities(self) -> Capabilities:
        """Which actions are available; unavailable ones say why (e.g. RBAC)."""
        ...

    @property
    def location(self) -> str:
        """Where this backend points, for display ("https://10.0.0.1:6443 ns default")."""
        ...

    @property
    def default_namespace(self) -> str:
        """The namespace a command means when it names none."""
        ...

    def sweep_trials(self, sweep: str, namespace: str | None = None) -> list[TrialState]:
        """The sweep's trials (in ``namespace``, or every namespace the backend sees when
        None), asked of the source of truth, without start(): what cancel or rerun would
        touch, for a command to say and confirm first."""
        ...

    def find_trial(self, trial: TrialKey) -> TrialState | None:
        """One trial by name, from the source of truth; None when there is none."""
        ...

    def start(self) -> None:
        """Start filling the store in the background; returns at once."""
        ...

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every background thread and close connections; idempotent."""
        ...

    def submit(
        self,
        manifests: Sequence[Mapping[str, Any]],
        progress: ProgressFn | None = None,
        *,
        source_dir: str | None = None,
        replace: bool = False,
        dry_run: bool = False,
        code: Mapping[str, Any] | None = None,
    ) -> SubmitResult:
        """Create one Job per manifest.

        A trial whose Job already exists for the same sweep and runs the same thing (same
        ``ktui.cluster.fingerprint.trial_fields``: parameters, image, command, args, env,
        resources, restartPolicy, backoffLimit, ttl, queue) counts as existing, so
        submitting again after an interruption creates only the missing ones. One whose Job
        (queued, running or finished) runs something else is reported in
        ``SubmitResult.changed`` with what differs, and then nothing at all is submitted
        (``result.refused``), unless ``replace``: those Jobs are deleted with their pods
        (or processes), gone before they are created anew (``result.replaced``); identical
        ones are left alone. ``dry_run``: the same verdict, nothing changed. Raises the
        backend's errors when the existing Jobs cannot be read: nothing is submitted blind.

        ``source_dir``: the sweep file's directory. A backend that runs trials on this
        machine runs them there (as the file's relative paths expect); a cluster ignores it.

        ``code``: the code snapshot's ConfigMap (ktui.cluster.shipment.config_map) the manifests mount:
        a cluster creates (or reuses) it once the submit is not refused, before the first Job;
        this machine keeps its archive for the trials' copies."""
        ...

    def cancel(
        self,
        trials: Iterable[TrialKey] = (),
        *,
        sweep: str | None = None,
        namespace: str | None = None,
    ) -> ActionResult:
        """Delete the given trials, or every trial of ``sweep`` (in ``namespace``, or in
        every namespace the backend sees when None)."""
        ...

    def rerun(
        self,
        sweep: str | None = None,
        *,
        trials: Iterable[TrialKey] = (),
        namespace: str | None = None,
        failed_only: bool = True,
    ) -> ActionResult:
        """Recreate finished trials (only the failed ones by default) from their specs."""
        ...

    def stop_early(self, trial: TrialKey, note: str) -> ActionResult:
        """Stop a running trial for its sweep's early-stopping rule: its processes or pods go,
        it shows as EarlyStopped (not failed) with ``note`` (the ktui.dev/early-stopped JSON:
        the figures that decided it). Acts at most once per trial, however many ktuis ask:
        a trial already stopped or finished is a failure in the result, not stopped again."""
        ...

    def set_gpu_focus(self, nodes: Iterable[str]) -> None:
        """The nodes whose per-GPU readings the screen shows (the nodes on screen and the
        nodes of the trials on screen): a backend that reads GPUs remotely reads only these,
        in the background, into the store. Returns at once."""
        ...

    def set_queue_focus(self, queues: Iterable[tuple[str, str]] | None) -> None:
        """The (namespace, LocalQueue) of the waiting trials on screen: a backend that reads
        places in line on demand (Kueue's visibility API) reads only these; None: all that
        hold a waiting trial. Returns at once."""
        ...

    def refresh_gpus(self, nodes: Iterable[str]) -> None:
        """Read these nodes' GPUs into the store now (a command that prints them once);
        blocks for at most one bounded round of requests."""
        ...

    def stream_logs(
        self, trial: TrialKey, *, follow: bool = True, tail: int | None = None, replica: str | None = None
    ) -> LogStream:
        """Lines of the trial's newest pod (its ``trial`` container, or the only one of a Job
        that is not a ktui trial; a distributed trial's master, or ``replica``: "worker-1",
        whose pod is looked for; LookupError when there is none); with ``follow`` it
        keeps going across reconnects, without duplicates or gaps, until the trial ends.
        Raises LookupError when the trial has no pod (yet); iterating may raise the
        backend's errors (e.g. the pod vanished before anything was read)."""
        ...

    def describe(self, trial: TrialKey) -> TrialDescription:
        """Everything known about one trial: its pods, all its events, its manifest."""
        ...
