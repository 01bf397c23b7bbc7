"""Launch queues and their items: the shapes every store, route and agent agrees on.

A queue holds a config template with `{{var}}` placeholders and the declared
template variables; an item is one request to run something (a W&B `runSpec`),
with a priority, validated template values and a lifecycle:

    pending -> claimed -> launching -> running -> finished | failed | canceled | preempted

A claim is a lease: the agent must heartbeat before `lease_expires_at` or the item
goes back to `pending` (attempts + 1) and, past `max_attempts`, fails.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from .idle import GpuSample, IdlePolicy

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"


class Priority(IntEnum):
    """Item priority: lower numbers are served first (W&B's levels)."""

    CRITICAL = 0
    HIGH = 1
    MEDIUM = 2
    LOW = 3

    @classmethod
    def parse(cls, value: object) -> Priority:
        """Accept 0-3, "0"-"3" or a level name ("high"); anything else is a clear error."""
        if isinstance(value, Priority):
            return value
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 3:
            return cls(value)
        if isinstance(value, str):
            text = value.strip().lower()
            if text.isdigit() and 0 <= int(text) <= 3:
                return cls(int(text))
            for level in cls:
                if level.name.lower() == text:
                    return level
        raise ValueError(
            f"priority must be one of critical, high, medium, low (or 0-3), got {value!r}"
        )


class ItemState(StrEnum):
    """Where an item is in its lifecycle."""

    PENDING = "pending"
    CLAIMED = "claimed"
    LAUNCHING = "launching"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELED = "canceled"
    PREEMPTED = "preempted"

    @property
    def is_final(self) -> bool:
        """True when the item will not change any more."""
        return self in FINAL_STATES

    @property
    def holds_lease(self) -> bool:
        """True while an agent owns the item and must keep heartbeating."""
        return self in LEASED_STATES


FINAL_STATES = frozenset(
    {ItemState.FINISHED, ItemState.FAILED, ItemState.CANCELED, ItemState.PREEMPTED}
)
LEASED_STATES = frozenset({ItemState.CLAIMED, ItemState.LAUNCHING, ItemState.RUNNING})
# Transitions an agent may report; anything else is refused with the allowed ones.
REPORTABLE: dict[ItemState, frozenset[ItemState]] = {
    ItemState.CLAIMED: frozenset({ItemState.LAUNCHING, ItemState.RUNNING, ItemState.FAILED}),
    ItemState.LAUNCHING: frozenset(
        {ItemState.RUNNING, ItemState.FAILED, ItemState.FINISHED, ItemState.PREEMPTED}
    ),
    ItemState.RUNNING: frozenset({ItemState.FINISHED, ItemState.FAILED, ItemState.PREEMPTED}),
}


class TemplateVariable(BaseModel):
    """A declared `{{name}}` of a queue's config template, with JSON-schema-like limits."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    type: Literal["string", "integer", "number"] = "string"
    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    enum: list[str | int | float] | None = None
    default: str | int | float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TemplateVariable:
        if self.type == "string" and (self.minimum is not None or self.maximum is not None):
            raise ValueError(f"variable {self.name}: minimum/maximum only apply to numbers")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(
                f"variable {self.name}: minimum {self.minimum} > maximum {self.maximum}"
            )
        return self


class QueueSpec(BaseModel):
    """What a user gives to create or update a queue."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    entity: str = Field(pattern=NAME_PATTERN)
    project: str = Field("model-registry", pattern=NAME_PATTERN)
    resource: Literal["kubernetes", "local-process", "local-container"] = "local-process"
    config: dict[str, Any] = Field(
        default_factory=dict, description="Resource config template with {{var}} placeholders."
    )
    variables: list[TemplateVariable] = Field(default_factory=list)
    prioritization: bool = True
    max_attempts: int = Field(3, ge=1, le=100)
    lease_seconds: float = Field(60.0, gt=0, le=3600)
    idle_policy: IdlePolicy | None = Field(
        None, description="What happens to jobs that hold GPUs without using them."
    )
    managed_by: str | None = Field(
        None,
        max_length=128,
        description="Owner of these settings (e.g. runyard-operator, for a LaunchQueue "
        "resource); updates and deletes that do not name the same owner are refused.",
    )

    @field_validator("variables")
    @classmethod
    def _unique_names(cls, value: list[TemplateVariable]) -> list[TemplateVariable]:
        names = [v.name for v in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"template variables declared twice: {', '.join(duplicates)}")
        return value

    @field_validator("config")
    @classmethod
    def _loadable_template(cls, value: dict[str, Any]) -> dict[str, Any]:
        # Imported here: templating needs this module's models.
        from .templating import check_config

        check_config(value)
        return value


class Queue(QueueSpec):
    """A stored queue."""

    id: str
    created_at: datetime

    @classmethod
    def _loadable_template(cls, value: dict[str, Any]) -> dict[str, Any]:
        # A stored queue loads as stored (rendering still refuses what it cannot do); the
        # check is for what users send. Same name: replaces the inherited validator.
        return value


class Requirements(BaseModel):
    """What an item needs from the agent that claims it (compared with its free capacity)."""

    model_config = ConfigDict(extra="forbid")

    gpus: int = Field(0, ge=0, le=1024, description="GPUs per pod (an agent: on one node).")
    pods: int = Field(
        default=1,
        ge=1,
        le=10_000,
        description="Pods that must run at once (a gang: JobSet, PyTorchJob); an agent: the "
        "pods it may still start (max_jobs counts pods).",
    )
    node_free: list[int] | None = Field(
        default=None,
        max_length=10_000,
        description="An agent: free GPUs of each usable node of its pool, so a gang is "
        "claimed only when every pod finds a node (None: unknown).",
    )

    @model_serializer(mode="wrap")
    def _compact(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # The gang fields only when they say something: single-pod shapes stay as they were.
        data: dict[str, Any] = handler(self)
        if data.get("pods") == 1:
            data.pop("pods")
        if data.get("node_free") is None:
            data.pop("node_free", None)
        return data


def capacity_doc(capacity: Requirements) -> dict[str, Any]:
    """An agent's capacity as stored and shown: GPUs, and the gang fields when set."""
    return {"gpus": capacity.gpus, **capacity.model_dump(exclude_defaults=True)}


class ItemError(BaseModel):
    """Why an item failed: which stage, what happened, and the log tail if any."""

    stage: str
    message: str
    log: str = ""


class EnqueueRequest(BaseModel):
    """One item to put on a queue."""

    model_config = ConfigDict(extra="forbid")

    run_spec: dict[str, Any] = Field(default_factory=dict)
    priority: Priority = Priority.MEDIUM
    template_values: dict[str, Any] = Field(default_factory=dict)
    request_id: str | None = Field(
        None, max_length=128, description="Enqueueing twice with one id creates one item."
    )

    @field_validator("priority", mode="before")
    @classmethod
    def _parse_priority(cls, value: object) -> Priority:
        return Priority.parse(value)


class QueueItem(BaseModel):
    """A stored item and everything that happened to it."""

    id: str
    queue: str
    entity: str
    priority: Priority
    run_spec: dict[str, Any]
    template_values: dict[str, Any]
    rendered_config: dict[str, Any]
    requirements: Requirements
    state: ItemState
    state_times: dict[str, datetime] = Field(description="When the item entered each state.")
    attempts: int = Field(
        default=0, description="Claims so far (each claim, also after a preemption)."
    )
    preemptions: int = Field(default=0, description="Times the item was preempted and requeued.")
    agent_id: str | None = None
    lease_expires_at: datetime | None = None
    run_id: str | None = None
    error: ItemError | None = None
    warnings: list[str] = Field(default_factory=list)
    request_id: str | None = None
    created_at: datetime
    enqueued_by: str | None = Field(
        default=None, description="Username of who enqueued it (GPU-hours are theirs)."
    )
    gpu_telemetry: list[GpuSample] = Field(
        default_factory=list,
        description="Latest GPU samples of its job, from its agent's heartbeat (set in API "
        "answers, not stored).",
    )
    pending_reason: str | None = Field(
        default=None,
        description="Why a pending item waits: no live agent serves its queue, the agents are "
        "busy, or it needs more GPUs than any has free (set in API answers, not stored).",
    )
