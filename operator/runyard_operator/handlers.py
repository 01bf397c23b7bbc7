"""kopf handlers: thin shells that fetch, call the pure reconcilers, apply, and write status.

Run with `kopf run --module=runyard.operator.handlers [--peering=NAME | --standalone]`.
Every handler is idempotent (create-or-merge-patch of the desired objects), so kopf's
retries and the periodic timers converge instead of piling up changes. A spec the
reconcilers refuse sets a Degraded condition naming the field, and nothing is applied.
"""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime
from typing import Any

import kopf
import kubernetes
from kubernetes.client import ApiClient
from prometheus_client import start_http_server

from runyard.client import ApiError

from . import render_pool, render_queue, render_rollout, render_server, status
from .agent_pool import AgentPoolSpec
from .api import API_VERSION, GROUP, VERSION, ServerRef
from .apply import Cluster
from .launch_queue import MANAGED_BY, LaunchQueueSpec
from .metrics import AGENTS, QUEUE_DEPTH, RECONCILES
from .objects import RETAINED, SpecError, parse_spec
from .scaling import decide, pending_that_fit
from .server_client import ServerClient, generate_api_key
from .settings import OperatorSettings
from .tracking_server import TrackingServerSpec

log = logging.getLogger(__name__)
SETTINGS = OperatorSettings.from_env()
FINALIZER = f"{GROUP}/finalizer"
_api: ApiClient | None = None


def _cluster() -> Cluster:
    global _api
    if _api is None:
        try:
            kubernetes.config.load_incluster_config()
            _api = ApiClient()
        except kubernetes.config.ConfigException:
            _api = kubernetes.config.new_client_from_config()
    return Cluster(_api)


def _now() -> datetime:
    return datetime.now(UTC)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    """Our finalizer name, quiet k8s events, and the metrics endpoint."""
    settings.persistence.finalizer = FINALIZER
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    if SETTINGS.metrics_port:
        start_http_server(SETTINGS.metrics_port)


def _degrade(kind: str, patch: kopf.Patch, st: Any, generation: int, exc: SpecError) -> None:
    previous = dict(st or {})
    conditions: list[dict[str, Any]] = previous.get("conditions") or []
    was = next((c for c in conditions if c.get("type") == "Degraded"), {})
    if was.get("message") != str(exc):  # timers re-check: log a refusal once, not every tick
        log.warning("spec refused", extra={"kind": kind, "error": str(exc)})
    patch.status.update(status.degraded_status(previous, generation, _now(), str(exc)))
    RECONCILES.labels(kind, "degraded").inc()


def _missing_secrets(cluster: Cluster, namespace: str, refs: list[tuple[str, str, str]]) -> None:
    """Raise SpecError naming each referenced Secret (or key) that does not exist."""
    problems = []
    for field, name, key in refs:
        secret = cluster.get("v1", "Secret", namespace, name)
        if secret is None:
            problems.append(f"{field}: Secret {name!r} not found in namespace {namespace}")
        elif key not in (secret.get("data") or {}) and key not in (secret.get("stringData") or {}):
            problems.append(f"{field}: Secret {name!r} has no key {key!r}")
    if problems:
        raise SpecError("; ".join(problems))


def _secret_value(cluster: Cluster, namespace: str, name: str, key: str) -> str | None:
    secret = cluster.get("v1", "Secret", namespace, name)
    if secret is None:
        return None
    if key in (secret.get("stringData") or {}):
        return str(secret["stringData"][key])
    raw = (secret.get("data") or {}).get(key)
    return base64.b64decode(raw).decode() if raw else None


# --- TrackingServer ---------------------------------------------------------------------------


@kopf.on.resume(GROUP, VERSION, "trackingservers")
@kopf.on.create(GROUP, VERSION, "trackingservers")
@kopf.on.update(GROUP, VERSION, "trackingservers")
@kopf.timer(GROUP, VERSION, "trackingservers", interval=SETTINGS.interval_s, idle=1)
def reconcile_server(
    body: kopf.Body, name: str, namespace: str | None, patch: kopf.Patch, **_: Any
) -> None:
    """Apply the server's objects and report Ready once its Deployment has ready replicas."""
    namespace = namespace or "default"
    generation = int(body.meta.get("generation") or 1)
    cluster = _cluster()
    try:
        spec = parse_spec(TrackingServerSpec, dict(body.spec))
        _missing_secrets(cluster, namespace, render_server.required_secrets(spec))
    except SpecError as exc:
        _degrade("TrackingServer", patch, body.status, generation, exc)
        return
    names = render_server.names(name, spec)
    has_key = cluster.get("v1", "Secret", namespace, names["admin"]) is not None
    new_key = None if has_key else generate_api_key()
    shared = render_rollout.shared_secret_name(name, spec)
    has_shared = cluster.get("v1", "Secret", namespace, shared) is not None
    job_name = render_rollout.migration_job_name(name, render_server.image(spec, SETTINGS))
    job = cluster.get("batch/v1", "Job", namespace, job_name)
    gate = render_rollout.rollout_gate(spec, job_name, job)
    owner = dict(body)
    for obj in render_server.desired(
        name,
        namespace,
        spec,
        new_key,
        SETTINGS,
        new_shared_keys=None if has_shared else render_rollout.new_shared_keys(),
        deploy=gate.deploy,
    ):
        cluster.apply(obj, owner)
    deployment = cluster.get("apps/v1", "Deployment", namespace, names["deployment"])
    patch.status.update(
        status.server_status(
            dict(body.status or {}),
            generation,
            _now(),
            deployment=deployment,
            url=render_server.server_url(name, namespace, spec),
            version=render_server.version(spec, SETTINGS),
            admin_secret=names["admin"],
            degraded=gate.failed,
            waiting=gate.waiting,
        )
    )
    RECONCILES.labels("TrackingServer", "degraded" if gate.failed else "ok").inc()


@kopf.on.delete(GROUP, VERSION, "trackingservers")
def delete_server(body: kopf.Body, name: str, namespace: str | None, **_: Any) -> None:
    """Retention policy: `detach` keeps volumes and the admin key, `purge` deletes them."""
    namespace = namespace or "default"
    cluster = _cluster()
    policy = dict(body.spec).get("retentionPolicy", "detach")
    retained = cluster.list("v1", "PersistentVolumeClaim", namespace, f"{RETAINED}={name}")
    admin = dict(body.status).get("adminKeySecret") or f"{name}-admin-key"
    secret = cluster.get("v1", "Secret", namespace, admin)
    kept = [("PersistentVolumeClaim", p) for p in retained]
    if secret is not None:
        kept.append(("Secret", secret))
    uid = body.meta.get("uid")
    for kind, obj in kept:
        owned = any(r.get("uid") == uid for r in obj["metadata"].get("ownerReferences") or [])
        obj_name = obj["metadata"]["name"]
        if policy == "purge":
            if owned or kind == "PersistentVolumeClaim":
                cluster.delete("v1", kind, namespace, obj_name)
        elif owned:
            # Without its owner reference the garbage collector leaves the object alone.
            cluster.patch("v1", kind, namespace, obj_name, {"metadata": {"ownerReferences": None}})
    log.info("deleted", extra={"server": name, "policy": policy, "kept": len(kept)})


# --- helpers for queues and pools -------------------------------------------------------------


def _server_of(
    cluster: Cluster, namespace: str, ref: ServerRef
) -> tuple[str, tuple[str, str], str | None]:
    """(URL, (Secret, key) of an API key, the key itself) of the server a CR points at."""
    if ref.url is not None and ref.api_key_secret is not None:
        secret = (ref.api_key_secret.name, ref.api_key_secret.key)
        _missing_secrets(cluster, namespace, [("spec.serverRef.apiKeySecret", *secret)])
        return ref.url.rstrip("/"), secret, _secret_value(cluster, namespace, *secret)
    name = ref.name or ""
    server = cluster.get(API_VERSION, "TrackingServer", namespace, name)
    if server is None:
        raise SpecError(
            f"spec.serverRef.name: TrackingServer {name!r} not found in namespace {namespace}"
        )
    spec = TrackingServerSpec.model_validate(server.get("spec") or {})
    secret = (render_server.names(name, spec)["admin"], spec.admin_key.key)
    key = _secret_value(cluster, namespace, *secret)
    return render_server.internal_url(name, namespace), secret, key


# --- LaunchQueue ------------------------------------------------------------------------------


@kopf.on.resume(GROUP, VERSION, "launchqueues")
@kopf.on.create(GROUP, VERSION, "launchqueues")
@kopf.on.update(GROUP, VERSION, "launchqueues")
@kopf.timer(GROUP, VERSION, "launchqueues", interval=SETTINGS.interval_s, idle=1)
def reconcile_queue(
    body: kopf.Body, name: str, namespace: str | None, patch: kopf.Patch, **_: Any
) -> None:
    """Upsert the queue in its server (the CR wins) and report the server's queue stats."""
    namespace = namespace or "default"
    generation = int(body.meta.get("generation") or 1)
    cluster = _cluster()
    try:
        spec = parse_spec(LaunchQueueSpec, dict(body.spec))
        queue = render_queue.queue_body(name, spec)
        url, _secret, key = _server_of(cluster, namespace, spec.server_ref)
    except SpecError as exc:
        _degrade("LaunchQueue", patch, body.status, generation, exc)
        return
    if key is None:
        raise kopf.TemporaryError("the server's admin key Secret does not exist yet", delay=10)
    client = ServerClient(url, key, timeout=10)
    try:
        stored = client.upsert_queue(queue)
    except ApiError as exc:
        RECONCILES.labels("LaunchQueue", "error").inc()
        if 400 <= exc.status < 500 and exc.status not in (401, 403, 404):
            _degrade("LaunchQueue", patch, body.status, generation, SpecError(exc.args[0]))
            return
        raise kopf.TemporaryError(f"server: {exc}", delay=15) from exc
    finally:
        client.close()
    counts = render_queue.queue_status(stored.get("stats") or {})
    for state in ("pending", "running"):
        QUEUE_DEPTH.labels(namespace, name, state).set(counts[state])
    patch.status.update(
        status.queue_status_full(dict(body.status or {}), generation, _now(), counts)
    )
    RECONCILES.labels("LaunchQueue", "ok").inc()


@kopf.on.delete(GROUP, VERSION, "launchqueues")
def delete_queue(body: kopf.Body, name: str, namespace: str | None, **_: Any) -> None:
    """Remove the queue from its server; a server that is gone does not block the delete."""
    namespace = namespace or "default"
    try:
        spec = parse_spec(LaunchQueueSpec, dict(body.spec))
        url, _secret, key = _server_of(_cluster(), namespace, spec.server_ref)
    except SpecError:
        return
    if key is None:
        return
    client = ServerClient(url, key, timeout=10)
    try:
        client.delete_queue(spec.server_ref.entity, spec.queue_name or name, MANAGED_BY)
    except ApiError as exc:
        log.warning("queue not deleted on the server", extra={"queue": name, "error": str(exc)})
    finally:
        client.close()


# --- AgentPool --------------------------------------------------------------------------------


def _queue_names(cluster: Cluster, namespace: str, queues: list[str]) -> list[str]:
    """LaunchQueue CR names -> their names on the server (`entity/name` passes through)."""
    out = []
    for queue in queues:
        cr = None if "/" in queue else cluster.get(API_VERSION, "LaunchQueue", namespace, queue)
        out.append(((cr or {}).get("spec") or {}).get("queueName") or queue)
    return out


def _work(
    url: str, key: str | None, entity: str, queues: list[str], gpus_per_node: int
) -> tuple[int, int] | None:
    """(pending that fit the pool, running) over the pool's queues; None: server unreachable."""
    if key is None:
        return None
    client = ServerClient(url, key, timeout=10)
    pending = running = 0
    try:
        for queue in queues:
            owner, _, queue_name = queue.rpartition("/")
            items = client.list_items(owner or entity, queue_name, ["pending"])
            pending += pending_that_fit(items, gpus_per_node)
            stats = client.get_queue(owner or entity, queue_name).get("stats") or {}
            running += render_queue.queue_status(stats)["running"]
    except ApiError as exc:
        log.warning("queue stats unavailable", extra={"error": str(exc)})
        return None
    finally:
        client.close()
    return pending, running


@kopf.on.resume(GROUP, VERSION, "agentpools")
@kopf.on.create(GROUP, VERSION, "agentpools")
@kopf.on.update(GROUP, VERSION, "agentpools")
@kopf.timer(GROUP, VERSION, "agentpools", interval=SETTINGS.interval_s, idle=1)
def reconcile_pool(
    body: kopf.Body, name: str, namespace: str | None, patch: kopf.Patch, **_: Any
) -> None:
    """Scale and apply the pool's agents; report replicas, GPUs and work."""
    namespace = namespace or "default"
    generation = int(body.meta.get("generation") or 1)
    previous = dict(body.status or {})
    cluster = _cluster()
    try:
        spec = parse_spec(AgentPoolSpec, dict(body.spec))
        url, server_key, key = _server_of(cluster, namespace, spec.server_ref)
        queues = _queue_names(cluster, namespace, spec.queues)
        # Rendered once with a placeholder count first: a bad spec applies nothing at all.
        render_pool.desired(
            name,
            namespace,
            spec,
            replicas=0,
            server_url=url,
            server_key=server_key,
            queues=queues,
            settings=SETTINGS,
        )
        if spec.api_key_secret is not None:
            ref = spec.api_key_secret
            _missing_secrets(cluster, namespace, [("spec.apiKeySecret", ref.name, ref.key)])
    except SpecError as exc:
        _degrade("AgentPool", patch, body.status, generation, exc)
        return
    names = render_pool.names(name, namespace)
    existing = cluster.get("apps/v1", "Deployment", namespace, names["deployment"])
    current = int(((existing or {}).get("spec") or {}).get("replicas", spec.scaling.min_replicas))
    work = _work(url, key, spec.server_ref.entity, queues, spec.node_pool.gpus_per_node)
    pending, running = work if work is not None else (0, int(previous.get("running") or 0))
    last = previous.get("lastScaleTime")
    now = _now()
    decision = decide(
        current=current,
        pending_fit=pending if work is not None else 0,
        running=running,
        max_jobs_per_agent=spec.max_jobs_per_agent,
        target_jobs_per_agent=spec.scaling.target_jobs_per_agent,
        min_replicas=spec.scaling.min_replicas,
        max_replicas=spec.scaling.max_replicas,
        requested=spec.replicas,
        last_scale_change=datetime.fromisoformat(last) if last else None,
        cooldown_seconds=spec.scaling.cooldown_seconds,
        now=now,
    )
    # Unknown work (server unreachable): never scale down on a guess.
    replicas = decision.replicas if work is not None else max(decision.replicas, current)
    own = spec.api_key_secret
    job_api_key = _secret_value(cluster, namespace, own.name, own.key) if own else key
    owner = dict(body)
    for obj in render_pool.desired(
        name,
        namespace,
        spec,
        replicas=replicas,
        server_url=url,
        server_key=server_key,
        queues=queues,
        settings=SETTINGS,
        api_key=job_api_key,
    ):
        cluster.apply(obj, owner)
    if replicas != current:
        log.info("scaled", extra={"pool": name, "reason": decision.reason})
        last = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    deployment = cluster.get("apps/v1", "Deployment", namespace, names["deployment"])
    nodes = cluster.list("v1", "Node", None)
    pods = cluster.list("v1", "Pod", None) if nodes else []
    gpus = status.gpu_capacity(
        nodes, pods, spec.node_pool.node_selector, spec.node_pool.gpu_resource
    )
    new = status.pool_status(
        previous,
        generation,
        now,
        deployment=deployment,
        desired_replicas=replicas,
        selector=",".join(f"{k}={v}" for k, v in render_pool.selector("agent", name).items()),
        gpus=gpus,
        running=running,
        pending=pending,
        last_scale_time=last,
    )
    AGENTS.labels(namespace, name, "desired").set(replicas)
    AGENTS.labels(namespace, name, "actual").set(new["readyReplicas"])
    patch.status.update(new)
    RECONCILES.labels("AgentPool", "ok").inc()


@kopf.on.delete(GROUP, VERSION, "agentpools")
def delete_pool(body: kopf.Body, name: str, namespace: str | None, **_: Any) -> None:
    """Delete what owner references cannot cover: the job-namespace Role and the binding."""
    namespace = namespace or "default"
    cluster = _cluster()
    label = f"{render_pool.OWNER_LABEL}={render_pool.owner_label(name, namespace)}"
    jobs_ns = dict(body.spec).get("jobNamespace") or namespace
    rbac = "rbac.authorization.k8s.io/v1"
    for version, kind, ns in (
        (rbac, "Role", jobs_ns),
        (rbac, "RoleBinding", jobs_ns),
        (rbac, "ClusterRoleBinding", None),
        ("v1", "Secret", jobs_ns),
    ):
        for obj in cluster.list(version, kind, ns, label):
            cluster.delete(version, kind, ns, obj["metadata"]["name"])
