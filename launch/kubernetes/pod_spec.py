"""Pod-template rules shared by every workload the agent renders (pure).

A Job has one pod template (`spec.template.spec`); other workload kinds (a JobSet, a
PyTorchJob) have one per role. Each gets the same treatment: containers checked, the
pool's placement and service account, the main container's image, command, GPUs and
W&B environment, quantities and env values in the API's string forms. `at` is the pod
spec's path in the manifest, so an error names the field a person must fix.
"""

from __future__ import annotations

import shlex
from typing import Any

from kubernetes.utils import parse_quantity

from ..models import QueueItem
from .pool import PoolSettings, gpu_toleration
from .wandb_env import is_config_var, wandb_env

MAIN_CONTAINER = "job"


class JobRenderError(ValueError):
    """The item cannot become a workload; the message names the field to set or remove."""


def check_pod_shape(pod_spec: Any, at: str) -> None:
    """Container lists as lists of mappings, and no `nodeName` (it bypasses the pool)."""
    if not isinstance(pod_spec, dict):
        raise JobRenderError(f"the queue's config: {at} must be a mapping")
    for field in ("containers", "initContainers"):
        value = pod_spec.get(field)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(c, dict) for c in value)
        ):
            raise JobRenderError(f"the queue's config: {at}.{field} must be a list of mappings")
    if pod_spec.get("nodeName"):
        raise JobRenderError(
            f"the queue's config: {at}.nodeName bypasses the scheduler and the pool; remove it"
        )


def main_image(item: QueueItem, pool: PoolSettings, template_image: Any) -> str:
    """The run spec's image, else the template's main container's, else the pool's default."""
    spec = item.run_spec
    image = (spec.get("docker") or {}).get("docker_image") or spec.get("image_uri")
    image = image or template_image or pool.default_image
    if not image or not isinstance(image, str):
        raise JobRenderError(
            "the item names no image: set run_spec.docker.docker_image "
            "(wandb launch --docker-image), or the pool's default_image"
        )
    return image


def _command(item: QueueItem) -> tuple[list[str] | None, list[str] | None]:
    """Container command and args from the run spec's entry point and argument overrides."""
    overrides = item.run_spec.get("overrides") or {}
    entry = overrides.get("entry_point") or item.run_spec.get("entry_point")
    if isinstance(entry, str):
        try:
            entry = shlex.split(entry)
        except ValueError as exc:  # an unclosed quote
            raise JobRenderError(f"run_spec.overrides.entry_point {entry!r}: {exc}") from exc
    if entry is not None and not (
        isinstance(entry, list) and all(isinstance(p, str) for p in entry)
    ):
        raise JobRenderError(
            'run_spec.overrides.entry_point must be a list of strings, e.g. ["python", "train.py"]'
        )
    args = overrides.get("args")
    if isinstance(args, dict):
        args = [part for key, value in args.items() for part in (f"--{key}", str(value))]
    if args is not None and not (
        isinstance(args, list) and all(isinstance(a, str | int | float) for a in args)
    ):
        raise JobRenderError(
            'run_spec.overrides.args must be a list (["--lr", "0.1"]) or a mapping ({"lr": 0.1})'
        )
    return entry or None, [str(a) for a in args] if args else None


def check_containers(pod_spec: dict[str, Any], gpu: str, at: str) -> None:
    """Every container named, with an image, once; GPUs only on the main one (containers[0])."""
    names: set[str] = set()
    for kind in ("initContainers", "containers"):
        for i, container in enumerate(pod_spec.get(kind) or []):
            path = f"{at}.{kind}[{i}]"
            name = container.get("name")
            if not isinstance(name, str) or not name or not container.get("image"):
                raise JobRenderError(
                    f"the queue's config: {path} needs a name and an image "
                    "(only the main container, containers[0], gets them from the item)"
                )
            if name in names:
                raise JobRenderError(f"the queue's config: {path}.name {name!r} is used twice")
            names.add(name)
            resources = container.get("resources") or {}
            asks = any(gpu in (resources.get(k) or {}) for k in ("requests", "limits"))
            if kind == "containers" and i > 0 and asks:
                raise JobRenderError(
                    f"the queue's config: {path}.resources asks for {gpu}; only the main "
                    "container (containers[0]) may, and gets the item's count"
                )


def _union(first: list[Any], second: list[Any]) -> list[Any]:
    return first + [x for x in second if x not in first]


def place_pod(
    pod_spec: dict[str, Any], pool: PoolSettings, gpus: int, restart_policy: str | None = "Never"
) -> None:
    """The pool's placement, service account and pull secrets on the pod spec."""
    # Jobs get Never (the agent decides retries); other workloads keep their own policy.
    if restart_policy is not None:
        pod_spec["restartPolicy"] = restart_policy
    else:
        pod_spec.setdefault("restartPolicy", "Never")
    pod_spec["nodeSelector"] = {**(pod_spec.get("nodeSelector") or {}), **pool.node_selector}
    extra = [*pool.tolerations, gpu_toleration(pool)] if gpus > 0 else list(pool.tolerations)
    tolerations = _union(list(pod_spec.get("tolerations") or []), extra)
    if tolerations:
        pod_spec["tolerations"] = tolerations
    if pool.service_account:
        pod_spec["serviceAccountName"] = pool.service_account
    pod_spec["automountServiceAccountToken"] = pool.service_account is not None
    secrets = _union(
        list(pod_spec.get("imagePullSecrets") or []),
        [{"name": s} for s in pool.image_pull_secrets],
    )
    if secrets:
        pod_spec["imagePullSecrets"] = secrets


def set_main_container(
    main: dict[str, Any], item: QueueItem, pool: PoolSettings, image: str, run_id: str
) -> None:
    """Image, command, GPUs and the W&B environment of the job's own container."""
    main["image"] = image
    command, args = _command(item)
    if command:
        main["command"] = command
    if args:
        main["args"] = args
    gpus = item.requirements.gpus
    if gpus > 0:
        resources = main.setdefault("resources", {})
        for key in ("requests", "limits"):
            resources[key] = {**(resources.get(key) or {}), pool.gpu_resource: gpus}
    ours = [*wandb_env(item, pool, run_id), {"name": "WANDB_DOCKER", "value": image}]
    names = {e["name"] for e in ours}
    sets_config = any(is_config_var(n) for n in names)
    # A template's WANDB_CONFIG would shadow our chunks (wandb reads it first): drop it too.
    kept = [
        e
        for e in main.get("env") or []
        if e.get("name") not in names and not (sets_config and is_config_var(e.get("name", "")))
    ]
    main["env"] = kept + ours


def env_values_as_strings(pod_spec: dict[str, Any], at: str) -> None:
    """Env values are strings in the API; a template's `"{{seconds}}"` keeps its number type,
    so numbers and booleans are written as YAML would quote them; anything else is refused."""
    for kind in ("initContainers", "containers"):
        for i, container in enumerate(pod_spec.get(kind) or []):
            for j, var in enumerate(container.get("env") or []):
                if not isinstance(var, dict) or "value" not in var:
                    continue
                value = var["value"]
                if isinstance(value, bool):
                    var["value"] = "true" if value else "false"
                elif isinstance(value, int | float):
                    var["value"] = str(value)
                elif value is not None and not isinstance(value, str):
                    raise JobRenderError(
                        f"the queue's config: {at}.{kind}[{i}].env[{j}].value "
                        f"({var.get('name')}) is a {type(value).__name__}; env values are "
                        "strings: quote it or pass JSON text"
                    )


def check_quantities(pod_spec: dict[str, Any], at: str) -> None:
    """Quantities as the API's strings ("4", "64Gi"; templates may give numbers), each one
    checked the way the API server would, so a typo fails the item here, naming the field."""
    for kind in ("initContainers", "containers"):
        for i, container in enumerate(pod_spec.get(kind) or []):
            resources = container.get("resources") or {}
            for key in ("requests", "limits"):
                section: dict[str, Any] = resources.get(key) or {}
                for name, value in section.items():
                    section[name] = str(value)
                    try:
                        parse_quantity(section[name])
                    except ValueError:
                        raise JobRenderError(
                            f"the queue's config: {at}.{kind}[{i}].resources.{key}.{name}: "
                            f"{value!r} is not a quantity; write e.g. 500m, 2, 16Gi"
                        ) from None
