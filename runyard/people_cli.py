"""`runyard user|team|key ...`: manage users, teams and API keys over REST.

Like `runyard queue`, these find the server through RUNYARD_URL (or WANDB_BASE_URL) and
authenticate with RUNYARD_API_KEY (or WANDB_API_KEY).
"""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.table import Table

from runyard.client import ApiError, RunyardClient

ROLES = ["admin", "member", "viewer"]
console = Console()
# Keys are copied as-is from the terminal: never wrap or highlight them.
key_console = Console(soft_wrap=True, highlight=False)


def _client() -> RunyardClient:
    try:
        return RunyardClient()
    except ApiError as exc:
        raise click.UsageError(str(exc)) from None


def _fail(exc: ApiError) -> click.ClickException:
    return click.ClickException(str(exc))


def _show_key(key: str, owner: str) -> None:
    console.print(f"API key of [bold]{owner}[/bold] (shown only once: keep it):")
    key_console.print(f"export WANDB_API_KEY={key}")


def users_table(rows: list[dict[str, Any]]) -> Table:
    """Users with their flags and default entity."""
    table = Table(title="users")
    for column in ("username", "email", "admin", "kind", "state", "default entity"):
        table.add_column(column)
    for user in rows:
        table.add_row(
            user["username"],
            user["email"],
            "yes" if user["admin"] else "",
            "service account" if user["service_account"] else "user",
            "disabled" if user["disabled"] else "active",
            user["default_entity"],
        )
    return table


@click.group()
def user() -> None:
    """Create, list, disable and enable users (instance admins)."""


@user.command("create")
@click.argument("name")
@click.option("--email", default="", help="The user's email address.")
@click.option("--admin", is_flag=True, help="Make the user an instance admin.")
def user_create(name: str, email: str, admin: bool) -> None:
    """Create a user and print its first API key."""
    try:
        created = _client().create_user(name, email=email, admin=admin)
    except ApiError as exc:
        raise _fail(exc) from None
    console.print(f"created user [bold]{name}[/bold]{' (instance admin)' if admin else ''}")
    _show_key(created["api_key"], name)


@user.command("list")
def user_list() -> None:
    """List users."""
    try:
        rows = _client().list_users()
    except ApiError as exc:
        raise _fail(exc) from None
    console.print(users_table(rows))


@user.command("disable")
@click.argument("name")
def user_disable(name: str) -> None:
    """Disable a user: its API keys stop working at once."""
    try:
        _client().set_user_disabled(name, True)
    except ApiError as exc:
        raise _fail(exc) from None
    console.print(f"disabled user [bold]{name}[/bold]: its API keys are refused from now on")


@user.command("enable")
@click.argument("name")
def user_enable(name: str) -> None:
    """Enable a disabled user again."""
    try:
        _client().set_user_disabled(name, False)
    except ApiError as exc:
        raise _fail(exc) from None
    console.print(f"enabled user [bold]{name}[/bold]")


@click.group()
def team() -> None:
    """Create teams and manage their members and service accounts."""


@team.command("create")
@click.argument("name")
@click.option("--admin", "admin", default=None, help="Username of the team's admin [you].")
def team_create(name: str, admin: str | None) -> None:
    """Create a team."""
    try:
        _client().create_team(name, admin)
    except ApiError as exc:
        raise _fail(exc) from None
    console.print(f"created team [bold]{name}[/bold] (admin: {admin or 'you'})")


@team.command("list")
def team_list() -> None:
    """List the teams you belong to."""
    try:
        rows = _client().list_teams()
    except ApiError as exc:
        raise _fail(exc) from None
    table = Table(title="teams")
    table.add_column("team")
    for row in rows:
        table.add_row(row["name"])
    console.print(table)


@team.command("members")
@click.argument("team_name", metavar="TEAM")
def team_members(team_name: str) -> None:
    """List a team's members and their roles."""
    try:
        rows = _client().list_members(team_name)
    except ApiError as exc:
        raise _fail(exc) from None
    table = Table(title=f"members of {team_name}")
    for column in ("username", "role", "kind", "state"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["username"],
            row["role"],
            "service account" if row["service_account"] else "user",
            "disabled" if row["disabled"] else "active",
        )
    console.print(table)


@team.command("add-member")
@click.argument("team_name", metavar="TEAM")
@click.argument("username", metavar="USER")
@click.option("--role", type=click.Choice(ROLES), default="member", show_default=True)
def team_add_member(team_name: str, username: str, role: str) -> None:
    """Add a user to a team."""
    try:
        _client().add_member(team_name, username, role)
    except ApiError as exc:
        raise _fail(exc) from None
    console.print(f"added [bold]{username}[/bold] to {team_name} as {role}")


@team.command("set-role")
@click.argument("team_name", metavar="TEAM")
@click.argument("username", metavar="USER")
@click.option("--role", type=click.Choice(ROLES), required=True)
def team_set_role(team_name: str, username: str, role: str) -> None:
    """Change a member's role."""
    try:
        _client().set_role(team_name, username, role)
    except ApiError as exc:
        raise _fail(exc) from None
    console.print(f"[bold]{username}[/bold] is now {role} of {team_name}")


@team.command("remove-member")
@click.argument("team_name", metavar="TEAM")
@click.argument("username", metavar="USER")
def team_remove_member(team_name: str, username: str) -> None:
    """Remove a member from a team."""
    try:
        _client().remove_member(team_name, username)
    except ApiError as exc:
        raise _fail(exc) from None
    console.print(f"removed [bold]{username}[/bold] from {team_name}")


@team.command("create-service-account")
@click.argument("team_name", metavar="TEAM")
@click.option("--description", default="", help="What the service account is for.")
def team_create_service_account(team_name: str, description: str) -> None:
    """Create a service account of the team and print its API key."""
    try:
        created = _client().create_service_account(team_name, description)
    except ApiError as exc:
        raise _fail(exc) from None
    name = created["user"]["username"]
    console.print(f"created service account [bold]{name}[/bold] of {team_name}")
    _show_key(created["api_key"], name)


@click.group()
def key() -> None:
    """Create, list and revoke API keys."""


@key.command("create")
@click.option("--user", "username", default=None, help="Owner of the key [you].")
@click.option("--description", default="", help="What the key is for.")
def key_create(username: str | None, description: str) -> None:
    """Create an API key and print it."""
    try:
        created = _client().create_key(username, description)
    except ApiError as exc:
        raise _fail(exc) from None
    _show_key(created["api_key"], created["username"])


@key.command("list")
@click.option("--user", "username", default=None, help="Whose keys [yours].")
def key_list(username: str | None) -> None:
    """List API keys (their last characters; keys are not stored)."""
    try:
        rows = _client().list_keys(username)
    except ApiError as exc:
        raise _fail(exc) from None
    table = Table(title="API keys")
    for column in ("id", "user", "ends with", "description", "created"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["id"]), row["username"], row["hint"], row["description"], row["created_at"]
        )
    console.print(table)


@key.command("revoke")
@click.argument("key_id", metavar="ID", type=int)
def key_revoke(key_id: int) -> None:
    """Revoke an API key at once (ID from `runyard key list`)."""
    try:
        _client().revoke_key(key_id)
    except ApiError as exc:
        raise _fail(exc) from None
    console.print(f"revoked API key {key_id}")
