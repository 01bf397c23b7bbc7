"""CustomResourceDefinitions generated from the pydantic models (never edited by hand).

Pydantic emits JSON Schema 2020-12 with `$ref`s and `anyOf`; Kubernetes wants a
*structural* OpenAPI v3 schema: every node typed, no references, free-form maps marked
`x-kubernetes-preserve-unknown-fields`. `structural` does that conversion.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from .agent_pool import AgentPoolSpec, AgentPoolStatus
from .api import GROUP, VERSION
from .launch_queue import LaunchQueueSpec, LaunchQueueStatus
from .tracking_server import TrackingServerSpec, TrackingServerStatus

# Keywords that carry over from JSON Schema to the Kubernetes OpenAPI subset unchanged.
_KEPT = (
    "description",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "pattern",
    "enum",
    "format",
)
_FORMATS = {"date-time", "int32", "int64", "float", "double", "byte"}


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Inline a `$ref`, keeping the referring node's own keywords (its description)."""
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _resolve(merged, defs)
    return node


def structural(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """One pydantic JSON-schema node as a structural OpenAPI v3 schema node."""
    node = _resolve(node, defs)
    options = node.get("anyOf")
    if options is not None:
        typed = [o for o in options if _resolve(o, defs).get("type") != "null"]
        extra = {k: v for k, v in node.items() if k not in ("anyOf", "default")}
        if len(typed) == 1:
            return structural({**_resolve(typed[0], defs), **extra}, defs)
        # A union of scalar types (str | int | float) cannot be typed structurally.
        return _free_form(node)
    kind = node.get("type")
    out: dict[str, Any] = {k: node[k] for k in _KEPT if k in node}
    if out.get("format") not in _FORMATS:
        out.pop("format", None)
    if "const" in node:
        out["enum"] = [node["const"]]
    if "exclusiveMinimum" in node:
        out["minimum"], out["exclusiveMinimum"] = node["exclusiveMinimum"], True
    if "exclusiveMaximum" in node:
        out["maximum"], out["exclusiveMaximum"] = node["exclusiveMaximum"], True
    if kind is None:
        return _free_form(node)
    out["type"] = kind
    if kind == "object":
        if "properties" in node:
            out["properties"] = {
                name: structural(sub, defs) for name, sub in node["properties"].items()
            }
            if node.get("required"):
                out["required"] = list(node["required"])
        else:
            values = node.get("additionalProperties")
            if isinstance(values, dict) and _resolve(values, defs).get("type") in (
                "string",
                "integer",
                "number",
                "boolean",
            ):
                out["additionalProperties"] = structural(values, defs)
            else:
                out["x-kubernetes-preserve-unknown-fields"] = True
    elif kind == "array":
        out["items"] = structural(node.get("items", {}), defs)
    return out


def _free_form(node: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"x-kubernetes-preserve-unknown-fields": True}
    if "description" in node:
        out["description"] = node["description"]
    return out


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return structural(raw, raw.get("$defs", {}))


def _column(name: str, kind: str, path: str, description: str, priority: int = 0) -> dict[str, Any]:
    column: dict[str, Any] = {
        "name": name,
        "type": kind,
        "jsonPath": path,
        "description": description,
    }
    if priority:
        column["priority"] = priority
    return column


_READY = _column(
    "Ready", "string", '.status.conditions[?(@.type=="Ready")].status', "Ready condition."
)
_AGE = _column("Age", "date", ".metadata.creationTimestamp", "Age.")

# kind -> (plural, short names, spec, status, printer columns, scale subresource)
KINDS: dict[str, tuple[str, list[str], type[BaseModel], type[BaseModel], list[dict[str, Any]]]] = {
    "TrackingServer": (
        "trackingservers",
        ["rts", "trackingserver"],
        TrackingServerSpec,
        TrackingServerStatus,
        [
            _READY,
            _column("URL", "string", ".status.url", "Where the server is reached."),
            _column("Version", "string", ".status.version", "Running server version."),
            _column("Phase", "string", ".status.phase", "Phase.", priority=1),
            _AGE,
        ],
    ),
    "LaunchQueue": (
        "launchqueues",
        ["rlq", "launchqueue"],
        LaunchQueueSpec,
        LaunchQueueStatus,
        [
            _READY,
            _column("Server", "string", ".spec.serverRef.name", "TrackingServer."),
            _column("Pending", "integer", ".status.pending", "Items waiting."),
            _column("Running", "integer", ".status.running", "Items running."),
            _column(
                "Oldest", "number", ".status.oldestPendingSeconds", "Oldest wait (s).", priority=1
            ),
            _AGE,
        ],
    ),
    "AgentPool": (
        "agentpools",
        ["rap", "agentpool"],
        AgentPoolSpec,
        AgentPoolStatus,
        [
            _READY,
            _column("Replicas", "integer", ".status.replicas", "Agents."),
            _column("Desired", "integer", ".status.desiredReplicas", "Agents wanted."),
            _column("Running", "integer", ".status.running", "Items running."),
            _column("Pending", "integer", ".status.pending", "Items waiting."),
            _column("GPUs Free", "integer", ".status.gpusFree", "GPUs free in the pool."),
            _column("GPUs", "integer", ".status.gpusTotal", "GPUs in the pool.", priority=1),
            _AGE,
        ],
    ),
}


def crd(kind: str) -> dict[str, Any]:
    """The CustomResourceDefinition of one kind."""
    plural, short_names, spec, status, columns = KINDS[kind]
    subresources: dict[str, Any] = {"status": {}}
    if kind == "AgentPool":
        subresources["scale"] = {
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        }
    schema = {
        "type": "object",
        "description": f"{kind} ({GROUP}/{VERSION}): {spec.__doc__ or ''}".strip(),
        "properties": {
            "apiVersion": {"type": "string", "description": "API version of the object."},
            "kind": {"type": "string", "description": "Kind of the object."},
            "metadata": {"type": "object"},
            "spec": _schema(spec),
            "status": _schema(status),
        },
        "required": ["spec"],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "runyard"},
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short_names,
                "categories": ["runyard"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                    "subresources": subresources,
                    "additionalPrinterColumns": columns,
                }
            ],
        },
    }


def all_crds() -> dict[str, dict[str, Any]]:
    """File name -> CRD document, for `make crds` and the staleness test."""
    return {f"{GROUP}_{KINDS[kind][0]}.yaml": crd(kind) for kind in KINDS}
