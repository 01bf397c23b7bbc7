"""The Helm chart: lint, render, strict validation, values schema, RBAC, operator Deployment.

Everything runs offline through helm-python-sdk (the Helm v4 SDK) and kubernetes-validate,
via hack/chart_check.py, the script behind `make chart-lint`.
"""

from __future__ import annotations

import base64
import copy
import importlib.util
import sys
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("chart_check", ROOT / "hack" / "chart_check.py")
assert _spec is not None and _spec.loader is not None
chart_check = importlib.util.module_from_spec(_spec)
sys.modules["chart_check"] = chart_check
_spec.loader.exec_module(chart_check)

CREATE = {"trackingServer": {"create": True}}


def objects(values: dict[str, Any] | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """Rendered objects by (kind, name)."""
    return {
        (m.body["kind"], m.body["metadata"]["name"]): m.body for m in chart_check.render(values)
    }


def operator_container(values: dict[str, Any] | None = None) -> dict[str, Any]:
    deployment = objects(values)[("Deployment", "runyard-operator")]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


# --- lint and strict validation -------------------------------------------------------------------


@pytest.mark.parametrize("label", list(chart_check.SCENARIOS))
def test_lint_is_clean(label: str) -> None:
    report = chart_check.lint(values=chart_check.SCENARIOS[label])
    assert report.errors == []


@pytest.mark.parametrize("label", list(chart_check.SCENARIOS))
def test_every_rendered_manifest_validates_strictly(label: str) -> None:
    manifests = chart_check.render(chart_check.SCENARIOS[label])
    report = chart_check.validate(manifests)
    assert report.errors == []
    builtin = [m for m in manifests if chart_check.is_builtin(m.body)]
    # Each built-in object is checked against both the oldest and the newest Kubernetes.
    assert report.validated >= 2 * len(builtin) > 0


def test_default_install_renders_operator_rbac_and_no_tracking_server() -> None:
    kinds = {kind for kind, _ in objects()}
    assert {"Deployment", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"} <= kinds
    assert not kinds & {"TrackingServer", "LaunchQueue", "AgentPool"}


def test_tracking_server_create_renders_a_wired_server_queue_and_pool() -> None:
    rendered = objects(CREATE)
    server = rendered[("TrackingServer", "runyard")]
    queue = rendered[("LaunchQueue", "default")]
    pool = rendered[("AgentPool", "default")]
    assert (
        server["apiVersion"] == queue["apiVersion"] == pool["apiVersion"] == "runyard.dev/v1alpha1"
    )
    assert server["spec"]["image"] == "runyard-server:0.1.0"
    assert server["spec"]["database"] == {"type": "sqlite"}
    assert server["spec"]["storage"] == {"size": "10Gi"}
    assert server["spec"]["redis"] == {"mode": "managed"}
    assert server["spec"]["retentionPolicy"] == "detach"
    assert queue["spec"]["serverRef"] == pool["spec"]["serverRef"] == {"name": "runyard"}
    assert queue["spec"]["resource"] == "kubernetes"
    assert pool["spec"]["queues"] == ["default"]
    assert pool["spec"]["jobNamespace"] == chart_check.NAMESPACE
    assert pool["spec"]["scaling"] == {"minReplicas": 1, "maxReplicas": 4, "cooldownSeconds": 300}
    assert pool["spec"]["nodePool"]["gpuResource"] == "nvidia.com/gpu"
    assert pool["spec"]["nodePool"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]


def test_the_default_pool_takes_its_allow_lists_from_values() -> None:
    lists = {"allowedSecrets": ["team-*"], "allowedPriorityClasses": ["batch-low"]}
    values = {**CREATE, "agentPool": lists}
    pool = next(m for m in chart_check.render(values) if m.body["kind"] == "AgentPool")
    assert {k: pool.body["spec"][k] for k in lists} == lists
    assert chart_check.validate([pool]).errors == []  # against the shipped CRD
    assert "allowedSecrets" not in objects(CREATE)[("AgentPool", "default")]["spec"]


def test_postgres_tracking_server_takes_the_url_from_a_secret() -> None:
    values = {
        "trackingServer": {
            "create": True,
            "replicas": 2,
            "workers": 4,
            "database": {"type": "postgresql", "urlSecret": {"name": "runyard-db"}},
            "objectStore": {
                "type": "s3",
                "s3": {"bucket": "runs", "endpoint": "http://s3:8333", "credentialsSecret": "s3"},
            },
        },
        "launchQueue": {
            "variables": [{"name": "gpus", "type": "integer", "minimum": 1, "default": 1}],
            "config": {"spec": {"template": {"spec": {"containers": [{"resources": {}}]}}}},
        },
    }
    rendered = objects(values)
    server = rendered[("TrackingServer", "runyard")]
    assert server["spec"]["replicas"] == 2
    assert server["spec"]["database"] == {
        "type": "postgresql",
        "urlSecret": {"name": "runyard-db", "key": "url"},
    }
    assert server["spec"]["workers"] == 4
    assert server["spec"]["objectStore"] == {
        "type": "s3",
        "s3": {"bucket": "runs", "endpoint": "http://s3:8333", "credentialsSecret": {"name": "s3"}},
    }
    # The keys every replica shares: made by the chart, kept across upgrades and uninstalls.
    assert server["spec"]["secrets"] == {"secretName": "runyard-secrets"}
    keys = rendered[("Secret", "runyard-secrets")]
    assert keys["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    signing = base64.b64decode(keys["data"]["signing-secret"])
    assert len(signing) >= 32
    Fernet(base64.b64decode(keys["data"]["secrets-key"]))  # a valid team-secrets key
    queue = rendered[("LaunchQueue", "default")]
    assert queue["spec"]["variables"][0]["name"] == "gpus"
    assert chart_check.validate(chart_check.render(values)).errors == []


def test_strict_validation_rejects_an_unknown_field_naming_it() -> None:
    manifests = chart_check.render()
    broken = copy.deepcopy(manifests)
    deployment = next(m for m in broken if m.body["kind"] == "Deployment")
    deployment.body["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    errors = chart_check.validate(broken).errors
    assert errors, "a typo in a field name must fail strict validation"
    assert all("Deployment/runyard-operator" in e for e in errors)
    assert "imagePullPolcy" in errors[0]


def test_custom_resources_are_checked_against_their_crd_schema() -> None:
    crd = chart_check.Manifest(
        "crds/test.yaml",
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "agentpools.runyard.dev"},
            "spec": {
                "group": "runyard.dev",
                "scope": "Namespaced",
                "names": {"kind": "AgentPool", "plural": "agentpools"},
                "versions": [
                    {
                        "name": "v1alpha1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "properties": {
                                    "spec": {
                                        "type": "object",
                                        "x-kubernetes-preserve-unknown-fields": True,
                                        "properties": {
                                            "maxJobsPerAgent": {"type": "integer", "minimum": 1},
                                            "scaling": {
                                                "type": "object",
                                                "properties": {
                                                    "minReplicas": {"type": "integer"},
                                                    "maxReplicas": {"type": "integer"},
                                                    "cooldownSeconds": {"type": "integer"},
                                                },
                                            },
                                        },
                                    }
                                },
                            }
                        },
                    }
                ],
            },
        },
    )
    pool = next(m for m in chart_check.render(CREATE) if m.body["kind"] == "AgentPool")
    assert chart_check.validate([pool], crds=[crd]).errors == []
    pool.body["spec"]["maxJobsPerAgent"] = 0
    errors = chart_check.validate([pool], crds=[crd]).errors
    assert len(errors) == 1
    assert "spec.maxJobsPerAgent" in errors[0]
    # Unknown fields are errors (the API server would silently prune them), except where the
    # CRD preserves them.
    pool.body["spec"]["maxJobsPerAgent"] = 2
    pool.body["spec"]["scaling"]["minReplicaz"] = 1
    pool.body["spec"]["anything"] = "kept"
    errors = chart_check.validate([pool], crds=[crd]).errors
    assert len(errors) == 1
    assert "spec.scaling" in errors[0]
    assert "'minReplicaz' was unexpected" in errors[0]
    # Without a CRD the CR is not silently passed: the report says it was skipped.
    report = chart_check.validate([pool], crds=[])
    assert report.errors == []
    assert any("SKIPPED AgentPool/default" in note for note in report.notes)


def test_every_kind_with_a_shipped_crd_is_validated_not_skipped() -> None:
    shipped = {key[2] for key in chart_check.crd_schemas(chart_check.chart_crds())}
    report = chart_check.validate(chart_check.render(CREATE))
    skipped = {note.split()[1].split("/")[0] for note in report.notes if note.startswith("SKIPPED")}
    assert not skipped & shipped
    # Whatever is skipped is said so, kind by kind.
    assert skipped | shipped >= {"TrackingServer", "LaunchQueue", "AgentPool"}


def test_check_script_passes_and_fails_with_the_exit_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert chart_check.main([]) == 0
    assert "chart check passed" in capsys.readouterr().out
    assert chart_check.main(["--set", "operator.replicas=-1"]) == 1
    out = capsys.readouterr().out
    assert "/operator/replicas" in out
    assert "chart check FAILED" in out


# --- values.schema.json ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "field", "problem"),
    [
        ({"operator": {"replicas": -1}}, "/operator/replicas", "minimum"),
        ({"trackingServer": {"replicas": -2}}, "/trackingServer/replicas", "minimum"),
        (
            {"agentPool": {"scaling": {"minReplicas": -1}}},
            "/agentPool/scaling/minReplicas",
            "minimum",
        ),
        ({"agentPool": {"maxJobsPerAgent": 0}}, "/agentPool/maxJobsPerAgent", "minimum"),
        ({"agentPool": {"allowedSecrets": ["Team_A"]}}, "/agentPool/allowedSecrets/0", "pattern"),
        ({"operator": {"replicaz": 2}}, "/operator", "'replicaz' not allowed"),
        ({"trackingServr": {"create": True}}, "runyard", "'trackingServr' not allowed"),
        ({"trackingServer": {"database": {"type": "mysql"}}}, "/trackingServer/database/type", ""),
        (
            {"agentPool": {"nodePool": {"gpuResource": "gpu"}}},
            "/agentPool/nodePool/gpuResource",
            "",
        ),
        ({"launchQueue": {"variables": [{"name": "gpus"}]}}, "/launchQueue/variables/0", "type"),
        ({"operator": {"replicas": "two"}}, "/operator/replicas", "integer"),
        ({"serviceAccount": {"name": "Ops_SA"}}, "/serviceAccount/name", "pattern"),
        ({"operator": {"peering": {"name": "Runyard"}}}, "/operator/peering/name", "pattern"),
        (
            {"operator": {"replicas": 2, "peering": {"enabled": False}}},
            "/operator/peering/enabled",
            "",
        ),
        (
            {"trackingServer": {"replicas": 2}},
            "/trackingServer/replicas",
            "maximum",
        ),
        (
            {
                "trackingServer": {
                    "replicas": 2,
                    "database": {"type": "postgresql", "urlSecret": {"name": "db"}},
                }
            },
            "/trackingServer/replicas",
            "maximum",
        ),
        (
            {"trackingServer": {"workers": 2}},
            "/trackingServer/workers",
            "maximum",
        ),
        (
            {"trackingServer": {"database": {"type": "postgresql"}}},
            "/trackingServer/database/urlSecret/name",
            "",
        ),
        (
            {"rbac": {"workloadKinds": [{"apiGroup": "jobset.x-k8s.io", "resource": "JobSets"}]}},
            "/rbac/workloadKinds/0/resource",
            "",
        ),
    ],
)
def test_values_schema_rejects_bad_values_naming_the_field(
    values: dict[str, Any], field: str, problem: str
) -> None:
    with helm.Chart.load(chart_check.CHART) as chart, pytest.raises(helm.HelmValuesError) as error:
        chart.render(values, name="runyard", namespace="runyard")
    assert field in str(error.value)
    assert problem in str(error.value)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {
                "trackingServer": {"create": True},
                "agentPool": {"scaling": {"minReplicas": 5, "maxReplicas": 2}},
            },
            "agentPool.scaling.minReplicas (5) is larger than agentPool.scaling.maxReplicas (2)",
        ),
        (
            {"operator": {"allNamespaces": False}},
            "operator.namespaces is empty while operator.allNamespaces is false",
        ),
    ],
)
def test_inconsistent_values_fail_the_render_with_the_fix(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmRenderError) as error:
        chart_check.render(values)
    assert message in str(error.value)


def test_values_schema_describes_every_value() -> None:
    with helm.Chart.load(chart_check.CHART) as chart:
        schema = chart.schema
        defaults = chart.values
    assert schema is not None

    def walk(value: Any, node: dict[str, Any], path: str) -> None:
        assert node.get("description"), f"{path} has no description in values.schema.json"
        if isinstance(value, dict) and node.get("type") == "object" and "properties" in node:
            assert node.get("additionalProperties") is False, f"{path} accepts unknown keys"
            for key, child in value.items():
                assert key in node["properties"], f"{path}.{key} is not in values.schema.json"
                walk(child, node["properties"][key], f"{path}.{key}")

    for key, value in defaults.items():
        walk(value, schema["properties"][key], key)


# --- RBAC -----------------------------------------------------------------------------------------


def _rules(name: str) -> list[dict[str, Any]]:
    return list(objects()[("ClusterRole", name)]["rules"])


def _grants(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_operator_cluster_role_has_no_wildcards_or_escalation_verbs() -> None:
    grants = _grants(_rules("runyard-operator"))
    assert grants
    for group, resource, verb in grants:
        assert "*" not in (group, resource, verb), (group, resource, verb)
        assert verb not in {"bind", "escalate", "impersonate"}, (group, resource, verb)
    resources = {resource for _, resource, _ in grants}
    assert "clusterroles" not in resources, "the operator must not write ClusterRoles"


def test_operator_can_do_what_it_is_built_for() -> None:
    grants = _grants(_rules("runyard-operator"))
    for kind in ("trackingservers", "launchqueues", "agentpools"):
        for verb in ("get", "list", "watch", "patch"):
            assert ("runyard.dev", kind, verb) in grants
        assert ("runyard.dev", f"{kind}/status", "patch") in grants
        assert ("runyard.dev", f"{kind}/finalizers", "update") in grants
    for group, resource in [
        ("apps", "deployments"),
        ("apps", "statefulsets"),
        ("", "services"),
        ("", "persistentvolumeclaims"),
        ("", "secrets"),
        ("", "serviceaccounts"),
        ("networking.k8s.io", "ingresses"),
        ("rbac.authorization.k8s.io", "roles"),
        ("rbac.authorization.k8s.io", "rolebindings"),
    ]:
        for verb in ("get", "list", "watch", "create", "patch", "delete"):
            assert (group, resource, verb) in grants, (group, resource, verb)
    assert ("kopf.dev", "clusterkopfpeerings", "patch") in grants
    assert ("apiextensions.k8s.io", "customresourcedefinitions", "watch") in grants
    assert ("", "events", "create") in grants


def test_operator_holds_every_permission_it_delegates_to_agents() -> None:
    """Kubernetes lets a subject grant only what it holds (no `escalate`): the agents' Role
    (jobs, pods, pods/log, events) and their cluster-wide read role must be covered."""
    grants = _grants(_rules("runyard-operator"))
    agent_namespace_role = {
        ("batch", "jobs", verb) for verb in ("get", "list", "watch", "create", "patch", "delete")
    } | {("", "pods", v) for v in ("get", "list", "watch")}
    agent_namespace_role |= {("", "pods/log", "get")}
    agent_namespace_role |= {("", "events", v) for v in ("get", "list", "watch")}
    agent_cluster_role = _grants(_rules("runyard-agent"))
    assert agent_cluster_role == {
        ("", resource, verb) for resource in ("nodes", "pods") for verb in ("get", "list", "watch")
    }
    assert agent_namespace_role | agent_cluster_role <= grants


def test_operator_can_delegate_the_workload_kinds_the_values_name() -> None:
    values = {"rbac": {"workloadKinds": [{"apiGroup": "jobset.x-k8s.io", "resource": "jobsets"}]}}
    grants = _grants(list(objects(values)[("ClusterRole", "runyard-operator")]["rules"]))
    for verb in ("get", "list", "watch", "create", "patch", "delete"):
        assert ("jobset.x-k8s.io", "jobsets", verb) in grants
    assert not any(
        group == "jobset.x-k8s.io" for group, _, _ in _grants(_rules("runyard-operator"))
    )


def test_cluster_role_binding_binds_the_operator_service_account() -> None:
    rendered = objects()
    binding = rendered[("ClusterRoleBinding", "runyard-operator")]
    assert binding["roleRef"]["name"] == "runyard-operator"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "runyard-operator", "namespace": "runyard"}
    ]
    assert ("ServiceAccount", "runyard-operator") in rendered


def test_rbac_and_service_account_can_be_left_to_the_user() -> None:
    values = {"rbac": {"create": False}, "serviceAccount": {"create": False, "name": "ops"}}
    rendered = objects(values)
    assert not {kind for kind, _ in rendered} & {
        "ClusterRole",
        "ClusterRoleBinding",
        "ServiceAccount",
    }
    deployment = rendered[("Deployment", "runyard-operator")]
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "ops"


# --- operator Deployment --------------------------------------------------------------------------


def test_operator_runs_non_root_with_a_read_only_root_filesystem() -> None:
    deployment = objects()[("Deployment", "runyard-operator")]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["limits"]["memory"]
    assert container["resources"]["requests"]["cpu"]


def test_operator_probes_hit_kopfs_liveness_endpoint() -> None:
    container = operator_container({"operator": {"health": {"port": 8081}}})
    assert "--liveness=http://0.0.0.0:8081/healthz" in container["args"]
    assert {"name": "health", "containerPort": 8081, "protocol": "TCP"} in container["ports"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}


def test_operator_serves_prometheus_metrics_on_its_own_port() -> None:
    deployment = objects()[("Deployment", "runyard-operator")]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["RUNYARD_OPERATOR_METRICS_PORT"] == "9090"
    assert {"name": "metrics", "containerPort": 9090, "protocol": "TCP"} in container["ports"]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "9090"

    off = objects({"operator": {"metrics": {"port": 0}}})[("Deployment", "runyard-operator")]
    (container,) = off["spec"]["template"]["spec"]["containers"]
    assert [p["name"] for p in container["ports"]] == ["health"]
    assert "annotations" not in off["spec"]["template"]["metadata"]
    with pytest.raises(helm.HelmRenderError, match="give them different ports"):
        chart_check.render({"operator": {"metrics": {"port": 8080}}})


def test_operator_command_scope_and_image_come_from_values() -> None:
    container = operator_container()
    assert container["command"] == ["kopf", "run", "--module=runyard.operator.handlers"]
    assert "--all-namespaces" in container["args"]
    assert container["image"] == "runyard-operator:0.1.0"

    values = {
        "image": {"registry": "registry.example.com/ml/", "tag": "1.2.3"},
        "operator": {
            "command": ["kopf", "run", "-m", "my.handlers"],
            "allNamespaces": False,
            "namespaces": ["ml", "research"],
            "extraArgs": ["--verbose"],
        },
    }
    container = operator_container(values)
    assert container["command"] == ["kopf", "run", "-m", "my.handlers"]
    assert "--all-namespaces" not in container["args"]
    assert {"--namespace=ml", "--namespace=research", "--verbose"} <= set(container["args"])
    assert container["image"] == "registry.example.com/ml/runyard-operator:1.2.3"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["RUNYARD_SERVER_IMAGE"] == "registry.example.com/ml/runyard-server:1.2.3"
    assert env["RUNYARD_AGENT_IMAGE"] == "registry.example.com/ml/runyard-agent:1.2.3"
    assert env["RUNYARD_AGENT_CLUSTER_ROLE"] == "runyard-agent"


def test_two_replicas_share_a_peering_object() -> None:
    rendered = objects({"operator": {"replicas": 2}})
    deployment = rendered[("Deployment", "runyard-operator")]
    assert deployment["spec"]["replicas"] == 2
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "--peering=runyard" in container["args"]
    peering = rendered[("ClusterKopfPeering", "runyard")]
    assert peering["metadata"]["annotations"]["helm.sh/hook"] == "post-install"
    assert ("CustomResourceDefinition", "clusterkopfpeerings.kopf.dev") in rendered
    budget = rendered[("PodDisruptionBudget", "runyard-operator")]
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"] == deployment["spec"]["selector"]
    assert ("PodDisruptionBudget", "runyard-operator") not in objects()


def test_without_peering_one_operator_runs_standalone_and_never_overlaps() -> None:
    rendered = objects({"operator": {"peering": {"enabled": False}}})
    deployment = rendered[("Deployment", "runyard-operator")]
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "--standalone" in container["args"]
    assert not any(a.startswith("--peering") for a in container["args"])
    assert not {kind for kind, _ in rendered} & {"ClusterKopfPeering", "CustomResourceDefinition"}


def test_peering_crds_can_be_left_to_another_kopf_operator() -> None:
    rendered = objects({"operator": {"peering": {"installCRDs": False}}})
    assert ("CustomResourceDefinition", "clusterkopfpeerings.kopf.dev") not in rendered
    assert ("ClusterKopfPeering", "runyard") in rendered


# --- NOTES.txt ------------------------------------------------------------------------------------


def test_notes_tell_the_next_command() -> None:
    text = chart_check.notes()
    assert "kubectl apply -n runyard -f examples/cluster.yaml" in text
    assert "kubectl -n runyard get trackingservers,launchqueues,agentpools" in text
    created = chart_check.notes(CREATE)
    assert "examples/cluster.yaml" not in created
    assert "get trackingservers,launchqueues,agentpools" in created
