"""What a replicated TrackingServer adds (pure: no API calls): the Secret of keys every replica
shares, a PodDisruptionBudget, and the migrations Job that runs before a rollout.

Migrations: on PostgreSQL a Job named after the image runs `runyard server migrate` once per
image; the Deployment moves to that image only after the Job succeeded, so old pods keep
serving while the schema moves and a failed migration never reaches a pod. SQLite keeps the
init container: its ReadWriteOnce volume is attached to the one server pod.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from .objects import CREATE_ONLY, container_security, metadata, pod_security, resources, selector
from .tracking_server import TrackingServerSpec

SIGNING_KEY = "signing-secret"
SECRETS_KEY = "secrets-key"
SERVER_USER = 10001


def shared_secret_name(name: str, spec: TrackingServerSpec) -> str:
    """The Secret holding the keys every replica shares."""
    return spec.secrets.secret_name or f"{name}-secrets"


def new_shared_keys() -> dict[str, str]:
    """Fresh keys: 64 hex characters for signing, a Fernet key for team secrets."""
    return {
        SIGNING_KEY: secrets.token_hex(32),
        SECRETS_KEY: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    }


def shared_secret(
    name: str, namespace: str, spec: TrackingServerSpec, keys: dict[str, str]
) -> dict[str, Any]:
    """The shared-keys Secret; created once with `keys`, never patched afterwards."""
    meta = metadata(
        shared_secret_name(name, spec), namespace, "server", name, **{CREATE_ONLY: "true"}
    )
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "type": "Opaque",
        "stringData": keys,
    }


def shared_secret_env(name: str, spec: TrackingServerSpec) -> list[dict[str, Any]]:
    """RUNYARD_SIGNING_SECRET and RUNYARD_SECRETS_KEY from the shared Secret."""
    secret = shared_secret_name(name, spec)
    return [
        {"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
        for var, key in (
            ("RUNYARD_SIGNING_SECRET", SIGNING_KEY),
            ("RUNYARD_SECRETS_KEY", SECRETS_KEY),
        )
    ]


def object_store_env(spec: TrackingServerSpec) -> list[dict[str, Any]]:
    """The object store settings of the server (S3: bucket, endpoints, region, prefix,
    addressing style, key pair)."""
    store = spec.object_store
    if store.type != "s3" or store.s3 is None:
        return []
    s3 = store.s3
    env: list[dict[str, Any]] = [
        {"name": "RUNYARD_S3_BUCKET", "value": s3.bucket},
    ]
    if s3.endpoint:
        env.append({"name": "RUNYARD_S3_ENDPOINT_URL", "value": s3.endpoint})
    if s3.public_endpoint:
        env.append({"name": "RUNYARD_S3_PUBLIC_ENDPOINT_URL", "value": s3.public_endpoint})
    if s3.region:
        env.append({"name": "RUNYARD_S3_REGION", "value": s3.region})
    if s3.prefix:
        env.append({"name": "RUNYARD_S3_PREFIX", "value": s3.prefix})
    env.append({"name": "RUNYARD_S3_ADDRESSING_STYLE", "value": s3.addressing_style})
    if s3.credentials_secret is not None:
        ref = s3.credentials_secret
        for var, key in (
            ("RUNYARD_S3_ACCESS_KEY_ID", ref.access_key_id_key),
            ("RUNYARD_S3_SECRET_ACCESS_KEY", ref.secret_access_key_key),
        ):
            env.append({"name": var, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": key}}})
    return env


def pod_disruption_budget(
    name: str, namespace: str, spec: TrackingServerSpec
) -> dict[str, Any] | None:
    """With several replicas, a node drain takes at most one server pod at a time."""
    if spec.replicas < 2:
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(name, namespace, "server", name),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector("server", name)}},
    }


def uses_migration_job(spec: TrackingServerSpec) -> bool:
    """PostgreSQL migrates in a Job before the rollout; SQLite in the pod's init container."""
    return spec.database.type == "postgresql"


def migration_job_name(name: str, image: str) -> str:
    """One Job per image: a new image migrates once, a re-apply finds the Job done."""
    return f"{name}-migrate-{hashlib.sha256(image.encode()).hexdigest()[:10]}"


def migration_job(
    name: str, namespace: str, spec: TrackingServerSpec, image: str, env: list[dict[str, Any]]
) -> dict[str, Any]:
    """The Job running `runyard server migrate` with the new image (created once)."""
    container = {
        "name": "migrate",
        "image": image,
        "command": ["runyard"],
        "args": ["server", "migrate"],
        "env": env,
        "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
        "resources": resources(spec.resources),
        "securityContext": container_security(),
    }
    pod: dict[str, Any] = {
        "securityContext": pod_security(SERVER_USER),
        "automountServiceAccountToken": False,
        "restartPolicy": "Never",
        "containers": [container],
        "volumes": [{"name": "data", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
    }
    if spec.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": s} for s in spec.image_pull_secrets]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(
            migration_job_name(name, image), namespace, "migrate", name, **{CREATE_ONLY: "true"}
        ),
        "spec": {
            "backoffLimit": 3,
            "template": {
                "metadata": {"labels": metadata("x", None, "migrate", name)["labels"]},
                "spec": pod,
            },
        },
    }


@dataclass(frozen=True)
class Gate:
    """Whether the Deployment may take the new image, and what to say meanwhile."""

    deploy: bool
    waiting: str | None = None
    failed: str | None = None


def rollout_gate(spec: TrackingServerSpec, job_name: str, job: dict[str, Any] | None) -> Gate:
    """The Deployment follows the spec once the image's migration Job has succeeded."""
    if not uses_migration_job(spec):
        return Gate(deploy=True)
    status = (job or {}).get("status") or {}
    if int(status.get("succeeded") or 0) > 0:
        return Gate(deploy=True)
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Failed" and condition.get("status") == "True":
            return Gate(
                deploy=False,
                failed=f"spec.image: the migration Job {job_name} failed "
                f"({condition.get('message') or condition.get('reason') or 'no reason given'}); "
                f"see `kubectl logs job/{job_name}`. The previous version keeps serving.",
            )
    return Gate(deploy=False, waiting=f"migrating the database (Job {job_name}) before the rollout")
