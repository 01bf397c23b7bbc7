"""Manage people with the official client's public API (`wandb.Api`), printing RESULT lines.

Steps (each prints one RESULT object):
  admin-flow EMAIL TEAM   create a user, a team, invite, a service account, keys, remove a member
  create-user EMAIL       try to create a user (the caller may not be an admin)
  viewer                  the caller as `api.viewer` sees it
  team TEAM               a team as `api.team` loads it
  projects ENTITY         an entity's projects as `api.projects` pages through them
"""

from __future__ import annotations

import argparse
import json
import sys

import wandb


def user_view(user: wandb.apis.public.User) -> dict[str, object]:
    """What the client exposes of a user."""
    return {
        "username": getattr(user, "username", None),
        "email": getattr(user, "email", None),
        "entity": getattr(user, "entity", None),
        "admin": getattr(user, "admin", None),
        # Present (null while active) only when the server answers the field.
        "deleted_at": getattr(user, "deleted_at", "absent"),
        "teams": user.teams,
        "api_keys": user.api_keys,
    }


def team_view(team: wandb.apis.public.Team) -> dict[str, object]:
    """What the client exposes of a team and its members."""
    return {
        "name": team.name,
        "is_team": team.is_team,
        "read_only": team.read_only,
        "members": [
            {"username": m.username, "admin": m.admin, "account_type": m.account_type}
            for m in team.members
        ],
    }


def emit(phase: str, **fields: object) -> None:
    """Print one RESULT line."""
    print("RESULT " + json.dumps({"phase": phase, **fields}), flush=True)


def admin_flow(api: wandb.Api, email: str, team_name: str) -> None:
    """Everything an instance admin does to onboard a user into a new team."""
    emit("client", version=wandb.__version__)
    created = api.create_user(email)
    username = created.username
    emit("create_user", username=username, email=created.email, admin=created.admin)

    team = api.create_team(team_name)
    emit("create_team", **team_view(team))

    emit("invite", ok=team.invite(email))  # by email: the client sends `email`, not `username`
    service = team.create_service_account("ci")
    emit("service_account", username=service.username if service else None)
    emit("team", **team_view(api.team(team_name)))

    # A fresh Api: an Api caches its viewer, and older clients load it before the team exists.
    emit("viewer", **user_view(wandb.Api(timeout=30).viewer))
    found = api.user(username)
    emit("user", **user_view(found) if found else {"missing": True})
    emit("users", usernames=[u.username for u in api.users(username.split("-")[0])])

    me = api.viewer
    # wandb before 0.26 makes keys through `wandb.Api(api_key=<first key's name>)`: it expects
    # W&B's plaintext key names, which Runyard never keeps (keys are stored hashed).
    if tuple(int(part) for part in wandb.__version__.split(".")[:2]) < (0, 26):
        emit("generated", skipped=wandb.__version__)
    else:
        own_keys(me)
    bob = next(m for m in api.team(team_name).members if m.username == username)
    emit("member_delete", ok=bob.delete())
    emit("team_after", **team_view(api.team(team_name)))


def own_keys(me: wandb.apis.public.User) -> None:
    """Generate a key, use it, delete it."""
    key = me.generate_api_key("from the public API")
    emit("generated", key_ok=bool(key) and key in me.api_keys)
    assert key is not None
    fresh = wandb.Api(api_key=key, timeout=30)
    emit("fresh_key", username=fresh.viewer.username)
    emit("deleted_key", ok=me.delete_api_key(key))
    after = wandb.Api(timeout=30)
    emit("keys_after", api_keys=after.viewer.api_keys)


def main() -> int:
    """Run one step."""
    parser = argparse.ArgumentParser()
    parser.add_argument("step", choices=["admin-flow", "create-user", "viewer", "team", "projects"])
    parser.add_argument("args", nargs="*")
    args = parser.parse_args()
    api = wandb.Api(timeout=30)
    if args.step == "admin-flow":
        admin_flow(api, *args.args)
    elif args.step == "create-user":
        try:
            api.create_user(args.args[0])
        except Exception as exc:  # the client raises its own error types per release
            emit("create_user_refused", error=str(exc))
            return 1
        emit("create_user", ok=True)
    elif args.step == "viewer":
        emit("viewer", **user_view(api.viewer))
    elif args.step == "team":
        try:
            emit("team", **team_view(api.team(args.args[0])))
        except Exception as exc:
            emit("team_refused", error=f"{type(exc).__name__}: {exc}")
            return 1
    elif args.step == "projects":
        try:
            listed = [
                {
                    "name": p.name,
                    "entity": p.entity,
                    "created_at": p.created_at,
                    # `Attrs` hides `user`; the raw answer holds it (newer clients select it).
                    "user": (p._attrs.get("user") or {}).get("username", "absent"),
                }
                for p in api.projects(args.args[0], per_page=2)
            ]
        except Exception as exc:
            emit("projects_refused", error=f"{type(exc).__name__}: {exc}")
            return 1
        emit("projects", projects=listed, version=wandb.__version__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
