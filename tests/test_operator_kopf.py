"""The kopf operator against a fake Kubernetes API (kmock): what `kubectl apply` users see.

kopf runs in its own thread with the real handlers module; the test plays the user
(creating and editing custom resources through the API) and the cluster's controllers
(reporting a Deployment's ready replicas).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from kubernetes.client import CoreV1Api, CustomObjectsApi

from runyard.client import ApiError, RunyardClient
from support.kube import FakeKubernetes
from support.server import LiveServer

NS = "runyard"
GROUP, VERSION = "runyard.dev", "v1alpha1"
T = TypeVar("T")


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 120) -> T:
    """Poll until `probe` returns something truthy; fail naming what never happened.

    The deadline is generous: on a loaded machine kopf, the fake API and the server share
    one process and a fraction of a core, and a passing run returns as soon as it can."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def fake(sqlite_server: LiveServer) -> Iterator[FakeKubernetes]:
    """The fake API with the kinds the operator manages declared, and kopf running on it
    (stopped before the live server, so no handler is left calling a server that is gone)."""
    # Timers re-read what no watch event tells (queue depth, a Deployment's readiness) once a
    # second. Faster ticks on every CR left from earlier tests starved kopf's few handler
    # threads on a loaded machine: a new CR's create handler then waited past the deadline.
    env = {"RUNYARD_OPERATOR_INTERVAL_S": "1.0", "RUNYARD_OPERATOR_METRICS_PORT": "0"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    with FakeKubernetes(namespaces=("default", NS)) as cluster, cluster.as_default_kubeconfig():
        for group, plural, kind, namespaced in [
            ("apps", "deployments", "Deployment", True),
            ("apps", "statefulsets", "StatefulSet", True),
            ("networking.k8s.io", "ingresses", "Ingress", True),
            ("policy", "poddisruptionbudgets", "PodDisruptionBudget", True),
            ("rbac.authorization.k8s.io", "roles", "Role", True),
            ("rbac.authorization.k8s.io", "rolebindings", "RoleBinding", True),
            ("rbac.authorization.k8s.io", "clusterrolebindings", "ClusterRoleBinding", False),
        ]:
            cluster.declare(group, "v1", plural, kind, namespaced)
        for plural, kind in [
            ("trackingservers", "TrackingServer"),
            ("launchqueues", "LaunchQueue"),
            ("agentpools", "AgentPool"),
        ]:
            cluster.declare(GROUP, VERSION, plural, kind)
        import kopf

        from runyard.operator import handlers

        handlers._api = None
        stop, ready = threading.Event(), threading.Event()

        def run() -> None:
            with contextlib.suppress(asyncio.CancelledError):
                asyncio.run(
                    kopf.operator(
                        standalone=True, clusterwide=True, stop_flag=stop, ready_flag=ready
                    )
                )

        thread = threading.Thread(target=run, name="kopf", daemon=True)
        thread.start()
        assert ready.wait(30), "kopf did not start"
        try:
            yield cluster
        finally:
            stop.set()
            thread.join(30)
            handlers._api = None
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _create(
    fake: FakeKubernetes, plural: str, kind: str, name: str, spec: dict[str, Any]
) -> dict[str, Any]:
    api = CustomObjectsApi(fake.api_client())
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }
    created = api.create_namespaced_custom_object(GROUP, VERSION, NS, plural, body)
    assert isinstance(created, dict)
    return created


def _delete(fake: FakeKubernetes, plural: str, name: str) -> None:
    """Delete a custom resource no later test needs, and wait until kopf let it go: a CR
    left behind keeps its timer ticking for the rest of the module."""
    CustomObjectsApi(fake.api_client()).delete_namespaced_custom_object(
        GROUP, VERSION, NS, plural, name
    )
    eventually(lambda: fake.get(plural, NS, name) is None, f"{plural}/{name} is gone")


def _condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    for condition in ((obj or {}).get("status") or {}).get("conditions") or []:
        if condition["type"] == kind:
            return dict(condition)
    return None


def _owned_by(obj: dict[str, Any] | None, uid: str) -> bool:
    refs = (obj or {}).get("metadata", {}).get("ownerReferences") or []
    return any(r["uid"] == uid and r.get("controller") for r in refs)


def test_tracking_server_lifecycle(fake: FakeKubernetes) -> None:
    """Create -> objects with owner refs; Ready once replicas are ready; edit patches; detach."""
    cr = _create(fake, "trackingservers", "TrackingServer", "rs", {"storage": {"size": "20Gi"}})
    uid = cr["metadata"]["uid"]
    wanted = [
        ("deployments", "rs"),
        ("services", "rs"),
        ("persistentvolumeclaims", "rs-data"),
        ("secrets", "rs-admin-key"),
        ("statefulsets", "rs-redis"),
        ("services", "rs-redis"),
    ]
    for plural, name in wanted:

        def owned(p: str = plural, n: str = name) -> bool:
            return _owned_by(fake.get(p, NS, n), uid)

        eventually(owned, f"{plural}/{name} owned by the TrackingServer")
    key = fake.get("secrets", NS, "rs-admin-key")
    assert key is not None
    status = eventually(
        lambda: (fake.get("trackingservers", NS, "rs") or {}).get("status"), "status"
    )
    assert status["phase"] == "Progressing"
    assert status["url"] == "http://rs.runyard.svc:8080"
    ready = _condition(fake.get("trackingservers", NS, "rs"), "Ready")
    assert ready is not None and ready["status"] == "False"

    # The Deployment controller reports a ready replica: the server becomes Ready.
    deployments = fake.kind("deployments")
    fake.store.update(
        deployments,
        NS,
        "rs",
        lambda d: {**d, "status": {"replicas": 1, "readyReplicas": 1}},
        subresource="status",
    )
    eventually(
        lambda: (
            (_condition(fake.get("trackingservers", NS, "rs"), "Ready") or {}).get("status")
            == "True"
        ),
        "Ready=True",
    )
    assert fake.get("trackingservers", NS, "rs")["status"]["phase"] == "Ready"  # type: ignore[index]

    # A spec change patches the Deployment in place (same uid) and keeps the admin key.
    before = fake.get("deployments", NS, "rs")
    assert before is not None
    api = CustomObjectsApi(fake.api_client())
    api.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        NS,
        "trackingservers",
        "rs",
        {"spec": {"resources": {"limits": {"memory": "8Gi"}}}},
    )

    def patched() -> dict[str, Any] | None:
        d = fake.get("deployments", NS, "rs")
        container = d["spec"]["template"]["spec"]["containers"][0] if d else {}
        return d if container.get("resources", {}).get("limits") == {"memory": "8Gi"} else None

    after = eventually(patched, "the Deployment follows the new limits")
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert fake.get("secrets", NS, "rs-admin-key") == key or (
        fake.get("secrets", NS, "rs-admin-key") or {}
    ).get("stringData") == key.get("stringData")

    # Delete with the default retention policy (detach): the data volume and key survive.
    api.delete_namespaced_custom_object(GROUP, VERSION, NS, "trackingservers", "rs")
    eventually(lambda: fake.get("trackingservers", NS, "rs") is None, "the CR is gone")
    assert fake.get("deployments", NS, "rs") is None
    pvc = fake.get("persistentvolumeclaims", NS, "rs-data")
    assert pvc is not None and not pvc["metadata"].get("ownerReferences")
    assert fake.get("secrets", NS, "rs-admin-key") is not None


def test_purge_deletes_the_volumes(fake: FakeKubernetes) -> None:
    """retentionPolicy purge: deleting the server deletes its data volume too."""
    _create(fake, "trackingservers", "TrackingServer", "gone", {"retentionPolicy": "purge"})
    eventually(lambda: fake.get("persistentvolumeclaims", NS, "gone-data"), "the PVC")
    api = CustomObjectsApi(fake.api_client())
    api.delete_namespaced_custom_object(GROUP, VERSION, NS, "trackingservers", "gone")
    eventually(lambda: fake.get("trackingservers", NS, "gone") is None, "the CR is gone")
    assert fake.get("persistentvolumeclaims", NS, "gone-data") is None
    assert fake.get("secrets", NS, "gone-admin-key") is None


@pytest.mark.parametrize(
    ("name", "spec", "field"),
    [
        ("negative", {"replicas": -1}, "spec.replicas"),
        (
            "nosecret",
            {
                "replicas": 2,
                "database": {"type": "postgresql", "urlSecret": {"name": "pg", "key": "url"}},
                "objectStore": {"type": "s3", "s3": {"bucket": "runs"}},
            },
            "spec.database.urlSecret: Secret 'pg' not found",
        ),
        (
            "replicated-sqlite",
            {"replicas": 3},
            "spec.replicas: 3 server pods need spec.database.type postgresql (is sqlite) and "
            "spec.objectStore.type s3 (is filesystem)",
        ),
        (
            "replicated-files",
            {
                "replicas": 2,
                "database": {"type": "postgresql", "urlSecret": {"name": "pg", "key": "url"}},
            },
            "spec.replicas: 2 server pods need spec.objectStore.type s3 (is filesystem)",
        ),
    ],
)
def test_bad_server_spec_is_degraded_and_applies_nothing(
    fake: FakeKubernetes, name: str, spec: dict[str, Any], field: str
) -> None:
    """A bad spec: Degraded naming the field, and not one object created."""
    _create(fake, "trackingservers", "TrackingServer", name, spec)
    degraded = eventually(
        lambda: _condition(fake.get("trackingservers", NS, name), "Degraded"), "Degraded"
    )
    assert degraded["status"] == "True" and field in degraded["message"]
    assert fake.get("trackingservers", NS, name)["status"]["phase"] == "Degraded"  # type: ignore[index]
    assert fake.get("deployments", NS, name) is None
    assert fake.get("secrets", NS, f"{name}-admin-key") is None
    assert fake.get("secrets", NS, f"{name}-secrets") is None
    assert fake.get("persistentvolumeclaims", NS, f"{name}-data") is None
    _delete(fake, "trackingservers", name)


@pytest.mark.parametrize(
    ("name", "spec", "field"),
    [
        (
            "tpu",
            {
                "serverRef": {"name": "srv"},
                "queues": ["q"],
                "nodePool": {"gpuResource": "x.io/tpu"},
            },
            "spec.nodePool.gpuResource: unknown GPU resource 'x.io/tpu'",
        ),
        (
            "orphan",
            {"serverRef": {"name": "nowhere"}, "queues": ["q"]},
            "spec.serverRef.name: TrackingServer 'nowhere' not found",
        ),
        (
            "nokey",
            {
                "serverRef": {"name": "srv"},
                "queues": ["q"],
                "apiKeySecret": {"name": "k", "key": "k"},
            },
            "spec.apiKeySecret: Secret 'k' not found",
        ),
    ],
)
def test_bad_pool_spec_is_degraded_and_applies_nothing(
    fake: FakeKubernetes, name: str, spec: dict[str, Any], field: str
) -> None:
    """Unknown GPU resource, missing server or Secret: Degraded naming the field, no objects."""
    if fake.get("trackingservers", NS, "srv") is None:
        _create(fake, "trackingservers", "TrackingServer", "srv", {})
    _create(fake, "agentpools", "AgentPool", name, spec)
    degraded = eventually(
        lambda: _condition(fake.get("agentpools", NS, name), "Degraded"), "Degraded"
    )
    assert degraded["status"] == "True" and degraded["message"].startswith(field)
    assert fake.get("deployments", NS, f"{name}-agent") is None
    assert fake.get("serviceaccounts", NS, f"{name}-agent") is None
    assert fake.get("roles", NS, f"runyard-agent-{name}") is None
    _delete(fake, "agentpools", name)


def test_agent_pool_without_reachable_server_runs_min_agents(fake: FakeKubernetes) -> None:
    """An AgentPool gets its agents (minReplicas), RBAC in the job namespace, status."""
    if fake.get("trackingservers", NS, "srv") is None:
        _create(fake, "trackingservers", "TrackingServer", "srv", {})
    eventually(lambda: fake.get("secrets", NS, "srv-admin-key"), "admin key")
    pool = _create(
        fake,
        "agentpools",
        "AgentPool",
        "a100",
        {
            "serverRef": {"name": "srv"},
            "queues": ["a100"],
            "nodePool": {"nodeSelector": {"nvidia.com/gpu.product": "A100"}},
            "scaling": {"minReplicas": 2, "maxReplicas": 4},
        },
    )
    deployment = eventually(lambda: fake.get("deployments", NS, "a100-agent"), "agents")
    assert deployment["spec"]["replicas"] == 2
    assert _owned_by(deployment, pool["metadata"]["uid"])
    assert fake.get("roles", NS, "runyard-agent-a100") is not None
    assert fake.get("serviceaccounts", NS, "a100-agent") is not None
    status = eventually(lambda: (fake.get("agentpools", NS, "a100") or {}).get("status"), "status")
    assert status["desiredReplicas"] == 2
    _delete(fake, "agentpools", "a100")


# --- against a live tracking server -----------------------------------------------------------


@pytest.fixture(scope="module")
def live(fake: FakeKubernetes, sqlite_server: LiveServer) -> tuple[LiveServer, RunyardClient, str]:
    """A running server, its admin key in a Secret the CRs point at, and its entity."""
    fake.store.create(
        fake.kind("secrets"),
        NS,
        {"metadata": {"name": "live-key"}, "stringData": {"api-key": sqlite_server.admin_key}},
    )
    client = RunyardClient(sqlite_server.url, sqlite_server.admin_key)
    return sqlite_server, client, client.viewer()["entity"]


def _ref(live: tuple[LiveServer, RunyardClient, str]) -> dict[str, Any]:
    server, _, entity = live
    return {
        "url": server.url,
        "apiKeySecret": {"name": "live-key", "key": "api-key"},
        "entity": entity,
    }


def test_launch_queue_is_upserted_and_reports_stats(
    fake: FakeKubernetes, live: tuple[LiveServer, RunyardClient, str]
) -> None:
    """The CR creates the queue in the server, edits update it, status shows its depth."""
    _, client, entity = live
    spec = {
        "serverRef": _ref(live),
        "variables": [
            {"name": "gpus", "type": "integer", "minimum": 1, "maximum": 8, "default": 1}
        ],
        "config": {"limits": {"nvidia.com/gpu": "{{gpus}}"}},
    }
    _create(fake, "launchqueues", "LaunchQueue", "live-a100", spec)

    def stored() -> dict[str, Any] | None:
        try:
            return client.get_queue(entity, "live-a100")
        except ApiError:
            return None

    queue = eventually(stored, "the queue exists in the server")
    assert queue["resource"] == "kubernetes" and queue["variables"][0]["name"] == "gpus"
    for _ in range(3):
        client.enqueue(entity, "live-a100", {"run_spec": {}, "priority": "high"})
    status = eventually(
        lambda: (
            ((fake.get("launchqueues", NS, "live-a100") or {}).get("status") or {}).get("pending")
            == 3
            and fake.get("launchqueues", NS, "live-a100")
        ),
        "status.pending == 3",
    )
    assert status["status"]["pendingByPriority"]["high"] == 3  # type: ignore[index]
    assert (_condition(status, "Ready") or {}).get("status") == "True"  # type: ignore[arg-type]

    CustomObjectsApi(fake.api_client()).patch_namespaced_custom_object(
        GROUP, VERSION, NS, "launchqueues", "live-a100", {"spec": {"maxAttempts": 7}}
    )
    eventually(lambda: client.get_queue(entity, "live-a100")["max_attempts"] == 7, "PUT")


def test_queue_template_that_does_not_render_is_degraded(
    fake: FakeKubernetes, live: tuple[LiveServer, RunyardClient, str]
) -> None:
    """A template using an undeclared variable: Degraded on spec.config, no queue created."""
    _, client, entity = live
    spec = {"serverRef": _ref(live), "config": {"image": "{{ undeclared }}"}}
    _create(fake, "launchqueues", "LaunchQueue", "broken", spec)
    degraded = eventually(
        lambda: _condition(fake.get("launchqueues", NS, "broken"), "Degraded"), "Degraded"
    )
    assert degraded["status"] == "True"
    assert degraded["message"].startswith("spec.config: the template does not render")
    assert "broken" not in [q["name"] for q in client.list_queues(entity)]
    _delete(fake, "launchqueues", "broken")


def test_agent_pool_scales_with_queue_depth(
    fake: FakeKubernetes, live: tuple[LiveServer, RunyardClient, str]
) -> None:
    """Pending items raise the agents (ceil(pending / maxJobsPerAgent), max 3); draining
    the queue lowers them back to minReplicas."""
    _, client, entity = live
    _create(
        fake,
        "launchqueues",
        "LaunchQueue",
        "live-h100",
        {"serverRef": _ref(live), "queueName": "h100-jobs"},
    )
    eventually(
        lambda: (
            fake.get("launchqueues", NS, "live-h100")
            and _condition(fake.get("launchqueues", NS, "live-h100"), "Ready")
        ),
        "queue Ready",
    )
    _create(
        fake,
        "agentpools",
        "AgentPool",
        "h100",
        {
            "serverRef": _ref(live),
            "queues": ["live-h100"],  # the CR's name; the agents get the server's name
            "maxJobsPerAgent": 2,
            "scaling": {"minReplicas": 1, "maxReplicas": 3, "cooldownSeconds": 0},
        },
    )

    def replicas() -> int:
        d = fake.get("deployments", NS, "h100-agent")
        return int(d["spec"]["replicas"]) if d else -1

    eventually(lambda: replicas() == 1, "one agent while the queue is empty")
    config = fake.get("configmaps", NS, "h100-agent")
    assert config is not None and "h100-jobs" in config["data"]["agent.yaml"]
    items = [client.enqueue(entity, "h100-jobs", {"run_spec": {}}) for _ in range(5)]
    eventually(lambda: replicas() == 3, "3 agents for 5 pending items (2 per agent, max 3)")
    status = eventually(
        lambda: (
            ((fake.get("agentpools", NS, "h100") or {}).get("status") or {}).get("pending") == 5
        ),
        "status.pending == 5",
    )
    assert status
    for item in items:
        client.cancel_item(item["id"])
    eventually(lambda: replicas() == 1, "back to minReplicas once the queue drains")


def test_prometheus_metrics_count_reconciles_and_agents(
    fake: FakeKubernetes, live: tuple[LiveServer, RunyardClient, str]
) -> None:
    """/metrics: reconciles by kind and result, desired agents per pool, queue depth seen."""
    from prometheus_client import REGISTRY

    def sample(name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, labels)

    assert (
        sample("runyard_operator_reconciles_total", kind="TrackingServer", result="ok") or 0
    ) > 0
    degraded = sample("runyard_operator_reconciles_total", kind="TrackingServer", result="degraded")
    assert (degraded or 0) > 0
    eventually(
        lambda: (
            sample("runyard_operator_pool_agents", namespace=NS, pool="h100", which="desired") == 1
        ),
        "the desired-agents gauge follows the pool",
    )
    depth = sample("runyard_operator_queue_depth", namespace=NS, queue="live-a100", state="pending")
    assert depth == 3


def _secret(fake: FakeKubernetes, name: str, data: dict[str, str]) -> None:
    CoreV1Api(fake.api_client()).create_namespaced_secret(
        NS, {"metadata": {"name": name}, "stringData": data}
    )


def _job_status(fake: FakeKubernetes, name: str, status: dict[str, Any]) -> None:
    """Play the Job controller."""
    fake.store.update(
        fake.kind("jobs"), NS, name, lambda j: {**j, "status": status}, subresource="status"
    )
