"""Render a queue item into a `batch/v1` Job for a pool (pure).

The queue's rendered config is, like W&B's kubernetes resource args, a Job fragment
(`{"metadata": ..., "spec": {"template": {"spec": {"containers": [...]}}}}`). It is
merged over a base Job: mappings key by key, lists of mappings (containers) by position,
the first container being the job's own ("main"). Then the pool and the item have the
last word where they must. Decisions:

- Only `batch/v1` Jobs: a config naming another kind/apiVersion is refused (the runner
  watches Jobs and their pods; other kinds would need their own state tracking).
- Placement belongs to the pool: its nodeSelector wins key by key (a template may add
  labels, which only narrows the choice within the pool), `nodeName` is refused, and
  its tolerations are added to the template's, plus the GPU taint's when GPUs are asked.
- The item's GPU count wins: requests and limits of `pool.gpu_resource` on the main
  container are set to `item.requirements.gpus` (what the claim was sized by), whatever
  the template says; sidecars may not ask for GPUs. With 0 GPUs the template's stands.
- The image: `run_spec.docker.docker_image` (or `image_uri`), else the template's main
  container image, else the pool's `default_image`. Command and args from the run spec
  (`overrides.entry_point` / `entry_point`, `overrides.args`) replace the template's, on
  the main container only (W&B sets them on every container; sidecars have their own).
- `restartPolicy: Never`, `backoffLimit: 0`, `parallelism`/`completions` 1: one pod per
  attempt; the agent, not the Job controller, decides retries (preemption, leases).
- Labels and annotations: the agent's `runyard.dev/*` win over the pool's, which win
  over the template's, on the Job and on its pod template.
- Service account: the pool's, token mounted only when the pool names one; otherwise no
  token at all. The template may not choose (see `security`).
- The W&B environment is appended to the main container (`wandb_env`), replacing entries
  of the same name; the API key comes from a Secret, never as a literal.
- The template's pod spec must pass `security.check_pod_security` before the pool's own
  settings (its service account) are added.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
import shlex
from typing import Any

from kubernetes.utils import parse_quantity

from ..models import QueueItem
from .names import label_value
from .pool import PoolSettings, gpu_toleration
from .security import check_pod_security
from .wandb_env import is_config_var, run_id_for, wandb_env

__all__ = [
    "AGENT_LABEL",
    "ITEM_LABEL",
    "JOB_NAME_PREFIX",
    "POOL_LABEL",
    "QUEUE_LABEL",
    "RUN_LABEL",
    "START_TIMEOUT_ANNOTATION",
    "JobRenderError",
    "deep_merge",
    "job_name",
    "label_value",
    "render_job",
    "start_timeout_s",
]

QUEUE_LABEL = "runyard.dev/queue"
ITEM_LABEL = "runyard.dev/item"
POOL_LABEL = "runyard.dev/pool"
RUN_LABEL = "runyard.dev/run-id"
AGENT_LABEL = "runyard.dev/agent"
QUEUE_PATH_ANNOTATION = "runyard.dev/queue-path"
ITEM_ANNOTATION = "runyard.dev/item-id"
# Set in a queue's config template (metadata.annotations) to give that queue's jobs their
# own start timeout: big multi-node jobs may wait longer for GPUs than small ones.
START_TIMEOUT_ANNOTATION = "runyard.dev/start-timeout-s"
JOB_NAME_PREFIX = "runyard-"
MAIN_CONTAINER = "job"
TTL_AFTER_FINISHED_S = 7 * 24 * 3600
# etcd refuses objects over ~1.5 MiB; stay clear of it with a message naming the cause.
MAX_MANIFEST_CHARS = 1_000_000
TOP_LEVEL_KEYS = ("apiVersion", "kind", "metadata", "spec")
POD = "spec.template.spec"
MAPPINGS = ("metadata", "spec", "spec.template", "spec.template.metadata", POD)


class JobRenderError(ValueError):
    """The item cannot become a Job; the message names the field to set or remove."""


def job_name(item_id: str) -> str:
    """The item's Job name: the same for every delivery of the item (DNS-1123, <= 63)."""
    clean = re.sub(r"[^a-z0-9]", "", item_id.lower())
    if clean == item_id and 0 < len(clean) <= 40:
        return f"{JOB_NAME_PREFIX}{clean}"  # the usual case: a uuid4 hex id
    # Cleaning or cutting could make two ids meet; a digest of the whole id keeps them apart.
    digest = hashlib.sha256(item_id.encode()).hexdigest()[:10]
    return f"{JOB_NAME_PREFIX}{clean[:30]}-{digest}" if clean else f"{JOB_NAME_PREFIX}{digest}"


def deep_merge(base: Any, over: Any) -> Any:
    """`over` on top of `base`: mappings key by key, lists of mappings by position."""
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = deep_merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    if (
        isinstance(base, list)
        and isinstance(over, list)
        and all(isinstance(v, dict) for v in base + over)
    ):
        return [
            deep_merge(base[i], over[i])
            if i < len(base) and i < len(over)
            else copy.deepcopy(base[i] if i < len(base) else over[i])
            for i in range(max(len(base), len(over)))
        ]
    return copy.deepcopy(over)


def _at(tree: dict[str, Any], path: str) -> Any:
    """The value at a dotted path, or None where any level is missing or not a mapping."""
    node: Any = tree
    for key in path.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _check_fragment(fragment: Any) -> dict[str, Any]:
    """The queue's rendered config as a Job fragment, or a JobRenderError saying what is off."""
    if not isinstance(fragment, dict):
        raise JobRenderError("the queue's config must be a mapping (a Job manifest fragment)")
    unknown = sorted(set(fragment) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise JobRenderError(
            f"the queue's config has unknown top-level keys {unknown}: a Job fragment has "
            f"only {', '.join(TOP_LEVEL_KEYS)} (the pool sets the namespace)"
        )
    kind, api_version = fragment.get("kind", "Job"), fragment.get("apiVersion", "batch/v1")
    if (kind, api_version) != ("Job", "batch/v1"):
        raise JobRenderError(
            f"the queue's config asks for {api_version} {kind}; this agent creates batch/v1 "
            "Jobs only: remove kind/apiVersion from the queue config"
        )
    for path in MAPPINGS:
        node = _at(fragment, path)
        if node is not None and not isinstance(node, dict):
            raise JobRenderError(f"the queue's config: {path} must be a mapping")
    spec = fragment.get("spec") or {}
    node = _at(fragment, POD) or {}
    for field in ("parallelism", "completions"):
        if spec.get(field) not in (None, 1):
            raise JobRenderError(
                f"the queue's config: spec.{field} must be 1 (one pod per item); remove it"
            )
    for field in ("containers", "initContainers"):
        value = node.get(field)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(c, dict) for c in value)
        ):
            raise JobRenderError(f"the queue's config: {POD}.{field} must be a list of mappings")
    if node.get("nodeName"):
        raise JobRenderError(
            f"the queue's config: {POD}.nodeName bypasses the scheduler and the pool; remove it"
        )
    return fragment


def _image(item: QueueItem, pool: PoolSettings, template_image: Any) -> str:
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


def _check_containers(pod_spec: dict[str, Any], gpu: str) -> None:
    names: set[str] = set()
    for kind in ("initContainers", "containers"):
        for i, container in enumerate(pod_spec.get(kind) or []):
            path = f"{POD}.{kind}[{i}]"
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


def _place(pod_spec: dict[str, Any], pool: PoolSettings, gpus: int) -> None:
    """The pool's placement, service account and pull secrets on the pod spec."""
    pod_spec["restartPolicy"] = "Never"
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


def _set_main(
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


def _env_values_as_strings(pod_spec: dict[str, Any]) -> None:
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
                        f"the queue's config: {POD}.{kind}[{i}].env[{j}].value "
                        f"({var.get('name')}) is a {type(value).__name__}; env values are "
                        "strings: quote it or pass JSON text"
                    )


def _check_quantities(pod_spec: dict[str, Any]) -> None:
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
                            f"the queue's config: {POD}.{kind}[{i}].resources.{key}.{name}: "
                            f"{value!r} is not a quantity; write e.g. 500m, 2, 16Gi"
                        ) from None


def start_timeout_s(item: QueueItem, pool: PoolSettings) -> float:
    """How long the item's pod may wait to start: the queue template's annotation, else the
    pool's `start_timeout_s`; JobRenderError naming the annotation when it is not seconds."""
    metadata = (item.rendered_config or {}).get("metadata")
    annotations = (metadata.get("annotations") if isinstance(metadata, dict) else None) or {}
    raw = annotations.get(START_TIMEOUT_ANNOTATION) if isinstance(annotations, dict) else None
    if raw is None:
        return pool.start_timeout_s
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise JobRenderError(
            f"the queue's config: metadata.annotations[{START_TIMEOUT_ANNOTATION}] is {raw!r}; "
            'it must be a number of seconds above 0, as a string, e.g. "900"'
        )
    return value


def render_job(item: QueueItem, pool: PoolSettings, agent_id: str) -> dict[str, Any]:
    """The complete Job manifest of an item on a pool; JobRenderError/PodSecurityError if not."""
    fragment = _check_fragment(item.rendered_config or {})
    start_timeout_s(item, pool)  # refuse a bad annotation now, not when the pod waits
    run_id = run_id_for(item)
    template_containers = _at(fragment, f"{POD}.containers") or [{}]
    image = _image(item, pool, template_containers[0].get("image"))
    base: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {},
        "spec": {
            "ttlSecondsAfterFinished": TTL_AFTER_FINISHED_S,
            "template": {
                "metadata": {},
                "spec": {"containers": [{"name": MAIN_CONTAINER, "image": image}]},
            },
        },
    }
    job = deep_merge(base, fragment)
    job["metadata"].pop("generateName", None)
    job["metadata"]["name"] = job_name(item.id)
    job["metadata"]["namespace"] = pool.namespace
    job["spec"].update(backoffLimit=0, parallelism=1, completions=1)
    pod = job["spec"]["template"]
    pod_spec = pod["spec"]
    _check_containers(pod_spec, pool.gpu_resource)
    check_pod_security(pod_spec, pool.allow_privileged, at=POD)

    labels = {
        QUEUE_LABEL: label_value(item.queue),
        ITEM_LABEL: label_value(item.id),
        POOL_LABEL: label_value(pool.name),
        RUN_LABEL: label_value(run_id),
        AGENT_LABEL: label_value(agent_id),
    }
    annotations = {QUEUE_PATH_ANNOTATION: f"{item.entity}/{item.queue}", ITEM_ANNOTATION: item.id}
    for meta in (job["metadata"], pod.setdefault("metadata", {})):
        meta["labels"] = {**(meta.get("labels") or {}), **pool.labels, **labels}
        meta["annotations"] = {**(meta.get("annotations") or {}), **pool.annotations, **annotations}

    _place(pod_spec, pool, item.requirements.gpus)
    _set_main(pod_spec["containers"][0], item, pool, image, run_id)
    _check_quantities(pod_spec)
    _env_values_as_strings(pod_spec)
    size = len(json.dumps(job))
    if size > MAX_MANIFEST_CHARS:
        config = len(json.dumps((item.run_spec.get("overrides") or {}).get("run_config") or {}))
        raise JobRenderError(
            f"the Job would be {size} characters, over Kubernetes' object size limit; "
            f"run_spec.overrides.run_config alone is {config}: pass large configs as a file "
            "or artifact instead"
        )
    return job
