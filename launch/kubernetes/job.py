"""Render a queue item into a `batch/v1` Job for a pool (pure).

The queue's rendered config is, like W&B's kubernetes resource args, a Job fragment; it
is merged over a base Job (containers by position, the first being the job's own). Then
the pool has the last word where it must: its nodeSelector (a job cannot leave its pool),
the item's GPU request and limit, the W&B environment (the API key from a Secret, never
a literal), the runyard labels, and the security policy.
"""

from __future__ import annotations

import copy
import hashlib
import re
from typing import Any

from ..agent.run_env import run_id_for, wandb_values
from ..models import QueueItem
from .pool import PoolSettings
from .security import check_pod_security

QUEUE_LABEL = "runyard.dev/queue"
ITEM_LABEL = "runyard.dev/item"
POOL_LABEL = "runyard.dev/pool"
RUN_LABEL = "runyard.dev/run-id"
AGENT_LABEL = "runyard.dev/agent"
JOB_PREFIX = "runyard-"
TTL_AFTER_FINISHED_S = 7 * 24 * 3600


class JobRenderError(ValueError):
    """The item cannot become a Job; the message names the field to set."""


def label_value(text: str) -> str:
    """A valid label value: at most 63 of [A-Za-z0-9_.-], alphanumeric at both ends."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "-", text)[:63]
    return cleaned.strip("-_.")


def job_name(item_id: str) -> str:
    """The item's Job name: the same for every delivery of the item (DNS-1123, <= 63)."""
    clean = re.sub(r"[^a-z0-9]", "", item_id.lower())
    if not clean:
        clean = hashlib.sha256(item_id.encode()).hexdigest()
    return f"{JOB_PREFIX}{clean[:40]}"


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
        longest = max(len(base), len(over))
        return [
            deep_merge(base[i], over[i])
            if i < len(base) and i < len(over)
            else copy.deepcopy(base[i] if i < len(base) else over[i])
            for i in range(longest)
        ]
    return copy.deepcopy(over)


def _image(item: QueueItem, pool: PoolSettings) -> str:
    spec = item.run_spec
    image = (spec.get("docker") or {}).get("docker_image") or spec.get("image_uri")
    image = image or pool.default_image
    if not image:
        raise JobRenderError(
            "the item names no image: set run_spec.docker.docker_image "
            "(wandb launch --docker-image) or the pool's default_image"
        )
    return str(image)


def _command(item: QueueItem) -> tuple[list[str] | None, list[str] | None]:
    """Container command and args from the run spec's entry point and argument overrides."""
    overrides = item.run_spec.get("overrides") or {}
    entry = overrides.get("entry_point") or item.run_spec.get("entry_point")
    if isinstance(entry, str):
        entry = entry.split()
    args = overrides.get("args")
    if isinstance(args, dict):
        args = [part for key, value in args.items() for part in (f"--{key}", str(value))]
    if entry is not None and not (
        isinstance(entry, list) and all(isinstance(p, str) for p in entry)
    ):
        raise JobRenderError("run_spec.entry_point must be a list of strings")
    if args is not None and not isinstance(args, list):
        raise JobRenderError("run_spec.overrides.args must be a list or a mapping")
    return entry or None, [str(a) for a in args] if args else None


def wandb_env_entries(item: QueueItem, pool: PoolSettings, run_id: str) -> list[dict[str, Any]]:
    """The W&B environment as container env entries, the API key from the pool's Secret."""
    entries: list[dict[str, Any]] = [
        {"name": name, "value": value}
        for name, value in wandb_values(item, pool.server_url, run_id).items()
    ]
    secret = pool.api_key_secret
    entries.append(
        {
            "name": "WANDB_API_KEY",
            "valueFrom": {"secretKeyRef": {"name": secret.name, "key": secret.key}},
        }
    )
    return entries


def render_job(item: QueueItem, pool: PoolSettings, agent_id: str) -> dict[str, Any]:
    """The complete Job manifest of an item on a pool; JobRenderError/PodSecurityError if not."""
    fragment = item.rendered_config or {}
    if not isinstance(fragment, dict):
        raise JobRenderError("the queue's config must be a mapping (a Job fragment)")
    kind = fragment.get("kind", "Job")
    api_version = fragment.get("apiVersion", "batch/v1")
    if (kind, api_version) != ("Job", "batch/v1"):
        raise JobRenderError(
            f"the queue's config asks for {api_version} {kind}; this agent creates batch/v1 "
            "Jobs only: remove kind/apiVersion from the queue config"
        )
    run_id = run_id_for(item)
    name = job_name(item.id)
    labels = {
        **pool.labels,
        QUEUE_LABEL: label_value(item.queue),
        ITEM_LABEL: label_value(item.id),
        POOL_LABEL: label_value(pool.name),
        RUN_LABEL: label_value(run_id),
        AGENT_LABEL: label_value(agent_id),
    }
    image = _image(item, pool)
    command, args = _command(item)
    base: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": pool.namespace},
        "spec": {
            "backoffLimit": 0,  # the agent decides retries (preemption, leases), not the Job
            "ttlSecondsAfterFinished": TTL_AFTER_FINISHED_S,
            "template": {
                "metadata": {},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "job", "image": image}],
                },
            },
        },
    }
    job = deep_merge(base, fragment)
    job["metadata"]["name"] = name
    job["metadata"]["namespace"] = pool.namespace
    pod = job["spec"]["template"]
    pod_spec = pod["spec"]
    check_pod_security(pod_spec, pool.allow_privileged)

    annotations = {
        **pool.annotations,
        "runyard.dev/queue-path": f"{item.entity}/{item.queue}",
        "runyard.dev/item-id": item.id,
    }
    for meta in (job["metadata"], pod.setdefault("metadata", {})):
        meta["labels"] = {**(meta.get("labels") or {}), **labels}
        meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}

    pod_spec["restartPolicy"] = "Never"
    pod_spec["nodeSelector"] = {**(pod_spec.get("nodeSelector") or {}), **pool.node_selector}
    tolerations = list(pod_spec.get("tolerations") or []) + list(pool.tolerations)
    gpus = item.requirements.gpus
    if gpus > 0 and not any(t.get("key") == pool.gpu_resource for t in tolerations):
        tolerations.append({"key": pool.gpu_resource, "operator": "Exists", "effect": "NoSchedule"})
    if tolerations:
        pod_spec["tolerations"] = tolerations
    if pool.service_account:
        pod_spec["serviceAccountName"] = pool.service_account
    pod_spec["automountServiceAccountToken"] = False
    if pool.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": s} for s in pool.image_pull_secrets]

    main = pod_spec["containers"][0]
    main.setdefault("image", image)
    if command:
        main["command"] = command
    if args:
        main["args"] = args
    if gpus > 0:
        wanted = main.setdefault("resources", {})
        for key in ("requests", "limits"):
            wanted.setdefault(key, {})[pool.gpu_resource] = gpus
    for container in pod_spec["containers"]:
        # Quantities are strings in the API's own types ("4", "64Gi"); templates may give numbers.
        resources = container.get("resources") or {}
        for key in ("requests", "limits"):
            section: dict[str, Any] = resources.get(key) or {}
            for name, value in section.items():
                section[name] = str(value)
    ours = wandb_env_entries(item, pool, run_id)
    names = {e["name"] for e in ours}
    main["env"] = [e for e in main.get("env") or [] if e.get("name") not in names] + ours
    return job
