"""What the API server fills in and how it orders fields: defaulting for Jobs and Pods as
the captures show a v1.32 server do it (job selector and template labels, pod spec
defaults, the service-account volume, tolerations, QoS class), the Go structs' key order so
objects print like a real server's, and generated names and uids.

Apart from validate.py (which checks what a client sent and words the 422s): this is what
the server adds, used by admission and by the controllers that make pods.
"""

from __future__ import annotations

import random
import string
import uuid
from typing import Any

from ktui.wire import quantity

CONTAINER_ORDER = (
    "name", "image", "command", "args", "workingDir", "ports", "envFrom", "env", "resources",
    "resizePolicy", "restartPolicy", "volumeMounts", "volumeDevices", "livenessProbe",
    "readinessProbe", "startupProbe", "lifecycle", "terminationMessagePath",
    "terminationMessagePolicy", "imagePullPolicy", "securityContext", "stdin", "stdinOnce", "tty",
)
POD_SPEC_ORDER = (
    "volumes", "initContainers", "containers", "ephemeralContainers", "restartPolicy",
    "terminationGracePeriodSeconds", "activeDeadlineSeconds", "dnsPolicy", "nodeSelector",
    "serviceAccountName", "serviceAccount", "automountServiceAccountToken", "nodeName",
    "hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace", "securityContext",
    "imagePullSecrets", "hostname", "subdomain", "affinity", "schedulerName", "tolerations",
    "hostAliases", "priorityClassName", "priority", "dnsConfig", "readinessGates",
    "runtimeClassName", "enableServiceLinks", "preemptionPolicy", "overhead",
    "topologySpreadConstraints", "setHostnameAsFQDN", "os", "hostUsers", "schedulingGates",
    "resourceClaims", "resources",
)
JOB_SPEC_ORDER = (
    "parallelism", "completions", "activeDeadlineSeconds", "podFailurePolicy", "successPolicy",
    "backoffLimit", "backoffLimitPerIndex", "maxFailedIndexes", "selector", "manualSelector",
    "template", "ttlSecondsAfterFinished", "completionMode", "suspend", "podReplacementPolicy",
    "managedBy",
)
JOB_STATUS_ORDER = (
    "conditions", "startTime", "completionTime", "active", "succeeded", "failed", "terminating",
    "completedIndexes", "failedIndexes", "uncountedTerminatedPods", "ready",
)
POD_STATUS_ORDER = (
    "phase", "conditions", "message", "reason", "nominatedNodeName", "hostIP", "hostIPs",
    "podIP", "podIPs", "startTime", "initContainerStatuses", "containerStatuses", "qosClass",
    "ephemeralContainerStatuses", "resize", "resourceClaimStatuses",
)
EXTENDED_NO_OVERCOMMIT = ("nvidia.com/gpu",)
_ALNUM = string.ascii_lowercase + string.digits
# The job controller and generateName use this alphabet (no vowels, no confusables).
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def ordered(d: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    out = {k: d[k] for k in order if k in d}
    for k, v in d.items():
        if k not in out:
            out[k] = v
    return out


# Names need uniqueness, not secrecy; a plain PRNG is several times faster than `secrets`.
_rng = random.Random()


def random_suffix(n: int = 5) -> str:
    return "".join(_rng.choices(_SUFFIX_ALPHABET, k=n))


def new_uid() -> str:
    return str(uuid.uuid4())


# ---------------------------------------------------------------------------- defaulting


def _image_pull_policy(image: str) -> str:
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    if "@" in image:
        return "IfNotPresent"
    if ":" not in last or last.endswith(":latest"):
        return "Always"
    return "IfNotPresent"


def default_container(c: dict[str, Any]) -> dict[str, Any]:
    c = dict(c)
    res = c.get("resources")
    if res is not None:
        res = dict(res)
        limits = res.get("limits")
        if limits:
            requests = dict(res.get("requests") or {})
            for k, v in limits.items():
                requests.setdefault(k, v)
            res["requests"] = requests
        c["resources"] = ordered(res, ("limits", "requests", "claims"))
    else:
        c["resources"] = {}
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("imagePullPolicy", _image_pull_policy(str(c.get("image") or "")))
    return ordered(c, CONTAINER_ORDER)


def default_pod_spec(spec: dict[str, Any]) -> dict[str, Any]:
    spec = dict(spec)
    spec["containers"] = [default_container(c) for c in spec.get("containers") or ()]
    if spec.get("initContainers"):
        spec["initContainers"] = [default_container(c) for c in spec["initContainers"]]
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    return ordered(spec, POD_SPEC_ORDER)


def default_job(job: dict[str, Any]) -> dict[str, Any]:
    """Defaults and generated selector/labels of a new Job (needs metadata.uid set)."""
    meta = job["metadata"]
    spec = dict(job.get("spec") or {})
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    spec.setdefault("parallelism", 1)
    # With per-index limits the global one is effectively off (MaxInt32), as v1.32 defaults it.
    spec.setdefault("backoffLimit", 2147483647 if spec.get("backoffLimitPerIndex") is not None
                    else 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy",
                    "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed")
    template = dict(spec.get("template") or {})
    tmeta = dict(template.get("metadata") or {})
    uid, name = meta["uid"], meta["name"]
    if not spec.get("manualSelector"):
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        spec["manualSelector"] = False
        labels = {
            "batch.kubernetes.io/controller-uid": uid,
            "batch.kubernetes.io/job-name": name,
            "controller-uid": uid,
            "job-name": name,
        }
        labels.update(tmeta.get("labels") or {})
        tmeta["labels"] = labels
    tmeta.setdefault("creationTimestamp", None)
    tmeta = ordered(tmeta, ("name", "namespace", "creationTimestamp", "labels", "annotations"))
    template["metadata"] = tmeta
    template["spec"] = default_pod_spec(template.get("spec") or {})
    template = ordered(template, ("metadata", "spec"))
    spec["template"] = template
    if not meta.get("labels"):
        meta["labels"] = dict(tmeta.get("labels") or {})
    job["spec"] = ordered(spec, JOB_SPEC_ORDER)
    job["status"] = job.get("status") or {}
    return job


def qos_class(spec: dict[str, Any]) -> str:
    containers = list(spec.get("containers") or ()) + list(spec.get("initContainers") or ())
    any_set = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        limits, requests = res.get("limits") or {}, res.get("requests") or {}
        if limits or requests:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in limits or r not in requests or quantity.parse(limits[r]) != quantity.parse(requests[r]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def admit_pod_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """What admission plugins add to a Pod (service account, its token volume, tolerations)."""
    spec = dict(spec)
    vol_name = f"kube-api-access-{random_suffix(5)}"
    sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = sa
    spec["serviceAccount"] = sa
    if spec.get("automountServiceAccountToken") is not False:
        spec["volumes"] = list(spec.get("volumes") or ()) + [{
            "name": vol_name,
            "projected": {
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt",
                                   "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                        "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
                ],
                "defaultMode": 420,
            },
        }]
        mount = {"name": vol_name, "readOnly": True,
                 "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
        containers = []
        for c in spec.get("containers") or ():
            c = dict(c)
            c["volumeMounts"] = list(c.get("volumeMounts") or ()) + [mount]
            containers.append(c)
        spec["containers"] = containers
    containers = []
    for c in spec.get("containers") or ():
        c = dict(c)
        c.setdefault("resizePolicy", [
            {"resourceName": "cpu", "restartPolicy": "NotRequired"},
            {"resourceName": "memory", "restartPolicy": "NotRequired"},
        ])
        containers.append(ordered(c, CONTAINER_ORDER))
    spec["containers"] = containers
    tolerations = list(spec.get("tolerations") or ())
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if not any(t.get("key") == key for t in tolerations):
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": 300})
    spec["tolerations"] = tolerations
    spec.setdefault("priority", 0)
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    return ordered(spec, POD_SPEC_ORDER)


def default_service_spec(spec: dict[str, Any], name: str) -> dict[str, Any]:
    """ClusterIP defaulting as in service-fake-dcgm-created.json; the address is derived from
    the name (stable across runs) in 10.96.0.0/16, as a real allocator's would be random."""
    ports = []
    for p in spec.get("ports") or ():
        port = dict(p)
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
        ports.append(ordered(port, ("name", "protocol", "port", "targetPort", "nodePort")))
    out = dict(spec)
    out["ports"] = ports
    if "clusterIP" not in out:
        h = uuid.uuid5(uuid.NAMESPACE_DNS, name).int
        out["clusterIP"] = f"10.96.{(h >> 8) % 256}.{h % 254 + 1}"
    out["clusterIPs"] = [out["clusterIP"]]
    out.setdefault("type", "ClusterIP")
    out.setdefault("sessionAffinity", "None")
    out.setdefault("ipFamilies", ["IPv4"])
    out.setdefault("ipFamilyPolicy", "SingleStack")
    out.setdefault("internalTrafficPolicy", "Cluster")
    return ordered(out, ("ports", "selector", "clusterIP", "clusterIPs", "type",
                         "sessionAffinity", "ipFamilies", "ipFamilyPolicy",
                         "internalTrafficPolicy"))
