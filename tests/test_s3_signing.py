"""Presigned bucket URLs (pure: no bucket is asked), key encoding, and bucket settings.

That a bucket accepts these URLs is shown against SeaweedFS in test_s3_storage.py.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from runyard.server.s3_store import S3Store, StorageConfigError, etag_md5
from runyard.server.settings import ServerSettings
from support.server import free_port

KEYS = {
    "s3_access_key_id": "AKIAIOSFODNN7EXAMPLE",
    "s3_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
}


def _store(tmp_path: Any, **changes: Any) -> S3Store:
    settings: dict[str, Any] = {
        "data_dir": tmp_path,
        "s3_bucket": "files",
        "s3_endpoint_url": "http://seaweedfs.runyard.svc:8333",
        **KEYS,
        **changes,
    }
    return S3Store(ServerSettings(**settings))


def test_keys_are_encoded_once_and_multipart_params_are_signed(tmp_path: Any) -> None:
    """Spaces and `+` in keys are percent-encoded; uploadId/partNumber are in the signed
    query (an UploadPart URL), under the configured prefix."""
    store = _store(tmp_path, s3_prefix="runyard")
    url = store._sign(
        "PUT", "runyard/runs/1/files/a b+c.txt", {"partNumber": "2", "uploadId": "x/y"}
    )
    parts = urlsplit(url)
    assert parts.netloc == "seaweedfs.runyard.svc:8333"
    assert parts.path == "/files/runyard/runs/1/files/a%20b%2Bc.txt"
    query = parse_qs(parts.query)
    assert query["partNumber"] == ["2"] and query["uploadId"] == ["x/y"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-SignedHeaders"] == ["host"]
    assert query["X-Amz-Credential"][0].startswith("AKIAIOSFODNN7EXAMPLE/")
    assert query["X-Amz-Credential"][0].endswith("/us-east-1/s3/aws4_request")


def test_client_urls_use_the_public_endpoint_and_server_requests_the_internal_one(
    tmp_path: Any,
) -> None:
    store = _store(tmp_path, s3_public_endpoint_url="https://files.example.com")
    get = urlsplit(store.presigned_get("runs/1/files/model.bin"))
    assert (get.scheme, get.netloc, get.path) == (
        "https",
        "files.example.com",
        "/files/runs/1/files/model.bin",
    )
    url, headers = store.presigned_put("runs/1/files/model.bin", "XUFAKrxLKna5cZ2REBfFkg==")
    assert urlsplit(url).netloc == "files.example.com"
    assert headers == ["Content-MD5:XUFAKrxLKna5cZ2REBfFkg=="]
    assert urlsplit(store._sign("HEAD", "runs/1/files/model.bin")).netloc == (
        "seaweedfs.runyard.svc:8333"
    )


def test_virtual_addressing_puts_the_bucket_in_the_host(tmp_path: Any) -> None:
    store = _store(
        tmp_path, s3_addressing_style="virtual", s3_endpoint_url="https://s3.example.com"
    )
    parts = urlsplit(store.presigned_get("a.txt"))
    assert (parts.netloc, parts.path) == ("files.s3.example.com", "/a.txt")


def test_url_lifetime_is_the_setting_capped_at_sigv4s_seven_days(tmp_path: Any) -> None:
    short = _store(tmp_path, signed_url_ttl_s=600).presigned_get("a.txt")
    assert parse_qs(urlsplit(short).query)["X-Amz-Expires"] == ["600"]
    long = _store(tmp_path, signed_url_ttl_s=30 * 86400).presigned_get("a.txt")
    assert parse_qs(urlsplit(long).query)["X-Amz-Expires"] == [str(7 * 86400)]


def test_session_tokens_from_the_environment_chain_are_signed_in(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No key pair in the settings: the standard AWS chain's environment variables serve,
    temporary credentials (as IRSA/STS hand out) included."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIAEXAMPLETEMPKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token-from-sts")
    store = S3Store(
        ServerSettings(
            data_dir=tmp_path, s3_bucket="files", s3_endpoint_url="http://127.0.0.1:8333"
        )
    )
    query = parse_qs(urlsplit(store.presigned_get("a.txt")).query)
    assert query["X-Amz-Credential"][0].startswith("ASIAEXAMPLETEMPKEY/")
    assert query["X-Amz-Security-Token"] == ["token-from-sts"]


@pytest.mark.parametrize(
    ("changes", "setting"),
    [
        ({"s3_endpoint_url": "seaweedfs:8333"}, "RUNYARD_S3_ENDPOINT_URL"),
        ({"s3_endpoint_url": "http://seaweedfs:8333/s3"}, "RUNYARD_S3_ENDPOINT_URL"),
        ({"s3_public_endpoint_url": "ftp://files.example.com"}, "RUNYARD_S3_PUBLIC_ENDPOINT_URL"),
        ({"s3_secret_access_key": None}, "RUNYARD_S3_SECRET_ACCESS_KEY"),
    ],
)
def test_bad_endpoints_and_half_key_pairs_name_the_setting(
    tmp_path: Any, changes: dict[str, Any], setting: str
) -> None:
    with pytest.raises(StorageConfigError, match=setting):
        _store(tmp_path, **changes)


def test_etag_carries_the_md5_of_single_put_objects_only() -> None:
    assert etag_md5('"5D41402ABC4B2A76B9719D911017C592"') == "5d41402abc4b2a76b9719d911017c592"
    assert etag_md5('"f5642b017c57bea9d5d5f5b679e4b699-3"') == ""
    assert etag_md5(None) == ""


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"s3_prefix": "/abs/"}, "s3_prefix"),
        ({"s3_prefix": "a/../b"}, "s3_prefix"),
        ({"s3_addressing_style": "dns"}, "s3_addressing_style"),
    ],
)
def test_bad_bucket_settings_name_the_field(changes: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        ServerSettings(s3_bucket="files", **changes)  # type: ignore[arg-type]


def test_prefix_is_normalised_to_end_with_a_slash() -> None:
    assert ServerSettings(s3_prefix="runyard").s3_prefix == "runyard/"
    assert ServerSettings(s3_prefix="a/b/").s3_prefix == "a/b/"
    assert ServerSettings().s3_prefix == ""


def test_a_bad_bucket_name_names_the_setting(tmp_path: Any) -> None:
    with pytest.raises(StorageConfigError, match=r"RUNYARD_S3_BUCKET: 'runs\.\.2024'"):
        _store(tmp_path, s3_bucket="runs..2024")


def test_no_credentials_anywhere_names_the_settings_and_the_chain(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No key pair set and the chain's last link (here an ECS credentials endpoint on a
    port where nothing listens) does not answer: the message says what to set."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", f"http://127.0.0.1:{free_port()}/")
    store = _store(tmp_path, s3_access_key_id=None, s3_secret_access_key=None)
    with pytest.raises(StorageConfigError) as refused:
        store.check()
    message = str(refused.value)
    assert message.startswith("RUNYARD_S3_ACCESS_KEY_ID: no credentials for bucket 'files'")
    assert "RUNYARD_S3_SECRET_ACCESS_KEY" in message and "IRSA" in message
    assert store.not_ready_reason() == message
