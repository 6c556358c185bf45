"""Admission for create/update: validation with kube-apiserver's messages, then the
server's defaulting (defaults.py) and the create/update preparation (metadata, generation,
what an update may change)."""

from __future__ import annotations

import base64
import binascii
import copy
import re
from typing import Any

from ktui.sim import clock, errors
from ktui.sim.defaults import (
    EXTENDED_NO_OVERCOMMIT,
    JOB_SPEC_ORDER,
    admit_pod_spec,
    default_job,
    default_pod_spec,
    default_service_spec,
    new_uid,
    ordered,
    qos_class,
    random_suffix,
)
from ktui.sim.errors import Cause
from ktui.sim.resources import (
    CONFIGMAPS,
    CUSTOM,
    EVENTS,
    JOBS,
    NAMESPACES,
    NODES,
    PODS,
    SERVICES,
    ResourceInfo,
)
from ktui.wire import quantity

# Custom resources: generation 1 on create, bumped by spec changes (status subresource on).
_CUSTOM_PLURALS = frozenset(r.plural for r in CUSTOM)
DNS1123_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")  # noqa: E501
DNS1123_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
QUALIFIED_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)

# ---------------------------------------------------------------------------- validation


class Errors:
    def __init__(self) -> None:
        self.causes: list[Cause] = []

    def required(self, field: str, detail: str = "") -> None:
        msg = "Required value" + (f": {detail}" if detail else "")
        self.causes.append(Cause("FieldValueRequired", msg, field))

    def invalid(self, field: str, value: Any, detail: str) -> None:
        shown = f'"{value}"' if isinstance(value, str) else _go_value(value)
        self.causes.append(Cause("FieldValueInvalid", f"Invalid value: {shown}: {detail}", field))

    def unsupported(self, field: str, value: Any, supported: list[str]) -> None:
        vals = ", ".join(f'"{s}"' for s in supported)
        self.causes.append(Cause("FieldValueNotSupported",
                                 f'Unsupported value: "{value}": supported values: {vals}', field))

    def duplicate(self, field: str, value: Any) -> None:
        self.causes.append(Cause("FieldValueDuplicate", f'Duplicate value: "{value}"', field))

    def forbidden(self, field: str, detail: str) -> None:
        self.causes.append(Cause("FieldValueForbidden", f"Forbidden: {detail}", field))

    def raise_if_any(self, info: ResourceInfo, name: str) -> None:
        if self.causes:
            raise errors.invalid(info, name, self.causes)


def _go_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_name(errs: Errors, field: str, name: str, label: bool) -> None:
    if label:
        if len(name) > 63:
            errs.invalid(field, name, "must be no more than 63 characters")
        if not DNS1123_LABEL_RE.match(name):
            errs.invalid(field, name, LABEL_MSG)
    else:
        if len(name) > 253:
            errs.invalid(field, name, "must be no more than 253 characters")
        if not DNS1123_SUBDOMAIN_RE.match(name):
            errs.invalid(field, name, SUBDOMAIN_MSG)


def _check_labels(errs: Errors, field: str, labels: Any) -> None:
    if labels is None:
        return
    if not isinstance(labels, dict):
        errs.invalid(field, str(labels), "must be a map")
        return
    for k, v in labels.items():
        _check_qualified_key(errs, field, k)
        if not isinstance(v, str):
            errs.invalid(f"{field}", _go_value(v), "label values must be strings")
            continue
        if len(v) > 63:
            errs.invalid(field, v, "must be no more than 63 characters")
        elif not LABEL_VALUE_RE.match(v):
            errs.invalid(field, v, LABEL_VALUE_MSG)


def _check_qualified_key(errs: Errors, field: str, key: str) -> None:
    prefix, _, name = key.rpartition("/")
    bad = (not name or len(name) > 63 or not QUALIFIED_NAME_RE.match(name)
           or (prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN_RE.match(prefix))))
    if bad:
        errs.invalid(field, key, "name part must consist of alphanumeric characters, '-', '_' "
                     "or '.', and must start and end with an alphanumeric character (e.g. "
                     "'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
                     "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")


def _parse_quantities(resources: dict[str, Any], where: str, info: ResourceInfo) -> None:
    for section in ("limits", "requests"):
        for _rname, value in (resources.get(section) or {}).items():
            try:
                quantity.parse(value)
            except quantity.QuantityError as exc:
                raise errors.bad_request(
                    f'{info.kind} in version "{info.version}" cannot be handled as a '
                    f"{info.kind}: quantities must match the regular expression "
                    f"'{quantity.QUANTITY_RE_TEXT}'"
                ) from exc
            _ = where


def _resource_value(rname: str, value: Any) -> int:
    return quantity.milli(value) if rname == "cpu" else quantity.whole(value) * 1000


def validate_containers(errs: Errors, path: str, spec: dict[str, Any], info: ResourceInfo) -> None:
    containers = spec.get("containers")
    if not containers:
        errs.required(f"{path}.containers")
        return
    seen: set[str] = set()
    for i, c in enumerate(containers):
        cpath = f"{path}.containers[{i}]"
        name = c.get("name")
        if not name:
            errs.required(f"{cpath}.name")
        else:
            if name in seen:
                errs.duplicate(f"{cpath}.name", name)
            seen.add(name)
            if len(name) > 63 or not DNS1123_LABEL_RE.match(name):
                errs.invalid(f"{cpath}.name", name, LABEL_MSG)
        if not c.get("image"):
            errs.required(f"{cpath}.image")
        res = c.get("resources") or {}
        _parse_quantities(res, cpath, info)
        limits = res.get("limits") or {}
        requests = res.get("requests") or {}
        for rname, value in requests.items():
            if quantity.parse(value) < 0:
                errs.invalid(f"{cpath}.resources.requests[{rname}]", str(value),
                             "must be greater than or equal to 0")
            if rname in EXTENDED_NO_OVERCOMMIT:
                if rname not in limits:
                    errs.required(f"{cpath}.resources.limits",
                                  "Limit must be set for non overcommitable resources")
                elif quantity.parse(limits[rname]) != quantity.parse(value):
                    errs.invalid(f"{cpath}.resources.requests", str(value),
                                 f"must be equal to {rname} limit of {limits[rname]}")
                continue
            if rname in limits and _resource_value(rname, value) > _resource_value(rname, limits[rname]):  # noqa: E501
                errs.invalid(f"{cpath}.resources.requests", str(value),
                             f"must be less than or equal to {rname} limit of {limits[rname]}")


def _validate_pod_spec(errs: Errors, path: str, spec: dict[str, Any], info: ResourceInfo) -> None:
    validate_containers(errs, path, spec, info)
    rp = spec.get("restartPolicy")
    if rp not in ("Always", "OnFailure", "Never"):
        errs.unsupported(f"{path}.restartPolicy", rp, ["Always", "OnFailure", "Never"])
    tgp = spec.get("terminationGracePeriodSeconds")
    if isinstance(tgp, int) and tgp < 0:
        errs.invalid(f"{path}.terminationGracePeriodSeconds", tgp,
                     "must be greater than or equal to 0")


def _check_non_negative(errs: Errors, spec: dict[str, Any], key: str) -> None:
    value = spec.get(key)
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        errs.invalid(f"spec.{key}", value, "must be greater than or equal to 0")


def validate_job(errs: Errors, job: dict[str, Any]) -> None:
    spec = job.get("spec") or {}
    for key in ("parallelism", "completions", "backoffLimit"):
        _check_non_negative(errs, spec, key)
    ads = spec.get("activeDeadlineSeconds")
    if ads is not None and (not isinstance(ads, int) or ads <= 0):
        errs.invalid("spec.activeDeadlineSeconds", ads, "must be greater than 0")
    template = spec.get("template") or {}
    tspec = template.get("spec") or {}
    _check_labels(errs, "spec.template.labels", (template.get("metadata") or {}).get("labels"))
    validate_containers(errs, "spec.template.spec", tspec, JOBS)
    rp = tspec.get("restartPolicy")
    if rp not in ("OnFailure", "Never"):
        errs.unsupported("spec.template.spec.restartPolicy", rp, ["OnFailure", "Never"])
    mode = spec.get("completionMode")
    if mode not in ("NonIndexed", "Indexed"):
        errs.unsupported("spec.completionMode", mode, ["NonIndexed", "Indexed"])
    if mode == "Indexed" and spec.get("completions") is None:
        errs.required("spec.completions", "when completion mode is Indexed")


# kube-apiserver's MaxSecretSize, for a ConfigMap's data and binaryData together (raw bytes).
CONFIGMAP_MAX_BYTES = 1024 * 1024
IMMUTABLE_SET = "field is immutable when `immutable` is set"


def _configmap_size(cm: dict[str, Any]) -> int:
    total = sum(len(str(v).encode()) for v in (cm.get("data") or {}).values())
    for v in (cm.get("binaryData") or {}).values():
        try:
            total += len(base64.b64decode(str(v), validate=True))
        except (binascii.Error, ValueError) as exc:
            raise errors.bad_request(
                f'ConfigMap in version "v1" cannot be handled as a ConfigMap: illegal base64 data: {exc}') from exc
    return total


def validate_configmap(errs: Errors, cm: dict[str, Any]) -> None:
    data, binary = cm.get("data") or {}, cm.get("binaryData") or {}
    for key in binary:
        if key in data:
            errs.invalid(f"binaryData[{key}]", key, "duplicate of key present in data")
    if _configmap_size(cm) > CONFIGMAP_MAX_BYTES:
        errs.causes.append(Cause("FieldValueTooLong", f"Too long: may not be more than {CONFIGMAP_MAX_BYTES} bytes", "[]"))


def validate_configmap_update(errs: Errors, old: dict[str, Any], new: dict[str, Any]) -> None:
    """An immutable ConfigMap refuses any change of its content, and of `immutable` itself."""
    if old.get("immutable") is True:
        if new.get("immutable") is not True:
            errs.forbidden("immutable", IMMUTABLE_SET)
        if (old.get("data") or {}) != (new.get("data") or {}):
            errs.forbidden("data", IMMUTABLE_SET)
        if (old.get("binaryData") or {}) != (new.get("binaryData") or {}):
            errs.forbidden("binaryData", IMMUTABLE_SET)
    validate_configmap(errs, new)


def validate_pod(errs: Errors, pod: dict[str, Any]) -> None:
    _validate_pod_spec(errs, "spec", pod.get("spec") or {}, PODS)


# ---------------------------------------------------------------------------- create / update


def _meta_for_create(info: ResourceInfo, body: dict[str, Any], namespace: str | None,
                     now: float) -> dict[str, Any]:
    meta = dict(body.get("metadata") or {})
    if info.namespaced:
        ns = meta.get("namespace")
        if ns and namespace and ns != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request")
        meta["namespace"] = namespace or ns
    else:
        meta.pop("namespace", None)
    errs = Errors()
    label_name = info in (NAMESPACES,)
    if not meta.get("name"):
        gen = meta.get("generateName")
        if gen:
            # generateName truncates the prefix so the whole name stays a valid name.
            meta["name"] = gen[: 63 - 5 if label_name else 253 - 5] + random_suffix(5)
        else:
            errs.required("metadata.name", "name or generateName is required")
            errs.raise_if_any(info, "")
    name = meta["name"]
    if isinstance(name, str):
        _check_name(errs, "metadata.name", name, label_name)
    _check_labels(errs, "metadata.labels", meta.get("labels"))
    errs.raise_if_any(info, str(name))
    for k in ("resourceVersion", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds"):
        meta.pop(k, None)
    meta["uid"] = new_uid()
    meta["creationTimestamp"] = clock.rfc3339(now)
    if info is JOBS or info.plural in _CUSTOM_PLURALS:
        meta["generation"] = 1
    else:
        meta.pop("generation", None)
    return meta


def prepare_create(info: ResourceInfo, body: dict[str, Any], namespace: str | None,
                   now: float) -> dict[str, Any]:
    """Validate and default a POSTed object; returns the object to store (no kind/apiVersion)."""
    if not isinstance(body, dict):
        raise errors.bad_request("the object provided is unrecognized (must be of type "
                                 f"{info.kind})")
    kind = body.get("kind")
    if kind and kind != info.kind:
        raise errors.bad_request(
            f"the API version in the data ({body.get('apiVersion', '')}) does not match the "
            f"expected API version ({info.api_version})" if body.get("apiVersion") not in
            (None, info.api_version) else
            f"the kind in the data ({kind}) does not match the expected kind ({info.kind})")
    obj = copy.deepcopy(body)
    obj["metadata"] = _meta_for_create(info, obj, namespace, now)
    name = obj["metadata"]["name"]
    errs = Errors()
    if info is JOBS:
        obj.pop("status", None)
        obj = default_job(obj)
        if len(name) > 63:
            errs.invalid("spec.template.labels", name, "must be no more than 63 characters")
        validate_job(errs, obj)
        errs.raise_if_any(info, name)
    elif info is PODS:
        spec = default_pod_spec(obj.get("spec") or {})
        obj["spec"] = spec
        validate_pod(errs, obj)
        errs.raise_if_any(info, name)
        obj["spec"] = admit_pod_spec(spec)
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj["spec"])}
    elif info is NAMESPACES:
        labels = dict(obj["metadata"].get("labels") or {})
        labels["kubernetes.io/metadata.name"] = name
        obj["metadata"]["labels"] = labels
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = {"phase": "Active"}
    elif info is NODES:
        obj.setdefault("spec", {})
        obj.setdefault("status", {})
    elif info is SERVICES:
        obj.pop("status", None)
        obj["spec"] = default_service_spec(obj.get("spec") or {}, name)
        obj["status"] = {"loadBalancer": {}}
    elif info.plural in _CUSTOM_PLURALS:
        # Unstructured: stored with sorted keys and without status (status subresource on).
        obj.pop("status", None)
        for k in [k for k in obj if k != "metadata"]:
            obj[k] = _deep_sorted(obj.pop(k))
    elif info is CONFIGMAPS:
        validate_configmap(errs, obj)
        errs.raise_if_any(info, name)
    elif info is EVENTS:
        if not (obj.get("involvedObject") or {}).get("name") and not obj.get("regarding"):
            errs.required("involvedObject.name")
        errs.raise_if_any(info, name)
    return obj


_JOB_MUTABLE_SPEC = ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit",
                     "suspend", "ttlSecondsAfterFinished", "maxFailedIndexes")


def _deep_sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_deep_sorted(v) for v in value]
    return value


def strip_nulls(value: Any) -> Any:
    """Drop null members: a Go struct decodes `"x": null` and a missing x alike."""
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value]
    return value


def default_update(info: ResourceInfo, new: dict[str, Any]) -> None:
    """Defaults re-applied to an updated object (clients often drop defaulted fields)."""
    if info is JOBS:
        spec = new.get("spec") or {}
        template = spec.get("template")
        if isinstance(template, dict):
            template["spec"] = default_pod_spec(template.get("spec") or {})
            tmeta = template.setdefault("metadata", {})
            tmeta.setdefault("creationTimestamp", None)
        for k, v in (("backoffLimit", 6), ("completionMode", "NonIndexed"), ("suspend", False),
                     ("podReplacementPolicy", "TerminatingOrFailed"), ("manualSelector", False)):
            if spec.get(k) is None:
                spec[k] = v
        new["spec"] = ordered(spec, JOB_SPEC_ORDER)


def validate_update(info: ResourceInfo, old: dict[str, Any], new: dict[str, Any]) -> None:
    """Immutability checks of an update, plus re-validation of the new object."""
    name = old["metadata"]["name"]
    errs = Errors()
    new_meta = new.get("metadata") or {}
    if new_meta.get("name") != name:
        errs.invalid("metadata.name", new_meta.get("name"), "field is immutable")
    _check_labels(errs, "metadata.labels", new_meta.get("labels"))
    if info is JOBS:
        ospec, nspec = old.get("spec") or {}, new.get("spec") or {}
        if strip_nulls(nspec.get("selector")) != strip_nulls(ospec.get("selector")):
            errs.invalid("spec.selector", "", "field is immutable")
        if strip_nulls(nspec.get("template")) != strip_nulls(ospec.get("template")):
            errs.invalid("spec.template", "", "field is immutable")
        if nspec.get("completionMode") != ospec.get("completionMode"):
            errs.invalid("spec.completionMode", nspec.get("completionMode"), "field is immutable")
        if (nspec.get("completions") != ospec.get("completions")
                and nspec.get("completionMode") != "Indexed"):
            errs.invalid("spec.completions", nspec.get("completions"), "field is immutable")
        for key in ("parallelism", "backoffLimit"):
            _check_non_negative(errs, nspec, key)
    elif info is CONFIGMAPS:
        validate_configmap_update(errs, old, new)
    elif info is PODS:
        ospec, nspec = old.get("spec") or {}, new.get("spec") or {}
        if {k: v for k, v in nspec.items() if k not in ("activeDeadlineSeconds", "tolerations")} != {k: v for k, v in ospec.items() if k not in ("activeDeadlineSeconds", "tolerations")}:  # noqa: E501
            errs.forbidden("spec", "pod updates may not change fields other than "
                           "`spec.containers[*].image`,`spec.initContainers[*].image`,"
                           "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions "
                           "to existing tolerations),`spec.terminationGracePeriodSeconds` "
                           "(allow it to be set to 1 if it was previously negative)")
    errs.raise_if_any(info, name)


def new_generation(info: ResourceInfo, old: dict[str, Any], new: dict[str, Any]) -> None:
    """Bump metadata.generation when the spec changes (or deletion starts), like the server."""
    if info is not JOBS and info.plural not in _CUSTOM_PLURALS:
        return
    gen = old["metadata"].get("generation", 1)
    changed = old.get("spec") != new.get("spec") or (
        bool(new["metadata"].get("deletionTimestamp"))
        and not old["metadata"].get("deletionTimestamp"))
    new["metadata"]["generation"] = gen + 1 if changed else gen
