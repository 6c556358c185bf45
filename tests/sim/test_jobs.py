"""The job controller, scheduler and kubelets: Jobs run to Complete or Failed."""

from __future__ import annotations

from ktui.sim.testing import Sim

from .helpers import condition, fixture, job, job_done, pods_of


def events_for(sim: Sim, name: str) -> list[tuple[str, str]]:
    return [(e["reason"], e["message"]) for e in sim.objects("events", "default")
            if e["involvedObject"]["name"] == name]


def test_job_runs_to_complete_with_realistic_pod_status(sim: Sim) -> None:
    sim.create(job("ok", annotations={"sim.ktui.dev/duration": "10"}))
    sim.wait_for(lambda s: job_done(s, "ok"))
    j = sim.get("jobs", "default", "ok")
    st = j["status"]
    assert [c["type"] for c in st["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    assert st["conditions"][1]["reason"] == "CompletionsReached"
    assert st["succeeded"] == 1 and "active" not in st and st["ready"] == 0
    assert st["startTime"] <= st["completionTime"]
    ref = fixture("obj-job-ok-job.json")["status"]
    assert list(st) == list(ref)
    (pod,) = pods_of(sim, "ok")
    ref_pod = fixture("obj-pods-ok-job.json")["items"][0]
    assert pod["status"]["phase"] == "Succeeded"
    assert "finalizers" not in pod["metadata"]
    assert list(pod["status"]) == list(ref_pod["status"])
    assert [c["type"] for c in pod["status"]["conditions"]] == [
        c["type"] for c in ref_pod["status"]["conditions"]]
    cs = pod["status"]["containerStatuses"][0]
    assert cs["state"]["terminated"]["reason"] == "Completed"
    assert cs["state"]["terminated"]["exitCode"] == 0
    assert list(cs) == list(ref_pod["status"]["containerStatuses"][0])
    assert pod["metadata"]["ownerReferences"][0] == {
        "apiVersion": "batch/v1", "kind": "Job", "name": "ok", "uid": j["metadata"]["uid"],
        "controller": True, "blockOwnerDeletion": True}
    assert pod["metadata"]["name"].startswith("ok-") and len(pod["metadata"]["name"]) == 8
    reasons = [r for r, _ in events_for(sim, "ok")]
    assert reasons == ["SuccessfulCreate", "Completed"]


def test_never_policy_makes_a_new_pod_per_failure_until_backoff_limit(sim: Sim) -> None:
    sim.create(job("bad", backoff=1, annotations={"sim.ktui.dev/duration": "2",
                                                   "sim.ktui.dev/exit-code": "3"}))
    sim.wait_for(lambda s: job_done(s, "bad", "Failed"), timeout=15)
    j = sim.get("jobs", "default", "bad")
    assert [c["type"] for c in j["status"]["conditions"]] == ["FailureTarget", "Failed"]
    assert condition(j, "Failed")["reason"] == "BackoffLimitExceeded"
    assert j["status"]["failed"] == 2 and "completionTime" not in j["status"]
    pods = pods_of(sim, "bad")
    assert len(pods) == 2
    for p in pods:
        term = p["status"]["containerStatuses"][0]["state"]["terminated"]
        assert p["status"]["phase"] == "Failed" and term["exitCode"] == 3
        assert term["reason"] == "Error" and p["status"]["containerStatuses"][0]["restartCount"] == 0
    assert ("BackoffLimitExceeded", "Job has reached the specified backoff limit") in \
        events_for(sim, "bad")


def test_on_failure_restarts_the_container_in_place(sim: Sim) -> None:
    sim.create(job("crash", restart="OnFailure", backoff=3,
                   annotations={"sim.ktui.dev/duration": "1", "sim.ktui.dev/exit-code": "2"}))
    names: set[str] = set()

    def restarted(s: Sim) -> bool:
        for p in pods_of(s, "crash"):
            names.add(p["metadata"]["name"])
            cs = (p["status"].get("containerStatuses") or [{}])[0]
            if cs.get("restartCount", 0) >= 2:
                assert cs["lastState"]["terminated"]["exitCode"] == 2
                assert p["status"]["phase"] == "Running"
                return True
        return False

    sim.wait_for(restarted, timeout=20, interval=0.01)
    sim.wait_for(lambda s: job_done(s, "crash", "Failed"), timeout=20)
    assert len(names) == 1
    j = sim.get("jobs", "default", "crash")
    assert j["status"]["failed"] == 1
    # The controller deletes the active pod of a failed Job.
    sim.wait_for(lambda s: pods_of(s, "crash") == [])


def test_fail_attempts_then_success(sim: Sim) -> None:
    sim.create(job("flaky", backoff=3, annotations={"sim.ktui.dev/duration": "1",
                                                     "sim.ktui.dev/fail-attempts": "1"}))
    sim.wait_for(lambda s: job_done(s, "flaky"), timeout=20)
    st = sim.get("jobs", "default", "flaky")["status"]
    assert st["failed"] == 1 and st["succeeded"] == 1


def test_oom_killed(sim: Sim) -> None:
    sim.create(job("oom", backoff=0, annotations={"sim.ktui.dev/duration": "5",
                                                   "sim.ktui.dev/oom": "true"}))
    sim.wait_for(lambda s: job_done(s, "oom", "Failed"))
    (pod,) = pods_of(sim, "oom")
    term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["reason"] == "OOMKilled" and term["exitCode"] == 137


def test_gpu_request_that_fits_nowhere_is_unschedulable(sim: Sim) -> None:
    sim.create(job("gpu", resources={"requests": {"cpu": "8", "memory": "64Gi",
                                                  "nvidia.com/gpu": "64"},
                                     "limits": {"nvidia.com/gpu": "64"}}))
    sim.wait_for(lambda s: any(c.get("reason") == "Unschedulable"
                               for p in pods_of(s, "gpu")
                               for c in p["status"].get("conditions", [])))
    (pod,) = pods_of(sim, "gpu")
    ref = fixture("obj-pods-gpu-pending.json")["items"][0]["status"]
    assert pod["status"]["phase"] == "Pending" and "nodeName" not in pod["spec"]
    assert pod["status"]["conditions"][0]["message"] == ref["conditions"][0]["message"]
    assert pod["status"]["qosClass"] == "Burstable"
    warnings = [e for e in sim.objects("events", "default") if e["reason"] == "FailedScheduling"]
    assert warnings and warnings[0]["type"] == "Warning"
    assert warnings[0]["reportingComponent"] == "default-scheduler"
    st = sim.get("jobs", "default", "gpu")["status"]
    assert st["active"] == 1 and st["ready"] == 0


def test_pending_pods_schedule_when_capacity_frees(sim: Sim) -> None:
    # Three nodes with 8 GPUs each: the fourth 8-GPU trial waits for the first to finish.
    res = {"requests": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "8"},
           "limits": {"nvidia.com/gpu": "8"}}
    for i in range(4):
        sim.create(job(f"g{i}", resources=res,
                       annotations={"sim.ktui.dev/duration": "3" if i == 0 else "100"}))
    sim.wait_for(lambda s: any(c.get("reason") == "Unschedulable" for p in pods_of(s, "g3")
                               for c in p["status"].get("conditions", [])))
    msg = pods_of(sim, "g3")[0]["status"]["conditions"][0]["message"]
    assert msg.startswith("0/3 nodes are available: 3 Insufficient nvidia.com/gpu.")
    sim.wait_for(lambda s: job_done(s, "g0"))
    sim.wait_for(lambda s: pods_of(s, "g3")[0]["status"]["phase"] == "Running")
    nodes = {pods_of(sim, f"g{i}")[0]["spec"]["nodeName"] for i in (1, 2, 3)}
    assert len(nodes) == 3


def test_node_selector_and_cordon(sim: Sim) -> None:
    node = sim.get("nodes", None, "sim-node-0002")
    node["spec"]["unschedulable"] = True
    sim.update(node)
    sim.create(job("pinned", annotations={"sim.ktui.dev/duration": "100"}))
    body = job("sel", annotations={"sim.ktui.dev/duration": "100"})
    body["spec"]["template"]["spec"]["nodeSelector"] = {"kubernetes.io/hostname": "sim-node-0002"}
    sim.create(body)
    sim.wait_for(lambda s: any(c.get("reason") == "Unschedulable" for p in pods_of(s, "sel")
                               for c in p["status"].get("conditions", [])))
    msg = pods_of(sim, "sel")[0]["status"]["conditions"][0]["message"]
    assert "1 node(s) were unschedulable" in msg
    assert "2 node(s) didn't match Pod's node affinity/selector" in msg
    assert msg.endswith("preemption: 0/3 nodes are available: 3 Preemption is not helpful for "
                        "scheduling.")
    node = sim.get("nodes", None, "sim-node-0002")
    node["spec"]["unschedulable"] = False
    sim.update(node)
    sim.wait_for(lambda s: pods_of(s, "sel")[0]["spec"].get("nodeName") == "sim-node-0002")


def test_parallelism_completions_and_suspend(sim: Sim) -> None:
    sim.create(job("par", parallelism=2, completions=4,
                   annotations={"sim.ktui.dev/duration": "2"}))
    sim.create(job("sus", suspend=True))
    sim.wait_for(lambda s: job_done(s, "par"), timeout=15)
    st = sim.get("jobs", "default", "par")["status"]
    assert st["succeeded"] == 4 and len(pods_of(sim, "par")) == 4
    sus = sim.get("jobs", "default", "sus")
    assert condition(sus, "Suspended")["reason"] == "JobSuspended"
    assert pods_of(sim, "sus") == [] and "startTime" not in sus["status"]


def test_image_pull_errors_loop(sim: Sim) -> None:
    sim.create(job("img", image="example.com/does-not-exist:1"))
    seen: set[str] = set()

    def reasons(s: Sim) -> bool:
        for p in pods_of(s, "img"):
            waiting = p["status"].get("containerStatuses", [{}])[0].get("state", {}).get("waiting")
            if waiting:
                seen.add(waiting["reason"])
        return {"ErrImagePull", "ImagePullBackOff"} <= seen

    sim.wait_for(reasons, timeout=15, interval=0.01)
    pod = pods_of(sim, "img")[0]
    assert pod["status"]["phase"] == "Pending"


def test_background_delete_terminates_running_pods(sim: Sim) -> None:
    sim.create(job("del", annotations={"sim.ktui.dev/duration": "600"}))
    sim.wait_for(lambda s: [p["status"]["phase"] for p in pods_of(s, "del")] == ["Running"])
    from .helpers import request

    r = request(sim, "DELETE", "/apis/batch/v1/namespaces/default/jobs/del",
                {"propagationPolicy": "Background"})
    assert r.json()["kind"] == "Status"
    assert sim.get("jobs", "default", "del") is None
    sim.wait_for(lambda s: pods_of(s, "del") == [])


def test_active_deadline_and_taints(sim: Sim) -> None:
    for name in ("sim-node-0001", "sim-node-0002", "sim-node-0003"):
        node = sim.get("nodes", None, name)
        node["spec"]["taints"] = [{"key": "nvidia.com/gpu", "value": "present",
                                   "effect": "NoSchedule"}]
        sim.update(node)
    sim.create(job("tainted", annotations={"sim.ktui.dev/duration": "5"}))
    tolerant = job("tolerant", activeDeadlineSeconds=3,
                   annotations={"sim.ktui.dev/duration": "600"})
    tolerant["spec"]["template"]["spec"]["tolerations"] = [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    sim.create(tolerant)
    sim.wait_for(lambda s: job_done(s, "tolerant", "Failed"))
    assert condition(sim.get("jobs", "default", "tolerant"), "Failed")["reason"] == \
        "DeadlineExceeded"
    msg = pods_of(sim, "tainted")[0]["status"]["conditions"][0]["message"]
    assert msg.startswith("0/3 nodes are available: 3 node(s) had untolerated taint "
                          "{nvidia.com/gpu: present}.")


def test_event_shapes_match_the_captures(sim: Sim) -> None:
    sim.create(job("ev", annotations={"sim.ktui.dev/duration": "2"}))
    sim.wait_for(lambda s: job_done(s, "ev"))
    ref = {e["reason"]: e for e in fixture("obj-events-core-v1-ref.json")["items"]}
    got = {e["reason"]: e for e in sim.objects("events", "default")}
    for reason in ("SuccessfulCreate", "Completed", "Scheduled"):
        expected = {k: v for k, v in ref[reason].items() if k != "series"}
        assert list(got[reason]) == ["kind", "apiVersion", *expected], reason
        assert list(got[reason]["involvedObject"]) == list(expected["involvedObject"])
        assert got[reason]["source"] == expected["source"]
        assert got[reason]["reportingComponent"] == expected["reportingComponent"]
    assert got["Scheduled"]["eventTime"] and "count" not in got["Scheduled"]
    assert got["SuccessfulCreate"]["eventTime"] is None and got["SuccessfulCreate"]["count"] == 1
    assert got["SuccessfulCreate"]["metadata"]["name"].startswith("ev.")


def test_pods_deleted_by_a_suspension_are_not_failures(sim: Sim) -> None:
    # Kueue's preemption and ktui's early stop suspend a running Job: its pods go, and the
    # upstream controller does not count them in `failed`
    # (more/job-kueue-style-resuspended-preempted.json).
    sim.create(job("pre", annotations={"sim.ktui.dev/duration": "600"}))
    sim.wait_for(lambda s: [p["status"]["phase"] for p in pods_of(s, "pre")] == ["Running"])
    obj = sim.get("jobs", "default", "pre")
    obj["spec"]["suspend"] = True
    sim.update(obj)
    sim.wait_for(lambda s: pods_of(s, "pre") == [] and condition(
        s.get("jobs", "default", "pre"), "Suspended") is not None)
    st = sim.get("jobs", "default", "pre")["status"]
    assert st.get("failed", 0) == 0, st
    assert condition(sim.get("jobs", "default", "pre"), "Suspended")["reason"] == "JobSuspended"
