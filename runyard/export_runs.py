"""The CI export of seed 004: runs of one commit (candidates) beside runs tagged as
baselines, written to `wandb_report.csv` for later workflow steps to show.

Built on the official client's `wandb.Api`, so it works against Runyard and W&B alike.
Deciding (parsing inputs, the queries, the rows) is pure; `fetch` and `write_csv` do the I/O.
"""

from __future__ import annotations

import ast
import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

REPORT_NAME = "wandb_report.csv"
FIXED_COLUMNS = [
    "run.url",
    "run.name",
    "run.tags",
    "run.id",
    "run.entity",
    "run.project",
    "github_sha",
    "__eval.category",
]
CANDIDATE = "candidate"
BASELINE = "baseline"


class ExportError(ValueError):
    """Bad export input: the message names the input and the fix."""


class RunLike(Protocol):
    """What the export reads of a `wandb.apis.public.Run`."""

    url: str
    name: str
    tags: list[str]
    id: str
    entity: str
    project: str
    state: str
    config: Mapping[str, Any]
    summary_metrics: Mapping[str, Any]


@dataclass(frozen=True)
class ExportSpec:
    """The checked inputs of one export."""

    project_path: str
    github_sha: str | None = None
    run_id: str | None = None
    baseline_tags: list[str] = field(default_factory=list)
    display_metrics: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ExportResult:
    """The rows written and the counts a workflow may branch on."""

    rows: list[dict[str, Any]]
    columns: list[str]
    counts: dict[str, int]


def parse_list(text: str | None, name: str) -> list[str]:
    """A list input as the action takes it: a Python/JSON list (`"['a', 'b']"`), or a plain
    comma-separated `a, b`; empty means none."""
    if text is None or not text.strip():
        return []
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            value = ast.literal_eval(stripped)
        except (ValueError, SyntaxError):
            raise ExportError(
                f"{name}: {text!r} is not a list: write it like \"['baseline', 'reference']\""
            ) from None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ExportError(
                f"{name}: {text!r} must be a list of strings, like \"['baseline', 'reference']\""
            )
        return [v for v in value if v]
    return [part.strip() for part in stripped.split(",") if part.strip()]


def make_spec(
    project: str,
    github_sha: str | None,
    run_id: str | None,
    baseline_tags: str | None,
    display_metrics: str | None,
) -> ExportSpec:
    """Check the raw inputs; every problem names its input."""
    parts = project.strip().split("/")
    if len(parts) != 2 or not all(parts):
        raise ExportError(
            f"PROJECT_NAME: {project!r} must be ENTITY/PROJECT, e.g. 'my-team/my-project'"
        )
    sha = (github_sha or "").strip() or None
    rid = (run_id or "").strip() or None
    if sha is None and rid is None:
        raise ExportError(
            "FILTER_GITHUB_SHA or RUN_ID: give one of them (e.g. FILTER_GITHUB_SHA: "
            "${{ github.sha }}) so the export knows which runs are the candidates"
        )
    return ExportSpec(
        project_path="/".join(parts),
        github_sha=sha,
        run_id=rid,
        baseline_tags=parse_list(baseline_tags, "BASELINE_TAGS"),
        display_metrics=parse_list(display_metrics, "DISPLAY_METRICS"),
    )


def candidate_filter(spec: ExportSpec) -> dict[str, Any]:
    """W&B run filter for the candidates: the run RUN_ID names, else the runs whose
    `config.github_sha` is the commit (RUN_ID wins when both are given)."""
    if spec.run_id:
        return {"name": spec.run_id}
    return {"config.github_sha": spec.github_sha}


def baseline_filter(spec: ExportSpec) -> dict[str, Any] | None:
    """W&B run filter for the baselines: runs with any of the tags that are not candidates;
    None when no tags are given (no baselines)."""
    if not spec.baseline_tags:
        return None
    not_candidate: dict[str, Any]
    if spec.run_id:
        not_candidate = {"name": {"$ne": spec.run_id}}
    else:
        not_candidate = {
            "$or": [
                {"config.github_sha": {"$ne": spec.github_sha}},
                {"config.github_sha": {"$exists": False}},
            ]
        }
    return {"$and": [{"tags": {"$in": list(spec.baseline_tags)}}, not_candidate]}


def report_row(run: RunLike, category: str, metrics: Sequence[str]) -> dict[str, Any]:
    """One CSV row: the fixed columns, then each display metric from the run's summary."""
    row: dict[str, Any] = {
        "run.url": run.url,
        "run.name": run.name,
        # A Python list as text, as the original action's CSV has it.
        "run.tags": str(list(run.tags or [])),
        "run.id": run.id,
        "run.entity": run.entity,
        "run.project": run.project,
        "github_sha": run.config.get("github_sha"),
        "__eval.category": category,
    }
    for metric in metrics:
        row[metric] = run.summary_metrics.get(metric)
    return row


def build_report(
    spec: ExportSpec, candidates: Iterable[RunLike], baselines: Iterable[RunLike]
) -> ExportResult:
    """Rows for the finished candidates, then the baselines, with the counts by state."""
    found = list(candidates)
    finished = [r for r in found if r.state == "finished"]
    baseline_runs = list(baselines)
    rows = [report_row(r, CANDIDATE, spec.display_metrics) for r in finished]
    rows += [report_row(r, BASELINE, spec.display_metrics) for r in baseline_runs]
    columns = FIXED_COLUMNS + [m for m in spec.display_metrics if m not in FIXED_COLUMNS]
    counts = {
        "NUM_FINISHED": len(finished),
        "NUM_RUNNING": sum(r.state == "running" for r in found),
        "NUM_CRASHED": sum(r.state == "crashed" for r in found),
        "NUM_FAILED": sum(r.state == "failed" for r in found),
        "NUM_BASELINES": len(baseline_runs),
    }
    return ExportResult(rows, columns, counts)


def fetch(api: Any, spec: ExportSpec) -> ExportResult:
    """Query the candidates and baselines through a `wandb.Api` and build the report."""
    candidates = list(api.runs(spec.project_path, filters=candidate_filter(spec)))
    wanted = baseline_filter(spec)
    baselines = list(api.runs(spec.project_path, filters=wanted)) if wanted else []
    return build_report(spec, candidates, baselines)


def write_csv(result: ExportResult, folder: Path) -> Path:
    """Write `wandb_report.csv` into `folder`; empty cells for missing values."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / REPORT_NAME
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=result.columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(result.rows)
    return path
