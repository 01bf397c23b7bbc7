"""A small client of the server's native REST API, shared by the CLI, the agent and the operator.

It finds the server like the wandb client does: `RUNYARD_URL` or `WANDB_BASE_URL`,
and the key in `RUNYARD_API_KEY` or `WANDB_API_KEY`.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

import httpx


class ApiError(RuntimeError):
    """The server refused a request; the message is the server's own explanation."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _explain(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text or response.reason_phrase
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, dict) and "problems" in detail:
        return "\n".join(str(p) for p in detail["problems"])
    if isinstance(detail, list):  # FastAPI's validation errors
        return "\n".join(
            f"{'.'.join(str(p) for p in err.get('loc', [])[1:])}: {err.get('msg')}"
            for err in detail
        )
    return str(detail)


class RunyardClient:
    """Typed calls to `/api/v1`."""

    def __init__(self, url: str | None = None, api_key: str | None = None, timeout: float = 60):
        base = url or os.environ.get("RUNYARD_URL") or os.environ.get("WANDB_BASE_URL")
        key = api_key or os.environ.get("RUNYARD_API_KEY") or os.environ.get("WANDB_API_KEY")
        if not base:
            raise ApiError(0, "no server URL: set RUNYARD_URL (or WANDB_BASE_URL)")
        if not key:
            raise ApiError(0, "no API key: set RUNYARD_API_KEY (or WANDB_API_KEY)")
        self.url = base.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url + "/api/v1",
            headers={"Authorization": f"Bearer {key}"},
            timeout=timeout,
        )

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(0, f"cannot reach {self.url}: {exc}") from exc
        if response.status_code >= 400:
            raise ApiError(response.status_code, _explain(response))
        return response.json() if response.content else None

    def viewer(self) -> dict[str, Any]:
        """Who the key belongs to."""
        result: dict[str, Any] = self._call("GET", "/viewer")
        return result

    def create_queue(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Create a queue."""
        result: dict[str, Any] = self._call("POST", "/queues", json=spec)
        return result

    def list_queues(self, entity: str | None = None) -> list[dict[str, Any]]:
        """Queues of an entity (default: the caller's)."""
        result: list[dict[str, Any]] = self._call(
            "GET", "/queues", params={"entity": entity} if entity else None
        )
        return result

    def get_queue(self, entity: str, name: str) -> dict[str, Any]:
        """One queue with its stats."""
        result: dict[str, Any] = self._call("GET", f"/queues/{entity}/{name}")
        return result

    def delete_queue(self, entity: str, name: str, managed_by: str | None = None) -> None:
        """Delete a queue and its items (`managed_by`: the owner of a managed queue)."""
        params = {"managed_by": managed_by} if managed_by else None
        self._call("DELETE", f"/queues/{entity}/{name}", params=params)

    def enqueue(self, entity: str, name: str, item: dict[str, Any]) -> dict[str, Any]:
        """Add an item to a queue."""
        result: dict[str, Any] = self._call("POST", f"/queues/{entity}/{name}/items", json=item)
        return result

    def list_items(
        self, entity: str, name: str, states: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """A queue's items in claim order."""
        params = [("state", s) for s in states or []]
        result: list[dict[str, Any]] = self._call(
            "GET", f"/queues/{entity}/{name}/items", params=params
        )
        return result

    def set_priority(self, item_id: str, priority: str) -> dict[str, Any]:
        """Move a pending item to another priority level."""
        result: dict[str, Any] = self._call(
            "PATCH", f"/items/{item_id}", json={"priority": priority}
        )
        return result

    def gpu_usage(self, by: str, since: str, entity: str | None = None) -> dict[str, Any]:
        """GPU-hours in the last `since`, summed by `by`."""
        params = {"by": by, "since": since, **({"entity": entity} if entity else {})}
        result: dict[str, Any] = self._call("GET", "/usage/gpu-hours", params=params)
        return result

    def get_item(self, item_id: str) -> dict[str, Any]:
        """One item, by id or a unique prefix of it."""
        result: dict[str, Any] = self._call("GET", f"/items/{item_id}")
        return result

    def cancel_item(self, item_id: str) -> dict[str, Any]:
        """Cancel an item."""
        result: dict[str, Any] = self._call("POST", f"/items/{item_id}/cancel")
        return result

    def list_agents(self, entity: str | None = None) -> list[dict[str, Any]]:
        """Registered agents, most recently heard from first."""
        result: list[dict[str, Any]] = self._call(
            "GET", "/agents", params={"entity": entity} if entity else None
        )
        return result

    # --- people: users, teams, API keys ---------------------------------------------------

    def create_user(self, username: str, email: str = "", admin: bool = False) -> dict[str, Any]:
        """Create a user (instance admins); the answer holds its first `api_key`."""
        body = {"username": username, "email": email, "admin": admin}
        result: dict[str, Any] = self._call("POST", "/users", json=body)
        return result

    def list_users(self) -> list[dict[str, Any]]:
        """Every user (instance admins)."""
        result: list[dict[str, Any]] = self._call("GET", "/users")
        return result

    def set_user_disabled(self, username: str, disabled: bool) -> dict[str, Any]:
        """Disable (keys refused at once) or enable a user."""
        action = "disable" if disabled else "enable"
        result: dict[str, Any] = self._call("POST", f"/users/{_seg(username)}/{action}")
        return result

    def create_team(self, name: str, admin: str | None = None) -> dict[str, Any]:
        """Create a team whose admin is `admin` (default: the caller)."""
        result: dict[str, Any] = self._call("POST", "/teams", json={"name": name, "admin": admin})
        return result

    def list_teams(self) -> list[dict[str, Any]]:
        """Teams the caller belongs to."""
        result: list[dict[str, Any]] = self._call("GET", "/teams")
        return result

    def list_members(self, team: str) -> list[dict[str, Any]]:
        """A team's members and roles."""
        result: list[dict[str, Any]] = self._call("GET", f"/teams/{_seg(team)}/members")
        return result

    def add_member(self, team: str, username: str, role: str = "member") -> dict[str, Any]:
        """Add a user to a team with a role."""
        body = {"username": username, "role": role}
        result: dict[str, Any] = self._call("POST", f"/teams/{_seg(team)}/members", json=body)
        return result

    def set_role(self, team: str, username: str, role: str) -> dict[str, Any]:
        """Change a member's role."""
        path = f"/teams/{_seg(team)}/members/{_seg(username)}"
        result: dict[str, Any] = self._call("PATCH", path, json={"role": role})
        return result

    def remove_member(self, team: str, username: str) -> None:
        """Remove a member from a team."""
        self._call("DELETE", f"/teams/{_seg(team)}/members/{_seg(username)}")

    def create_service_account(self, team: str, description: str = "") -> dict[str, Any]:
        """Create a team service account; the answer holds its `api_key`."""
        path = f"/teams/{_seg(team)}/service-accounts"
        result: dict[str, Any] = self._call("POST", path, json={"description": description})
        return result

    def create_key(self, username: str | None = None, description: str = "") -> dict[str, Any]:
        """Create an API key for the caller (or `username`); the answer holds `api_key`."""
        body = {"username": username, "description": description}
        result: dict[str, Any] = self._call("POST", "/keys", json=body)
        return result

    def list_keys(self, username: str | None = None) -> list[dict[str, Any]]:
        """API keys of the caller (or `username`), without the keys themselves."""
        params = {"user": username} if username else None
        result: list[dict[str, Any]] = self._call("GET", "/keys", params=params)
        return result

    def revoke_key(self, key_id: int) -> None:
        """Revoke an API key."""
        self._call("DELETE", f"/keys/{key_id}")

    def create_secret(self, entity: str, name: str, value: str) -> dict[str, Any]:
        """Store a team secret of `entity` (never shown again)."""
        body = {"name": name, "value": value}
        result: dict[str, Any] = self._call("POST", f"/entities/{_seg(entity)}/secrets", json=body)
        return result

    def list_secrets(self, entity: str) -> list[dict[str, Any]]:
        """The names of `entity`'s team secrets."""
        result: list[dict[str, Any]] = self._call("GET", f"/entities/{_seg(entity)}/secrets")
        return result

    def delete_secret(self, entity: str, name: str) -> None:
        """Delete a team secret."""
        self._call("DELETE", f"/entities/{_seg(entity)}/secrets/{_seg(name)}")

    def create_integration(self, entity: str, spec: dict[str, Any]) -> dict[str, Any]:
        """Add a webhook or Slack-compatible integration to `entity`."""
        path = f"/entities/{_seg(entity)}/integrations"
        result: dict[str, Any] = self._call("POST", path, json=spec)
        return result

    def list_integrations(self, entity: str) -> list[dict[str, Any]]:
        """`entity`'s integrations."""
        result: list[dict[str, Any]] = self._call("GET", f"/entities/{_seg(entity)}/integrations")
        return result


def _seg(name: str) -> str:
    """A name as one URL path segment (a stray '/' must not pick another route)."""
    return quote(name, safe="")
