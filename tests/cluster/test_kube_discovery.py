"""What optional APIs a cluster serves, read from discovery over real HTTP (issue 18)."""

from __future__ import annotations

from ktui.cluster.kube.config import load
from ktui.cluster.kube.discovery import discover
from ktui.cluster.kube.transport import Transport
from ktui.sim.testing import running_sim


def _served(**opts):  # type: ignore[no-untyped-def]
    with running_sim(nodes=1, gpus_per_node=0, **opts) as sim:
        t = Transport(load(str(sim.kubeconfig)).api_client)
        try:
            return discover(t)
        finally:
            t.close()


def test_a_plain_cluster_serves_none_of_them_and_says_what_to_install():
    served = _served()
    assert served.kinds == {} and served.visibility is None and served.error is None
    assert served.missing("PyTorchJob") == ("this cluster does not serve PyTorchJob (pytorchjobs.kubeflow.org): "
                                             "install the Kubeflow training operator (v1)")


def test_the_training_operator_and_kueue_are_found():
    served = _served(kubeflow=True, kueue=True)
    assert served.kinds["PyTorchJob"] == "kubeflow.org/v1"
    assert served.kinds["Workload"].startswith("kueue.x-k8s.io/v1beta")
    assert not served.serves("TrainJob")


def test_an_unreachable_server_is_an_error_not_a_crash():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    from kubernetes.client import ApiClient, Configuration

    cfg = Configuration()
    cfg.host = f"http://127.0.0.1:{port}"
    served = discover(Transport(ApiClient(cfg)))
    assert served.kinds == {} and served.error
    assert "discovery failed" in served.missing("Workload")
