"""The `runyard` command line."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from runyard import log_setup
from runyard.agent_cli import agent
from runyard.automation_cli import integration, secret
from runyard.export_cli import export_runs_command
from runyard.people_cli import key, team, user
from runyard.queue_cli import launch, queue
from runyard.sweep_cli import sweep
from runyard.usage_cli import usage

if TYPE_CHECKING:
    from runyard.server.settings import ServerSettings


@click.group()
@click.version_option(package_name="runyard")
def main() -> None:
    """Runyard: self-hosted experiment tracking and GPU launch platform."""


@main.group(invoke_without_command=True)
@click.option("--host", default=None, help="Address to listen on [RUNYARD_HOST, 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port to listen on [RUNYARD_PORT, 8080].")
@click.option("--data-dir", default=None, help="Data directory [RUNYARD_DATA_DIR, ./.runyard].")
@click.option("--database-url", default=None, help="SQLAlchemy URL [RUNYARD_DATABASE_URL].")
@click.option(
    "--workers",
    type=int,
    default=None,
    help="Worker processes serving requests [RUNYARD_WORKERS, 1]; above 1 needs PostgreSQL.",
)
@click.option(
    "--local-agent/--no-local-agent",
    default=False,
    help="Also run a local-process agent serving a `default` queue (what `make run` does).",
)
@click.pass_context
def server(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    data_dir: str | None,
    database_url: str | None,
    workers: int | None,
    local_agent: bool,
) -> None:
    """Run the tracking server (migrates the database first)."""
    overrides = {
        k: v
        for k, v in {
            "host": host,
            "port": port,
            "data_dir": data_dir,
            "database_url": database_url,
            "workers": workers,
        }.items()
        if v is not None
    }
    settings = load_settings(overrides)
    ctx.obj = settings
    if ctx.invoked_subcommand is None:
        serve(settings, local_agent)


def load_settings(overrides: Mapping[str, object]) -> ServerSettings:
    """Build settings from flags and RUNYARD_* variables; bad values become a usage error."""
    from pydantic import ValidationError

    from runyard.server.settings import ServerSettings

    try:
        return ServerSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = "_".join(str(part) for part in err["loc"])
            problems.append(f"RUNYARD_{field.upper()}: {err['msg']}, got {err.get('input')!r}")
        raise click.UsageError("invalid server settings:\n  " + "\n  ".join(problems)) from None


@server.command("create-key")
@click.option("--user", "username", default=None, help="Owner of the key [the admin user].")
@click.option("--description", default="", help="What the key is for.")
@click.pass_obj
def create_key(settings: object, username: str | None, description: str) -> None:
    """Create another API key (e.g. when the first-start admin key was lost)."""
    from rich.console import Console

    from runyard.server.auth import new_api_key
    from runyard.server.settings import ServerSettings
    from runyard.server.state import open_state

    assert isinstance(settings, ServerSettings)
    state = open_state(settings)
    owner = username or settings.admin_username
    if state.new_admin_key:
        # First start of this data dir: the bootstrap key is the admin's, and it is not lost.
        Console(soft_wrap=True).print(
            f"export WANDB_API_KEY={state.new_admin_key}", highlight=False
        )
        if owner == settings.admin_username:
            return
    with state.sessions() as session:
        try:
            key = new_api_key(session, owner, description)
        except LookupError as exc:
            raise click.UsageError(str(exc)) from None
        session.commit()
    Console(soft_wrap=True).print(f"export WANDB_API_KEY={key}", highlight=False)


@server.command()
@click.pass_obj
def migrate(settings: object) -> None:
    """Apply database migrations and exit."""
    from rich.console import Console

    from runyard.server.db import migrate as db_migrate
    from runyard.server.db.engine import make_engine
    from runyard.server.settings import ServerSettings

    assert isinstance(settings, ServerSettings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url())
    db_migrate.upgrade(engine)
    Console().print(f"[green]database is up to date[/green] ({engine.url.render_as_string()})")


def serve(settings: object, local_agent: bool = False) -> None:
    """Open the state, print the admin key on first start, and serve until interrupted."""
    from runyard.server.cluster.config import configuration_problems
    from runyard.server.settings import ServerSettings

    assert isinstance(settings, ServerSettings)
    # Checked before the (slow) server imports: a refusal comes at once.
    problems = configuration_problems(settings)
    if problems:
        raise click.UsageError("cannot start the server:\n  " + "\n  ".join(problems))

    import uvicorn
    from rich.console import Console
    from rich.panel import Panel

    from runyard.server.app import create_app
    from runyard.server.s3_store import StorageConfigError
    from runyard.server.state import open_state

    log_setup.configure(settings.log_level)
    try:
        state = open_state(settings)
    except StorageConfigError as exc:
        raise click.ClickException(f"object store: {exc}") from None
    url = settings.public_url or f"http://{settings.host}:{settings.port}"
    console = Console(soft_wrap=True)  # never wrap the export lines: they are copied as-is
    note = (
        "[yellow]The admin API key is shown only once: keep it.[/yellow]"
        if state.new_admin_key
        else "Admin API key: as printed at first start; `runyard server create-key` makes another."
    )
    console.print(Panel(f"Runyard is listening on [bold]{url}[/bold]\n{note}", title="runyard"))
    console.print(f"export WANDB_BASE_URL={url}", highlight=False)
    if state.new_admin_key:
        console.print(f"export WANDB_API_KEY={state.new_admin_key}", highlight=False)
    # The `runyard` CLI (queues, launch, agents, people) reads these two.
    console.print(f"export RUNYARD_URL={url}", highlight=False)
    if state.new_admin_key:
        console.print(f"export RUNYARD_API_KEY={state.new_admin_key}", highlight=False)
    agent = None
    if local_agent:
        from runyard.server import local_agent as local

        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
        agent = local.spawn(state, f"http://{host}:{settings.port}")
        console.print(f"local agent serving queue [bold]{local.QUEUE}[/bold] (local-process)")
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "log_config": None,  # keep log_setup's format and filters
        # X-Forwarded-* are believed only from RUNYARD_TRUSTED_PROXIES (web_security.py).
        "proxy_headers": False,
        # Claims are 30 s long polls: don't make Ctrl-C wait for them.
        "timeout_graceful_shutdown": 3,
    }
    try:
        if settings.workers > 1:
            from runyard.server.cluster.worker import shared_metrics_dir

            # Each worker builds its own app from the environment (cluster/worker.py).
            state.engine.dispose()
            os.environ.update(_worker_environment(settings))
            with shared_metrics_dir():  # /metrics sums the workers' counters
                uvicorn.run(
                    "runyard.server.cluster.worker:app_from_environment",
                    factory=True,
                    workers=settings.workers,
                    **options,
                )
        else:
            uvicorn.run(create_app(state), **options)
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(timeout=30)


def _worker_environment(settings: ServerSettings) -> dict[str, str]:
    """The settings given as flags, as RUNYARD_* variables the worker processes read."""
    env = {
        "RUNYARD_HOST": settings.host,
        "RUNYARD_PORT": str(settings.port),
        "RUNYARD_DATA_DIR": str(settings.data_dir.resolve()),
        "RUNYARD_WORKERS": str(settings.workers),
    }
    if settings.database_url:
        env["RUNYARD_DATABASE_URL"] = settings.database_url
    return env


main.add_command(queue)
main.add_command(launch)
main.add_command(agent)
main.add_command(user)
main.add_command(team)
main.add_command(key)
main.add_command(export_runs_command)
main.add_command(usage)
main.add_command(secret)
main.add_command(integration)
main.add_command(sweep)

if __name__ == "__main__":
    main()
