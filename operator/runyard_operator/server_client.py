"""The operator's calls to a tracking server: the REST client plus a queue upsert."""

from __future__ import annotations

import secrets
import string
from typing import Any

from runyard.client import ApiError, RunyardClient

KEY_PREFIX = "runyard-"  # as the server makes them: `prefix-` then 40 of [A-Za-z0-9]
_ALPHABET = string.ascii_letters + string.digits


def generate_api_key() -> str:
    """A new random admin key in W&B's format (what the server accepts as RUNYARD_ADMIN_API_KEY)."""
    return KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(40))


class ServerClient(RunyardClient):
    """`RunyardClient` with the PUT the operator needs (the CR is the queue's source of truth)."""

    def update_queue(self, entity: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        """Replace a queue's settings; its items stay."""
        result: dict[str, Any] = self._call("PUT", f"/queues/{entity}/{name}", json=spec)
        return result

    def upsert_queue(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Create the queue, or bring an existing one to `spec`; returns it with its stats."""
        try:
            return self.update_queue(spec["entity"], spec["name"], spec)
        except ApiError as exc:
            if exc.status != 404:
                raise
        return self.create_queue(spec)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()
