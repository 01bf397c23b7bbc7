"""What a real kube-apiserver does to objects before it stores them, for the test stand-in.

Part of the Kubernetes stand-in for tests (see `support.kube`), which replaces a real
kube-apiserver that cannot exist on these machines. kmock's emulator stores request bodies
as they are; this module adds the apiserver's own behaviour around them:

- the built-in kinds the stand-in serves (`KINDS`) and their discovery data;
- API errors in the apiserver's `Status` shape and wording (404 NotFound, 409
  AlreadyExists/Conflict, 422 Invalid, 400 BadRequest, 410 Expired);
- defaulting (Pod spec defaults, Job selector and pod-template labels, requests from
  limits) and validation (names, labels, containers, restart policies, immutable fields);
- patches: JSON patch, JSON merge patch and strategic merge patch (lists of containers,
  env, conditions ... merged by their key; other lists replaced).
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jsonpatch
import kmock

Obj = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    """One resource the stand-in serves: `jobs` in `batch/v1` is a namespaced `Job`."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    subresources: frozenset[str] = frozenset({"status"})

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @functools.cached_property
    def resource(self) -> kmock.resource:
        # Cached: building a kmock.resource is costly, and every store lookup needs one.
        return kmock.resource(self.group, self.version, self.plural)

    @property
    def qualified(self) -> str:
        """`jobs.batch`, `pods`: how the apiserver names the resource in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind


KINDS: tuple[Kind, ...] = (
    Kind("", "v1", "pods", "Pod", subresources=frozenset({"status", "log", "binding"})),
    Kind("", "v1", "nodes", "Node", namespaced=False),
    Kind("", "v1", "namespaces", "Namespace", namespaced=False),
    Kind("", "v1", "events", "Event", subresources=frozenset()),
    Kind("", "v1", "configmaps", "ConfigMap", subresources=frozenset()),
    Kind("", "v1", "secrets", "Secret", subresources=frozenset()),
    Kind("", "v1", "services", "Service"),
    Kind("", "v1", "serviceaccounts", "ServiceAccount", subresources=frozenset()),
    Kind("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim"),
    Kind("batch", "v1", "jobs", "Job"),
    Kind("coordination.k8s.io", "v1", "leases", "Lease", subresources=frozenset()),
)
SPEC_KINDS_WITH_STATUS = frozenset({"pods", "jobs", "nodes", "services", "namespaces"})


def now_rfc3339() -> str:
    """The current time as the apiserver writes it (seconds, UTC, `Z`)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- errors ----------------------------------------------------------------------------------


def api_error(code: int, reason: str, message: str, **details: Any) -> kmock.KubernetesError:
    """An error kmock renders as the apiserver's `Status` (the client raises ApiException)."""
    return kmock.KubernetesError(status=code, reason=reason, message=message, details=details)


def not_found(kind: Kind, name: str) -> kmock.KubernetesError:
    return api_error(
        404,
        "NotFound",
        f'{kind.qualified} "{name}" not found',
        name=name,
        group=kind.group,
        kind=kind.plural,
    )


def already_exists(kind: Kind, name: str) -> kmock.KubernetesError:
    return api_error(
        409,
        "AlreadyExists",
        f'{kind.qualified} "{name}" already exists',
        name=name,
        group=kind.group,
        kind=kind.plural,
    )


def conflict(kind: Kind, name: str) -> kmock.KubernetesError:
    return api_error(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {kind.qualified} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        name=name,
        group=kind.group,
        kind=kind.plural,
    )


def bad_request(message: str) -> kmock.KubernetesError:
    return api_error(400, "BadRequest", message)


def invalid(kind: Kind, name: str, causes: list[tuple[str, str, str]]) -> kmock.KubernetesError:
    """422 with causes (field, reason, message), worded like the apiserver's validation."""
    text = ", ".join(f"{field}: {message}" for field, _, message in causes)
    if len(causes) > 1:
        text = f"[{text}]"
    return api_error(
        422,
        "Invalid",
        f'{kind.qualified_kind} "{name}" is invalid: {text}',
        name=name,
        group=kind.group,
        kind=kind.kind,
        causes=[{"field": f, "reason": r, "message": m} for f, r, m in causes],
    )


def expired(rv: int, oldest: int) -> Obj:
    """The `Status` of a watch whose resourceVersion was compacted away (HTTP 410)."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f"too old resource version: {rv} ({oldest})",
        "reason": "Expired",
        "code": 410,
    }


# --- validation ------------------------------------------------------------------------------

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_RESTART = {"Always", "OnFailure", "Never"}


def _check_labels(labels: Mapping[str, Any], field: str) -> list[tuple[str, str, str]]:
    causes = []
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        if (prefix and not _DNS_SUBDOMAIN.match(prefix)) or not (
            len(name) <= 63 and _LABEL_NAME.match(name)
        ):
            causes.append(
                (
                    field,
                    "FieldValueInvalid",
                    f'Invalid value: "{key}": name part must '
                    "consist of alphanumeric characters, '-', '_' or '.'",
                )
            )
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            causes.append(
                (
                    field,
                    "FieldValueInvalid",
                    f'Invalid value: "{value}": a valid label '
                    "must be an empty string or consist of alphanumeric characters, '-', "
                    "'_' or '.', and must start and end with an alphanumeric character",
                )
            )
    return causes


def _check_pod_spec(spec: Any, field: str, restart: set[str]) -> list[tuple[str, str, str]]:
    if not isinstance(spec, Mapping):
        return [(field, "FieldValueRequired", "Required value")]
    causes = []
    containers = spec.get("containers") or []
    if not containers:
        causes.append((f"{field}.containers", "FieldValueRequired", "Required value"))
    for i, container in enumerate(containers):
        where = f"{field}.containers[{i}]"
        if not _DNS_LABEL.match(str(container.get("name") or "")):
            causes.append((f"{where}.name", "FieldValueRequired", "Required value"))
        if not container.get("image"):
            causes.append((f"{where}.image", "FieldValueRequired", "Required value"))
    policy = spec.get("restartPolicy")
    if policy not in restart:
        values = ", ".join(f'"{v}"' for v in sorted(restart))
        what = "Required value" if policy is None else f'Unsupported value: "{policy}"'
        causes.append(
            (
                f"{field}.restartPolicy",
                "FieldValueNotSupported",
                f"{what}: supported values: {values}",
            )
        )
    return causes


def validate(kind: Kind, obj: Obj) -> None:
    """Raise 422 for what the apiserver's validation refuses (a useful subset)."""
    meta = obj.get("metadata") or {}
    name = str(meta.get("name") or "")
    causes: list[tuple[str, str, str]] = []
    name_re = _DNS_LABEL if kind.plural in ("jobs", "namespaces", "services") else _DNS_SUBDOMAIN
    if not name_re.match(name) or len(name) > (63 if name_re is _DNS_LABEL else 253):
        causes.append(
            (
                "metadata.name",
                "FieldValueInvalid",
                f'Invalid value: "{name}": a '
                "lowercase RFC 1123 name must consist of lower case alphanumeric "
                "characters, '-' or '.'",
            )
        )
    causes += _check_labels(meta.get("labels") or {}, "metadata.labels")
    spec = obj.get("spec") or {}
    if kind.plural == "pods":
        causes += _check_pod_spec(spec, "spec", _RESTART)
    elif kind.plural == "jobs":
        template = spec.get("template") or {}
        causes += _check_labels(
            (template.get("metadata") or {}).get("labels") or {}, "spec.template.metadata.labels"
        )
        causes += _check_pod_spec(
            template.get("spec"), "spec.template.spec", {"OnFailure", "Never"}
        )
        if int(spec.get("backoffLimit", 0)) < 0:
            causes.append(("spec.backoffLimit", "FieldValueInvalid", "must be >= 0"))
    if causes:
        raise invalid(kind, name, causes)


def check_update(kind: Kind, old: Obj, new: Obj) -> None:
    """Refuse changes to fields the apiserver keeps immutable (Job template, Pod spec)."""
    name = old["metadata"]["name"]
    if kind.plural == "jobs":
        for field in ("selector", "template", "completions"):
            if old["spec"].get(field) != new.get("spec", {}).get(field):
                raise invalid(
                    kind,
                    name,
                    [(f"spec.{field}", "FieldValueInvalid", "Invalid value: field is immutable")],
                )
    if kind.plural == "pods":

        def frozen(spec: Obj) -> Obj:
            spec = copy.deepcopy(spec)
            for key in ("activeDeadlineSeconds", "tolerations", "schedulingGates"):
                spec.pop(key, None)
            for container in spec.get("containers") or []:
                container.pop("image", None)
            return spec

        if frozen(old.get("spec") or {}) != frozen(new.get("spec") or {}):
            raise invalid(
                kind,
                name,
                [
                    (
                        "spec",
                        "FieldValueForbidden",
                        "Forbidden: pod updates "
                        "may not change fields other than `spec.containers[*]."
                        "image`, `spec.activeDeadlineSeconds`, "
                        "`spec.tolerations` (only additions to existing "
                        "tolerations)",
                    )
                ],
            )


# --- defaulting ------------------------------------------------------------------------------


def _default_pod_spec(spec: Obj, restart: str) -> None:
    spec.setdefault("restartPolicy", restart)
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("securityContext", {})
    spec.setdefault("priority", 0)
    for container in spec.get("containers") or []:
        image = str(container.get("image") or "")
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        pull = "Always" if tag in ("", "latest") and "@" not in image else "IfNotPresent"
        container.setdefault("imagePullPolicy", pull)
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        resources = container.setdefault("resources", {})
        limits = resources.get("limits") or {}
        if limits:
            requests = resources.setdefault("requests", {})
            for resource, amount in limits.items():
                requests.setdefault(resource, amount)


def apply_defaults(kind: Kind, obj: Obj) -> None:
    """Fill what the apiserver fills on create (before validation, as it does)."""
    meta = obj["metadata"]
    if kind.plural == "pods":
        _default_pod_spec(obj.setdefault("spec", {}), "Always")
        obj.setdefault("status", {}).setdefault("phase", "Pending")
    elif kind.plural == "jobs":
        spec = obj.setdefault("spec", {})
        for key, value in (
            ("backoffLimit", 6),
            ("completions", 1),
            ("parallelism", 1),
            ("completionMode", "NonIndexed"),
            ("suspend", False),
            ("podReplacementPolicy", "TerminatingOrFailed"),
            ("manualSelector", None),
        ):
            if key not in spec:
                spec[key] = value
        if spec.get("manualSelector") is None:
            spec.pop("manualSelector", None)
            uid = meta["uid"]
            ids = {"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid}
            spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
            template = spec.setdefault("template", {})
            labels = template.setdefault("metadata", {}).setdefault("labels", {})
            labels.update(ids)
            labels.update({"batch.kubernetes.io/job-name": meta["name"], "job-name": meta["name"]})
        template_spec = spec.setdefault("template", {}).setdefault("spec", {})
        if isinstance(template_spec, dict):
            # As in the apiserver: defaulted to Always, which Job validation then refuses.
            _default_pod_spec(template_spec, "Always")
        obj.setdefault("status", {})
    elif kind.plural == "namespaces":
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        obj.setdefault("status", {"phase": "Active"})
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]


# --- patches ---------------------------------------------------------------------------------

# Strategic merge patch: lists of objects merged by these keys (as the built-in types declare).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "containerStatuses": "name",
    "initContainerStatuses": "name",
}


def merge_patch(target: Any, patch: Any, strategic: bool = False, field: str = "") -> Any:
    """RFC 7386 merge patch; with `strategic`, lists in MERGE_KEYS merge item by item."""
    if not isinstance(patch, Mapping):
        if strategic and isinstance(patch, list) and isinstance(target, list):
            key = MERGE_KEYS.get(field)
            if key and all(isinstance(p, Mapping) and key in p for p in patch):
                merged = [copy.deepcopy(t) for t in target]
                for item in patch:
                    index = next(
                        (
                            i
                            for i, t in enumerate(merged)
                            if isinstance(t, Mapping) and t.get(key) == item[key]
                        ),
                        None,
                    )
                    if item.get("$patch") == "delete":
                        if index is not None:
                            del merged[index]
                    elif index is None:
                        merged.append(merge_patch({}, item, strategic))
                    else:
                        merged[index] = merge_patch(merged[index], item, strategic)
                return merged
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif key.startswith("$"):
            continue  # other strategic-merge directives are not simulated
        else:
            result[key] = merge_patch(result.get(key), value, strategic, key)
    return result


def apply_patch(content_type: str, target: Obj, patch: Any) -> Obj:
    """The patched object for the request's Content-Type; 415/422 as the apiserver answers."""
    content_type = content_type.split(";")[0].strip().lower()
    if content_type == "application/json-patch+json":
        if not isinstance(patch, list):
            raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
        try:
            result: Obj = jsonpatch.apply_patch(target, patch)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise api_error(
                422,
                "Invalid",
                f"the server rejected our request due to an error in our request: {exc}",
            ) from exc
        return result
    if content_type in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
        if not isinstance(patch, Mapping):
            raise bad_request("the body of the request was in an unknown format")
        return dict(merge_patch(target, patch, strategic="strategic" in content_type))
    raise api_error(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown "
        f"format - accepted media types include: application/json-patch+json, "
        f"application/merge-patch+json, application/strategic-merge-patch+json "
        f"(got {content_type!r})",
    )
