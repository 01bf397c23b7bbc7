"""`runyard secret|integration ...`: team secrets and integrations for automations, over REST.

Like `runyard queue`, these find the server through RUNYARD_URL (or WANDB_BASE_URL) and
authenticate with RUNYARD_API_KEY (or WANDB_API_KEY). A secret's value is read from a hidden
prompt or stdin, never from the command line (shell history, process lists).
"""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.table import Table

from runyard.client import ApiError, RunyardClient

console = Console()


def _client() -> RunyardClient:
    try:
        return RunyardClient()
    except ApiError as exc:
        raise click.UsageError(str(exc)) from None


@click.group()
def secret() -> None:
    """Store, list and delete team secrets (webhook tokens and signing keys)."""


@secret.command("set")
@click.argument("entity")
@click.argument("name")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the value from stdin.")
def secret_set(entity: str, name: str, from_stdin: bool) -> None:
    """Store secret NAME of ENTITY; the value is asked for (hidden) or read from stdin."""
    if from_stdin:
        value = sys.stdin.read().rstrip("\n")
    else:
        value = click.prompt("Secret value", hide_input=True, confirmation_prompt=True)
    try:
        _client().create_secret(entity, name, value)
    except ApiError as exc:
        raise click.ClickException(str(exc)) from None
    console.print(f"stored secret [bold]{name}[/bold] of {entity} (it is never shown again)")


@secret.command("list")
@click.argument("entity")
def secret_list(entity: str) -> None:
    """List the names of ENTITY's secrets."""
    try:
        rows = _client().list_secrets(entity)
    except ApiError as exc:
        raise click.ClickException(str(exc)) from None
    table = Table(title=f"secrets of {entity}")
    table.add_column("name")
    table.add_column("created")
    for row in rows:
        table.add_row(row["name"], row["created_at"])
    console.print(table)


@secret.command("delete")
@click.argument("entity")
@click.argument("name")
def secret_delete(entity: str, name: str) -> None:
    """Delete secret NAME of ENTITY."""
    try:
        _client().delete_secret(entity, name)
    except ApiError as exc:
        raise click.ClickException(str(exc)) from None
    console.print(f"deleted secret [bold]{name}[/bold] of {entity}")


@click.group()
def integration() -> None:
    """Add and list the webhook and Slack-compatible integrations automations send to."""


@integration.command("add")
@click.argument("entity")
@click.argument("name")
@click.argument("url")
@click.option("--slack", is_flag=True, help="A Slack-compatible incoming webhook.")
@click.option("--channel", default="", help="The Slack channel it posts to (shown only).")
@click.option("--secret", "secret_name", default=None, help="Team secret signing each body.")
@click.option("--token", "token_name", default=None, help="Team secret sent as bearer token.")
def integration_add(
    entity: str,
    name: str,
    url: str,
    slack: bool,
    channel: str,
    secret_name: str | None,
    token_name: str | None,
) -> None:
    """Add integration NAME to ENTITY, posting to URL."""
    spec = {
        "kind": "slack" if slack else "webhook",
        "name": name,
        "url": url,
        "channel_name": channel,
        "secret_name": secret_name,
        "access_token_name": token_name,
    }
    try:
        row = _client().create_integration(entity, spec)
    except ApiError as exc:
        raise click.ClickException(str(exc)) from None
    console.print(f"added {row['kind']} integration [bold]{name}[/bold] ({row['id']})")


@integration.command("list")
@click.argument("entity")
def integration_list(entity: str) -> None:
    """List ENTITY's integrations."""
    try:
        rows = _client().list_integrations(entity)
    except ApiError as exc:
        raise click.ClickException(str(exc)) from None
    table = Table(title=f"integrations of {entity}")
    for column in ("id", "kind", "name", "url", "secrets"):
        table.add_column(column)
    for row in rows:
        refs = ", ".join(n for n in (row["secret_name"], row["access_token_name"]) if n)
        table.add_row(row["id"], row["kind"], row["name"], row["url"], refs)
    console.print(table)
