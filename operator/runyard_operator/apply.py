"""Thin I/O shell: create or merge-patch desired objects through the Kubernetes API.

Patches, never replaces: what other controllers add (status, defaults, annotations) stays.
Objects annotated `runyard.dev/create-only` (generated secrets) are created once, never
patched. Owner references are set where Kubernetes allows them (same namespace); objects
elsewhere carry a label instead and the finalizer deletes them.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from .objects import CREATE_ONLY

logger = logging.getLogger(__name__)

# (apiVersion, kind) -> (plural, namespaced)
RESOURCES: dict[tuple[str, str], tuple[str, bool]] = {
    ("v1", "Secret"): ("secrets", True),
    ("v1", "ConfigMap"): ("configmaps", True),
    ("v1", "Service"): ("services", True),
    ("v1", "ServiceAccount"): ("serviceaccounts", True),
    ("v1", "PersistentVolumeClaim"): ("persistentvolumeclaims", True),
    ("v1", "Pod"): ("pods", True),
    ("v1", "Node"): ("nodes", False),
    ("apps/v1", "Deployment"): ("deployments", True),
    ("apps/v1", "StatefulSet"): ("statefulsets", True),
    ("networking.k8s.io/v1", "Ingress"): ("ingresses", True),
    ("policy/v1", "PodDisruptionBudget"): ("poddisruptionbudgets", True),
    ("batch/v1", "Job"): ("jobs", True),
    ("rbac.authorization.k8s.io/v1", "Role"): ("roles", True),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ("rolebindings", True),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): ("clusterrolebindings", False),
    ("runyard.dev/v1alpha1", "TrackingServer"): ("trackingservers", True),
    ("runyard.dev/v1alpha1", "LaunchQueue"): ("launchqueues", True),
    ("runyard.dev/v1alpha1", "AgentPool"): ("agentpools", True),
}
MERGE = "application/merge-patch+json"
# Spec fields the API server refuses to change after creation: left out of patches, so a
# changed size or mode does not fail every reconcile (a bigger PVC still expands).
IMMUTABLE: dict[tuple[str, str], tuple[str, ...]] = {
    ("apps/v1", "StatefulSet"): ("volumeClaimTemplates", "selector", "serviceName"),
    ("apps/v1", "Deployment"): ("selector",),
    ("v1", "PersistentVolumeClaim"): ("accessModes", "storageClassName", "volumeName"),
}


def patch_body(obj: dict[str, Any]) -> dict[str, Any]:
    """The merge patch for an existing object: the desired state minus immutable fields."""
    frozen = IMMUTABLE.get((obj["apiVersion"], obj["kind"]), ())
    if not frozen or "spec" not in obj:
        return obj
    spec = {k: v for k, v in obj["spec"].items() if k not in frozen}
    return {**obj, "spec": spec}


def path(api_version: str, kind: str, namespace: str | None, name: str | None = None) -> str:
    """REST path of a collection or one object."""
    plural, namespaced = RESOURCES[(api_version, kind)]
    prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    where = f"/namespaces/{namespace}" if namespaced and namespace else ""
    return f"{prefix}{where}/{plural}" + (f"/{name}" if name else "")


def owner_reference(owner: dict[str, Any]) -> dict[str, Any]:
    """A controller owner reference to a custom resource."""
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


class Cluster:
    """The few API calls the handlers make, on one `kubernetes.client.ApiClient`."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api

    def _call(self, method: str, url: str, body: Any = None, query: Any = None) -> Any:
        headers = {"Accept": "application/json"}
        if method == "PATCH":
            headers["Content-Type"] = MERGE
        elif body is not None:
            headers["Content-Type"] = "application/json"
        method, full_url, headers, payload, _ = self.api.param_serialize(
            method=method,
            resource_path=url,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(method, full_url, header_params=headers, body=payload)
        response.read()
        if not 200 <= response.status <= 299:
            raise ApiException(http_resp=response)
        return json.loads(response.data) if response.data else None

    def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        """One object, or None when it does not exist."""
        try:
            obj: dict[str, Any] = self._call("GET", path(api_version, kind, namespace, name))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return obj

    def list(
        self, api_version: str, kind: str, namespace: str | None, label_selector: str = ""
    ) -> list[dict[str, Any]]:
        """Objects of a kind (in a namespace, or all), optionally by label selector."""
        query = [("labelSelector", label_selector)] if label_selector else []
        result = self._call("GET", path(api_version, kind, namespace), query=query)
        items: list[dict[str, Any]] = result.get("items") or []
        return items

    def apply(self, obj: dict[str, Any], owner: dict[str, Any] | None) -> dict[str, Any]:
        """Create the object, or merge-patch it to the desired state; returns the result."""
        meta = obj["metadata"]
        namespace = meta.get("namespace")
        if owner is not None and namespace == owner["metadata"].get("namespace"):
            meta["ownerReferences"] = [owner_reference(owner)]
        existing = self.get(obj["apiVersion"], obj["kind"], namespace, meta["name"])
        if existing is None:
            logger.info("creating", extra={"kind": obj["kind"], "object": meta["name"]})
            created: dict[str, Any] = self._call(
                "POST", path(obj["apiVersion"], obj["kind"], namespace), body=obj
            )
            return created
        if (meta.get("annotations") or {}).get(CREATE_ONLY):
            return existing
        patched: dict[str, Any] = self._call(
            "PATCH",
            path(obj["apiVersion"], obj["kind"], namespace, meta["name"]),
            body=patch_body(obj),
        )
        return patched

    def patch(
        self, api_version: str, kind: str, namespace: str | None, name: str, body: dict[str, Any]
    ) -> None:
        """Merge-patch one object."""
        self._call("PATCH", path(api_version, kind, namespace, name), body=body)

    def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> None:
        """Delete one object (gone already is fine); dependents follow in the background."""
        try:
            self._call(
                "DELETE",
                path(api_version, kind, namespace, name),
                body={"propagationPolicy": "Background"},
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
