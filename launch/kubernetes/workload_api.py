"""Create, list, label and delete the agent's workloads, whatever their kind.

Jobs go through `BatchV1Api`; custom kinds a pool declares (`pool.WorkloadKind`) through
`CustomObjectsApi`. The runner names a kind (None for Jobs) and never branches on it.
Every call blocks: the runner runs them in threads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kubernetes import client

from .pool import WorkloadKind


class WorkloadApi:
    """The agent's calls on its workloads in one namespace."""

    def __init__(self, api_client: client.ApiClient, namespace: str) -> None:
        self.namespace = namespace
        self.batch = client.BatchV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)

    def describe(self, kind: WorkloadKind | None) -> str:
        """`Job` or `JobSet`: how messages name the workload."""
        return "Job" if kind is None else kind.kind

    def create(self, manifest: dict[str, Any], kind: WorkloadKind | None) -> None:
        """Create it; ApiException 409 when it exists already."""
        if kind is None:
            # The client sends plain dicts as they are (its types are only annotations).
            create: Any = self.batch.create_namespaced_job
            create(self.namespace, manifest)
        else:
            self.custom.create_namespaced_custom_object(
                kind.group, kind.version, self.namespace, kind.resource, manifest
            )

    def list_fn(self, kind: WorkloadKind | None) -> Callable[..., Any]:
        """A `list(namespace, **kwargs)` function for `watch.ResourceWatch`."""
        if kind is None:
            return self.batch.list_namespaced_job
        custom = self.custom

        def list_custom(namespace: str, **kwargs: Any) -> Any:
            return custom.list_namespaced_custom_object(
                kind.group, kind.version, namespace, kind.resource, **kwargs
            )

        return list_custom

    def list(self, kind: WorkloadKind | None, label_selector: str) -> list[dict[str, Any]]:
        """Its objects matching a label selector, as plain dicts."""
        response = self.list_fn(kind)(
            self.namespace, label_selector=label_selector, _preload_content=False
        )
        return list(json.loads(response.data).get("items") or [])

    def label(self, name: str, kind: WorkloadKind | None, labels: dict[str, str]) -> None:
        """Merge labels into its metadata."""
        body = {"metadata": {"labels": labels}}
        if kind is None:
            self.batch.patch_namespaced_job(name, self.namespace, body)
        else:
            self.custom.patch_namespaced_custom_object(
                kind.group, kind.version, self.namespace, kind.resource, name, body
            )

    def delete(self, name: str, kind: WorkloadKind | None) -> None:
        """Delete it; its pods go in the background."""
        if kind is None:
            self.batch.delete_namespaced_job(name, self.namespace, propagation_policy="Background")
        else:
            self.custom.delete_namespaced_custom_object(
                kind.group,
                kind.version,
                self.namespace,
                kind.resource,
                name,
                propagation_policy="Background",
            )
