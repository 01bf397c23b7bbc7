"""Collecting the problems of a sweep config, so the user can fix them all in one go."""

from __future__ import annotations

import math
from typing import Any

from runyard.server.errors import ErrorCode, ServiceError


class Problems:
    """Each problem names its field (`parameters.lr.min`) and the fix."""

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, field: str, message: str) -> None:
        """Record a problem with a field."""
        self.items.append({"field": field, "message": f"{field}: {message}"})

    def raise_if_any(self) -> None:
        """Raise one INVALID error listing every problem (also in `details["problems"]`)."""
        if self.items:
            text = "invalid sweep config: " + "; ".join(p["message"] for p in self.items)
            raise ServiceError(ErrorCode.INVALID, text, details={"problems": self.items})


def is_number(v: Any) -> bool:
    """A real number, not a bool (YAML's true is not 1 here)."""
    return isinstance(v, int | float) and not isinstance(v, bool)


def is_int(v: Any) -> bool:
    """An integer, not a bool."""
    return isinstance(v, int) and not isinstance(v, bool)


def is_finite_number(v: Any) -> bool:
    """A real, finite number."""
    return is_number(v) and math.isfinite(v)
