"""Server-side printing: meta.k8s.io Tables as kubectl asks for them."""

from __future__ import annotations

from ktui.sim.testing import Sim

from .helpers import TBL, fixture, job, job_done, pods_of, request


def table(sim: Sim, path: str, accept: str = TBL) -> dict:
    r = request(sim, "GET", path, accept=accept)
    assert r.status == 200 and r.headers["Content-Type"] == "application/json"
    return r.json()


def test_columns_match_the_captures(sim: Sim) -> None:
    for path, ref in (("/apis/batch/v1/jobs?limit=500", "table-jobs-ns-ref.json"),
                      ("/api/v1/pods?limit=500", "table-pods-ns-ref.json"),
                      ("/api/v1/nodes?limit=500", "table-nodes.json")):
        t = table(sim, path)
        assert t["kind"] == "Table" and t["apiVersion"] == "meta.k8s.io/v1"
        assert t["columnDefinitions"] == fixture(ref)["columnDefinitions"]
    ev = table(sim, "/api/v1/events")
    assert [c["name"] for c in ev["columnDefinitions"]] == [
        "Last Seen", "Type", "Reason", "Object", "Subobject", "Source", "Message", "First Seen",
        "Count", "Name"]
    ns = table(sim, "/api/v1/namespaces")
    assert [c["name"] for c in ns["columnDefinitions"]] == ["Name", "Status", "Age"]
    beta = table(sim, "/api/v1/nodes", accept="application/json;as=Table;v=v1beta1;g=meta.k8s.io")
    assert beta["apiVersion"] == "meta.k8s.io/v1beta1"


def test_cells_for_jobs_pods_nodes_and_events(sim: Sim) -> None:
    sim.create(job("done", annotations={"sim.ktui.dev/duration": "3"}))
    sim.create(job("fails", backoff=0, annotations={"sim.ktui.dev/duration": "1",
                                                     "sim.ktui.dev/exit-code": "1"}))
    sim.wait_for(lambda s: job_done(s, "done") and job_done(s, "fails", "Failed"))
    rows = {r["cells"][0]: r for r in table(sim, "/apis/batch/v1/namespaces/default/jobs")["rows"]}
    uid = sim.get("jobs", "default", "done")["metadata"]["uid"]
    done = rows["done"]["cells"]
    assert done[1:3] == ["Complete", "1/1"] and done[5:] == [
        "trial", "python:3.11", f"batch.kubernetes.io/controller-uid={uid}"]
    assert rows["fails"]["cells"][1:3] == ["Failed", "0/1"]
    assert rows["done"]["object"]["kind"] == "PartialObjectMetadata"
    pod_rows = {r["cells"][0]: r for r in table(sim, "/api/v1/namespaces/default/pods")["rows"]}
    ok = pod_rows[pods_of(sim, "done")[0]["metadata"]["name"]]
    assert ok["cells"][1:4] == ["0/1", "Completed", "0"] and ok["cells"][8] == "<none>"
    assert ok["conditions"] == [{"type": "Completed", "status": "True", "reason": "Succeeded",
                                 "message": "The pod has completed successfully."}]
    bad = pod_rows[pods_of(sim, "fails")[0]["metadata"]["name"]]
    assert bad["cells"][2] == "Error" and bad["conditions"][0]["reason"] == "Failed"
    node = table(sim, "/api/v1/nodes/sim-node-0001")["rows"]
    assert len(node) == 1 and node[0]["cells"][:3] == ["sim-node-0001", "Ready", "<none>"]
    events = table(sim, "/api/v1/namespaces/default/events")["rows"]
    created = [r for r in events if r["cells"][2] == "SuccessfulCreate"]
    assert created and created[0]["cells"][3] == "job/done" and created[0]["cells"][5] == \
        "job-controller" and created[0]["cells"][8] == 1


def test_include_object_and_406(sim: Sim) -> None:
    sim.create(job("inc"))
    full = table(sim, "/apis/batch/v1/namespaces/default/jobs?includeObject=Object",
                 accept="application/json;as=Table;v=v1;g=meta.k8s.io")
    assert full["rows"][0]["object"]["kind"] == "Job" and "spec" in full["rows"][0]["object"]
    r = request(sim, "GET", "/apis/batch/v1/namespaces/default/jobs?limit=500",
                accept="application/json;as=Table;v=v9;g=meta.k8s.io")
    assert r.status == 406 and r.json() == fixture("table-jobs-as-Table-only-no-fallback-406.json")
    plain = request(sim, "GET", "/apis/batch/v1/namespaces/default/jobs",
                    accept="application/vnd.kubernetes.protobuf,application/json")
    assert plain.json()["kind"] == "JobList"


def test_paged_table_carries_continue(sim: Sim) -> None:
    for i in range(3):
        sim.create(job(f"j{i}", suspend=True))
    t = table(sim, "/apis/batch/v1/namespaces/default/jobs?limit=2")
    assert len(t["rows"]) == 2 and t["metadata"]["continue"]
    assert t["metadata"]["remainingItemCount"] == 1
