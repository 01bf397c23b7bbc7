"""Pure reconcilers: every object a TrackingServer, AgentPool or LaunchQueue turns into."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import kubernetes_validate
import pytest
import yaml

from runyard.launch.agent.config import AgentConfig
from runyard.launch.kubernetes.pool import pool_policy
from runyard.operator import render_pool, render_queue, render_rollout, render_server, status
from runyard.operator.agent_pool import AgentPoolSpec
from runyard.operator.launch_queue import LaunchQueueSpec
from runyard.operator.objects import CREATE_ONLY, SpecError, parse_spec, selector
from runyard.operator.settings import OperatorSettings
from runyard.operator.tracking_server import TrackingServerSpec

NOW = datetime(2026, 1, 1, tzinfo=UTC)
KEY = "k" * 40


def _strict(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        kubernetes_validate.validate(obj, kubernetes_validate.latest_version(), strict=True)


def _by_kind(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def _server(**spec: Any) -> list[dict[str, Any]]:
    parsed = parse_spec(TrackingServerSpec, spec)
    return render_server.desired("rs", "runyard", parsed, KEY)


SERVER_VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "postgres": {
        "replicas": 3,
        "workers": 4,
        "database": {"type": "postgresql", "urlSecret": {"name": "pg", "key": "url"}},
        "objectStore": {
            "type": "s3",
            "s3": {
                "bucket": "runyard",
                "endpoint": "http://seaweedfs.storage.svc:8333",
                "credentialsSecret": {"name": "s3-keys"},
            },
        },
    },
    "external-redis": {"redis": {"mode": "external", "urlSecret": {"name": "r", "key": "url"}}},
    "no-redis": {"redis": {"mode": "none"}},
    "ingress-tls": {
        "ingress": {"enabled": True, "host": "runyard.example.com", "tlsSecret": "tls"}
    },
    "scheduling": {
        "scheduling": {
            "nodeSelector": {"pool": "cpu"},
            "tolerations": [{"key": "dedicated", "operator": "Exists"}],
        },
        "storage": {"size": "50Gi", "storageClassName": "fast"},
        "imagePullSecrets": ["regcred"],
    },
}


@pytest.mark.parametrize("variant", sorted(SERVER_VARIANTS))
def test_every_server_variant_renders_strictly_valid_manifests(variant: str) -> None:
    """Each spec variant yields manifests a real API server accepts (--strict)."""
    _strict(_server(**SERVER_VARIANTS[variant]))


def test_server_defaults_sqlite_pvc_managed_redis_and_secret() -> None:
    """Defaults: SQLite on a PVC (Recreate), managed Redis with AOF fsync always, admin key."""
    objects = _by_kind(_server())
    assert set(objects) == {
        ("Secret", "rs-admin-key"),
        ("PersistentVolumeClaim", "rs-data"),
        ("StatefulSet", "rs-redis"),
        ("Service", "rs-redis"),
        ("Deployment", "rs"),
        ("Service", "rs"),
    }
    deployment = objects[("Deployment", "rs")]
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["limits"] == {"memory": "2Gi"}
    env = {e["name"]: e for e in container["env"]}
    assert env["RUNYARD_QUEUE_REDIS_URL"]["value"] == "redis://rs-redis.runyard.svc:6379/0"
    assert env["RUNYARD_ADMIN_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "rs-admin-key"
    assert "RUNYARD_DATABASE_URL" not in env
    assert pod["initContainers"][0]["args"] == ["server", "migrate"]
    redis = objects[("StatefulSet", "rs-redis")]["spec"]
    args = redis["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--appendfsync") + 1] == "always"
    assert args[args.index("--appendonly") + 1] == "yes"
    assert redis["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "5Gi"
    secret = objects[("Secret", "rs-admin-key")]
    assert secret["stringData"] == {"api-key": KEY}
    assert secret["metadata"]["annotations"][CREATE_ONLY] == "true"


def test_server_without_new_key_renders_no_secret() -> None:
    """An existing admin key is never re-rendered (so never rotated)."""
    spec = parse_spec(TrackingServerSpec, {})
    kinds = [o["kind"] for o in render_server.desired("rs", "ns", spec, None)]
    assert "Secret" not in kinds


def test_server_postgres_reads_url_from_secret_and_rolls() -> None:
    """PostgreSQL: URL from the Secret, rolling updates, files in S3 (the volume is per pod)."""
    objects = _by_kind(_server(**SERVER_VARIANTS["postgres"]))
    deployment = objects[("Deployment", "rs")]["spec"]
    assert deployment["replicas"] == 3
    assert deployment["strategy"]["type"] == "RollingUpdate"
    env = {e["name"]: e for e in deployment["template"]["spec"]["containers"][0]["env"]}
    assert env["RUNYARD_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "pg", "key": "url"}
    pvc = objects[("PersistentVolumeClaim", "rs-data")]
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    spec = parse_spec(TrackingServerSpec, SERVER_VARIANTS["postgres"])
    assert render_server.required_secrets(spec) == [
        ("spec.database.urlSecret", "pg", "url"),
        ("spec.objectStore.s3.credentialsSecret", "s3-keys", "access-key-id"),
        ("spec.objectStore.s3.credentialsSecret", "s3-keys", "secret-access-key"),
    ]


def test_server_external_and_no_redis() -> None:
    """External Redis: URL from a Secret, no StatefulSet; none: no Redis at all."""
    ext = _by_kind(_server(**SERVER_VARIANTS["external-redis"]))
    assert ("StatefulSet", "rs-redis") not in ext
    env = {
        e["name"]: e
        for e in ext[("Deployment", "rs")]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["RUNYARD_QUEUE_REDIS_URL"]["valueFrom"]["secretKeyRef"]["name"] == "r"
    none = _by_kind(_server(**SERVER_VARIANTS["no-redis"]))
    names = {
        e["name"]
        for e in none[("Deployment", "rs")]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert "RUNYARD_QUEUE_REDIS_URL" not in names and ("StatefulSet", "rs-redis") not in none


def test_server_ingress_sets_public_url() -> None:
    """An Ingress with TLS makes the https host the server's public URL."""
    objects = _by_kind(_server(**SERVER_VARIANTS["ingress-tls"]))
    ingress = objects[("Ingress", "rs")]
    assert ingress["spec"]["tls"][0]["hosts"] == ["runyard.example.com"]
    env = {
        e["name"]: e
        for e in objects[("Deployment", "rs")]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["RUNYARD_PUBLIC_URL"]["value"] == "https://runyard.example.com"


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"replicas": -1}, "spec.replicas"),
        (
            {"replicas": 2},
            "spec.replicas: 2 server pods need spec.database.type postgresql (is sqlite) and "
            "spec.objectStore.type s3 (is filesystem)",
        ),
        (
            {
                "replicas": 2,
                "database": {"type": "postgresql", "urlSecret": {"name": "pg", "key": "url"}},
            },
            "spec.replicas: 2 server pods need spec.objectStore.type s3 (is filesystem)",
        ),
        ({"workers": 2}, "spec.workers: 2 server processes need spec.database.type postgresql"),
        ({"objectStore": {"type": "s3"}}, "spec.objectStore: s3 is required when type is s3"),
        ({"database": {"type": "postgresql"}}, "spec.database: urlSecret is required"),
        ({"redis": {"mode": "external"}}, "spec.redis: urlSecret is required"),
        ({"ingress": {"enabled": True}}, "spec.ingress: host is required"),
        ({"storage": {"size": "lots"}}, "spec.storage.size"),
        ({"replica": 1}, "spec.replica: Extra inputs are not permitted"),
    ],
)
def test_bad_server_specs_name_the_field(spec: dict[str, Any], field: str) -> None:
    """Bad specs fail before any object is rendered, naming the field to fix."""
    with pytest.raises(SpecError, match=re.escape(field)):
        parse_spec(TrackingServerSpec, spec)


def _pool(**overrides: Any) -> AgentPoolSpec:
    spec = {
        "serverRef": {"name": "rs", "entity": "ml"},
        "queues": ["a100"],
        "jobNamespace": "training",
        "nodePool": {
            "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"},
            "tolerations": [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
            ],
        },
        "maxJobsPerAgent": 16,
        **overrides,
    }
    return parse_spec(AgentPoolSpec, spec)


def _render_pool(spec: AgentPoolSpec) -> list[dict[str, Any]]:
    return render_pool.desired(
        "a100",
        "runyard",
        spec,
        replicas=2,
        server_url="http://rs.runyard.svc:8080",
        server_key=("rs-admin-key", "api-key"),
    )


def test_pool_renders_agent_deployment_with_pool_in_config_not_in_pod() -> None:
    """The GPU pool's settings reach the agent through its config; the agent pod runs on CPU."""
    objects = _by_kind(_render_pool(_pool(scheduling={"nodeSelector": {"pool": "cpu"}})))
    _strict(list(objects.values()))
    config = yaml.safe_load(objects[("ConfigMap", "a100-agent")]["data"]["agent.yaml"])
    parsed = AgentConfig.model_validate(config)  # exactly the shape the agent reads
    assert parsed.runner == "kubernetes" and parsed.max_jobs == 16 and parsed.entity == "ml"
    assert parsed.pool is not None
    assert parsed.pool.node_selector == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    assert parsed.pool.namespace == "training"
    assert parsed.pool.api_key_secret.name == "runyard-a100-api-key"  # copy in training
    pod = objects[("Deployment", "a100-agent")]["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "cpu"}
    assert pod["serviceAccountName"] == "a100-agent"
    assert objects[("Deployment", "a100-agent")]["spec"]["replicas"] == 2


def test_pool_rbac_is_least_privilege_in_the_job_namespace() -> None:
    """Role in the job namespace: jobs, pods, pods/log, events; nodes read cluster-wide."""
    objects = _by_kind(_render_pool(_pool()))
    role = objects[("Role", "runyard-agent-a100")]
    assert role["metadata"]["namespace"] == "training"
    resources = sorted(r for rule in role["rules"] for r in rule["resources"])
    assert resources == ["events", "jobs", "pods", "pods/log"]
    assert all("*" not in rule["verbs"] for rule in role["rules"])
    # The operator binds the chart's read-only ClusterRole instead of creating one.
    assert not any(kind == "ClusterRole" for kind, _ in objects)
    cluster = objects[("ClusterRoleBinding", "runyard-agent-runyard-a100")]
    assert cluster["roleRef"]["name"] == "runyard-agent"
    binding = objects[("RoleBinding", "runyard-agent-a100")]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "a100-agent", "namespace": "runyard"}
    ]


def test_pool_workload_kinds_reach_the_agent_config_and_its_role() -> None:
    """A pool that runs JobSets: its agents read the kind and may manage jobsets, no more."""
    jobset = {"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet"}
    objects = _by_kind(_render_pool(_pool(workloadKinds=[jobset])))
    _strict(list(objects.values()))
    config = yaml.safe_load(objects[("ConfigMap", "a100-agent")]["data"]["agent.yaml"])
    parsed = AgentConfig.model_validate(config)
    assert parsed.pool is not None
    [kind] = parsed.pool.workload_kinds
    assert (kind.api_version, kind.kind, kind.resource) == (
        "jobset.x-k8s.io/v1alpha2",
        "JobSet",
        "jobsets",
    )
    role = objects[("Role", "runyard-agent-a100")]
    assert {
        "apiGroups": ["jobset.x-k8s.io"],
        "resources": ["jobsets"],
        "verbs": ["get", "list", "watch", "create", "delete", "patch"],
    } in role["rules"]


def test_pool_allow_lists_reach_the_agent_config() -> None:
    """allowedSecrets/allowedPriorityClasses become the agent's pool allow-lists; the API key
    copy the Jobs read is allowed on top (the agent adds it itself)."""
    spec = _pool(allowedSecrets=["team-a-*", "datasets"], allowedPriorityClasses=["batch-low"])
    objects = _by_kind(_render_pool(spec))
    config = yaml.safe_load(objects[("ConfigMap", "a100-agent")]["data"]["agent.yaml"])
    parsed = AgentConfig.model_validate(config)
    assert parsed.pool is not None
    assert parsed.pool.allowed_secrets == ["team-a-*", "datasets"]
    assert parsed.pool.allowed_priority_classes == ["batch-low"]
    policy = pool_policy(parsed.pool)  # what the agents report when they register
    assert policy.allowed_secrets == ["team-a-*", "datasets", "runyard-a100-api-key"]
    default = yaml.safe_load(
        _by_kind(_render_pool(_pool()))[("ConfigMap", "a100-agent")]["data"]["agent.yaml"]
    )
    assert default["pool"]["allowed_secrets"] == []
    assert default["pool"]["allowed_priority_classes"] == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"allowedSecrets": ["Team_A"]}, "spec.allowedSecrets"),
        ({"allowedPriorityClasses": ["high priority"]}, "spec.allowedPriorityClasses"),
    ],
)
def test_bad_allow_list_entries_name_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError, match=field):
        _pool(**overrides)


def test_a_built_in_workload_kind_is_refused_naming_the_field() -> None:
    spec = _pool(workloadKinds=[{"apiVersion": "apps/v1", "kind": "Deployment"}])
    with pytest.raises(SpecError, match=r"spec\.workloadKinds .*'apps/v1' is not a custom"):
        _render_pool(spec)


def test_pool_config_change_rolls_the_agents() -> None:
    """A config change changes the pod template's hash annotation (new agents read it)."""

    def digest(spec: AgentPoolSpec) -> str:
        deploy = _by_kind(_render_pool(spec))[("Deployment", "a100-agent")]
        return deploy["spec"]["template"]["metadata"]["annotations"]["runyard.dev/config-hash"]

    assert digest(_pool()) == digest(_pool())
    assert digest(_pool()) != digest(_pool(maxJobsPerAgent=4))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"nodePool": {"gpuResource": "example.com/tpu"}}, "spec.nodePool.gpuResource"),
        ({"scaling": {"minReplicas": -1}}, "spec.scaling.minReplicas"),
        ({"scaling": {"minReplicas": 5, "maxReplicas": 2}}, "spec.scaling: minReplicas 5"),
        ({"queues": []}, "spec.queues"),
        ({"replicas": -3}, "spec.replicas"),
    ],
)
def test_bad_pool_specs_name_the_field(overrides: dict[str, Any], field: str) -> None:
    """Bad pool specs are refused before rendering, naming the field."""
    with pytest.raises(SpecError, match=field):
        _pool(**overrides)


def test_bad_tolerations_are_refused_by_the_agents_own_rules() -> None:
    """The agent's config model checks the pool; the error points at spec.nodePool."""
    spec = _pool(nodePool={"tolerations": [{"key": "x", "operator": "Sometimes"}]})
    with pytest.raises(SpecError, match=r"spec.nodePool .*operator"):
        _render_pool(spec)


def _queue(**overrides: Any) -> LaunchQueueSpec:
    return parse_spec(
        LaunchQueueSpec,
        {
            "serverRef": {"name": "rs", "entity": "ml"},
            "variables": [{"name": "gpus", "type": "integer", "minimum": 1, "maximum": 8}],
            "config": {"limits": {"nvidia.com/gpu": "{{gpus}}"}},
            **overrides,
        },
    )


def test_queue_body_matches_the_servers_queue_model() -> None:
    """The CR becomes the server's QueueSpec: name from the CR, entity from serverRef."""
    body = render_queue.queue_body("a100", _queue(maxAttempts=5))
    assert body["name"] == "a100" and body["entity"] == "ml" and body["max_attempts"] == 5
    assert body["resource"] == "kubernetes"
    assert body["variables"][0]["name"] == "gpus"
    assert render_queue.queue_body("a100", _queue(queueName="big"))["name"] == "big"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"config": {"x": "{{ undeclared }}"}}, "spec.config: the template does not render"),
        ({"config": {"x": "{{ gpus"}}, "spec.config: the template does not render"),
        (
            {"variables": [{"name": "gpus", "type": "string", "minimum": 1}]},
            "spec.variables.0: variable gpus: minimum/maximum only apply to numbers",
        ),
    ],
)
def test_bad_queue_specs_name_the_field(overrides: dict[str, Any], field: str) -> None:
    """A template that does not render, or inconsistent variables, name the field."""
    with pytest.raises(SpecError, match=field):
        render_queue.queue_body("a100", _queue(**overrides))


def test_queue_status_from_server_stats() -> None:
    """Pending by priority, running (claimed+launching+running) and the oldest wait."""
    stats = {
        "by_state": {"pending": 3, "claimed": 1, "running": 2, "finished": 9},
        "pending_by_priority": {"high": 1, "medium": 2},
        "oldest_pending_s": 42.5,
    }
    assert render_queue.queue_status(stats) == {
        "pending": 3,
        "pendingByPriority": {"high": 1, "medium": 2},
        "running": 3,
        "oldestPendingSeconds": 42.5,
    }


def test_server_status_ready_only_with_ready_replicas() -> None:
    """Progressing until the Deployment reports its ready replicas, then Ready."""
    deploy = {"spec": {"replicas": 1}, "status": {"replicas": 1}}
    first = status.server_status(
        {}, 1, NOW, deployment=deploy, url="u", version="0.1.0", admin_secret="s"
    )
    assert first["phase"] == "Progressing"
    conditions = {c["type"]: c for c in first["conditions"]}
    assert conditions["Ready"]["status"] == "False"
    assert conditions["Progressing"]["message"] == "0/1 replicas ready"
    deploy["status"]["readyReplicas"] = 1
    later = datetime(2026, 1, 2, tzinfo=UTC)
    second = status.server_status(
        first, 2, later, deployment=deploy, url="u", version="0.1.0", admin_secret="s"
    )
    assert second["phase"] == "Ready" and second["observedGeneration"] == 2
    conditions = {c["type"]: c for c in second["conditions"]}
    assert conditions["Ready"]["status"] == "True"
    assert conditions["Ready"]["lastTransitionTime"] == "2026-01-02T00:00:00Z"
    # Degraded unchanged (False) since the first observation: its transition time is kept.
    assert conditions["Degraded"]["lastTransitionTime"] == "2026-01-01T00:00:00Z"


def test_degraded_status_names_the_field() -> None:
    """A bad spec shows Degraded=True with the message, Ready=False."""
    result = status.degraded_status({}, 3, NOW, "spec.replicas: must be >= 0")
    conditions = {c["type"]: c for c in result["conditions"]}
    assert result["phase"] == "Degraded"
    assert conditions["Degraded"]["status"] == "True"
    assert conditions["Degraded"]["message"] == "spec.replicas: must be >= 0"
    assert conditions["Ready"]["status"] == "False"


def test_gpu_capacity_counts_only_the_pools_schedulable_nodes() -> None:
    """GPUs total/free: allocatable of matching nodes minus live pods' GPU limits."""

    def node(name: str, product: str, gpus: int, cordoned: bool = False) -> dict[str, Any]:
        return {
            "metadata": {"name": name, "labels": {"nvidia.com/gpu.product": product}},
            "spec": {"unschedulable": cordoned},
            "status": {"allocatable": {"nvidia.com/gpu": str(gpus)}},
        }

    def pod(node_name: str, gpus: int, phase: str = "Running") -> dict[str, Any]:
        container = {"resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}
        return {
            "spec": {"nodeName": node_name, "containers": [container]},
            "status": {"phase": phase},
        }

    nodes = [
        node("a1", "A100", 8),
        node("a2", "A100", 8),
        node("a3", "A100", 8, True),
        node("h1", "H100", 8),
    ]
    pods = [pod("a1", 4), pod("a2", 8, "Succeeded"), pod("h1", 8)]
    assert status.gpu_capacity(
        nodes, pods, {"nvidia.com/gpu.product": "A100"}, "nvidia.com/gpu"
    ) == (16, 12)


def test_example_cluster_renders_strictly_valid_manifests() -> None:
    """Every CR in examples/cluster.yaml passes the operator's models and renders cleanly."""
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / "cluster.yaml"
    rendered: list[dict[str, Any]] = []
    for doc in yaml.safe_load_all(path.read_text()):
        name = doc["metadata"]["name"]
        if doc["kind"] == "TrackingServer":
            spec = parse_spec(TrackingServerSpec, doc["spec"])
            rendered += render_server.desired(name, "runyard", spec, KEY)
        elif doc["kind"] == "AgentPool":
            pool = parse_spec(AgentPoolSpec, doc["spec"])
            rendered += render_pool.desired(
                name,
                "runyard",
                pool,
                replicas=1,
                server_url="http://runyard.runyard.svc:8080",
                server_key=("runyard-admin-key", "api-key"),
            )
        else:
            render_queue.queue_body(name, parse_spec(LaunchQueueSpec, doc["spec"]))
    _strict(rendered)
    kinds = sorted({o["kind"] for o in rendered})
    assert kinds == [
        "ClusterRoleBinding",
        "ConfigMap",
        "Deployment",
        "Ingress",
        "Job",
        "PersistentVolumeClaim",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "Secret",
        "Service",
        "ServiceAccount",
        "StatefulSet",
    ]


def test_immutable_fields_are_left_out_of_patches() -> None:
    """Changing Redis or data volume size must not make every later patch fail (422)."""
    from runyard.operator.apply import patch_body

    objects = _by_kind(_server(storage={"size": "50Gi"}))
    sts = patch_body(objects[("StatefulSet", "rs-redis")])
    assert "volumeClaimTemplates" not in sts["spec"] and sts["spec"]["replicas"] == 1
    pvc = patch_body(objects[("PersistentVolumeClaim", "rs-data")])
    assert pvc["spec"] == {"resources": {"requests": {"storage": "50Gi"}}}  # expansion only
    service = objects[("Service", "rs")]
    assert patch_body(service) == service


def test_data_volume_access_mode() -> None:
    """SQLite: ReadWriteOnce; PostgreSQL: ReadWriteMany unless the spec says otherwise."""

    def mode(**spec: Any) -> list[str]:
        pvc = _by_kind(_server(**spec))[("PersistentVolumeClaim", "rs-data")]
        return list(pvc["spec"]["accessModes"])

    postgres = {"database": SERVER_VARIANTS["postgres"]["database"]}  # files on the volume
    assert mode() == ["ReadWriteOnce"]
    assert mode(**postgres) == ["ReadWriteMany"]
    assert mode(**postgres, storage={"accessMode": "ReadWriteOnce"}) == ["ReadWriteOnce"]
    assert mode(**SERVER_VARIANTS["postgres"]) == ["ReadWriteOnce"]  # files in S3


def test_jobs_in_another_namespace_get_a_copy_of_the_key() -> None:
    """Jobs read WANDB_API_KEY from their own namespace: the pool copies the key there."""
    spec = _pool()  # jobNamespace: training, the pool lives in runyard
    objects = _by_kind(
        render_pool.desired(
            "a100",
            "runyard",
            spec,
            replicas=1,
            server_url="http://rs.runyard.svc:8080",
            server_key=("rs-admin-key", "api-key"),
            api_key=KEY,
        )
    )
    copy = objects[("Secret", "runyard-a100-api-key")]
    assert copy["metadata"]["namespace"] == "training"
    assert copy["stringData"] == {"api-key": KEY}
    config = yaml.safe_load(objects[("ConfigMap", "a100-agent")]["data"]["agent.yaml"])
    assert config["pool"]["api_key_secret"] == {"name": "runyard-a100-api-key", "key": "api-key"}
    agent = objects[("Deployment", "a100-agent")]["spec"]["template"]["spec"]["containers"][0]
    # The agent itself (pool namespace) still reads the original Secret.
    assert agent["env"][0]["valueFrom"]["secretKeyRef"] == {
        "name": "rs-admin-key",
        "key": "api-key",
    }
    same_ns = _by_kind(_render_pool(_pool(jobNamespace="runyard")))
    assert not any(kind == "Secret" for kind, _ in same_ns)


def test_replicated_server_shares_keys_keeps_one_pod_per_drain_and_migrates_in_a_job() -> None:
    """Replicas: the shared-keys Secret (made once), a PodDisruptionBudget, S3 settings, and
    migrations in a Job per image instead of an init container in every pod."""
    spec = parse_spec(TrackingServerSpec, SERVER_VARIANTS["postgres"])
    keys = render_rollout.new_shared_keys()
    objects = _by_kind(render_server.desired("rs", "runyard", spec, KEY, new_shared_keys=keys))
    _strict(list(objects.values()))
    secret = objects[("Secret", "rs-secrets")]
    assert secret["stringData"] == keys and len(keys["signing-secret"]) >= 32
    assert secret["metadata"]["annotations"][CREATE_ONLY] == "true"  # never rotated silently
    pdb = objects[("PodDisruptionBudget", "rs")]["spec"]
    assert pdb["maxUnavailable"] == 1
    assert pdb["selector"]["matchLabels"] == selector("server", "rs")
    pod = objects[("Deployment", "rs")]["spec"]["template"]["spec"]
    assert pod["initContainers"] == []
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["RUNYARD_REPLICAS"]["value"] == "3" and env["RUNYARD_WORKERS"]["value"] == "4"
    assert env["RUNYARD_SIGNING_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "rs-secrets",
        "key": "signing-secret",
    }
    assert env["RUNYARD_SECRETS_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "secrets-key"
    assert env["RUNYARD_S3_BUCKET"]["value"] == "runyard"
    assert env["RUNYARD_S3_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == "s3-keys"
    jobs = [o for o in objects.values() if o["kind"] == "Job"]
    assert len(jobs) == 1
    job = jobs[0]
    image = render_server.image(spec, OperatorSettings())
    assert job["metadata"]["name"] == render_rollout.migration_job_name("rs", image)
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["server", "migrate"] and container["image"] == image
    # Not yet migrated: everything but the Deployment (the old version keeps serving).
    waiting = render_server.desired("rs", "runyard", spec, None, deploy=False)
    assert "Deployment" not in [o["kind"] for o in waiting]
    # One replica on SQLite: no PDB, no Job, the init container migrates.
    single = _by_kind(_server())
    assert not [k for k in single if k[0] in ("PodDisruptionBudget", "Job")]


def test_rollout_waits_for_the_migration_job_and_a_failed_one_names_it() -> None:
    """The gate: SQLite always deploys; PostgreSQL deploys once the image's Job succeeded."""
    pg = parse_spec(TrackingServerSpec, SERVER_VARIANTS["postgres"])
    assert render_rollout.rollout_gate(parse_spec(TrackingServerSpec, {}), "j", None).deploy
    missing = render_rollout.rollout_gate(pg, "rs-migrate-1", None)
    assert not missing.deploy and "rs-migrate-1" in (missing.waiting or "")
    running = render_rollout.rollout_gate(pg, "j", {"status": {"active": 1}})
    assert not running.deploy and running.failed is None
    done = render_rollout.rollout_gate(pg, "j", {"status": {"succeeded": 1}})
    assert done.deploy
    failed = render_rollout.rollout_gate(
        pg,
        "rs-migrate-1",
        {
            "status": {
                "conditions": [
                    {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}
                ]
            }
        },
    )
    assert not failed.deploy
    assert failed.failed is not None and "spec.image" in failed.failed
    assert (
        "kubectl logs job/rs-migrate-1" in failed.failed and "BackoffLimitExceeded" in failed.failed
    )
