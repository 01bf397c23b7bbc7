"""A TrackingServer's `spec.objectStore.s3` (prefix, publicEndpoint, addressingStyle) and the
chart values behind it: validated with messages naming the field, rendered into the server's
settings, and accepted by the server exactly as rendered."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest

from runyard.operator import render_server
from runyard.operator.crds import all_crds
from runyard.operator.objects import SpecError, parse_spec
from runyard.operator.tracking_server import TrackingServerSpec
from runyard.server.s3_store import S3Store
from runyard.server.settings import ServerSettings

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("chart_check", ROOT / "hack" / "chart_check.py")
assert _spec is not None and _spec.loader is not None
chart_check = importlib.util.module_from_spec(_spec)
sys.modules["chart_check"] = chart_check
_spec.loader.exec_module(chart_check)

S3 = {
    "bucket": "runyard-files",
    "endpoint": "http://seaweedfs.storage.svc:8333",
    "publicEndpoint": "https://files.example.com",
    "prefix": "team-a/runyard/",
    "addressingStyle": "path",
    "credentialsSecret": {"name": "s3-keys"},
}


def _spec_with(s3: dict[str, Any]) -> dict[str, Any]:
    return {
        "replicas": 2,
        "database": {"type": "postgresql", "urlSecret": {"name": "pg", "key": "url"}},
        "objectStore": {"type": "s3", "s3": s3},
    }


def _server_env(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    parsed = parse_spec(TrackingServerSpec, spec)
    objects = render_server.desired("rs", "runyard", parsed, "k" * 40)
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e for e in container["env"]}


def _crd_schema() -> dict[str, Any]:
    crd = next(d for d in all_crds().values() if d["spec"]["names"]["kind"] == "TrackingServer")
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def test_bucket_settings_render_into_the_server_and_the_server_takes_them(
    tmp_path: Path,
) -> None:
    """The Deployment's env carries every bucket setting; a server started with that env
    (the Secret's keys filled in) signs client URLs for the public endpoint, under the
    prefix, and its own requests for the in-cluster endpoint."""
    env = _server_env(_spec_with(S3))
    assert env["RUNYARD_S3_BUCKET"]["value"] == "runyard-files"
    assert env["RUNYARD_S3_ENDPOINT_URL"]["value"] == "http://seaweedfs.storage.svc:8333"
    assert env["RUNYARD_S3_PUBLIC_ENDPOINT_URL"]["value"] == "https://files.example.com"
    assert env["RUNYARD_S3_PREFIX"]["value"] == "team-a/runyard/"
    assert env["RUNYARD_S3_ADDRESSING_STYLE"]["value"] == "path"
    ref = env["RUNYARD_S3_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "s3-keys", "key": "secret-access-key"}

    secrets = {"RUNYARD_S3_ACCESS_KEY_ID": "AKIDEXAMPLE", "RUNYARD_S3_SECRET_ACCESS_KEY": "s"}
    values = {
        name.removeprefix("RUNYARD_").lower(): secrets.get(name, item.get("value"))
        for name, item in env.items()
        if name.startswith("RUNYARD_S3_")
    }
    store = S3Store(ServerSettings(data_dir=tmp_path, **values))
    client_url = urlsplit(store.presigned_get("runs/1/files/model.bin"))
    assert client_url.netloc == "files.example.com"
    assert client_url.path == "/runyard-files/team-a/runyard/runs/1/files/model.bin"
    assert urlsplit(store._sign("HEAD", "x")).netloc == "seaweedfs.storage.svc:8333"


def test_the_default_addressing_style_is_path_and_the_chain_serves_without_a_secret() -> None:
    env = _server_env(_spec_with({"bucket": "runyard-files"}))
    assert env["RUNYARD_S3_ADDRESSING_STYLE"]["value"] == "path"
    assert "RUNYARD_S3_PREFIX" not in env and "RUNYARD_S3_PUBLIC_ENDPOINT_URL" not in env
    # No Secret: the pod's standard AWS credential chain (IRSA and the like) serves.
    assert "RUNYARD_S3_ACCESS_KEY_ID" not in env


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"addressingStyle": "dns"}, "spec.objectStore.s3.addressingStyle"),
        ({"prefix": "/abs/"}, "spec.objectStore.s3.prefix"),
        ({"prefix": "a/../b/"}, "spec.objectStore.s3: prefix 'a/../b/' is not a relative key"),
        ({"prefix": "a//b"}, "spec.objectStore.s3: prefix 'a//b' is not a relative key"),
        ({"publicEndpoint": "files.example.com"}, "spec.objectStore.s3.publicEndpoint"),
        ({"publicEndpoint": "https://files.example.com/s3"}, "spec.objectStore.s3.publicEndpoint"),
        ({"endpoint": "http://seaweedfs:8333/bucket"}, "spec.objectStore.s3.endpoint"),
    ],
)
def test_bad_bucket_settings_name_the_field(change: dict[str, Any], message: str) -> None:
    """The operator refuses them before rendering anything, naming the field."""
    with pytest.raises(SpecError, match=re.escape(message)):
        parse_spec(TrackingServerSpec, _spec_with({**S3, **change}))


@pytest.mark.parametrize(
    "change",
    [
        {"addressingStyle": "dns"},
        {"prefix": "/abs/"},
        {"publicEndpoint": "files.example.com"},
        {"endpoint": "http://seaweedfs:8333/bucket"},
    ],
)
def test_the_crd_schema_refuses_bad_bucket_settings_at_apply(change: dict[str, Any]) -> None:
    """The API server already refuses them (kubectl apply), before the operator sees them."""
    body = {
        "apiVersion": "runyard.dev/v1alpha1",
        "kind": "TrackingServer",
        "metadata": {"name": "rs"},
        "spec": _spec_with({**S3, **change}),
    }
    schema = _crd_schema()
    good = {**body, "spec": _spec_with(S3)}
    jsonschema.Draft4Validator(schema).validate(good)
    with pytest.raises(jsonschema.ValidationError, match=next(iter(change))):
        jsonschema.Draft4Validator(schema).validate(body)


def _chart_server(s3: dict[str, Any]) -> dict[str, Any]:
    values = {
        "trackingServer": {
            "create": True,
            "replicas": 2,
            "database": {"type": "postgresql", "urlSecret": {"name": "runyard-db"}},
            "objectStore": {"type": "s3", "s3": s3},
        }
    }
    rendered = chart_check.render(values)
    assert chart_check.validate(rendered).errors == []  # against the shipped CRD
    server = next(m.body for m in rendered if m.body["kind"] == "TrackingServer")
    return server


def test_chart_values_reach_the_tracking_server() -> None:
    server = _chart_server(
        {
            "bucket": "runs",
            "endpoint": "http://s3:8333",
            "publicEndpoint": "https://files.example.com",
            "prefix": "runyard/",
            "addressingStyle": "virtual",
        }
    )
    assert server["spec"]["objectStore"]["s3"] == {
        "bucket": "runs",
        "endpoint": "http://s3:8333",
        "publicEndpoint": "https://files.example.com",
        "prefix": "runyard/",
        "addressingStyle": "virtual",
    }
    parse_spec(TrackingServerSpec, server["spec"])  # and the operator takes it as rendered


def test_chart_values_schema_refuses_a_bad_addressing_style() -> None:
    with pytest.raises(Exception, match="addressingStyle': value must be one of"):
        _chart_server({"bucket": "runs", "addressingStyle": "dns"})
