"""AgentPool -> agent Deployment, its config, ServiceAccount and RBAC (pure: no API calls).

The pool's GPU settings travel in the agent's config file (`AgentConfig.pool`), never in
the agent pod's own scheduling: agents run on CPU nodes and put Jobs on the GPU pool.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import yaml
from pydantic import ValidationError

from runyard.launch.agent.config import AgentConfig
from runyard.launch.kubernetes.pool import WorkloadKind

from .agent_pool import AgentPoolSpec
from .api import GROUP
from .objects import SpecError, container_security, metadata, pod_security, resources, selector

__all__ = ["selector"]
from .settings import OperatorSettings

AGENT_USER = 10001
METRICS_PORT = 9100
CONFIG_PATH = "/etc/runyard/agent.yaml"
# Kubernetes owner references cannot cross namespaces or point from cluster-scoped objects,
# so objects outside the pool's namespace carry this label and the finalizer deletes them.
OWNER_LABEL = f"{GROUP}/agentpool"
# Agent config `pool.*` settings that come from their own AgentPool field, not spec.nodePool.
_POOL_FIELDS = {
    "workload_kinds": "spec.workloadKinds",
    "allowed_secrets": "spec.allowedSecrets",
    "allowed_priority_classes": "spec.allowedPriorityClasses",
}


def owner_label(name: str, namespace: str) -> str:
    """Label value naming a pool across namespaces."""
    return f"{namespace}.{name}"


def names(name: str, namespace: str) -> dict[str, str]:
    """Names of the objects an AgentPool owns."""
    return {
        "deployment": f"{name}-agent",
        "config": f"{name}-agent",
        "account": f"{name}-agent",
        "role": f"runyard-agent-{name}",
        "cluster_binding": f"runyard-agent-{namespace}-{name}",
    }


def job_namespace(namespace: str, spec: AgentPoolSpec) -> str:
    """Where the pool's Jobs go."""
    return spec.job_namespace or namespace


def api_key_ref(spec: AgentPoolSpec, server_key: tuple[str, str]) -> tuple[str, str]:
    """(secret, key) of the agents' API key: the pool's own, or the server's key."""
    if spec.api_key_secret is not None:
        return spec.api_key_secret.name, spec.api_key_secret.key
    return server_key


def agent_config(
    name: str,
    namespace: str,
    spec: AgentPoolSpec,
    server_url: str,
    server_key: tuple[str, str],
    queues: list[str],
    settings: OperatorSettings,
) -> dict[str, Any]:
    """The agent's config file, checked with the agent's own model (errors name the field)."""
    secret, key = api_key_ref(spec, server_key)
    if job_namespace(namespace, spec) != namespace:
        # Jobs read the key from a Secret in their own namespace: the operator's copy.
        secret, key = job_key_secret(name), "api-key"
    raw = {
        "server_url": server_url,
        "entity": spec.server_ref.entity,
        "queues": queues,
        "runner": "kubernetes",
        "max_jobs": spec.max_jobs_per_agent,
        "metrics_port": METRICS_PORT,
        "pool": {
            "name": spec.pool_name or name,
            "namespace": job_namespace(namespace, spec),
            "node_selector": dict(spec.node_pool.node_selector),
            "tolerations": list(spec.node_pool.tolerations),
            "gpu_resource": spec.node_pool.gpu_resource,
            "service_account": spec.job_service_account,
            "api_key_secret": {"name": secret, "key": key},
            "server_url": server_url,
            "default_image": spec.job_image or settings.job_image,
            "workload_kinds": [
                k.model_dump(by_alias=True, exclude_none=True) for k in spec.workload_kinds
            ],
            "allowed_secrets": list(spec.allowed_secrets),
            "allowed_priority_classes": list(spec.allowed_priority_classes),
        },
    }
    try:
        config = AgentConfig.model_validate(raw)
    except ValidationError as exc:
        fields = {
            "pool": "spec.nodePool",
            "queues": "spec.queues",
            "max_jobs": "spec.maxJobsPerAgent",
        }
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            where = fields.get(loc[0], "spec") if loc else "spec"
            if loc[:1] == ["pool"] and len(loc) > 1 and loc[1] in _POOL_FIELDS:
                where = _POOL_FIELDS[loc[1]]
            problems.append(
                f"{where} ({'.'.join(loc)}): {err['msg'].removeprefix('Value error, ')}"
            )
        raise SpecError("; ".join(problems)) from None
    dumped: dict[str, Any] = config.model_dump(mode="json", exclude_none=True)
    dumped.pop("workdir", None)  # local-process only
    dumped.pop("name", None)  # each agent is listed by its pod name (the default)
    return dumped


def workload_kinds(spec: AgentPoolSpec) -> list[WorkloadKind]:
    """The pool's custom workload kinds as the agent reads them."""
    return [WorkloadKind.model_validate(k.model_dump(by_alias=True)) for k in spec.workload_kinds]


def job_key_secret(name: str) -> str:
    """Name of the API key copy in a job namespace other than the pool's."""
    return f"runyard-{name}-api-key"


def job_key(name: str, namespace: str, spec: AgentPoolSpec, api_key: str) -> dict[str, Any]:
    """The API key Secret the pool's Jobs read, in the job namespace (labelled, not owned)."""
    meta = metadata(job_key_secret(name), job_namespace(namespace, spec), "agent", name)
    meta["labels"][OWNER_LABEL] = owner_label(name, namespace)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "stringData": {"api-key": api_key},
    }


def config_map(name: str, namespace: str, config: dict[str, Any]) -> dict[str, Any]:
    """The ConfigMap holding agent.yaml."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(names(name, namespace)["config"], namespace, "agent", name),
        "data": {"agent.yaml": yaml.safe_dump(config, sort_keys=True)},
    }


def deployment(
    name: str,
    namespace: str,
    spec: AgentPoolSpec,
    replicas: int,
    config: dict[str, Any],
    server_key: tuple[str, str],
    settings: OperatorSettings,
) -> dict[str, Any]:
    """The agent Deployment (CPU nodes; rolls when the config changes)."""
    n = names(name, namespace)
    secret, key = api_key_ref(spec, server_key)
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    container = {
        "name": "agent",
        "image": spec.image or settings.agent_image,
        "command": ["runyard"],
        "args": ["agent", "--config", CONFIG_PATH],
        "env": [
            {
                "name": "RUNYARD_API_KEY",
                "valueFrom": {"secretKeyRef": {"name": secret, "key": key}},
            },
            {"name": "HOME", "value": "/tmp"},
        ],
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
        "volumeMounts": [
            {"name": "config", "mountPath": "/etc/runyard", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
        "resources": resources(spec.resources),
        "securityContext": container_security(),
        "livenessProbe": {"tcpSocket": {"port": "metrics"}, "periodSeconds": 20},
    }
    pod_spec: dict[str, Any] = {
        "serviceAccountName": n["account"],
        "securityContext": pod_security(AGENT_USER),
        "containers": [container],
        "volumes": [
            {"name": "config", "configMap": {"name": n["config"]}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    if spec.scheduling.node_selector:
        pod_spec["nodeSelector"] = dict(spec.scheduling.node_selector)
    if spec.scheduling.tolerations:
        pod_spec["tolerations"] = list(spec.scheduling.tolerations)
    if spec.scheduling.affinity:
        pod_spec["affinity"] = dict(spec.scheduling.affinity)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(n["deployment"], namespace, "agent", name),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector("agent", name)},
            "template": {
                "metadata": {
                    "labels": metadata("x", None, "agent", name)["labels"],
                    "annotations": {f"{GROUP}/config-hash": digest},
                },
                "spec": pod_spec,
            },
        },
    }


def rbac(name: str, namespace: str, spec: AgentPoolSpec, cluster_role: str) -> list[dict[str, Any]]:
    """ServiceAccount, a Role in the job namespace (jobs, pods, logs, events), and a binding
    of the chart's cluster-wide read role (nodes, pods) — the operator grants only what it
    holds itself, so it binds that role instead of creating one."""
    n = names(name, namespace)
    jobs_ns = job_namespace(namespace, spec)
    subject = [{"kind": "ServiceAccount", "name": n["account"], "namespace": namespace}]
    owned = {OWNER_LABEL: owner_label(name, namespace)}

    def meta(obj_name: str, ns: str | None) -> dict[str, Any]:
        m = metadata(obj_name, ns, "agent", name)
        m["labels"].update(owned)
        return m

    rules = [
        {
            "apiGroups": ["batch"],
            "resources": ["jobs"],
            "verbs": ["get", "list", "watch", "create", "delete", "patch"],
        },
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]},
        *(
            {
                "apiGroups": [kind.group],
                "resources": [kind.resource],
                "verbs": ["get", "list", "watch", "create", "delete", "patch"],
            }
            for kind in workload_kinds(spec)
        ),
    ]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(n["account"], namespace)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta(n["role"], jobs_ns),
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta(n["role"], jobs_ns),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": n["role"]},
            "subjects": subject,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": meta(n["cluster_binding"], None),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": cluster_role,
            },
            "subjects": subject,
        },
    ]


def desired(
    name: str,
    namespace: str,
    spec: AgentPoolSpec,
    *,
    replicas: int,
    server_url: str,
    server_key: tuple[str, str],
    queues: list[str] | None = None,
    settings: OperatorSettings | None = None,
    api_key: str | None = None,
) -> list[dict[str, Any]]:
    """Every object of an AgentPool; raises SpecError (naming the field) before any is built.

    `api_key` (the value behind `server_key`) is copied into the job namespace when that is
    not the pool's own; without it the copy is left out (the caller retries later)."""
    settings = settings or OperatorSettings()
    config = agent_config(
        name, namespace, spec, server_url, server_key, queues or spec.queues, settings
    )
    copies = []
    if job_namespace(namespace, spec) != namespace and api_key is not None:
        copies.append(job_key(name, namespace, spec, api_key))
    return [
        *copies,
        *rbac(name, namespace, spec, settings.agent_cluster_role),
        config_map(name, namespace, config),
        deployment(name, namespace, spec, replicas, config, server_key, settings),
    ]
