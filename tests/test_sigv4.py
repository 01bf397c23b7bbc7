"""SigV4 presigning (pure): AWS's published example, key encoding, and bucket settings."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from runyard.server.s3_store import etag_md5
from runyard.server.settings import ServerSettings
from runyard.server.sigv4 import Credentials, Endpoint, presign

AWS_EXAMPLE_KEYS = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")


def test_presigned_get_matches_the_aws_documented_example() -> None:
    """AWS's query-string authentication example (GET examplebucket/test.txt, 24 h)."""
    url = presign(
        method="GET",
        endpoint=Endpoint.parse("https://s3.amazonaws.com", path_style=False),
        bucket="examplebucket",
        key="test.txt",
        credentials=AWS_EXAMPLE_KEYS,
        region="us-east-1",
        expires_s=86400,
        now=datetime(2013, 5, 24, tzinfo=UTC),
    )
    assert url.startswith("https://examplebucket.s3.amazonaws.com/test.txt?")
    signature = parse_qs(urlsplit(url).query)["X-Amz-Signature"]
    assert signature == ["aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"]


def test_path_style_keys_are_encoded_once_and_operation_params_are_signed() -> None:
    """Spaces and `+` in keys are percent-encoded; uploadId/partNumber are in the query."""
    url = presign(
        method="PUT",
        endpoint=Endpoint.parse("http://127.0.0.1:8333", path_style=True),
        bucket="files",
        key="runs/1/files/a b+c.txt",
        credentials=AWS_EXAMPLE_KEYS,
        region="us-east-1",
        expires_s=60,
        now=datetime(2026, 1, 1, tzinfo=UTC),
        params={"partNumber": "2", "uploadId": "x/y"},
    )
    parts = urlsplit(url)
    assert parts.netloc == "127.0.0.1:8333"
    assert parts.path == "/files/runs/1/files/a%20b%2Bc.txt"
    query = parse_qs(parts.query)
    assert query["partNumber"] == ["2"] and query["uploadId"] == ["x/y"]
    assert query["X-Amz-Expires"] == ["60"]


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
