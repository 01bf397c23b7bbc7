"""Which workload an item becomes, and rendering the ones that are not Jobs (pure).

A queue template names its workload by `apiVersion`/`kind`: none (or batch/v1 Job) makes
a Job (`job.render_job`); a custom resource the pool declares in `workload_kinds` (a
JobSet for multi-node training, say) is rendered here; anything else is refused at the
`agent` stage, naming the setting to change. Decisions for custom workloads:

- The template is the whole manifest (its operator owns the schema): it is kept as
  written, except the name (from the item id, so a redelivery adopts it), the pool's
  namespace, and the agent's labels and annotations on it and on every pod template.
- A pod template is any mapping under a `template` key whose `spec` has `containers`
  (JobSet: `spec.replicatedJobs[i].template.spec.template`; PyTorchJob:
  `spec.pytorchReplicaSpecs.Worker.template`). There must be at least one. Each gets
  what a Job's pod gets (`pod_spec`): security checks, the pool's placement, the main
  container's image, command, the item's GPUs (per pod) and the W&B environment. A
  template's `restartPolicy` stands: retries inside the workload are its controller's.
- Its end is read from status conditions as custom controllers write them:
  `Complete`/`Completed`/`Succeeded` True -> finished, `Failed` True -> failed.
"""

from __future__ import annotations

import copy
from typing import Any

from ..models import ItemState, QueueItem
from .allowlists import check_allowlists
from .job import (
    TOP_LEVEL_KEYS,
    check_size,
    job_name,
    label_metadata,
    render_job,
    start_timeout_s,
)
from .pod_spec import (
    JobRenderError,
    check_containers,
    check_pod_shape,
    check_quantities,
    env_values_as_strings,
    main_image,
    place_pod,
    set_main_container,
)
from .pool import PoolSettings, WorkloadKind, pool_policy
from .security import check_pod_security
from .wandb_env import run_id_for

DONE_CONDITIONS = ("Complete", "Completed", "Succeeded")
FAILED_CONDITIONS = ("Failed",)


def workload_kind_for(item: QueueItem, pool: PoolSettings) -> WorkloadKind | None:
    """The custom kind the item's template names (None: a batch/v1 Job), or JobRenderError."""
    fragment = item.rendered_config
    if not isinstance(fragment, dict):
        return None  # render_job says what is wrong with it
    kind, api_version = fragment.get("kind"), fragment.get("apiVersion")
    if kind in (None, "Job") and api_version in (None, "batch/v1"):
        return None
    for declared in pool.workload_kinds:
        if (declared.api_version, declared.kind) == (api_version, kind):
            return declared
    runs = ", ".join(["batch/v1 Job", *(f"{k.api_version} {k.kind}" for k in pool.workload_kinds)])
    raise JobRenderError(
        f"the queue's config asks for {api_version or '(no apiVersion)'} {kind or '(no kind)'}; "
        f"pool {pool.name} runs {runs}: add it to the pool's workload_kinds (agent config, "
        "with RBAC for the agent) or remove kind/apiVersion from the queue config"
    )


def pod_templates(node: Any, at: str) -> list[tuple[str, dict[str, Any]]]:
    """Every pod template under `node` with its path; nested ones are not searched twice."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{at}.{key}"
            spec = value.get("spec") if isinstance(value, dict) else None
            if key == "template" and isinstance(spec, dict) and "containers" in spec:
                found.append((path, value))
            else:
                found.extend(pod_templates(value, path))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(pod_templates(value, f"{at}[{i}]"))
    return found


def _check_manifest(fragment: Any, kind: WorkloadKind) -> dict[str, Any]:
    if not isinstance(fragment, dict):
        raise JobRenderError(f"the queue's config must be a mapping (a {kind.kind} manifest)")
    unknown = sorted(set(fragment) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise JobRenderError(
            f"the queue's config has unknown top-level keys {unknown}: a {kind.kind} has only "
            f"{', '.join(TOP_LEVEL_KEYS)} (the pool sets the namespace)"
        )
    for key in ("metadata", "spec"):
        if not isinstance(fragment.get(key) or {}, dict):
            raise JobRenderError(f"the queue's config: {key} must be a mapping")
    return copy.deepcopy(fragment)


def render_workload(
    item: QueueItem, pool: PoolSettings, agent_id: str, kind: WorkloadKind
) -> dict[str, Any]:
    """The complete manifest of a custom workload; JobRenderError/PodSecurityError if not."""
    manifest = _check_manifest(item.rendered_config or {}, kind)
    check_allowlists(manifest, pool_policy(pool))  # its own fields may name Secrets too
    start_timeout_s(item, pool)  # refuse a bad annotation now, not when the pods wait
    manifest["apiVersion"], manifest["kind"] = kind.api_version, kind.kind
    meta = manifest.setdefault("metadata", {})
    meta.pop("generateName", None)
    meta["name"] = job_name(item.id)
    meta["namespace"] = pool.namespace
    run_id = run_id_for(item)
    label_metadata(meta, item, pool, agent_id, run_id)
    templates = pod_templates(manifest.get("spec") or {}, "spec")
    if not templates:
        raise JobRenderError(
            f"the queue's config: the {kind.kind} has no pod template (a `template` whose "
            "spec has containers) under spec: the agent places and labels its pods through it"
        )
    for path, template in templates:
        at = f"{path}.spec"
        pod_spec = template["spec"]
        check_pod_shape(pod_spec, at)
        containers = pod_spec.get("containers") or []
        if not containers:
            raise JobRenderError(f"the queue's config: {at}.containers is empty")
        image = main_image(item, pool, containers[0].get("image"))
        containers[0]["image"] = image
        check_containers(pod_spec, pool.gpu_resource, at)
        check_pod_security(pod_spec, pool.allow_privileged, at=at)
        label_metadata(template.setdefault("metadata", {}), item, pool, agent_id, run_id)
        place_pod(pod_spec, pool, item.requirements.gpus, restart_policy=None)
        set_main_container(containers[0], item, pool, image, run_id)
        check_quantities(pod_spec, at)
        env_values_as_strings(pod_spec, at)
    check_size(manifest, item)
    return manifest


def render_manifest(
    item: QueueItem, pool: PoolSettings, agent_id: str
) -> tuple[dict[str, Any], WorkloadKind | None]:
    """The item's workload manifest and its custom kind (None for a batch/v1 Job)."""
    kind = workload_kind_for(item, pool)
    if kind is None:
        return render_job(item, pool, agent_id), None
    return render_workload(item, pool, agent_id, kind), kind


def workload_outcome(workload: dict[str, Any]) -> tuple[ItemState, str] | None:
    """Finished or failed (with the controller's message) from status conditions, else None."""
    ended = {
        c.get("type"): str(c.get("message") or c.get("reason") or "")
        for c in (workload.get("status") or {}).get("conditions") or []
        if isinstance(c, dict) and c.get("status") == "True"
    }
    for types, state in (
        (FAILED_CONDITIONS, ItemState.FAILED),
        (DONE_CONDITIONS, ItemState.FINISHED),
    ):
        for type_ in types:
            if type_ in ended:
                return state, ended[type_]
    return None
