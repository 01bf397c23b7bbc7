"""The pure rules behind artifact edits: TTL values and expiry, tags, blob key ownership."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from runyard.server.artifacts import tags, ttl
from runyard.server.artifacts.blob_gc import manifest_owner
from runyard.server.errors import ServiceError

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_ttl_wire_values() -> None:
    assert ttl.parse_ttl(-1) == ttl.TtlSetting(inherited=True, seconds=None)
    assert ttl.parse_ttl(-2) == ttl.TtlSetting(inherited=False, seconds=None)
    assert ttl.parse_ttl(60) == ttl.TtlSetting(inherited=False, seconds=60)
    for bad in (0, -3, ttl.MAX_TTL_SECONDS + 1):
        with pytest.raises(ServiceError, match=rf"ttlDurationSeconds: {bad} is not a TTL"):
            ttl.parse_ttl(bad)
    assert ttl.parse_default_ttl(None) is None
    assert ttl.parse_default_ttl(-2) is None
    assert ttl.parse_default_ttl(3600) == 3600
    with pytest.raises(ServiceError, match="nothing to inherit"):
        ttl.parse_default_ttl(-1)


def test_effective_ttl_and_what_the_wire_answers() -> None:
    inherit, own, never = (
        ttl.TtlSetting(True, None),
        ttl.TtlSetting(False, 60),
        ttl.TtlSetting(False, None),
    )
    assert ttl.effective_ttl(inherit, 3600) == 3600
    assert ttl.effective_ttl(inherit, None) is None
    assert ttl.effective_ttl(own, 3600) == 60
    assert ttl.effective_ttl(never, 3600) is None
    assert ttl.wire_value(inherit, None) == ttl.DISABLED
    assert ttl.wire_value(inherit, 3600) == 3600
    assert ttl.expiry(T0, 60) == T0 + timedelta(seconds=60)
    assert ttl.expiry(T0, None) is None


def test_a_ttl_that_already_ran_out_is_refused() -> None:
    now = T0 + timedelta(days=2)
    ttl.check_not_past(T0, ttl.TtlSetting(False, 3 * 86400), now)
    ttl.check_not_past(T0, ttl.TtlSetting(True, None), now)
    ttl.check_not_past(T0, ttl.TtlSetting(False, None), now)
    with pytest.raises(ServiceError, match=r"give more than 172800 seconds"):
        ttl.check_not_past(T0, ttl.TtlSetting(False, 86400), now)
    # Exactly at the end counts as past: the sweep would delete it at once.
    with pytest.raises(ServiceError, match="in the past"):
        ttl.check_not_past(T0, ttl.TtlSetting(False, 2 * 86400), now)


def test_which_versions_expired() -> None:
    versions = [
        ttl.Expiring(1, T0 + timedelta(hours=2)),
        ttl.Expiring(2, None),
        ttl.Expiring(3, T0 + timedelta(hours=1)),
        ttl.Expiring(4, T0 + timedelta(hours=5)),
        ttl.Expiring(5, T0 + timedelta(hours=2)),
    ]
    assert ttl.expired(versions, T0) == []
    assert ttl.expired(versions, T0 + timedelta(hours=2)) == [3, 1, 5]
    assert ttl.expired(versions, T0 + timedelta(days=9)) == [3, 1, 5, 4]


def test_tag_rules() -> None:
    assert tags.check_tags(["a", "team a", "x-y_z", "a"], "tags") == ["a", "team a", "x-y_z"]
    for bad in ("", " lead", "trail ", "a/b", "a:b", "x" * 129, "new\nline"):
        with pytest.raises(ServiceError, match="is not a valid tag"):
            tags.check_tags([bad], "tagsToAdd")
    assert tags.changed_tags(["a", "b"], ["c", "a"], ["b"], "tags") == ["a", "c"]
    with pytest.raises(ServiceError, match=f"at most {tags.MAX_TAGS} tags"):
        tags.changed_tags([], [f"t{i}" for i in range(tags.MAX_TAGS + 1)], [], "tags")


def test_manifest_keys_name_their_version() -> None:
    assert manifest_owner("artifacts/12/manifest/wandb_manifest.json") == 12
    assert manifest_owner("artifacts/12/files/wandb_manifest.json") is None
    assert manifest_owner("runs/12/manifest/x") is None
