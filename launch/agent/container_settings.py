"""The agent's `container:` settings for the local-container runner (a pydantic model that
`config.py` reads without importing the docker SDK)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PullPolicy = Literal["always", "if-not-present", "never"]


class ContainerSettings(BaseModel):
    """The agent's `container:` settings: what local-container jobs may do on this machine."""

    model_config = ConfigDict(extra="forbid")

    pull_policy: PullPolicy = Field(
        default="if-not-present",
        description="Pull the item's image always, only when absent, or never.",
    )
    allow_privileged: bool = Field(
        default=False, description="Let a queue ask for privileged mode."
    )
    allow_host_network: bool = Field(
        default=False, description="Let a queue ask for network: host."
    )
    allow_host_paths: bool = Field(
        default=False, description="Let a queue bind-mount host paths (volume: /host:/ctr)."
    )
    server_url: str | None = Field(
        default=None,
        description="The server URL jobs use; unset: the agent's, a loopback host replaced "
        "by host.docker.internal.",
    )
    stop_grace_s: float = Field(
        default=10,
        ge=0,
        le=3600,
        description="Seconds a canceled job gets between SIGTERM and SIGKILL.",
    )
