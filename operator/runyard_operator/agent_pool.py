"""The `AgentPool` custom resource: agents serving queues with Jobs on one GPU node pool."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from runyard.launch.kubernetes.allowlists import NAME_GLOB

from .api import (
    DNS_LABEL,
    Condition,
    CRModel,
    Phase,
    Resources,
    Scheduling,
    SecretKeyRef,
    ServerRef,
)

KNOWN_GPU_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu", "gpu.intel.com/i915")
# A Secret or PriorityClass name, with * and ? as wildcards.
NameGlob = Annotated[str, Field(pattern=NAME_GLOB)]


class GpuNodePool(CRModel):
    """The GPU nodes the pool's Jobs run on (the agents themselves run on CPU nodes)."""

    node_selector: dict[str, str] = Field(
        default_factory=dict,
        description="Labels of the GPU nodes, "
        "e.g. {nvidia.com/gpu.product: NVIDIA-A100-SXM4-80GB}.",
    )
    tolerations: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Tolerations of the Jobs; the nvidia.com/gpu:NoSchedule taint is tolerated "
        "by default.",
    )
    gpu_resource: str = Field(
        default="nvidia.com/gpu",
        description="Extended resource of the GPUs: nvidia.com/gpu, amd.com/gpu or "
        "gpu.intel.com/i915.",
    )
    gpus_per_node: int = Field(
        default=8, ge=1, le=64, description="GPUs on each node (sizes scaling and GPU status)."
    )

    @field_validator("gpu_resource")
    @classmethod
    def _known_gpu(cls, value: str) -> str:
        if value not in KNOWN_GPU_RESOURCES:
            raise ValueError(
                f"unknown GPU resource {value!r}; use one of {', '.join(KNOWN_GPU_RESOURCES)}"
            )
        return value


class WorkloadKindSpec(CRModel):
    """A custom run-to-completion workload (e.g. JobSet) queue templates may name."""

    api_version: str = Field(
        description="group/version of the custom resource, e.g. jobset.x-k8s.io/v1alpha2."
    )
    kind: str = Field(description="Its kind, e.g. JobSet.")
    plural: str | None = Field(
        default=None, description="Its resource name in API paths; unset: kind lowercased + s."
    )


class ScalingSpec(CRModel):
    """How many agents run: pending work that fits plus running jobs, within min/max."""

    min_replicas: int = Field(default=1, ge=0, le=1000, description="Fewest agents.")
    max_replicas: int = Field(default=4, ge=0, le=1000, description="Most agents.")
    target_jobs_per_agent: int | None = Field(
        default=None,
        ge=1,
        description="Scaling target: jobs (running + pending) per agent; unset: maxJobsPerAgent.",
    )
    cooldown_seconds: int = Field(
        default=300, ge=0, le=86400, description="Wait after a scale-down before the next one."
    )

    @model_validator(mode="after")
    def _ordered(self) -> ScalingSpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"minReplicas {self.min_replicas} is above maxReplicas {self.max_replicas}; "
                "lower minReplicas or raise maxReplicas"
            )
        return self


class AgentPoolSpec(CRModel):
    """The desired agents of one GPU node pool."""

    server_ref: ServerRef = Field(description="The TrackingServer the agents claim from.")
    queues: list[str] = Field(
        min_length=1, description="Queues served, best first: LaunchQueue names or entity/name."
    )
    pool_name: str | None = Field(
        default=None,
        description="Pool name on Jobs (runyard.dev/pool label); unset: the CR's name.",
    )
    node_pool: GpuNodePool = Field(
        default_factory=GpuNodePool, description="The GPU nodes the Jobs run on."
    )
    job_namespace: str | None = Field(
        default=None,
        pattern=DNS_LABEL,
        description="Namespace of the Jobs; unset: the CR's namespace.",
    )
    max_jobs_per_agent: int = Field(
        default=8, ge=1, le=1000, description="Jobs one agent runs at once."
    )
    replicas: int | None = Field(
        default=None,
        ge=0,
        description="Agents wanted, set through the scale subresource; the scaling function "
        "keeps it within scaling.minReplicas/maxReplicas.",
    )
    scaling: ScalingSpec = Field(
        default_factory=ScalingSpec, description="Replica bounds and target."
    )
    image: str | None = Field(
        default=None, min_length=1, description="Agent image; unset: the operator's default."
    )
    job_image: str | None = Field(
        default=None, description="Image of items that name none; unset: the operator's default."
    )
    api_key_secret: SecretKeyRef | None = Field(
        default=None,
        description="Secret key with the agents' API key (job namespace too, for Jobs); "
        "unset: the server's admin key Secret.",
    )
    workload_kinds: list[WorkloadKindSpec] = Field(
        default_factory=list,
        description="Custom workloads (e.g. JobSet) queue templates may name besides batch/v1 "
        "Jobs; the agents' Role gets them (the operator must hold them: rbac.workloadKinds "
        "in the chart's values).",
    )
    job_service_account: str | None = Field(
        default=None, description="Service account of the Jobs; unset: none mounted."
    )
    allowed_secrets: list[NameGlob] = Field(
        default_factory=list,
        max_length=1000,
        description="Secrets of the job namespace queue templates may reference (secretKeyRef, "
        "envFrom, secret volumes, imagePullSecrets, ...): names or globs such as team-a-*; "
        "unset: none besides the agents' API key Secret. Anything else is refused at enqueue.",
    )
    allowed_priority_classes: list[NameGlob] = Field(
        default_factory=list,
        max_length=1000,
        description="PriorityClasses queue templates may set (priorityClassName): names or "
        "globs; unset: none.",
    )
    resources: Resources = Field(
        default_factory=lambda: Resources(
            requests={"cpu": "100m", "memory": "256Mi"}, limits={"memory": "512Mi"}
        ),
        description="Agent container resources.",
    )
    scheduling: Scheduling = Field(
        default_factory=Scheduling, description="Where the agent pods run (CPU nodes)."
    )


class AgentPoolStatus(CRModel):
    """What the operator observed."""

    phase: Phase = Field(default="Pending", description="Pending, Progressing, Ready or Degraded.")
    replicas: int = Field(default=0, ge=0, description="Agents that exist (scale subresource).")
    desired_replicas: int = Field(default=0, ge=0, description="Agents the scaling function wants.")
    ready_replicas: int = Field(default=0, ge=0, description="Agents ready.")
    selector: str = Field(
        default="", description="Label selector of the agent pods (for kubectl scale)."
    )
    gpus_total: int = Field(default=0, ge=0, description="GPUs on the pool's nodes.")
    gpus_free: int = Field(default=0, ge=0, description="GPUs not requested by running pods.")
    running: int = Field(default=0, ge=0, description="Items running on the pool.")
    pending: int = Field(default=0, ge=0, description="Items waiting in the pool's queues.")
    last_scale_time: str | None = Field(
        default=None,
        description="When replicas last changed (RFC 3339); scale-downs wait a cool-down after it.",
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="Ready, Progressing and Degraded."
    )
    observed_generation: int = Field(default=0, ge=0, description="Generation last reconciled.")
