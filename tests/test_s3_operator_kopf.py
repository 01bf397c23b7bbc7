"""The operator (kopf on kmock) puts a TrackingServer's bucket settings into the server's
Deployment, and reports bad ones as Degraded naming the field, creating nothing.

In its own module, so kopf serves only these objects (see test_operator_rollout)."""

from __future__ import annotations

from typing import Any

from test_operator_kopf import NS, _condition, _create, _secret, eventually, fake

from support.kube import FakeKubernetes

__all__ = ["fake"]  # the module-scoped operator fixture, shared with test_operator_kopf

S3 = {
    "bucket": "runyard-files",
    "endpoint": "http://seaweedfs.storage.svc:8333",
    "publicEndpoint": "https://files.example.com",
    "prefix": "team-a/",
    "addressingStyle": "virtual",
    "credentialsSecret": {"name": "bucket-keys"},
}


def _spec(s3: dict[str, Any]) -> dict[str, Any]:
    return {"image": "runyard-server:1.0", "objectStore": {"type": "s3", "s3": s3}}


def test_bucket_settings_reach_the_server_deployment(fake: FakeKubernetes) -> None:
    _secret(fake, "bucket-keys", {"access-key-id": "AK", "secret-access-key": "SK"})
    _create(fake, "trackingservers", "TrackingServer", "bucketed", _spec(S3))
    deployment = eventually(lambda: fake.get("deployments", NS, "bucketed"), "the Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["RUNYARD_S3_BUCKET"] == "runyard-files"
    assert env["RUNYARD_S3_ENDPOINT_URL"] == "http://seaweedfs.storage.svc:8333"
    assert env["RUNYARD_S3_PUBLIC_ENDPOINT_URL"] == "https://files.example.com"
    assert env["RUNYARD_S3_PREFIX"] == "team-a/"
    assert env["RUNYARD_S3_ADDRESSING_STYLE"] == "virtual"
    assert env["RUNYARD_S3_ACCESS_KEY_ID"] == {
        "secretKeyRef": {"name": "bucket-keys", "key": "access-key-id"}
    }


def test_a_bad_addressing_style_is_degraded_naming_the_field(fake: FakeKubernetes) -> None:
    _create(
        fake,
        "trackingservers",
        "TrackingServer",
        "bad-bucket",
        _spec({**S3, "addressingStyle": "dns", "credentialsSecret": None}),
    )
    degraded = eventually(
        lambda: _condition(fake.get("trackingservers", NS, "bad-bucket"), "Degraded"),
        "Degraded",
    )
    assert degraded["status"] == "True"
    assert "spec.objectStore.s3.addressingStyle" in degraded["message"]
    assert fake.get("deployments", NS, "bad-bucket") is None
