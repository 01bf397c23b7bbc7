"""Render a queue item into a `batch/v1` Job for a pool (pure).

The queue's rendered config is, like W&B's kubernetes resource args, a Job fragment
(`{"metadata": ..., "spec": {"template": {"spec": {"containers": [...]}}}}`). It is
merged over a base Job: mappings key by key, lists of mappings (containers) by position,
the first container being the job's own ("main"). Then the pool and the item have the
last word where they must. Decisions:

- Only `batch/v1` Jobs here: a config naming another kind a pool declares in its
  `workload_kinds` is rendered by `workload.render_workload`, the same rules per pod template.
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
  settings (its service account) are added, and the whole template the pool's allow-lists
  of Secrets and priority classes (`allowlists`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from typing import Any

from ..models import QueueItem
from .allowlists import check_allowlists
from .names import label_value
from .pod_spec import (
    MAIN_CONTAINER,
    JobRenderError,
    check_containers,
    check_pod_shape,
    check_quantities,
    env_values_as_strings,
    main_image,
    place_pod,
    set_main_container,
)
from .pool import PoolSettings, pool_policy
from .security import check_pod_security
from .wandb_env import run_id_for

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
TTL_AFTER_FINISHED_S = 7 * 24 * 3600
# etcd refuses objects over ~1.5 MiB; stay clear of it with a message naming the cause.
MAX_MANIFEST_CHARS = 1_000_000
TOP_LEVEL_KEYS = ("apiVersion", "kind", "metadata", "spec")
POD = "spec.template.spec"
MAPPINGS = ("metadata", "spec", "spec.template", "spec.template.metadata", POD)


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
    if (kind, api_version) != ("Job", "batch/v1"):  # `workload.render_workload` makes those
        raise JobRenderError(f"render_job makes batch/v1 Jobs, not {api_version} {kind}")
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
    check_pod_shape(node, POD)
    return fragment


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


def label_metadata(
    meta: dict[str, Any], item: QueueItem, pool: PoolSettings, agent_id: str, run_id: str
) -> None:
    """The agent's `runyard.dev/*` labels and annotations over the pool's, over the template's."""
    labels = {
        QUEUE_LABEL: label_value(item.queue),
        ITEM_LABEL: label_value(item.id),
        POOL_LABEL: label_value(pool.name),
        RUN_LABEL: label_value(run_id),
        AGENT_LABEL: label_value(agent_id),
    }
    annotations = {QUEUE_PATH_ANNOTATION: f"{item.entity}/{item.queue}", ITEM_ANNOTATION: item.id}
    meta["labels"] = {**(meta.get("labels") or {}), **pool.labels, **labels}
    meta["annotations"] = {**(meta.get("annotations") or {}), **pool.annotations, **annotations}


def check_size(manifest: dict[str, Any], item: QueueItem) -> None:
    """Refuse a manifest etcd would refuse, naming what made it big."""
    size = len(json.dumps(manifest))
    if size > MAX_MANIFEST_CHARS:
        config = len(json.dumps((item.run_spec.get("overrides") or {}).get("run_config") or {}))
        raise JobRenderError(
            f"the {manifest.get('kind', 'Job')} would be {size} characters, over Kubernetes' "
            f"object size limit; run_spec.overrides.run_config alone is {config}: pass large "
            "configs as a file or artifact instead"
        )


def render_job(item: QueueItem, pool: PoolSettings, agent_id: str) -> dict[str, Any]:
    """The complete Job manifest of an item on a pool; JobRenderError/PodSecurityError if not."""
    fragment = _check_fragment(item.rendered_config or {})
    check_allowlists(fragment, pool_policy(pool))
    start_timeout_s(item, pool)  # refuse a bad annotation now, not when the pod waits
    run_id = run_id_for(item)
    template_containers = _at(fragment, f"{POD}.containers") or [{}]
    image = main_image(item, pool, template_containers[0].get("image"))
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
    check_containers(pod_spec, pool.gpu_resource, POD)
    check_pod_security(pod_spec, pool.allow_privileged, at=POD)

    for meta in (job["metadata"], pod.setdefault("metadata", {})):
        label_metadata(meta, item, pool, agent_id, run_id)

    place_pod(pod_spec, pool, item.requirements.gpus)
    set_main_container(pod_spec["containers"][0], item, pool, image, run_id)
    check_quantities(pod_spec, POD)
    env_values_as_strings(pod_spec, POD)
    check_size(job, item)
    return job
