"""The `runyard` command line."""

from __future__ import annotations

import logging

import click


@click.group()
@click.version_option(package_name="runyard")
def main() -> None:
    """Runyard: self-hosted experiment tracking and GPU launch platform."""


@main.group(invoke_without_command=True)
@click.option("--host", default=None, help="Address to listen on [RUNYARD_HOST, 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port to listen on [RUNYARD_PORT, 8080].")
@click.option("--data-dir", default=None, help="Data directory [RUNYARD_DATA_DIR, ./.runyard].")
@click.option("--database-url", default=None, help="SQLAlchemy URL [RUNYARD_DATABASE_URL].")
@click.pass_context
def server(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    data_dir: str | None,
    database_url: str | None,
) -> None:
    """Run the tracking server (migrates the database first)."""
    from runyard.server.settings import ServerSettings

    overrides = {
        k: v
        for k, v in {
            "host": host,
            "port": port,
            "data_dir": data_dir,
            "database_url": database_url,
        }.items()
        if v is not None
    }
    settings = ServerSettings(**overrides)  # type: ignore[arg-type]
    ctx.obj = settings
    if ctx.invoked_subcommand is None:
        serve(settings)


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


def serve(settings: object) -> None:
    """Open the state, print the admin key on first start, and serve until interrupted."""
    import uvicorn
    from rich.console import Console
    from rich.panel import Panel

    from runyard.server.app import create_app
    from runyard.server.settings import ServerSettings
    from runyard.server.state import open_state

    assert isinstance(settings, ServerSettings)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    state = open_state(settings)
    url = settings.public_url or f"http://{settings.host}:{settings.port}"
    console = Console()
    lines = [f"Runyard is listening on [bold]{url}[/bold]", f"export WANDB_BASE_URL={url}"]
    if state.new_admin_key:
        lines.append(f"export WANDB_API_KEY={state.new_admin_key}")
        lines.append("[yellow]The admin API key is shown only once: keep it.[/yellow]")
    else:
        lines.append("Admin API key: as printed at first start (or RUNYARD_ADMIN_API_KEY).")
    console.print(Panel("\n".join(lines), title="runyard server"))
    uvicorn.run(
        create_app(state),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        proxy_headers=True,
    )


if __name__ == "__main__":
    main()
