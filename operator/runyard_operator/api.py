"""Shapes shared by the three custom resources: conditions, references, scheduling.

Every CR model derives from `CRModel`: camelCase in YAML (Kubernetes style), snake_case in
Python, unknown fields refused so a typo names the field instead of being ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

GROUP = "runyard.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|Pi|M|G|T|P)?$"


class CRModel(BaseModel):
    """Base of every custom-resource shape: camelCase aliases, unknown fields refused."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=False
    )


class Condition(CRModel):
    """One observation of the object's state (the `metav1.Condition` shape)."""

    type: Literal["Ready", "Progressing", "Degraded"] = Field(
        description="Which aspect: Ready, Progressing or Degraded."
    )
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(description="One CamelCase word a program can match on, e.g. InvalidSpec.")
    message: str = Field(
        default="", description="What a human should know, naming the field to fix."
    )
    last_transition_time: str = Field(description="When the status last changed (RFC 3339).")
    observed_generation: int = Field(
        default=0, ge=0, description="The .metadata.generation this condition was computed from."
    )


class SecretKeyRef(CRModel):
    """A key of a Secret in the custom resource's namespace."""

    name: str = Field(pattern=DNS_SUBDOMAIN, max_length=253, description="Secret name.")
    key: str = Field(
        pattern=r"^[-._A-Za-z0-9]+$", max_length=253, description="Key inside the Secret."
    )


class ServerRef(CRModel):
    """Which tracking server a queue or pool belongs to: a TrackingServer here, or a URL."""

    name: str | None = Field(
        default=None,
        pattern=DNS_LABEL,
        max_length=63,
        description="Name of a TrackingServer in the same namespace (its admin key is used).",
    )
    url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/\s]+",
        description="URL of a server not run by this operator; needs apiKeySecret.",
    )
    api_key_secret: SecretKeyRef | None = Field(
        default=None, description="url: Secret key holding an API key of that server."
    )
    entity: str = Field(
        default="admin",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$",
        description="Entity (user or team) owning the queues on that server.",
    )

    @model_validator(mode="after")
    def _one_server(self) -> ServerRef:
        if (self.name is None) == (self.url is None):
            raise ValueError("set exactly one of name (a TrackingServer) or url")
        if self.url is not None and self.api_key_secret is None:
            raise ValueError("apiKeySecret is required with url")
        return self


class Resources(CRModel):
    """CPU and memory of a container (Kubernetes quantities such as 500m or 1Gi)."""

    requests: dict[str, str] = Field(
        default_factory=dict, description="Guaranteed amounts, e.g. {cpu: 250m, memory: 512Mi}."
    )
    limits: dict[str, str] = Field(
        default_factory=dict, description="Upper bounds, e.g. {memory: 1Gi}."
    )


class Scheduling(CRModel):
    """Where the operator's own pods (server, Redis, agents) run: CPU nodes, not the GPU pool."""

    node_selector: dict[str, str] = Field(
        default_factory=dict, description="Node labels the pods must match."
    )
    tolerations: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Tolerations of the pods (Kubernetes toleration shape).",
    )
    affinity: dict[str, Any] = Field(
        default_factory=dict, description="Affinity of the pods (Kubernetes affinity shape)."
    )


class Storage(CRModel):
    """A persistent volume claim the operator creates."""

    size: str = Field(default="10Gi", pattern=QUANTITY, description="Requested size, e.g. 20Gi.")
    storage_class_name: str | None = Field(
        default=None, description="StorageClass of the claim; unset: the cluster's default."
    )
    access_mode: Literal["ReadWriteOnce", "ReadWriteMany"] | None = Field(
        default=None,
        description="Access mode; unset: ReadWriteOnce, or ReadWriteMany for a server with "
        "database.type postgresql (its replicas share the files). Fixed after creation.",
    )


Phase = Literal["Pending", "Progressing", "Ready", "Degraded"]
