"""The one error type of the server's services, and the HTTP status each code maps to.

Services raise `ServiceError(code, message)`; each adapter (GraphQL, REST, UI) maps it once,
in the shape of MLflow's `ERROR_CODE_TO_HTTP_STATUS`. The message names the field and the fix.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """What kind of refusal a service error is."""

    INVALID = "invalid"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    TOO_LARGE = "too_large"
    UNPROCESSABLE = "unprocessable"
    INSUFFICIENT_STORAGE = "insufficient_storage"
    UNAVAILABLE = "unavailable"


ERROR_CODE_TO_HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.INVALID: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.UNPROCESSABLE: 422,
    ErrorCode.INSUFFICIENT_STORAGE: 507,
    ErrorCode.UNAVAILABLE: 503,
}
_STATUS_TO_CODE = {status: code for code, status in ERROR_CODE_TO_HTTP_STATUS.items()}


class ServiceError(Exception):
    """A request a service refuses; the message names the field and the fix."""

    def __init__(
        self, code: ErrorCode, message: str, *, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        # Machine-readable specifics next to the message, e.g. {"problems": [...]}.
        self.details = details or {}

    @property
    def status(self) -> int:
        """The HTTP status this error maps to."""
        return ERROR_CODE_TO_HTTP_STATUS[self.code]

    @property
    def message(self) -> str:
        """The human-readable reason."""
        return str(self)


def code_for_status(status: int) -> ErrorCode:
    """The error code of an HTTP status (for code that still speaks in statuses)."""
    return _STATUS_TO_CODE.get(status, ErrorCode.INVALID)
