"""Deciding what happens after a delivery try (pure functions, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Verdict = Literal["succeeded", "retry", "failed"]
# Client errors that a later try may not repeat: timeouts, too early, rate limits.
RETRYABLE_4XX = frozenset({408, 409, 425, 429})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: base * 2**(attempt-1), capped, for at most `max_attempts` tries."""

    base_s: float
    max_s: float
    max_attempts: int


def verdict(status: int | None, attempts: int, policy: RetryPolicy) -> Verdict:
    """The outcome of a try: `status` is the HTTP answer, None when no answer came."""
    if status is not None and 200 <= status < 300:
        return "succeeded"
    permanent = status is not None and 400 <= status < 500 and status not in RETRYABLE_4XX
    if permanent or attempts >= policy.max_attempts:
        return "failed"
    return "retry"


def backoff_s(attempts: int, policy: RetryPolicy) -> float:
    """Seconds to wait after the `attempts`-th failed try."""
    return float(min(policy.max_s, policy.base_s * 2 ** max(0, attempts - 1)))


def next_attempt_at(now: datetime, attempts: int, policy: RetryPolicy) -> datetime:
    """When to try again after the `attempts`-th failed try."""
    return now + timedelta(seconds=backoff_s(attempts, policy))
