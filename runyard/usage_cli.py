"""`runyard usage`: GPU-hours by user, project, queue, pool or run, as a table."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from runyard.client import ApiError, RunyardClient

KEYS = ["user", "project", "queue", "pool", "run"]


@click.command("usage")
@click.option("--by", "by", type=click.Choice(KEYS), default="user", show_default=True)
@click.option("--since", default="7d", show_default=True, help="Window: 30m, 12h, 7d, 2w.")
@click.option("--entity", "-e", default=None, help="Only this entity's queues [all you read].")
def usage(by: str, since: str, entity: str | None) -> None:
    """GPU-hours of launched items, from launch to end, summed by user (or --by ...)."""
    try:
        report = RunyardClient().gpu_usage(by, since, entity)
    except ApiError as exc:
        raise click.ClickException(str(exc)) from None
    table = Table(title=f"GPU-hours by {by} since {report['since'][:19]}Z")
    table.add_column(by)
    table.add_column("GPU-hours", justify="right")
    table.add_column("items", justify="right")
    for row in report["rows"]:
        table.add_row(row["key"], f"{row['gpu_hours']:.3f}", str(row["items"]))
    table.add_section()
    table.add_row("total", f"{report['total_gpu_hours']:.3f}", "")
    Console().print(table)
