"""Time helpers; one place so tests and code agree on timezone-aware UTC."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)
