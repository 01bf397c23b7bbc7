"""TrackingServer -> the Kubernetes objects that run it (pure: no API calls).

Objects: data PVC, admin-key Secret (only when none exists yet: generated once, never
rotated), server Deployment (non-root, read-only root filesystem, migrations in an init
container so a new version migrates before it serves), Service, managed Redis
(StatefulSet with AOF `appendfsync always`, its PVC, a Service) and an optional Ingress.
"""

from __future__ import annotations

from typing import Any

from . import render_rollout
from .objects import (
    CREATE_ONLY,
    RETAINED,
    container_security,
    metadata,
    pod_security,
    resources,
    selector,
)
from .settings import OperatorSettings
from .tracking_server import TrackingServerSpec

PORT = 8080
REDIS_PORT = 6379
SERVER_USER = 10001
REDIS_USER = 999  # the `redis` user of the official images


def names(name: str, spec: TrackingServerSpec) -> dict[str, str]:
    """Names of the objects a TrackingServer owns."""
    return {
        "deployment": name,
        "service": name,
        "data": f"{name}-data",
        "admin": spec.admin_key.secret_name or f"{name}-admin-key",
        "redis": f"{name}-redis",
        "ingress": name,
    }


def server_url(name: str, namespace: str, spec: TrackingServerSpec) -> str:
    """Where users reach the server: the public URL, the Ingress host, or the Service."""
    if spec.public_url:
        return spec.public_url.rstrip("/")
    if spec.ingress.enabled and spec.ingress.host:
        scheme = "https" if spec.ingress.tls_secret else "http"
        return f"{scheme}://{spec.ingress.host}"
    return internal_url(name, namespace)


def internal_url(name: str, namespace: str) -> str:
    """The in-cluster URL of the server's Service (agents and jobs use it)."""
    return f"http://{name}.{namespace}.svc:{PORT}"


def image(spec: TrackingServerSpec, settings: OperatorSettings) -> str:
    """The server image: the spec's, else the operator's default."""
    return spec.image or settings.server_image


def version(spec: TrackingServerSpec, settings: OperatorSettings) -> str:
    """The image tag, shown as the server's version."""
    image = (spec.image or settings.server_image).rsplit("/", 1)[-1]
    return image.split("@", 1)[0].split(":", 1)[1] if ":" in image else "latest"


def admin_secret(name: str, namespace: str, spec: TrackingServerSpec, key: str) -> dict[str, Any]:
    """The admin API key Secret; created once with `key`, never patched afterwards."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(
            names(name, spec)["admin"], namespace, "server", name, **{CREATE_ONLY: "true"}
        ),
        "type": "Opaque",
        "stringData": {spec.admin_key.key: key},
    }


def _pvc(
    pvc_name: str, namespace: str, instance: str, size: str, storage_class: str | None, rwx: bool
) -> dict[str, Any]:
    meta = metadata(pvc_name, namespace, "server", instance)
    meta["labels"][RETAINED] = instance
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteMany" if rwx else "ReadWriteOnce"],
        "resources": {"requests": {"storage": size}},
    }
    if storage_class:
        spec["storageClassName"] = storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": spec}


def _secret_env(var: str, name: str, key: str) -> dict[str, Any]:
    return {"name": var, "valueFrom": {"secretKeyRef": {"name": name, "key": key}}}


def _server_env(name: str, namespace: str, spec: TrackingServerSpec) -> list[dict[str, Any]]:
    n = names(name, spec)
    env: list[dict[str, Any]] = [
        {"name": "RUNYARD_HOST", "value": "0.0.0.0"},
        {"name": "RUNYARD_PORT", "value": str(PORT)},
        {"name": "RUNYARD_DATA_DIR", "value": "/data"},
        {"name": "RUNYARD_PUBLIC_URL", "value": server_url(name, namespace, spec)},
        _secret_env("RUNYARD_ADMIN_API_KEY", n["admin"], spec.admin_key.key),
        {"name": "HOME", "value": "/tmp"},
        # Replicas and workers check their shared state at start (RUNYARD_REPLICAS > 1 needs
        # PostgreSQL and these keys); the keys are the same on every pod.
        {"name": "RUNYARD_REPLICAS", "value": str(max(spec.replicas, 1))},
        {"name": "RUNYARD_WORKERS", "value": str(spec.workers)},
        *render_rollout.shared_secret_env(name, spec),
        *render_rollout.object_store_env(spec),
    ]
    if spec.database.type == "postgresql" and spec.database.url_secret is not None:
        ref = spec.database.url_secret
        env.append(_secret_env("RUNYARD_DATABASE_URL", ref.name, ref.key))
    if spec.redis.mode == "managed":
        redis_url = f"redis://{n['redis']}.{namespace}.svc:{REDIS_PORT}/0"
        env.append({"name": "RUNYARD_QUEUE_REDIS_URL", "value": redis_url})
    elif spec.redis.mode == "external" and spec.redis.url_secret is not None:
        ref = spec.redis.url_secret
        env.append(_secret_env("RUNYARD_QUEUE_REDIS_URL", ref.name, ref.key))
    return env


def _scheduling(spec: TrackingServerSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if spec.scheduling.node_selector:
        out["nodeSelector"] = dict(spec.scheduling.node_selector)
    if spec.scheduling.tolerations:
        out["tolerations"] = list(spec.scheduling.tolerations)
    if spec.scheduling.affinity:
        out["affinity"] = dict(spec.scheduling.affinity)
    return out


def deployment(
    name: str, namespace: str, spec: TrackingServerSpec, settings: OperatorSettings
) -> dict[str, Any]:
    """The server Deployment."""
    n = names(name, spec)
    env = _server_env(name, namespace, spec)
    mounts = [{"name": "data", "mountPath": "/data"}, {"name": "tmp", "mountPath": "/tmp"}]
    probe = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10}
    container = {
        "name": "server",
        "image": image(spec, settings),
        "args": ["server"],
        "command": ["runyard"],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "env": env,
        "volumeMounts": mounts,
        "resources": resources(spec.resources),
        "securityContext": container_security(),
        "startupProbe": {**probe, "failureThreshold": 30},
        "livenessProbe": {**probe, "failureThreshold": 3},
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "http"},
            "periodSeconds": 5,
            "failureThreshold": 3,
        },
    }
    migrate = {
        "name": "migrate",
        "image": image(spec, settings),
        "command": ["runyard"],
        "args": ["server", "migrate"],
        "env": env,
        "volumeMounts": mounts,
        "resources": resources(spec.resources),
        "securityContext": container_security(),
    }
    pod_spec: dict[str, Any] = {
        "securityContext": pod_security(SERVER_USER),
        "automountServiceAccountToken": False,
        # PostgreSQL migrates in a Job before the rollout (render_rollout.py).
        "initContainers": [] if render_rollout.uses_migration_job(spec) else [migrate],
        "containers": [container],
        "volumes": [
            {"name": "data", "persistentVolumeClaim": {"claimName": n["data"]}},
            {"name": "tmp", "emptyDir": {}},
        ],
        **_scheduling(spec),
    }
    if spec.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": s} for s in spec.image_pull_secrets]
    # SQLite on a ReadWriteOnce volume has one writer: stop the old pod before the new starts.
    strategy = (
        {"type": "Recreate"}
        if spec.database.type == "sqlite"
        else {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(n["deployment"], namespace, "server", name),
        "spec": {
            "replicas": spec.replicas,
            "strategy": strategy,
            "selector": {"matchLabels": selector("server", name)},
            "template": {
                "metadata": {"labels": metadata("x", None, "server", name)["labels"]},
                "spec": pod_spec,
            },
        },
    }


def service(name: str, namespace: str, spec: TrackingServerSpec) -> dict[str, Any]:
    """The server Service."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(names(name, spec)["service"], namespace, "server", name),
        "spec": {
            "type": "ClusterIP",
            "selector": selector("server", name),
            "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def redis_objects(name: str, namespace: str, spec: TrackingServerSpec) -> list[dict[str, Any]]:
    """Managed Redis: a one-replica StatefulSet with AOF fsync on every write, and its Service."""
    n = names(name, spec)
    redis = spec.redis
    claim: dict[str, Any] = {
        "metadata": {"name": "data", "labels": {RETAINED: name}},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": redis.storage.size}},
        },
    }
    if redis.storage.storage_class_name:
        claim["spec"]["storageClassName"] = redis.storage.storage_class_name
    container = {
        "name": "redis",
        "image": redis.image,
        "command": ["redis-server"],
        # Every acknowledged enqueue/claim survives a crash: AOF, fsync on every write.
        "args": ["--appendonly", "yes", "--appendfsync", "always", "--dir", "/data"],
        "ports": [{"name": "redis", "containerPort": REDIS_PORT, "protocol": "TCP"}],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "resources": resources(redis.resources),
        "securityContext": container_security(),
        "readinessProbe": {"exec": {"command": ["redis-cli", "ping"]}, "periodSeconds": 5},
        "livenessProbe": {"tcpSocket": {"port": "redis"}, "periodSeconds": 10},
    }
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(n["redis"], namespace, "redis", name),
        "spec": {
            "serviceName": n["redis"],
            "replicas": 1,
            "selector": {"matchLabels": selector("redis", name)},
            "persistentVolumeClaimRetentionPolicy": {
                "whenDeleted": "Delete" if spec.retention_policy == "purge" else "Retain",
                "whenScaled": "Retain",
            },
            "template": {
                "metadata": {"labels": metadata("x", None, "redis", name)["labels"]},
                "spec": {
                    "securityContext": pod_security(REDIS_USER),
                    "automountServiceAccountToken": False,
                    "containers": [container],
                    **_scheduling(spec),
                },
            },
            "volumeClaimTemplates": [claim],
        },
    }
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(n["redis"], namespace, "redis", name),
        "spec": {
            "type": "ClusterIP",
            "selector": selector("redis", name),
            "ports": [{"name": "redis", "port": REDIS_PORT, "targetPort": "redis"}],
        },
    }
    return [statefulset, svc]


def ingress(name: str, namespace: str, spec: TrackingServerSpec) -> dict[str, Any]:
    """The Ingress in front of the Service."""
    ing = spec.ingress
    meta = metadata(names(name, spec)["ingress"], namespace, "server", name, **ing.annotations)
    body: dict[str, Any] = {
        "rules": [
            {
                "host": ing.host,
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {
                                "service": {
                                    "name": names(name, spec)["service"],
                                    "port": {"name": "http"},
                                }
                            },
                        }
                    ]
                },
            }
        ]
    }
    if ing.class_name:
        body["ingressClassName"] = ing.class_name
    if ing.tls_secret:
        body["tls"] = [{"hosts": [ing.host], "secretName": ing.tls_secret}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": body}


def _shared_files(spec: TrackingServerSpec) -> bool:
    """Whether the data volume is ReadWriteMany (several replicas read and write files)."""
    if spec.storage.access_mode is not None:
        return spec.storage.access_mode == "ReadWriteMany"
    # With an object store the volume holds nothing the replicas share.
    return spec.database.type == "postgresql" and spec.object_store.type == "filesystem"


def desired(
    name: str,
    namespace: str,
    spec: TrackingServerSpec,
    new_admin_key: str | None,
    settings: OperatorSettings | None = None,
    *,
    new_shared_keys: dict[str, str] | None = None,
    deploy: bool = True,
) -> list[dict[str, Any]]:
    """Every object of a TrackingServer; the admin and shared-keys Secrets only when new keys
    are given; the Deployment only when `deploy` (its image's migration Job succeeded)."""
    settings = settings or OperatorSettings()
    n = names(name, spec)
    objects: list[dict[str, Any]] = []
    if new_admin_key is not None:
        objects.append(admin_secret(name, namespace, spec, new_admin_key))
    if new_shared_keys is not None:
        objects.append(render_rollout.shared_secret(name, namespace, spec, new_shared_keys))
    objects.append(
        _pvc(
            n["data"],
            namespace,
            name,
            spec.storage.size,
            spec.storage.storage_class_name,
            rwx=_shared_files(spec),
        )
    )
    if spec.redis.mode == "managed":
        objects += redis_objects(name, namespace, spec)
    server = deployment(name, namespace, spec, settings)
    if render_rollout.uses_migration_job(spec):
        env = server["spec"]["template"]["spec"]["containers"][0]["env"]
        objects.append(
            render_rollout.migration_job(name, namespace, spec, image(spec, settings), env)
        )
    if deploy:
        objects.append(server)
    objects.append(service(name, namespace, spec))
    pdb = render_rollout.pod_disruption_budget(name, namespace, spec)
    if pdb is not None:
        objects.append(pdb)
    if spec.ingress.enabled:
        objects.append(ingress(name, namespace, spec))
    return objects


def required_secrets(spec: TrackingServerSpec) -> list[tuple[str, str, str]]:
    """(field, secret, key) of every user-provided Secret the server needs."""
    refs = []
    if spec.database.type == "postgresql" and spec.database.url_secret is not None:
        ref = spec.database.url_secret
        refs.append(("spec.database.urlSecret", ref.name, ref.key))
    if spec.redis.mode == "external" and spec.redis.url_secret is not None:
        ref = spec.redis.url_secret
        refs.append(("spec.redis.urlSecret", ref.name, ref.key))
    s3 = spec.object_store.s3
    if spec.object_store.type == "s3" and s3 is not None and s3.credentials_secret is not None:
        cred = s3.credentials_secret
        field = "spec.objectStore.s3.credentialsSecret"
        refs.append((field, cred.name, cred.access_key_id_key))
        refs.append((field, cred.name, cred.secret_access_key_key))
    return refs
