"""Seed 004's CI export: `runyard export-runs` and the composite action
actions/export-runs/action.yml write `wandb_report.csv` from runs logged by the official client
(candidates by `config.github_sha`, baselines by tags), and every `run.url` in it opens."""

from __future__ import annotations

import ast
import csv
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from conftest import ScriptResult, WandbClient, unique_project
from runyard import export_runs
from support.server import LiveServer

ROOT = Path(__file__).resolve().parents[1]
ACTION = ROOT / "actions" / "export-runs" / "action.yml"
RUNYARD = str(Path(sys.executable).parent / "runyard")
SHA = "3f2c9a1b7d0e4c5b8a6f1e2d3c4b5a69788796a5"
HEADER = [
    "run.url",
    "run.name",
    "run.tags",
    "run.id",
    "run.entity",
    "run.project",
    "github_sha",
    "__eval.category",
    "accuracy",
    "loss",
]


def _result(result: ScriptResult) -> dict[str, Any]:
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(result.results) == 1, result.stdout + result.stderr
    return result.results[0]


# --- the pure part -----------------------------------------------------------------------------


def test_list_inputs_take_python_json_or_commas_and_refuse_anything_else() -> None:
    assert export_runs.parse_list("['baseline', 'reference']", "BASELINE_TAGS") == [
        "baseline",
        "reference",
    ]
    assert export_runs.parse_list('["loss"]', "DISPLAY_METRICS") == ["loss"]
    assert export_runs.parse_list("loss, accuracy", "DISPLAY_METRICS") == ["loss", "accuracy"]
    assert export_runs.parse_list("[]", "BASELINE_TAGS") == []
    assert export_runs.parse_list("", "BASELINE_TAGS") == []
    with pytest.raises(export_runs.ExportError, match=r"BASELINE_TAGS: .* must be a list of str"):
        export_runs.parse_list("[1, 2]", "BASELINE_TAGS")
    with pytest.raises(export_runs.ExportError, match=r"DISPLAY_METRICS: .* is not a list"):
        export_runs.parse_list("['loss'", "DISPLAY_METRICS")
    with pytest.raises(export_runs.ExportError, match="PROJECT_NAME: 'proj' must be ENTITY/PRO"):
        export_runs.make_spec("proj", SHA, None, None, None)
    with pytest.raises(export_runs.ExportError, match="FILTER_GITHUB_SHA or RUN_ID"):
        export_runs.make_spec("team/proj", " ", "", "['baseline']", None)


def test_filters_keep_candidates_and_baselines_apart() -> None:
    by_sha = export_runs.make_spec("t/p", SHA, None, "['baseline']", None)
    assert export_runs.candidate_filter(by_sha) == {"config.github_sha": SHA}
    assert export_runs.baseline_filter(by_sha) == {
        "$and": [
            {"tags": {"$in": ["baseline"]}},
            {
                "$or": [
                    {"config.github_sha": {"$ne": SHA}},
                    {"config.github_sha": {"$exists": False}},
                ]
            },
        ]
    }
    by_run = export_runs.make_spec("t/p", SHA, "abc123", "['baseline']", None)
    assert export_runs.candidate_filter(by_run) == {"name": "abc123"}
    assert export_runs.baseline_filter(by_run) == {
        "$and": [{"tags": {"$in": ["baseline"]}}, {"name": {"$ne": "abc123"}}]
    }
    assert export_runs.baseline_filter(export_runs.make_spec("t/p", SHA, None, "", None)) is None


def test_without_the_wandb_client_the_command_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from runyard.cli import main

    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` now raises ImportError
    args = ["export-runs", "--project", "t/p", "--github-sha", SHA, "--output-dir", str(tmp_path)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "pip install 'runyard[export]'" in result.output
    assert not (tmp_path / "wandb_report.csv").exists()


# --- against a live server, through wandb.Api ---------------------------------------------------


@pytest.fixture(scope="module")
def ci_project(
    sqlite_server: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """Runs as CI would log them: 2 of the commit, 2 tagged baselines, and 2 that are neither
    (another commit untagged; a tagged run of the commit itself is a candidate, not a baseline)."""
    client = WandbClient(tmp_path_factory.mktemp("ci-client"), sqlite_server)
    project = unique_project()
    runs = {}
    try:
        for name, sha, tags, acc in [
            ("cand-1", SHA, "-", "0.91"),
            ("cand-2", SHA, "baseline", "0.92"),
            ("base-1", "0000000", "baseline", "0.8"),
            ("base-2", "-", "reference,old", "0.75"),
            ("other", "1111111", "-", "0.5"),
        ]:
            runs[name] = _result(client.run("run_extras.py", "ci", project, name, sha, tags, acc))
    finally:
        client.kill_leftovers()
    return {"project": project, "runs": runs, "env": client.env}


def _expected(server: LiveServer, ci: dict[str, Any]) -> list[list[str]]:
    project, runs = ci["project"], ci["runs"]

    def row(name: str, tags: str, sha: str, category: str, acc: str, loss: str) -> list[str]:
        run_id = runs[name]["id"]
        return [
            f"{server.url}/admin/{project}/runs/{run_id}",
            name,
            tags,
            run_id,
            "admin",
            project,
            sha,
            category,
            acc,
            loss,
        ]

    return [
        row("cand-1", "[]", SHA, "candidate", "0.91", "0.09"),
        row("cand-2", "['baseline']", SHA, "candidate", "0.92", "0.08"),
        row("base-1", "['baseline']", "0000000", "baseline", "0.8", "0.2"),
        row("base-2", "['old', 'reference']", "", "baseline", "0.75", "0.25"),
    ]


def _read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def _sorted_tags(rows: list[list[str]]) -> list[list[str]]:
    # Tags come back in the server's order; compare them as sets.
    out = []
    for row in rows:
        fixed = list(row)
        if fixed[2].startswith("["):
            fixed[2] = str(sorted(ast.literal_eval(fixed[2])))
        out.append(fixed)
    return out


def test_export_runs_writes_the_seed_004_csv(
    sqlite_server: LiveServer, ci_project: dict[str, Any], tmp_path: Path
) -> None:
    outputs = tmp_path / "github_output"
    env = {**ci_project["env"], "GITHUB_OUTPUT": str(outputs)}
    done = subprocess.run(
        [
            RUNYARD,
            "export-runs",
            *("--project", f"admin/{ci_project['project']}"),
            *("--github-sha", SHA),
            *("--baseline-tags", "['baseline', 'reference']"),
            *("--display-metrics", "['accuracy', 'loss']"),
            *("--url", sqlite_server.url, "--output-dir", str(tmp_path)),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 runs written to" in done.stdout

    rows = _read_csv(tmp_path / "wandb_report.csv")
    assert rows[0] == HEADER
    assert _sorted_tags(rows[1:]) == _sorted_tags(_expected(sqlite_server, ci_project))
    assert outputs.read_text().splitlines() == [
        "NUM_FINISHED=2",
        "NUM_RUNNING=0",
        "NUM_CRASHED=0",
        "NUM_FAILED=0",
        "NUM_BASELINES=2",
    ]
    _check_urls_open(sqlite_server, [row[0] for row in rows[1:]], [row[3] for row in rows[1:]])


def _check_urls_open(server: LiveServer, urls: list[str], run_ids: list[str]) -> None:
    """Each URL, fetched with a signed-in session, is the page of its run."""
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        signed = browser.post("/login", data={"api_key": server.admin_key, "next": "/"})
        assert signed.status_code == 303, signed.text
        for url, run_id in zip(urls, run_ids, strict=True):
            assert re.fullmatch(rf"{re.escape(server.url)}/admin/p-[0-9a-f]{{8}}/runs/\w+", url)
            page = browser.get(url, follow_redirects=True)
            assert page.status_code == 200, f"{url}: {page.status_code}"
            assert run_id in page.text


def test_export_refuses_bad_inputs_with_the_input_named(
    sqlite_server: LiveServer, ci_project: dict[str, Any], tmp_path: Path
) -> None:
    def export(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                RUNYARD,
                "export-runs",
                "--url",
                sqlite_server.url,
                "--output-dir",
                str(tmp_path),
                *args,
            ],
            env=ci_project["env"],
            capture_output=True,
            text=True,
            timeout=120,
        )

    no_filter = export("--project", f"admin/{ci_project['project']}")
    assert no_filter.returncode == 2
    assert "FILTER_GITHUB_SHA or RUN_ID: give one of them" in no_filter.stderr
    bad_tags = export("--project", "admin/x", "--github-sha", SHA, "--baseline-tags", "[1]")
    assert bad_tags.returncode == 2
    assert "BASELINE_TAGS: '[1]' must be a list of strings" in bad_tags.stderr
    missing = export("--project", "admin/no-such-project", "--github-sha", SHA)
    assert missing.returncode == 1
    assert "reading runs of admin/no-such-project failed" in missing.stderr
    assert not (tmp_path / "wandb_report.csv").exists()


def _render(value: str, inputs: dict[str, str], action_path: Path) -> str:
    """GitHub's `${{ inputs.X }}` and `${{ github.action_path }}` in a step's env."""

    def sub(match: re.Match[str]) -> str:
        expr = match.group(1).strip()
        if expr == "github.action_path":
            return str(action_path)
        assert expr.startswith("inputs."), expr
        return inputs[expr.removeprefix("inputs.")]

    return re.sub(r"\$\{\{(.*?)\}\}", sub, value)


def test_the_composite_action_writes_the_same_csv(
    sqlite_server: LiveServer, ci_project: dict[str, Any], tmp_path: Path
) -> None:
    """The action's export step, run with the env a runner gives it (its install step is a
    `pip install` of this repository, here replaced by the test's own environment)."""
    action = yaml.safe_load(ACTION.read_text())
    assert action["runs"]["using"] == "composite"
    declared = action["inputs"]
    for name in ("PROJECT_NAME", "FILTER_GITHUB_SHA", "BASELINE_TAGS", "DISPLAY_METRICS", "RUN_ID"):
        assert name in declared
    inputs = {name: str(spec.get("default", "")) for name, spec in declared.items()}
    inputs.update(
        PROJECT_NAME=f"admin/{ci_project['project']}",
        FILTER_GITHUB_SHA=SHA,
        BASELINE_TAGS="['baseline', 'reference']",
        DISPLAY_METRICS="['accuracy', 'loss']",
        WANDB_API_KEY=sqlite_server.admin_key,
        WANDB_BASE_URL=sqlite_server.url,
    )
    step = next(s for s in action["runs"]["steps"] if s.get("id") == "export")
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    (runner_temp / "runyard-export").symlink_to(sys.prefix)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    env = {k: v for k, v in ci_project["env"].items() if not k.startswith("WANDB_")}
    env.update({k: _render(v, inputs, ACTION.parent) for k, v in step["env"].items()})
    env.update(
        RUNNER_TEMP=str(runner_temp),
        GITHUB_WORKSPACE=str(workspace),
        GITHUB_OUTPUT=str(tmp_path / "out"),
        PATH=os.environ.get("PATH", ""),
    )
    done = subprocess.run(
        ["bash", "-e", "-c", step["run"]], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = _read_csv(workspace / "wandb_report.csv")
    assert rows[0] == HEADER
    assert _sorted_tags(rows[1:]) == _sorted_tags(_expected(sqlite_server, ci_project))
