"""Reading a W&B launch run spec: what a local process runs (pure).

A run spec names its command in one of three ways: `entry_point` (a list of words or one
string), `overrides.entry_point` (wins over the first), or `job` (a W&B job artifact, whose
own entry point comes from its `wandb-job.json`). A local-process queue needs one of them;
anything else (an image only, nothing at all) cannot run as a local process.
"""

from __future__ import annotations

import shlex
from typing import Any

LOCAL_PROCESS = "local-process"


def entry_point_of(run_spec: dict[str, Any]) -> list[str] | None:
    """The spec's own entry point (overrides first), split into words; None if it has none."""
    overrides = run_spec.get("overrides") or {}
    entry = (overrides.get("entry_point") if isinstance(overrides, dict) else None) or (
        run_spec.get("entry_point")
    )
    if isinstance(entry, str):
        entry = shlex.split(entry)
    return entry or None


def job_of(run_spec: dict[str, Any]) -> str | None:
    """The W&B job artifact the spec runs (`entity/project/name:alias`), if any."""
    job = run_spec.get("job")
    return job if isinstance(job, str) and job else None


def missing_entry_point(resource: str, queue: str, run_spec: dict[str, Any]) -> str | None:
    """Why an item cannot run on a queue of this resource, or None when it can.

    Only local-process queues need a command: other resources run the item's image.
    """
    if resource != LOCAL_PROCESS or entry_point_of(run_spec) or job_of(run_spec):
        return None
    image = (run_spec.get("docker") or {}).get("docker_image")
    what = f"it names only the image {image}" if image else "it has none"
    return (
        f"run_spec.entry_point is required on the local-process queue {queue} ({what}): "
        f"give the command, e.g. `runyard launch -q {queue.rsplit('/', 1)[-1]} -- python "
        "train.py` or run_spec.entry_point=['python', 'train.py'], or a W&B job "
        "(run_spec.job); to run an image, use a local-container or kubernetes queue"
    )
