"""`runyard sweep ...`: create sweeps (natively, or as trials on a launch queue), list and
describe them, and pause, resume, stop or cancel them over REST."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
from rich.console import Console
from rich.table import Table

from runyard.client import ApiError, RunyardClient
from runyard.queue_cli import parse_assignments

console = Console()


class SweepClient(RunyardClient):
    """The sweep calls of `/api/v1`."""

    def create_sweep(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a sweep (with `queue`: a launch sweep)."""
        result: dict[str, Any] = self._call("POST", "/sweeps", json=body)
        return result

    def list_sweeps(self, project: str) -> list[dict[str, Any]]:
        """A project's sweeps (`entity/project`)."""
        result: list[dict[str, Any]] = self._call("GET", "/sweeps", params={"project": project})
        return result

    def get_sweep(self, path: str) -> dict[str, Any]:
        """A sweep with its trials (`entity/project/id`)."""
        result: dict[str, Any] = self._call("GET", f"/sweeps/{_path(path)}")
        return result

    def set_sweep_state(self, path: str, state: str) -> dict[str, Any]:
        """Pause, resume, stop or cancel a sweep."""
        result: dict[str, Any] = self._call(
            "POST", f"/sweeps/{_path(path)}/state", json={"state": state}
        )
        return result


def _path(path: str) -> str:
    parts = path.split("/")
    if len(parts) != 3 or not all(parts):
        raise click.BadParameter(f"{path!r} must be ENTITY/PROJECT/SWEEP_ID", param_hint="SWEEP")
    return "/".join(quote(p, safe="") for p in parts)


def _client() -> SweepClient:
    try:
        return SweepClient()
    except ApiError as exc:
        raise click.UsageError(str(exc)) from None


def _show(sweep: dict[str, Any]) -> None:
    path = f"{sweep['entity']}/{sweep['project']}/{sweep['id']}"
    table = Table(show_header=False, box=None)
    table.add_row("sweep", f"[bold]{path}[/bold]")
    table.add_row("state", sweep["state"].lower())
    table.add_row("method", sweep["method"])
    runs = str(sweep["run_count"])
    if sweep.get("expected_runs"):
        runs += f" of {sweep['expected_runs']}"
    table.add_row("runs", runs)
    if sweep.get("best_run"):
        table.add_row("best", f"{sweep['best_run']} ({sweep['metric']} {sweep['best_value']:.6g})")
    if sweep.get("queue"):
        table.add_row("queue", sweep["queue"])
    else:
        table.add_row("agents", f"wandb agent {path}")
    console.print(table)


@click.group()
def sweep() -> None:
    """Hyperparameter sweeps: create (optionally on a launch queue), list, describe, control."""


@sweep.command("create")
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--entity", "-e", default=None, help="Entity of the sweep [the key's].")
@click.option("--project", "-p", default=None, help="Project [the config's, uncategorized].")
@click.option("--queue", "-q", default=None, help="Run the trials as items of this queue.")
@click.option("-v", "variables", multiple=True, help="Queue template value NAME=VALUE.")
@click.option("--workers", type=int, default=None, help="Trials in flight at most [8].")
@click.argument("command", nargs=-1)
def create(
    config: Path,
    entity: str | None,
    project: str | None,
    queue: str | None,
    variables: tuple[str, ...],
    workers: int | None,
    command: tuple[str, ...],
) -> None:
    """Create a sweep from a W&B sweep config (YAML); with --queue, words after `--` are
    the trials' command (default: the config's job, or `python <program>`)."""
    client = _client()
    body: dict[str, Any] = {"config": config.read_text(), "entity": entity, "project": project}
    if queue:
        body.update(queue=queue, template_values=parse_assignments(variables), workers=workers)
        if command:
            body["entry_point"] = list(command)
    elif variables or workers is not None or command:
        raise click.UsageError("-v, --workers and a command are for launch sweeps: add --queue")
    try:
        created = client.create_sweep(body)
    except ApiError as exc:
        raise click.ClickException(str(exc)) from None
    _show(created)


@sweep.command("list")
@click.option("--project", "-p", required=True, help="ENTITY/PROJECT")
def list_sweeps(project: str) -> None:
    """A project's sweeps, newest first."""
    try:
        rows = _client().list_sweeps(project)
    except ApiError as exc:
        raise click.ClickException(str(exc)) from None
    table = Table("sweep", "state", "method", "runs", "best", "queue")
    for row in rows:
        best = f"{row['best_value']:.6g}" if row.get("best_value") is not None else ""
        runs = f"{row['run_count']}" + (
            f"/{row['expected_runs']}" if row.get("expected_runs") else ""
        )
        table.add_row(
            row["id"], row["state"].lower(), row["method"], runs, best, row.get("queue") or ""
        )
    console.print(table)


@sweep.command("describe")
@click.argument("path")
def describe(path: str) -> None:
    """A sweep's trials (state, parameters, metric) and parameter importance."""
    try:
        detail = _client().get_sweep(path)
    except ApiError as exc:
        raise click.ClickException(str(exc)) from None
    _show(detail)
    names = sorted({k for t in detail["trials"] for k in t["params"]})
    trials = Table("run", "state", *names, detail.get("metric") or "metric", "note")
    for t in detail["trials"]:
        metric = f"{t['metric']:.6g}" if t["metric"] is not None else ""
        note = "stopped early" if t["stopped_early"] else ""
        trials.add_row(
            t["run"], t["state"], *(str(t["params"].get(n, "")) for n in names), metric, note
        )
    console.print(trials)
    if detail["importance"]:
        importance = Table("parameter", "importance", "correlation")
        for p in detail["importance"]:
            corr = f"{p['correlation']:+.3f}" if p["correlation"] is not None else ""
            importance.add_row(p["name"], f"{p['importance']:.3f}", corr)
        console.print(importance)


def _state_command(name: str, state: str, words: str) -> None:
    @sweep.command(name, help=words)
    @click.argument("path")
    def command(path: str) -> None:
        try:
            changed = _client().set_sweep_state(path, state)
        except ApiError as exc:
            raise click.ClickException(str(exc)) from None
        _show(changed)


_state_command("pause", "PAUSED", "Pause a sweep: no new runs until it is resumed.")
_state_command("resume", "RUNNING", "Resume a paused sweep.")
_state_command("stop", "FINISHED", "Stop a sweep: no new runs; running ones finish.")
_state_command("cancel", "CANCELED", "Cancel a sweep: kill its running runs, no new ones.")
