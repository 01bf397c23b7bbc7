"""The operator's own settings, from `RUNYARD_*` environment variables (set by the chart)."""

from __future__ import annotations

import os

from pydantic import BaseModel, Field

DEFAULT_TAG = "0.1.0"


class OperatorSettings(BaseModel):
    """Defaults for what a custom resource leaves unset, and the reconcile cadence."""

    server_image: str = Field(
        default=f"runyard-server:{DEFAULT_TAG}",
        description="Server image when spec.image is unset.",
    )
    agent_image: str = Field(
        default=f"runyard-agent:{DEFAULT_TAG}", description="Agent image when spec.image is unset."
    )
    job_image: str | None = Field(
        default=None, description="Image of items that name none, when spec.jobImage is unset."
    )
    agent_cluster_role: str = Field(
        default="runyard-agent",
        description="ClusterRole (nodes, pods: read) the chart installs; bound to each pool.",
    )
    metrics_port: int = Field(
        default=9090, ge=0, le=65535, description="Prometheus /metrics port; 0: not served."
    )
    interval_s: float = Field(
        default=15.0, gt=0, description="How often status, scaling and queues are refreshed."
    )

    @classmethod
    def from_env(cls) -> OperatorSettings:
        """Settings from RUNYARD_SERVER_IMAGE, RUNYARD_AGENT_IMAGE, ... (unset: defaults)."""
        names = {
            "server_image": "RUNYARD_SERVER_IMAGE",
            "agent_image": "RUNYARD_AGENT_IMAGE",
            "job_image": "RUNYARD_JOB_IMAGE",
            "agent_cluster_role": "RUNYARD_AGENT_CLUSTER_ROLE",
            "interval_s": "RUNYARD_OPERATOR_INTERVAL_S",
            "metrics_port": "RUNYARD_OPERATOR_METRICS_PORT",
        }
        return cls.model_validate({k: os.environ[v] for k, v in names.items() if os.environ.get(v)})
