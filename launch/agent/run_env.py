"""The environment a launched job's official wandb client reads: run id, project, entity,
resume, launch trace and config overrides. Pure; runners add the API key their own way
(inline for a local process, a Secret reference in a Kubernetes manifest)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..models import QueueItem

# wandb's launch code shards WANDB_CONFIG past this length (WANDB_CONFIG_0, _1, ...).
MAX_ENV_LENGTH = 32_670
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def run_id_for(item: QueueItem) -> str:
    """The run an item logs to: its known run id, the one its spec names, else 8 characters
    derived from its id, so a requeued or redelivered item resumes the same run instead of
    starting another."""
    if item.run_id:
        return item.run_id
    # A run id the spec names (W&B's `launch_add(run_id=...)`, a launch sweep's trial).
    named = item.run_spec.get("run_id")
    if isinstance(named, str) and named:
        return named
    number = int.from_bytes(hashlib.sha256(item.id.encode()).digest()[:8], "big")
    chars = []
    for _ in range(8):
        number, digit = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return "".join(chars)


def config_env(config: dict[str, Any], limit: int = MAX_ENV_LENGTH) -> dict[str, str]:
    """WANDB_CONFIG, or WANDB_CONFIG_0.. when it is longer than `limit` characters."""
    text = json.dumps(config)
    if len(text) <= limit:
        return {"WANDB_CONFIG": text}
    return {
        f"WANDB_CONFIG_{i}": text[start : start + limit]
        for i, start in enumerate(range(0, len(text), limit))
    }


def wandb_values(item: QueueItem, server_url: str, run_id: str) -> dict[str, str]:
    """Every WANDB_* variable of a launched job except the API key."""
    spec = item.run_spec
    env = {
        "WANDB_BASE_URL": server_url,
        "WANDB_RUN_ID": run_id,
        "WANDB_PROJECT": str(spec.get("project") or "uncategorized"),
        "WANDB_ENTITY": str(spec.get("entity") or item.entity),
        "WANDB_RESUME": "allow",
        "WANDB_LAUNCH": "True",
        "WANDB_LAUNCH_QUEUE_NAME": item.queue,
        "WANDB_LAUNCH_QUEUE_ENTITY": item.entity,
        "WANDB_LAUNCH_TRACE_ID": item.id,
    }
    if spec.get("name"):
        env["WANDB_NAME"] = str(spec["name"])
    # A launch sweep's trial: its `wandb.init()` joins the sweep, as under W&B's agent.
    if isinstance(spec.get("sweep_id"), str) and spec["sweep_id"]:
        env["WANDB_SWEEP_ID"] = spec["sweep_id"]
    # A job's run uses its job artifact (W&B's `_wandb_job` slot), as under W&B's agent: the
    # official client then records the run's input and output types on the job.
    artifacts = dict((spec.get("overrides") or {}).get("artifacts") or {})
    if isinstance(spec.get("job"), str) and spec["job"]:
        artifacts = {"_wandb_job": spec["job"], **artifacts}
        # The client's job builder (off by default) is what writes those types; it only
        # touches the job the run used, and makes no new job for a job's run.
        env["WANDB_DISABLE_JOB_CREATION"] = "false"
    if artifacts:
        env["WANDB_ARTIFACTS"] = json.dumps(artifacts)
    run_config = (spec.get("overrides") or {}).get("run_config")
    if isinstance(run_config, dict) and run_config:
        env.update(config_env(run_config))
    return env


def local_env(item: QueueItem, server_url: str, api_key: str, run_id: str) -> dict[str, str]:
    """WANDB_* variables for a local process, with the key inline."""
    return {**wandb_values(item, server_url, run_id), "WANDB_API_KEY": api_key}
