"""The operator's rollout of a replicated server (migration Job first, PDB, shared keys),
against kmock with kopf running.

In its own module, so kopf serves only this server: in the shared module the timers of every
earlier test's objects (0.3 s each) delayed this server's reconciles past the test's patience
on a loaded machine.
"""

from __future__ import annotations

import time
from typing import Any

from kubernetes.client import CustomObjectsApi
from test_operator_kopf import (
    GROUP,
    NS,
    VERSION,
    _condition,
    _create,
    _job_status,
    _secret,
    eventually,
    fake,
)

from runyard.operator import render_rollout
from support.kube import FakeKubernetes

__all__ = ["fake"]  # the module-scoped operator fixture, shared with test_operator_kopf


def test_replicated_server_migrates_in_a_job_before_each_rollout(fake: FakeKubernetes) -> None:
    """Three replicas on PostgreSQL + S3: shared keys made once, a PDB, and the Deployment
    moves to an image only after that image's migration Job succeeded; a failed one leaves
    the old version serving and says which Job to read."""
    _secret(fake, "rep-pg", {"url": "postgresql+psycopg://u:p@pg/runyard"})
    _secret(fake, "rep-s3", {"access-key-id": "AK", "secret-access-key": "SK"})
    spec = {
        "image": "runyard-server:1.0",
        "replicas": 3,
        "database": {"type": "postgresql", "urlSecret": {"name": "rep-pg", "key": "url"}},
        "objectStore": {
            "type": "s3",
            "s3": {"bucket": "runs", "credentialsSecret": {"name": "rep-s3"}},
        },
        "redis": {"mode": "none"},
    }
    _create(fake, "trackingservers", "TrackingServer", "rep", spec)
    first = render_rollout.migration_job_name("rep", "runyard-server:1.0")
    eventually(lambda: fake.get("jobs", NS, first), "the migration Job of image 1.0")
    keys = eventually(lambda: fake.get("secrets", NS, "rep-secrets"), "the shared keys")
    pdb = eventually(lambda: fake.get("poddisruptionbudgets", NS, "rep"), "the PDB")
    assert pdb["spec"]["maxUnavailable"] == 1
    progressing = eventually(
        lambda: _condition(fake.get("trackingservers", NS, "rep"), "Progressing"), "Progressing"
    )
    assert first in progressing["message"]
    time.sleep(1.0)  # a few reconciles (0.3 s timer): still no Deployment before the migration
    assert fake.get("deployments", NS, "rep") is None

    _job_status(fake, first, {"succeeded": 1})
    deployment = eventually(lambda: fake.get("deployments", NS, "rep"), "the Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "runyard-server:1.0" and pod["initContainers"] == []
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["RUNYARD_SIGNING_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "rep-secrets"

    # A new image: its Job first; it fails: Degraded names it, the old image keeps serving.
    api = CustomObjectsApi(fake.api_client())
    api.patch_namespaced_custom_object(
        GROUP, VERSION, NS, "trackingservers", "rep", {"spec": {"image": "runyard-server:2.0"}}
    )
    second = render_rollout.migration_job_name("rep", "runyard-server:2.0")
    eventually(lambda: fake.get("jobs", NS, second), "the migration Job of image 2.0")
    failed = {
        "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]
    }
    _job_status(fake, second, failed)

    def degraded_now() -> dict[str, Any] | None:
        found = _condition(fake.get("trackingservers", NS, "rep"), "Degraded")
        return found if found and found["status"] == "True" else None

    degraded = eventually(degraded_now, "Degraded=True")
    assert "spec.image" in degraded["message"]
    assert f"kubectl logs job/{second}" in degraded["message"]
    image = fake.get("deployments", NS, "rep")["spec"]["template"]["spec"]["containers"][0]["image"]  # type: ignore[index]
    assert image == "runyard-server:1.0"
    assert fake.get("secrets", NS, "rep-secrets") == keys  # never rotated by a reconcile
    api.delete_namespaced_custom_object(GROUP, VERSION, NS, "trackingservers", "rep")
    eventually(lambda: fake.get("trackingservers", NS, "rep") is None, "the CR is gone")
