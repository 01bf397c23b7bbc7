"""A GPU node pool as the agent sees it: where its Jobs go and how they are placed."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

TOLERATION_KEYS = {"key", "operator", "value", "effect", "tolerationSeconds"}


class SecretRef(BaseModel):
    """A key of a Kubernetes Secret in the job namespace."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="runyard-api-key", description="Secret name.")
    key: str = Field(default="api-key", description="Key inside the Secret.")


class PoolSettings(BaseModel):
    """One GPU node pool and the Jobs the agent puts on it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=63, description="Pool name, e.g. a100.")
    namespace: str = Field("default", description="Namespace of the Jobs.")
    node_selector: dict[str, str] = Field(
        default_factory=dict, description="Node labels of the pool; Jobs cannot leave it."
    )
    tolerations: list[dict[str, Any]] = Field(
        default_factory=list, description="Tolerations added to every Job (k8s shape)."
    )
    gpu_resource: str = Field("nvidia.com/gpu", description="GPU resource name.")
    service_account: str | None = Field(None, description="Service account of the Jobs.")
    api_key_secret: SecretRef = Field(
        default_factory=lambda: SecretRef(), description="Where jobs read WANDB_API_KEY from."
    )
    server_url: str = Field(
        "http://runyard:8080", description="The tracking server URL as jobs reach it."
    )
    image_pull_secrets: list[str] = Field(default_factory=list, description="Pull secrets.")
    default_image: str | None = Field(None, description="Image for items that name none.")
    start_timeout_s: float = Field(
        600, gt=0, description="How long a Job may stay unschedulable before it fails."
    )
    max_preemptions: int = Field(
        3, ge=0, description="Preemptions requeued (same run id) before the item fails."
    )
    allow_privileged: bool = Field(False, description="Let templates ask for privileges.")
    labels: dict[str, str] = Field(default_factory=dict, description="Extra Job labels.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Extra annotations.")

    @field_validator("tolerations")
    @classmethod
    def _toleration_keys(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for i, toleration in enumerate(value):
            unknown = set(toleration) - TOLERATION_KEYS
            if unknown:
                raise ValueError(
                    f"tolerations[{i}]: unknown keys {sorted(unknown)}; "
                    f"allowed: {sorted(TOLERATION_KEYS)}"
                )
        return value
