"""Artifact TTL rules (pure): what a `ttlDurationSeconds` input means, the TTL a version
has, when it expires, and which versions have expired.

W&B's wire values: a positive number of seconds is the version's own TTL, -1 makes the
version inherit (here: its collection's default TTL), -2 disables expiry for the version.
A version expires `ttl` seconds after it was created.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from runyard.server.errors import ErrorCode, ServiceError

INHERIT = -1
DISABLED = -2
# A hundred years: longer has no use, and keeps created_at + ttl inside datetime's range.
MAX_TTL_SECONDS = 100 * 365 * 24 * 3600


def aware(value: datetime) -> datetime:
    """`value` as aware UTC (SQLite hands back naive datetimes that were stored as UTC)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class TtlSetting:
    """A version's TTL policy: inherited from its collection, or its own (None: never)."""

    inherited: bool
    seconds: int | None


def parse_ttl(value: int, field: str = "ttlDurationSeconds") -> TtlSetting:
    """What a wire value asks for; anything but -1, -2 or 1..MAX_TTL_SECONDS is refused."""
    if value == INHERIT:
        return TtlSetting(inherited=True, seconds=None)
    if value == DISABLED:
        return TtlSetting(inherited=False, seconds=None)
    if not 0 < value <= MAX_TTL_SECONDS:
        raise ServiceError(
            ErrorCode.INVALID,
            f"{field}: {value} is not a TTL; give a positive number of seconds up to "
            f"{MAX_TTL_SECONDS}, -1 to inherit the collection's TTL or -2 for none",
        )
    return TtlSetting(inherited=False, seconds=value)


def parse_default_ttl(value: int | None, field: str = "ttlDurationSeconds") -> int | None:
    """A collection's default TTL: positive seconds, or None/-2 for none."""
    if value is None or value == DISABLED:
        return None
    setting = parse_ttl(value, field)
    if setting.inherited:
        raise ServiceError(
            ErrorCode.INVALID, f"{field}: a collection has nothing to inherit from; use -2 for none"
        )
    return setting.seconds


def effective_ttl(setting: TtlSetting, collection_default: int | None) -> int | None:
    """The TTL that applies to a version, in seconds (None: it never expires)."""
    return collection_default if setting.inherited else setting.seconds


def expiry(created_at: datetime, ttl_seconds: int | None) -> datetime | None:
    """When a version created at `created_at` expires under `ttl_seconds`."""
    return None if ttl_seconds is None else created_at + timedelta(seconds=ttl_seconds)


def check_not_past(
    created_at: datetime, setting: TtlSetting, now: datetime, field: str = "ttlDurationSeconds"
) -> None:
    """Refuse a version's own TTL that ran out before now (it would delete the version at once)."""
    if setting.inherited or setting.seconds is None:
        return
    ends = expiry(created_at, setting.seconds)
    if ends is not None and ends <= now:
        age = int((now - created_at).total_seconds())
        raise ServiceError(
            ErrorCode.INVALID,
            f"{field}: a TTL of {setting.seconds} s ended at {ends.isoformat()}, in the past "
            f"(the version is {age} s old); give more than {age} seconds, or delete the "
            "version instead",
        )


def wire_value(setting: TtlSetting, collection_default: int | None) -> int:
    """`ttlDurationSeconds` as W&B answers it: the TTL that applies, -2 when none."""
    ttl = effective_ttl(setting, collection_default)
    return DISABLED if ttl is None else ttl


@dataclass(frozen=True)
class Expiring:
    """A committed version with the moment it expires."""

    artifact_id: int
    expires_at: datetime | None


def expired(versions: Iterable[Expiring], now: datetime) -> list[int]:
    """Ids of the versions whose expiry is at or before `now`, soonest first."""
    due = [v for v in versions if v.expires_at is not None and v.expires_at <= now]
    return [v.artifact_id for v in sorted(due, key=lambda v: (v.expires_at, v.artifact_id))]
