"""`runyard export-runs`: seed 004's CI export (`wandb_report.csv`) on the official client."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from runyard import export_runs


def _wandb_api(url: str | None, api_key: str | None) -> Any:
    """A `wandb.Api` for the server; a usage error naming the extra when wandb is missing."""
    try:
        import wandb
    except ImportError:
        raise click.UsageError(
            "export-runs needs the official wandb client: pip install 'runyard[export]' "
            "(or pip install wandb)"
        ) from None
    overrides = {"base_url": url} if url else None
    try:
        return wandb.Api(overrides=overrides, api_key=api_key, timeout=60)
    except Exception as exc:  # the client raises several types for a bad key or host
        where = url or "WANDB_BASE_URL"
        raise click.ClickException(f"cannot reach the server at {where}: {exc}") from None


def _write_outputs(counts: dict[str, int], path: str | None) -> None:
    # GitHub Actions reads step outputs from the file $GITHUB_OUTPUT names.
    if not path:
        return
    with open(path, "a") as handle:
        for name, value in counts.items():
            handle.write(f"{name}={value}\n")


@click.command("export-runs")
@click.option(
    "--project",
    "project",
    envvar="PROJECT_NAME",
    required=True,
    help="ENTITY/PROJECT to read runs from [PROJECT_NAME].",
)
@click.option(
    "--github-sha",
    envvar="FILTER_GITHUB_SHA",
    default=None,
    help="Candidates: runs whose config.github_sha is this commit [FILTER_GITHUB_SHA].",
)
@click.option(
    "--run-id",
    envvar="RUN_ID",
    default=None,
    help="Candidate: this run only; wins over --github-sha [RUN_ID].",
)
@click.option(
    "--baseline-tags",
    envvar="BASELINE_TAGS",
    default=None,
    help="Baselines: runs with any of these tags, e.g. \"['baseline']\" [BASELINE_TAGS].",
)
@click.option(
    "--display-metrics",
    envvar="DISPLAY_METRICS",
    default=None,
    help="Summary metrics to add as columns, e.g. \"['loss', 'acc']\" [DISPLAY_METRICS].",
)
@click.option(
    "--url",
    envvar=["RUNYARD_URL", "WANDB_BASE_URL"],
    default=None,
    help="Server URL [RUNYARD_URL, WANDB_BASE_URL; W&B when unset].",
)
@click.option(
    "--api-key",
    envvar=["RUNYARD_API_KEY", "WANDB_API_KEY"],
    default=None,
    help="API key [RUNYARD_API_KEY, WANDB_API_KEY].",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="GITHUB_WORKSPACE",
    default=Path("."),
    show_default=True,
    help="Folder for wandb_report.csv [GITHUB_WORKSPACE].",
)
def export_runs_command(
    project: str,
    github_sha: str | None,
    run_id: str | None,
    baseline_tags: str | None,
    display_metrics: str | None,
    url: str | None,
    api_key: str | None,
    output_dir: Path,
) -> None:
    """Write wandb_report.csv: finished runs of a commit (candidates) and tagged baselines."""
    try:
        spec = export_runs.make_spec(project, github_sha, run_id, baseline_tags, display_metrics)
    except export_runs.ExportError as exc:
        raise click.UsageError(str(exc)) from None
    api = _wandb_api(url, api_key)
    try:
        result = export_runs.fetch(api, spec)
    except Exception as exc:  # wandb's CommError and ValueError carry the server's message
        raise click.ClickException(f"reading runs of {spec.project_path} failed: {exc}") from None
    path = export_runs.write_csv(result, output_dir)
    _write_outputs(result.counts, os.environ.get("GITHUB_OUTPUT"))
    counts = ", ".join(f"{k}={v}" for k, v in result.counts.items())
    click.echo(f"{len(result.rows)} runs written to {path} ({counts})")
