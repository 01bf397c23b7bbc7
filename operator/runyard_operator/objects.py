"""Helpers the reconcilers share: labels, metadata, pod security, and spec validation."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel

from .api import GROUP

M = TypeVar("M", bound=BaseModel)
PART_OF = "runyard"
# Objects with this annotation are created once and never patched (generated secrets).
CREATE_ONLY = f"{GROUP}/create-only"
# Volumes the retention policy governs (kept on `detach`, deleted on `purge`).
RETAINED = f"{GROUP}/retained"


class SpecError(ValueError):
    """A custom resource's spec is unusable; the message names the field and the fix."""


def labels(component: str, instance: str) -> dict[str, str]:
    """Recommended labels of everything the operator makes for one custom resource."""
    return {
        "app.kubernetes.io/name": f"runyard-{component}",
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "runyard-operator",
    }


def selector(component: str, instance: str) -> dict[str, str]:
    """The stable subset of `labels` that pods are selected by."""
    return {
        "app.kubernetes.io/name": f"runyard-{component}",
        "app.kubernetes.io/instance": instance,
    }


def metadata(
    name: str, namespace: str | None, component: str, instance: str, **annotations: str
) -> dict[str, Any]:
    """Object metadata with the recommended labels."""
    meta: dict[str, Any] = {"name": name, "labels": labels(component, instance)}
    if namespace is not None:
        meta["namespace"] = namespace
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def pod_security(user: int) -> dict[str, Any]:
    """Pod security context: non-root, a fixed user, RuntimeDefault seccomp."""
    return {
        "runAsNonRoot": True,
        "runAsUser": user,
        "runAsGroup": user,
        "fsGroup": user,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security() -> dict[str, Any]:
    """Container security context: read-only root, no privilege escalation, no capabilities."""
    return {
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }


def resources(model: Any) -> dict[str, Any]:
    """A `Resources` model as the Kubernetes shape (empty parts left out)."""
    out: dict[str, Any] = {}
    if model.requests:
        out["requests"] = dict(model.requests)
    if model.limits:
        out["limits"] = dict(model.limits)
    return out


def _field(loc: tuple[Any, ...]) -> str:
    """`("node_pool", "gpu_resource")` -> `spec.nodePool.gpuResource` (camelCase, as in YAML)."""
    path = "spec"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{to_camel(str(part))}"
    return path


def parse_spec(model: type[M], spec: dict[str, Any]) -> M:
    """Validate a CR spec; on failure raise SpecError naming each field (camelCase)."""
    try:
        return model.model_validate(spec)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            message = err["msg"].removeprefix("Value error, ")
            if not err["loc"] and message.startswith("spec."):
                problems.append(message)  # a whole-spec check names its fields itself
            else:
                problems.append(f"{_field(tuple(err['loc']))}: {message}")
        raise SpecError("; ".join(problems)) from None
