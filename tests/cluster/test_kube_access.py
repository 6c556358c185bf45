"""RBAC denials and an absent metrics API: reported once, typed, and nothing else breaks."""

from __future__ import annotations

from ktui.cluster.kube.backend import KubeBackend

from .conftest import assert_converged, eventually, job_manifest


def test_viewer_denied_pods_still_sees_jobs_and_nodes(sim, backend_factory):
    sim.create(job_manifest("v-0", sweep="v"))
    sim.deny("viewer", "list", "pods")
    kc = sim.kubeconfig_for("viewer", namespace="default")
    b: KubeBackend = backend_factory(kc, all_namespaces=False)
    b.start()
    assert b.store.wait_synced(("jobs", "nodes", "pods"), timeout=10)
    assert_converged(sim, b, ("jobs", "nodes"))
    problems = [p for p in b.store.problems() if p.resource == "pods"]
    assert len(problems) == 1
    assert problems[0].code == "forbidden"
    assert problems[0].message.startswith("cannot list pods")
    assert "Forbidden (user viewer)" in problems[0].message
    # The reflector keeps retrying (forbidden_retry is short here); still one problem.
    eventually(lambda: b.reflectors["pods"].stats.errors >= 2, timeout=10)
    assert len([p for p in b.store.problems() if p.resource == "pods"]) == 1
    assert b.reflectors["pods"].alive and b.reflectors["jobs"].alive
    # Trials still show, with the Job's own view of its phase.
    t = eventually(lambda: b.store.get_trial(("default", "v-0")), timeout=5)
    assert t.phase in ("Running", "Succeeded", "Pending")
    assert not b.store.keys("pods")


def test_permission_granted_later_recovers(sim, backend_factory):
    sim.deny("viewer", "list", "jobs")
    kc = sim.kubeconfig_for("viewer", namespace="default")
    b = backend_factory(kc, all_namespaces=False)
    b.start()
    eventually(lambda: any(p.resource == "jobs" for p in b.store.problems()), timeout=5)
    sim.allow_all()
    sim.create(job_manifest("late"))
    eventually(lambda: b.store.get_trial(("default", "late")), timeout=10)
    assert not any(p.resource == "jobs" for p in b.store.problems())


def test_metrics_used_values(sim, backend_factory):
    sim.create(job_manifest("busy", duration=30))
    b = backend_factory(sim.kubeconfig)
    b.start()
    eventually(lambda: b.metrics is not None and b.metrics.available is True, timeout=10)
    nodes = eventually(lambda: (v := b.store.snapshot_nodes()) and all(n.used for n in v.values()) and v,
                       timeout=10)
    assert all(n.used.memory > 0 for n in nodes.values())
    assert b.capabilities.metrics.available


def test_running_trials_carry_their_pod_metrics_and_finished_ones_none(sim, backend_factory):
    sim.create(job_manifest("busy", duration=30))
    sim.create(job_manifest("quick", duration=0.2))
    b = backend_factory(sim.kubeconfig)
    b.start()
    busy = eventually(lambda: (t := b.store.get_trial(("default", "busy"))) and t.cpu_used is not None and t,
                      timeout=10)
    assert busy.phase == "Running" and busy.cpu_used > 0 and busy.mem_used > 0
    quick = eventually(lambda: (t := b.store.get_trial(("default", "quick"))) and t.phase == "Succeeded" and t,
                       timeout=10)
    assert quick.cpu_used is None and quick.mem_used is None


def test_denied_pod_metrics_leave_nodes_and_report_once(sim, backend_factory):
    sim.create(job_manifest("busy", duration=30))
    sim.deny("viewer", "list", "pods.metrics.k8s.io")
    kc = sim.kubeconfig_for("viewer", namespace="default")
    b: KubeBackend = backend_factory(kc, all_namespaces=False)
    b.start()
    eventually(lambda: b.metrics is not None and b.metrics.pods_denied, timeout=10)
    problems = [p for p in b.store.problems() if p.resource == "pods.metrics"]
    assert len(problems) == 1 and "Forbidden" in problems[0].message
    eventually(lambda: all(n.used for n in b.store.snapshot_nodes().values()), timeout=10)
    t = eventually(lambda: b.store.get_trial(("default", "busy")), timeout=10)
    assert t.cpu_used is None


def _stub_server(status: int):
    """A bare HTTP server without metrics.k8s.io (the simulator always serves it)."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                               "message": "the server could not find the requested resource",
                               "reason": "NotFound", "code": status}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, hits


def _kubeconfig(tmp_path, url: str):
    import yaml

    kc = tmp_path / "kc"
    kc.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "c", "cluster": {"server": url}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
    }))
    return kc


def test_absent_metrics_server_is_reported_once_and_views_fall_back(tmp_path):
    import pytest

    from ktui.cluster.kube.config import load
    from ktui.cluster.kube.metrics import MetricsPoller
    from ktui.cluster.kube.transport import Transport
    from ktui.cluster.records import NodeUsage
    from ktui.cluster.store import Store

    from .helpers import node

    for status in (404, 503):
        srv, hits = _stub_server(status)
        try:
            cfg = load(str(_kubeconfig(tmp_path, f"http://127.0.0.1:{srv.server_port}")))
            store = Store()
            store.apply("nodes", [node("n1")])
            store.set_usage({"n1": NodeUsage("n1", 100, 100)})
            poller = MetricsPoller(Transport(cfg.api_client), store, interval=0, min_interval=0)
            assert not poller.poll_once()
            v = store.version
            assert not poller.poll_once() and not poller.poll_once()
            assert hits == ["/apis/metrics.k8s.io/v1beta1/nodes"] * 3
            problems = store.problems()
            assert len(problems) == 1 and problems[0].code == "metrics-unavailable"
            assert str(status) in problems[0].message
            assert not store.changes_since(v).problems  # reported once, not per poll
            assert store.snapshot_nodes()["n1"].used is None
            assert poller.available is False
        finally:
            srv.shutdown()
    with pytest.raises(ValueError):
        Store().apply("widgets", [])


def test_forbidden_action_becomes_an_unavailable_capability(sim, backend_factory):
    sim.deny("viewer", "create", "jobs")
    kc = sim.kubeconfig_for("viewer", namespace="default")
    b = backend_factory(kc, all_namespaces=False, probe_capabilities=True)
    b.start()
    assert b.store.wait_synced(("jobs",), 10)
    result = b.submit([job_manifest("nope")])
    assert not result.ok and not result.created
    assert "Forbidden" in result.failed[0].message
    caps = b.capabilities
    assert not caps.submit.available and "Forbidden" in (caps.submit.reason or "")
    assert caps.cancel.available and caps.logs.available


def test_describe_a_trial(sim, backend_factory):
    sim.create(job_manifest("huge", gpu=64, duration=5))
    b = backend_factory(sim.kubeconfig)
    b.start()
    eventually(lambda: (t := b.store.get_trial(("default", "huge"))) and t.reason, timeout=10)
    d = b.describe(("default", "huge"))
    assert d.trial.name == "huge" and d.trial.reason.startswith("Unschedulable")
    assert len(d.pods) == 1 and d.pods[0].phase == "Pending"
    reasons = {(e.object.split("/")[0], e.reason) for e in d.events}
    assert ("Job", "SuccessfulCreate") in reasons and ("Pod", "FailedScheduling") in reasons
    assert d.manifest is not None and d.manifest["metadata"]["name"] == "huge"


def test_watch_forbidden_after_a_list(sim, backend_factory):
    sim.create(job_manifest("w-0"))
    sim.deny("viewer", "watch", "jobs")
    b = backend_factory(sim.kubeconfig_for("viewer"), all_namespaces=False, resources=("jobs",))
    b.start()
    eventually(lambda: b.store.problems(), timeout=5)
    (p,) = b.store.problems()
    assert p.message == "cannot watch jobs in namespace default: Forbidden (user viewer)"
    assert b.store.get_trial(("default", "w-0")) is not None  # the list still landed
