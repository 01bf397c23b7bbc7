"""The agent's settings: one pydantic model, read from a YAML file and overridden by flags.

Environment variables set only what has no other source (the server URL and API key,
like the wandb client); they never silently override the file or the flags.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..kubernetes.pool import PoolSettings
from .container_settings import ContainerSettings

logger = logging.getLogger(__name__)


class ConfigError(ValueError):
    """The agent's settings are unusable; the message names each field and the fix."""


class AgentConfig(BaseModel):
    """Everything `runyard agent` needs to know."""

    model_config = ConfigDict(extra="forbid")

    server_url: str | None = Field(
        None, description="Tracking server URL; unset: RUNYARD_URL or WANDB_BASE_URL."
    )
    entity: str | None = Field(None, description="Entity of the queues; unset: the key's.")
    name: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}",
        min_length=1,
        max_length=128,
        description="How the agent is listed.",
    )
    queues: list[str] = Field(
        min_length=1, description="Queues to serve: `name` or `entity/name`, best first."
    )
    runner: Literal["local-process", "local-container", "kubernetes"] = Field(
        "local-process",
        description="Where items run: subprocesses or Docker containers here, or Kubernetes Jobs.",
    )
    max_jobs: int = Field(1, ge=1, le=10_000, description="Items running at once, at most.")
    gpus: int | None = Field(
        None,
        ge=0,
        description="local-process/-container: GPUs this machine offers; unset: count them "
        "with NVML.",
    )
    backfill: bool = Field(
        True, description="Let smaller items overtake one that does not fit the free GPUs."
    )
    claim_wait_s: float = Field(30, gt=0, le=30, description="Long-poll length of a claim.")
    heartbeat_interval_s: float = Field(
        10,
        gt=0,
        le=300,
        description="How often leases are renewed; sooner when a held lease would run out first.",
    )
    telemetry_interval_s: float = Field(
        10,
        gt=0,
        le=3600,
        description="How often each job's GPUs are sampled (NVML, DCGM or the job's client).",
    )
    prometheus_url: str | None = Field(
        None,
        description="kubernetes: Prometheus that scrapes dcgm-exporter, for each job's GPU "
        "figures; unset: the gpu.* system metrics the job's wandb client logs.",
    )
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="Serve Prometheus /metrics here (0: any free port)."
    )
    workdir: Path = Field(
        Path(".runyard/agent"), description="local-process: a folder per item lives here."
    )
    log_tail_lines: int = Field(
        50, ge=0, le=10_000, description="Lines of a failed job's log attached to its item."
    )
    pool: PoolSettings | None = Field(
        None, description="kubernetes: the GPU node pool and how Jobs are placed on it."
    )
    container: ContainerSettings = Field(
        default_factory=ContainerSettings,
        description="local-container: pull policy, what queues may ask for, the jobs' server URL.",
    )
    kubeconfig: str | None = Field(
        None, description="kubernetes: kubeconfig file; unset: in-cluster, then ~/.kube/config."
    )

    @field_validator("workdir")
    @classmethod
    def _absolute_workdir(cls, value: Path) -> Path:
        # Jobs run in their own folders: a relative workdir would resolve against each job's.
        return value.expanduser().resolve()

    @field_validator("prometheus_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(
                f"prometheus_url must be an http(s) URL, not {value!r}: the Prometheus "
                "server's base URL, e.g. http://prometheus.monitoring:9090"
            )
        return value

    @model_validator(mode="after")
    def _pool_for_kubernetes(self) -> AgentConfig:
        if self.runner == "kubernetes" and self.pool is None:
            raise ValueError(
                "runner kubernetes needs a pool: set `pool:` in the config file or pass --pool"
            )
        return self


def _set_dotted(target: dict[str, Any], dotted: str, value: Any) -> None:
    """`pool.namespace` -> target["pool"]["namespace"], creating the levels in between."""
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = target.get(part)
        if not isinstance(node, dict):
            node = target[part] = {}
        target = node
    target[leaf] = value


def load_agent_config(path: Path | None, overrides: dict[str, Any]) -> AgentConfig:
    """Read the YAML file (if any), apply flag overrides (dotted keys; None = not given)."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read agent config {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"agent config {path} is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"agent config {path} must be a mapping of settings")
        raw = loaded
    for key, value in overrides.items():
        if value is not None and value != ():
            _set_dotted(raw, key, list(value) if isinstance(value, tuple) else value)
    try:
        return AgentConfig.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "config"
            problems.append(f"{field}: {err['msg']}")
        source = f" in {path}" if path else ""
        raise ConfigError(f"invalid agent settings{source}:\n  " + "\n  ".join(problems)) from None


def offered_gpus(configured: int | None, found: list[int]) -> list[int]:
    """The NVML indices a local-process agent offers: `gpus` first ones, or all it found.

    ConfigError when `gpus` asks for more than NVML found: jobs pinned to GPUs that do not
    exist would fail at launch, one after the other.
    """
    if configured is None:
        return list(found)
    if configured > len(found):
        have = (
            f"{len(found)} ({', '.join(map(str, found))})" if found else "none (no NVIDIA driver)"
        )
        raise ConfigError(
            f"gpus: the agent offers {configured} GPUs but NVML finds {have} on this machine; "
            "lower gpus (or --gpus) to at most that, or leave it unset to offer all of them"
        )
    return list(found[:configured])


def resolve_server(config: AgentConfig) -> tuple[str, str]:
    """The server URL and API key: config first, then RUNYARD_* / WANDB_* variables."""
    env_url = os.environ.get("RUNYARD_URL") or os.environ.get("WANDB_BASE_URL")
    if config.server_url and env_url and env_url.rstrip("/") != config.server_url.rstrip("/"):
        logger.warning(
            "server URL from the config wins over the environment",
            extra={"config": config.server_url, "environment": env_url},
        )
    url = config.server_url or env_url
    key = os.environ.get("RUNYARD_API_KEY") or os.environ.get("WANDB_API_KEY")
    if not url:
        raise ConfigError("no server URL: set server_url, RUNYARD_URL or WANDB_BASE_URL")
    if not key:
        raise ConfigError("no API key: set RUNYARD_API_KEY (or WANDB_API_KEY)")
    return url.rstrip("/"), key
