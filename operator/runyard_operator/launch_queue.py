"""The `LaunchQueue` custom resource: a launch queue the operator upserts in its server.

The spec mirrors the server's queue model (`runyard.launch.models.QueueSpec`) in camelCase;
`to_queue_spec` converts it, so the server's own validation applies unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from runyard.launch.models import QueueSpec

from .api import Condition, CRModel, Phase, ServerRef

MANAGED_BY = "runyard-operator"  # the owner the server records on operator queues


class QueueVariable(CRModel):
    """A declared `{{name}}` placeholder of the config template."""

    name: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", description="Placeholder name, e.g. gpus."
    )
    type: Literal["string", "integer", "number"] = Field(
        default="string", description="string, integer or number."
    )
    description: str = Field(default="", description="Shown to whoever enqueues.")
    minimum: float | None = Field(default=None, description="Numbers: smallest allowed value.")
    maximum: float | None = Field(default=None, description="Numbers: largest allowed value.")
    enum: list[Any] | None = Field(default=None, description="The only allowed values.")
    default: Any = Field(default=None, description="Value when none is given; unset: required.")


class LaunchQueueSpec(CRModel):
    """The desired queue; the CR is the source of truth, the server's copy follows it."""

    server_ref: ServerRef = Field(description="The TrackingServer that holds the queue.")
    queue_name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$",
        description="Queue name on the server; unset: the CR's name.",
    )
    project: str = Field(
        default="model-registry",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$",
        description="Project W&B clients look the queue up in.",
    )
    resource: Literal["kubernetes", "local-process", "local-container"] = Field(
        default="kubernetes",
        description="Where items run: kubernetes, local-process, local-container.",
    )
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Resource config template (e.g. a Job spec) with {{var}} placeholders.",
    )
    variables: list[QueueVariable] = Field(
        default_factory=list, description="Template variables the config uses."
    )
    prioritization: bool = Field(
        default=True, description="Serve critical/high/medium/low in order (FIFO within a level)."
    )
    max_attempts: int = Field(
        default=3, ge=1, le=100, description="Claims before an item fails (expired leases count)."
    )
    lease_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="How long a claim lasts without an agent heartbeat.",
    )

    def to_queue_spec(self, name: str) -> QueueSpec:
        """The server's queue shape; raises ValidationError naming the field."""
        return QueueSpec.model_validate(
            {
                "name": self.queue_name or name,
                "entity": self.server_ref.entity,
                "project": self.project,
                "resource": self.resource,
                "config": self.config,
                "variables": [v.model_dump(exclude_none=True) for v in self.variables],
                "prioritization": self.prioritization,
                "max_attempts": self.max_attempts,
                "lease_seconds": self.lease_seconds,
                # The CR is the source of truth: the server refuses edits from elsewhere.
                "managed_by": MANAGED_BY,
            }
        )


class LaunchQueueStatus(CRModel):
    """Queue statistics seen on the server."""

    phase: Phase = Field(default="Pending", description="Pending, Progressing, Ready or Degraded.")
    pending: int = Field(default=0, ge=0, description="Items waiting.")
    pending_by_priority: dict[str, int] = Field(
        default_factory=dict, description="Items waiting per priority level."
    )
    running: int = Field(default=0, ge=0, description="Items claimed, launching or running.")
    oldest_pending_seconds: float | None = Field(
        default=None, description="Age of the oldest waiting item."
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="Ready, Progressing and Degraded."
    )
    observed_generation: int = Field(default=0, ge=0, description="Generation last reconciled.")
