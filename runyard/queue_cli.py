"""`runyard queue ...` and `runyard launch`: manage launch queues and enqueue work over REST."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import yaml
from rich.console import Console
from rich.table import Table

from runyard.client import ApiError, RunyardClient

PRIORITY_NAMES = ["critical", "high", "medium", "low"]
console = Console()


def _client() -> RunyardClient:
    try:
        return RunyardClient()
    except ApiError as exc:
        raise click.UsageError(str(exc)) from None


def _entity(client: RunyardClient, entity: str | None) -> str:
    return entity or str(client.viewer()["entity"])


def _fail(exc: ApiError) -> click.ClickException:
    return click.ClickException(str(exc))


def load_queue_file(path: Path) -> dict[str, Any]:
    """Read a queue file: `config` (the template) and `variables` (a mapping or a list)."""
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}", param_hint="--config") from None
    if not isinstance(document, dict):
        raise click.BadParameter(
            f"{path} must hold a mapping with 'config' and 'variables'", param_hint="--config"
        )
    unknown = set(document) - {
        "config",
        "variables",
        "prioritization",
        "max_attempts",
        "lease_seconds",
        "idle_policy",
    }
    if unknown:
        raise click.BadParameter(
            f"{path}: unknown keys {sorted(unknown)}; expected config, variables, "
            "prioritization, max_attempts, lease_seconds, idle_policy",
            param_hint="--config",
        )
    variables = document.get("variables") or []
    if isinstance(variables, dict):
        variables = [{"name": name, **(spec or {})} for name, spec in variables.items()]
    return {**document, "variables": variables}


def parse_assignments(pairs: tuple[str, ...]) -> dict[str, str]:
    """`-v gpus=4 -v gpu_type=a100` -> {"gpus": "4", "gpu_type": "a100"} (the server types them)."""
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} must be NAME=VALUE", param_hint="-v")
        values[name.strip()] = value
    return values


def _age(created: str) -> str:
    seconds = (datetime.now(UTC) - datetime.fromisoformat(created)).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def items_table(items: list[dict[str, Any]], title: str) -> Table:
    """Items in claim order: priority, state, template values, age, attempts, error."""
    table = Table(title=title)
    for column in (
        "item",
        "priority",
        "state",
        "template values",
        "age",
        "attempts",
        "run",
        "error or reason",
    ):
        table.add_column(column)
    for item in items:
        error = item.get("error") or {}
        table.add_row(
            item["id"][:12],
            PRIORITY_NAMES[item["priority"]],
            item["state"],
            " ".join(f"{k}={v}" for k, v in item["template_values"].items()),
            _age(item["created_at"]),
            str(item["attempts"]),
            item.get("run_id") or "",
            f"{error['stage']}: {error['message']}" if error else item.get("pending_reason") or "",
        )
    return table


@click.group()
def queue() -> None:
    """Create, inspect and delete launch queues."""


@queue.command("create")
@click.argument("name")
@click.option("--entity", default=None, help="Owner entity [yours].")
@click.option(
    "--resource",
    type=click.Choice(["kubernetes", "local-process", "local-container"]),
    default="local-process",
    show_default=True,
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML: `config` (template with {{var}}) and `variables` "
    "(type, minimum, maximum, enum, default).",
)
def create(name: str, entity: str | None, resource: str, config_file: Path | None) -> None:
    """Create queue NAME."""
    client = _client()
    spec = {"name": name, "entity": _entity(client, entity), "resource": resource}
    if config_file is not None:
        spec.update(load_queue_file(config_file))
    try:
        created = client.create_queue(spec)
    except ApiError as exc:
        raise _fail(exc) from None
    names = ", ".join(v["name"] for v in created["variables"]) or "none"
    console.print(
        f"created queue [bold]{created['entity']}/{created['name']}[/bold] (variables: {names})"
    )


@queue.command("list")
@click.option("--entity", default=None, help="Owner entity [yours].")
def list_queues(entity: str | None) -> None:
    """List queues with their pending and running counts."""
    client = _client()
    try:
        queues = client.list_queues(entity)
    except ApiError as exc:
        raise _fail(exc) from None
    table = Table(title="queues")
    for column in ("queue", "resource", "pending", "running", "oldest pending", "variables"):
        table.add_column(column)
    for q in queues:
        stats = q["stats"]
        oldest = stats["oldest_pending_s"]
        table.add_row(
            f"{q['entity']}/{q['name']}",
            q["resource"],
            str(stats["by_state"].get("pending", 0)),
            str(stats["by_state"].get("running", 0)),
            f"{oldest:.0f}s" if oldest is not None else "",
            ", ".join(v["name"] for v in q["variables"]),
        )
    console.print(table)


@queue.command("describe")
@click.argument("name")
@click.option("--entity", default=None, help="Owner entity [yours].")
def describe(name: str, entity: str | None) -> None:
    """Show a queue (NAME) or one item (its id or a unique prefix of it)."""
    client = _client()
    owner = _entity(client, entity)
    try:
        q = client.get_queue(owner, name)
        items = client.list_items(owner, name)
    except ApiError as exc:
        if exc.status == 404 and _looks_like_item_id(name):
            _describe_item(client, name)
            return
        raise _fail(exc) from None
    stats = q["stats"]
    console.print(
        f"[bold]{owner}/{name}[/bold]  resource={q['resource']}  "
        f"prioritization={'on' if q['prioritization'] else 'off'}  "
        f"max_attempts={q['max_attempts']}  lease={q['lease_seconds']:g}s"
    )
    by_priority = "  ".join(f"{k}={v}" for k, v in stats["pending_by_priority"].items())
    by_state = "  ".join(f"{k}={v}" for k, v in sorted(stats["by_state"].items()))
    console.print(f"pending by priority: {by_priority}\nitems by state: {by_state or 'none'}")
    console.print(items_table(items, f"items of {owner}/{name}"))


def _looks_like_item_id(text: str) -> bool:
    return len(text) >= 4 and all(c in "0123456789abcdef" for c in text.lower())


def _describe_item(client: RunyardClient, item_id: str) -> None:
    try:
        item = client.get_item(item_id)
    except ApiError as exc:
        raise _fail(exc) from None
    console.print(
        f"[bold]item {item['id']}[/bold] of {item['entity']}/{item['queue']}  "
        f"state={item['state']}  priority={PRIORITY_NAMES[item['priority']]}  "
        f"attempts={item['attempts']}"
    )
    console.print(items_table([item], "item"))
    if item.get("pending_reason"):
        console.print(f"waiting: {item['pending_reason']}")
    for warning in item.get("warnings") or []:
        console.print(f"[yellow]warning:[/yellow] {warning}")


@queue.command("items")
@click.argument("name")
@click.option("--entity", default=None, help="Owner entity [yours].")
@click.option("--state", "states", multiple=True, help="Only items in these states.")
def items(name: str, entity: str | None, states: tuple[str, ...]) -> None:
    """List a queue's items in claim order."""
    client = _client()
    owner = _entity(client, entity)
    try:
        listed = client.list_items(owner, name, list(states))
    except ApiError as exc:
        raise _fail(exc) from None
    console.print(items_table(listed, f"items of {owner}/{name}"))


@queue.command("prioritize")
@click.argument("item_id")
@click.argument("priority")
def prioritize(item_id: str, priority: str) -> None:
    """Move a pending item to PRIORITY (critical, high, medium, low)."""
    client = _client()
    try:
        item = client.set_priority(item_id, priority)
    except ApiError as exc:
        raise _fail(exc) from None
    level = ("critical", "high", "medium", "low")[int(item["priority"])]
    console.print(f"item {item_id} of {item['entity']}/{item['queue']} is now {level}")


@queue.command("cancel")
@click.argument("item_id")
def cancel(item_id: str) -> None:
    """Cancel an item (ITEM_ID or a unique prefix of it); a running one is stopped."""
    client = _client()
    try:
        item = client.cancel_item(item_id)
    except ApiError as exc:
        raise _fail(exc) from None
    console.print(f"item {item['id']} of {item['entity']}/{item['queue']} is {item['state']}")


@queue.command("agents")
@click.option("--entity", default=None, help="Owner entity [yours].")
@click.option("--all", "show_all", is_flag=True, help="Also agents that stopped heartbeating.")
def agents(entity: str | None, show_all: bool) -> None:
    """List launch agents: queues served, status, capacity and last heartbeat."""
    client = _client()
    try:
        listed = client.list_agents(entity)
    except ApiError as exc:
        raise _fail(exc) from None
    table = Table(title="agents")
    for column in ("agent", "host", "queues", "status", "gpus", "heartbeat", "id"):
        table.add_column(column)
    now = datetime.now(UTC)
    for agent in listed:
        if not agent["alive"] and not show_all:
            continue
        seen = (now - datetime.fromisoformat(agent["heartbeat_at"])).total_seconds()
        status = agent["status"] if agent["alive"] else f"gone ({agent['status']})"
        table.add_row(
            agent["name"],
            agent["hostname"],
            ", ".join(agent["queues"]),
            status,
            str(agent["capacity"].get("gpus", "")),
            f"{seen:.0f}s ago",
            agent["id"],
        )
    console.print(table)


@queue.command("delete")
@click.argument("name")
@click.option("--entity", default=None, help="Owner entity [yours].")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(name: str, entity: str | None, yes: bool) -> None:
    """Delete a queue and all its items."""
    client = _client()
    owner = _entity(client, entity)
    if not yes:
        click.confirm(f"delete queue {owner}/{name} and all its items?", abort=True)
    try:
        client.delete_queue(owner, name)
    except ApiError as exc:
        raise _fail(exc) from None
    console.print(f"deleted queue {owner}/{name}")


class _CommandAfterDashes(click.Command):
    """Remembers whether `--` was typed, so `--` with nothing after it can be refused."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["dashes"] = "--" in args
        return super().parse_args(ctx, args)


@click.command("launch", cls=_CommandAfterDashes)
@click.option("--queue", "-q", "queue_name", required=True, help="Queue to put the run on.")
@click.option("--entity", default=None, help="Queue owner [yours].")
@click.option("--project", default=None, help="Project of the run.")
@click.option("--docker-image", default=None, help="Image to run.")
@click.option("-v", "assignments", multiple=True, help="Template variable: NAME=VALUE.")
@click.option(
    "--priority", default="medium", show_default=True, help="critical, high, medium or low."
)
@click.option(
    "-c",
    "--config",
    "spec_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON run spec to start from (W&B launch config).",
)
@click.option("--request-id", default=None, help="Enqueueing twice with one id adds one item.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def launch(
    ctx: click.Context,
    queue_name: str,
    entity: str | None,
    project: str | None,
    docker_image: str | None,
    assignments: tuple[str, ...],
    priority: str,
    spec_file: Path | None,
    request_id: str | None,
    command: tuple[str, ...],
) -> None:
    """Put a run on a launch queue: `runyard launch -q Q [options] -- python train.py --lr 0.1`.

    The words after `--` are the run's command (its entry point).
    """
    if ctx.meta.get("dashes") and not command:
        raise click.UsageError(
            "nothing after `--`: give the command to run, e.g. "
            "`runyard launch -q default -- python train.py`"
        )
    if command and not ctx.meta.get("dashes"):
        raise click.UsageError(
            f"unexpected argument {command[0]!r}: put the command after `--`, e.g. "
            f"`runyard launch -q {queue_name} -- {' '.join(command)}`"
        )
    client = _client()
    owner = _entity(client, entity)
    run_spec: dict[str, Any] = {}
    if spec_file is not None:
        try:
            run_spec = json.loads(spec_file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise click.BadParameter(f"cannot read {spec_file}: {exc}", param_hint="-c") from None
        if not isinstance(run_spec, dict):
            raise click.BadParameter(f"{spec_file} must hold a JSON object", param_hint="-c")
    if project:
        run_spec["project"] = project
    run_spec.setdefault("entity", owner)
    if docker_image:
        run_spec.setdefault("docker", {})["docker_image"] = docker_image
    if command:
        run_spec["entry_point"] = list(command)
    body = {
        "run_spec": run_spec,
        "priority": priority,
        "template_values": parse_assignments(assignments),
        "request_id": request_id,
    }
    try:
        item = client.enqueue(owner, queue_name, body)
    except ApiError as exc:
        raise _fail(exc) from None
    console.print(
        f"enqueued item [bold]{item['id']}[/bold] on {owner}/{queue_name} "
        f"(priority {PRIORITY_NAMES[item['priority']]}, state {item['state']})"
    )
