"""What a local-container job's container looks like: pure decisions from the item and the
agent's settings, no Docker I/O (that is `local_container.py`).

The queue's rendered config holds `docker run` options by their flag names (as W&B's
local-container resource args do), flat or under a `local-container` key: `image`, `cpus`,
`memory`, `shm-size`, `env`, `volume`, `network`, `privileged`, `user`, `workdir`, `gpus`,
`pull-policy`. Anything else is refused by name, so no option the agent does not check can
reach the engine.

Decisions:
- GPUs come from the item's pinned indices (`gpu_pinning.py`), as an nvidia device request
  with those NVML indices, exactly what `docker run --gpus '"device=1,3"'` sends. Inside the
  container they are numbered from 0, so no CUDA_VISIBLE_DEVICES is set. A 0-GPU item on a
  GPU machine gets NVIDIA_VISIBLE_DEVICES=void: CUDA images set `all` in their own env,
  which the nvidia runtime would otherwise honour and hand the job every GPU.
- The job reaches the server at the agent's URL, except that a loopback host
  (127.0.0.1/localhost) means the container itself on a bridge network: it becomes
  `host.docker.internal`, which Docker maps to the bridge's gateway (`host-gateway`). The
  server must listen there too (`runyard server --host 0.0.0.0`); `container.server_url`
  in the agent's settings overrides all this. Host networking would avoid the rewrite but
  hands the job every loopback service of the host, so it is refused unless allowed.
- Privileged mode, the host's network and bind mounts of host paths are refused unless the
  agent's settings allow each (`container.allow_*`): a queue's template is written by whoever
  manages the queue, not by whoever owns the machine. Named volumes are no host path.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from docker.types import DeviceRequest

from ..models import ItemState, QueueItem
from ..run_spec import entry_point_of
from .container_settings import ContainerSettings, PullPolicy
from .local_process import args_of
from .run_env import local_env

LABEL_ITEM = "runyard.item-id"
LABEL_SCOPE = "runyard.scope"
LABEL_RUN = "runyard.run-id"
LABEL_QUEUE = "runyard.queue"
LABEL_GPUS = "runyard.gpus"
LABEL_MEMORY = "runyard.memory-limit"
HOST_ALIAS = "host.docker.internal"
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
_ALIASES = {"volumes": "volume", "v": "volume", "net": "network", "e": "env", "w": "workdir"}
KNOWN_OPTIONS = (
    "image",
    "cpus",
    "memory",
    "shm-size",
    "env",
    "volume",
    "network",
    "privileged",
    "user",
    "workdir",
    "gpus",
    "pull-policy",
)


class ContainerOptionError(ValueError):
    """The queue's container options cannot be used here; lists every problem and its fix."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("the job's container options are refused:\n  - " + "\n  - ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class CreateSpec:
    """Everything `containers.create` gets for one item, decided before any Docker call."""

    image: str
    pull_policy: PullPolicy
    name: str
    command: list[str] | None
    environment: dict[str, str]
    labels: dict[str, str]
    network_mode: str | None = None
    extra_hosts: dict[str, str] = field(default_factory=dict)
    privileged: bool = False
    nano_cpus: int | None = None
    mem_limit: int | None = None
    shm_size: int | None = None
    volumes: list[str] = field(default_factory=list)
    user: str | None = None
    working_dir: str | None = None
    device_requests: list[DeviceRequest] = field(default_factory=list)

    def create_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of docker's `containers.create` (unset options left out)."""
        kwargs: dict[str, Any] = {
            "image": self.image,
            "name": self.name,
            "command": self.command,
            "environment": self.environment,
            "labels": self.labels,
            "detach": True,
            "privileged": self.privileged,
        }
        optional = {
            "network_mode": self.network_mode,
            "extra_hosts": self.extra_hosts or None,
            "nano_cpus": self.nano_cpus,
            "mem_limit": self.mem_limit,
            # Memory means memory: no swap on top of the limit (OOM is reported as such).
            "memswap_limit": self.mem_limit,
            "shm_size": self.shm_size,
            "volumes": self.volumes or None,
            "user": self.user,
            "working_dir": self.working_dir,
            "device_requests": self.device_requests or None,
        }
        kwargs.update({key: value for key, value in optional.items() if value is not None})
        return kwargs


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_size(value: Any, option: str) -> int:
    """Bytes of a docker size (`64m`, `2g`, `512MiB`, a number of bytes)."""
    if isinstance(value, bool):
        raise ValueError(f"{option}: expected a size like 64m or 2g, not {value!r}")
    if isinstance(value, int | float):
        size = int(value)
    else:
        match = _SIZE.match(str(value))
        if not match:
            raise ValueError(f"{option}: expected a size like 64m or 2g, not {value!r}")
        size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if size <= 0:
        raise ValueError(f"{option}: must be more than 0, not {value!r}")
    return size


def describe_size(size: int) -> str:
    """A byte count in words: 64 MiB, 1.5 GiB."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size} bytes"


def container_options(rendered_config: Mapping[str, Any]) -> dict[str, Any]:
    """The queue's options, keyed by flag name (`shm_size` -> `shm-size`, aliases resolved)."""
    raw = rendered_config
    nested = raw.get("local-container")
    if isinstance(nested, Mapping):
        raw = nested
    options: dict[str, Any] = {}
    for key, value in raw.items():
        name = str(key).lstrip("-").replace("_", "-")
        options[_ALIASES.get(name, name)] = value
    return options


def gpu_device_requests(indices: Sequence[int]) -> list[DeviceRequest]:
    """The nvidia device request for these NVML indices ([] for none)."""
    if not indices:
        return []
    return [
        DeviceRequest(driver="nvidia", device_ids=[str(i) for i in indices], capabilities=[["gpu"]])
    ]


def container_server_url(
    agent_url: str, settings: ContainerSettings, network_mode: str | None
) -> tuple[str, dict[str, str]]:
    """The server URL a job uses and the extra /etc/hosts entries that make it resolve."""
    if settings.server_url:
        return settings.server_url.rstrip("/"), {}
    parts = urlsplit(agent_url)
    if network_mode == "host" or (parts.hostname or "") not in _LOOPBACK:
        return agent_url, {}
    netloc = HOST_ALIAS + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc)), {HOST_ALIAS: "host-gateway"}


def _env_entries(value: Any) -> dict[str, str]:
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ValueError("env: expected a list of NAME=value or a mapping")
    env = {}
    for entry in value:
        name, sep, val = str(entry).partition("=")
        if not sep or not name:
            raise ValueError(f"env: {entry!r} is not NAME=value")
        env[name] = val
    return env


def _is_host_path(volume: str) -> bool:
    # docker run -v: "/abs/host:/ctr[:ro]" or "./rel:/ctr" is a bind; "name:/ctr" a volume.
    source = volume.split(":", 1)[0] if ":" in volume else ""
    return source.startswith(("/", ".", "~"))


def _policy_problems(options: Mapping[str, Any], settings: ContainerSettings) -> list[str]:
    problems = []
    if _truthy(options.get("privileged")) and not settings.allow_privileged:
        problems.append(
            "privileged: privileged containers are refused on this agent; remove it from the "
            "queue's config, or set container.allow_privileged: true in the agent's settings"
        )
    if str(options.get("network") or "") == "host" and not settings.allow_host_network:
        problems.append(
            "network: host (the host's network) is refused on this agent; remove it from the "
            "queue's config, or set container.allow_host_network: true in the agent's settings"
        )
    volumes = options.get("volume") or []
    for volume in [volumes] if isinstance(volumes, str) else volumes:
        if _is_host_path(str(volume)) and not settings.allow_host_paths:
            problems.append(
                f"volume: {volume!r} mounts a host path, which is refused on this agent; use a "
                "named volume, or set container.allow_host_paths: true in the agent's settings"
            )
    return problems


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "yes", "1")


def check_options(options: Mapping[str, Any], settings: ContainerSettings, gpus: int) -> list[str]:
    """Every problem of the queue's options under this agent's policy ([] when usable)."""
    problems = [
        f"{name}: unknown container option; supported: {', '.join(KNOWN_OPTIONS)}"
        for name in options
        if name not in KNOWN_OPTIONS
    ]
    problems += _policy_problems(options, settings)
    want = options.get("gpus")
    if want is not None and want != gpus:
        problems.append(
            f"gpus: {want!r} in the queue's config, but the agent pins the item's GPUs from "
            f"its gpus template variable ({gpus}); remove gpus from the config"
        )
    policy = options.get("pull-policy")
    if policy is not None and policy not in ("always", "if-not-present", "never"):
        problems.append(f"pull-policy: {policy!r} is not always, if-not-present or never")
    return problems


def image_of(item: QueueItem, options: Mapping[str, Any]) -> str | None:
    """The image an item runs: the run spec's (`--docker-image`), else the queue config's."""
    spec = item.run_spec
    image = (spec.get("docker") or {}).get("docker_image") or spec.get("image_uri")
    return str(image or options.get("image") or "") or None


def build_spec(
    item: QueueItem,
    *,
    settings: ContainerSettings,
    scope: str,
    server_url: str,
    api_key: str,
    run_id: str,
    gpus: Sequence[int],
    machine_has_gpus: bool,
) -> CreateSpec:
    """The container for an item; ContainerOptionError listing every problem."""
    options = container_options(item.rendered_config)
    problems = check_options(options, settings, item.requirements.gpus)
    image = image_of(item, options)
    if not image:
        problems.append(
            "image: the item names no image; give run_spec.docker.docker_image "
            "(`runyard launch --docker-image org/train:1`) or `image` in the queue's config"
        )
    values: dict[str, Any] = {}
    for option, parse in (("memory", parse_size), ("shm-size", parse_size)):
        if options.get(option) not in (None, ""):
            try:
                values[option] = parse(options[option], option)
            except ValueError as exc:
                problems.append(str(exc))
    cpus = options.get("cpus")
    if cpus not in (None, ""):
        try:
            if float(cpus) <= 0:
                raise ValueError
            values["cpus"] = int(float(cpus) * 1e9)
        except (TypeError, ValueError):
            problems.append(f"cpus: expected a number of CPUs more than 0, like 1.5, not {cpus!r}")
    user_env: dict[str, str] = {}
    try:
        user_env = _env_entries(options.get("env") or [])
    except ValueError as exc:
        problems.append(str(exc))
    try:
        command = [*(entry_point_of(item.run_spec) or []), *args_of(item.run_spec)] or None
    except Exception as exc:  # args_of raises LaunchError with the field named
        problems.append(str(exc))
        command = None
    if problems:
        raise ContainerOptionError(problems)
    assert image is not None
    network = str(options["network"]) if options.get("network") else None
    url, extra_hosts = container_server_url(server_url, settings, network)
    # The agent's W&B values win: a template must not redirect the run or its key.
    env = {**user_env, **local_env(item, url, api_key, run_id), "WANDB_DOCKER": image}
    if machine_has_gpus and not gpus:
        env["NVIDIA_VISIBLE_DEVICES"] = "void"
    memory = values.get("memory")
    labels = {
        LABEL_ITEM: item.id,
        LABEL_SCOPE: scope,
        LABEL_RUN: run_id,
        LABEL_QUEUE: f"{item.entity}/{item.queue}",
        LABEL_GPUS: ",".join(str(i) for i in gpus),
    }
    if memory:
        labels[LABEL_MEMORY] = str(memory)
    volumes = options.get("volume") or []
    return CreateSpec(
        image=image,
        pull_policy=options.get("pull-policy") or settings.pull_policy,
        name=f"runyard-{item.id}",
        command=command,
        environment=env,
        labels=labels,
        network_mode=network,
        extra_hosts=extra_hosts,
        privileged=_truthy(options.get("privileged")),
        nano_cpus=values.get("cpus"),
        mem_limit=memory,
        shm_size=values.get("shm-size"),
        volumes=[str(v) for v in ([volumes] if isinstance(volumes, str) else volumes)],
        user=str(options["user"]) if options.get("user") else None,
        working_dir=str(options["workdir"]) if options.get("workdir") else None,
        device_requests=gpu_device_requests(gpus),
    )


@dataclass(frozen=True)
class ExitOutcome:
    """How an item ended, read from its container's state."""

    state: ItemState
    message: str | None = None


def interpret_exit(state: Mapping[str, Any], memory_limit: int | None) -> ExitOutcome:
    """The item's end from `docker inspect`'s State: finished, or failed and why in words."""
    code = int(state.get("ExitCode") or 0)
    if code == 0:  # a child may have been OOM-killed, but the job handled it and succeeded
        return ExitOutcome(ItemState.FINISHED)
    if state.get("OOMKilled"):
        limit = f" (limit {describe_size(memory_limit)})" if memory_limit else ""
        return ExitOutcome(
            ItemState.FAILED,
            f"the job's container was killed: out of memory{limit}; "
            "raise the queue's memory value or make the job use less",
        )
    error = str(state.get("Error") or "").strip()
    if error:
        return ExitOutcome(ItemState.FAILED, f"the job's container could not run: {error}")
    if code > 128:
        try:
            name = signal.Signals(code - 128).name
        except ValueError:
            name = f"signal {code - 128}"
        return ExitOutcome(
            ItemState.FAILED, f"the job's container was killed by {name} (exit code {code})"
        )
    return ExitOutcome(ItemState.FAILED, f"the job's container exited with code {code}")
