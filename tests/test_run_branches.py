"""Forking and rewinding runs with the official client (`fork_from=`, `resume_from=`).

A fork reads its parent's history up to the fork step, then its own; a rewind cuts a
run's history back to a step, continues after it, and keeps what it cut as an archive.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from conftest import WandbClient, unique_project
from support.browser import chromium, shot, signed_in
from support.server import LiveServer


def _history(server: LiveServer, path: str) -> list[tuple[int, float]]:
    with server.api() as api:
        answer = api.get(f"/api/v1/runs/{path}/history", params={"limit": 1000})
        assert answer.status_code == 200, answer.text
        return [(row["_step"], row["v"]) for row in answer.json()["rows"] if "v" in row]


def _entity(server: LiveServer) -> str:
    with server.api() as api:
        return str(api.get("/api/v1/viewer").json()["entity"])


def _logged(client: WandbClient, project: str, run_id: str, *extra: str) -> dict[str, object]:
    result = client.run("branch.py", "--project", project, "--run-id", run_id, *extra)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.results[0]


def test_fork_reads_parent_up_to_the_fork_step_then_its_own(
    server: LiveServer, wandb_client: WandbClient
) -> None:
    project = unique_project()
    entity = _entity(server)
    _logged(wandb_client, project, "parent", "--steps", "10")
    init = _logged(
        wandb_client,
        project,
        "child",
        "--fork-from",
        "parent?_step=5",
        "--steps",
        "4",
        "--offset",
        "1000",
    )
    assert init["start"] == 6

    expected = [(s, float(s)) for s in range(6)] + [(s, 1000.0 + s) for s in range(6, 10)]
    assert _history(server, f"{entity}/{project}/child") == expected
    # The parent is untouched.
    assert _history(server, f"{entity}/{project}/parent") == [(s, float(s)) for s in range(10)]

    read = wandb_client.run("read_history.py", "--path", f"{entity}/{project}/child")
    assert read.returncode == 0, read.stderr
    seen = read.results[0]
    assert [tuple(x) for x in seen["scanned"]] == expected  # type: ignore[attr-defined]
    assert [tuple(x) for x in seen["sampled"]] == expected  # type: ignore[attr-defined]
    assert [tuple(x) for x in seen["keyed"]] == expected  # type: ignore[attr-defined]
    assert seen["summary_v"] == 1009.0

    with server.api() as api:
        child = api.get(f"/api/v1/runs/{entity}/{project}/child").json()
        assert child["forked_from"] == {"run": "parent", "step": 5}
        # No gap between the parent's lines and the fork's own.
        assert child["history_line_count"] == 10
        parent_lineage = api.get(f"/api/v1/runs/{entity}/{project}/parent/lineage").json()
        assert parent_lineage["forks"] == [{"run": "child", "step": 5}]
        assert parent_lineage["forked_from"] is None
        # Charts read the child's own rollups: the parent's prefix is part of them.
        sampled = api.get(
            f"/api/v1/runs/{entity}/{project}/child/history/sampled",
            params={"keys": "v", "buckets": 100},
        )
        assert sampled.status_code == 200, sampled.text
        series = sampled.json()["series"]["v"]
        assert [(b["x_min"], b["last"]) for b in series] == expected


def test_a_resumed_fork_continues_after_its_own_lines(
    sqlite_server: LiveServer, sqlite_client: WandbClient
) -> None:
    project = unique_project()
    _logged(sqlite_client, project, "p", "--steps", "10")
    _logged(sqlite_client, project, "c", "--fork-from", "p?_step=5", "--steps", "2")
    init = _logged(sqlite_client, project, "c", "--resume", "allow", "--steps", "2")
    assert init["start"] == 8
    expected = [(s, float(s)) for s in range(10)]
    # Parent's 0..5, the fork's own 6..7, then the resumed attempt's 8..9: no gap, no overlap.
    assert _history(sqlite_server, f"admin/{project}/c") == expected


def test_rewind_continues_after_the_step_and_keeps_an_archive(
    server: LiveServer, wandb_client: WandbClient
) -> None:
    project = unique_project()
    entity = _entity(server)
    _logged(wandb_client, project, "rw", "--steps", "10")
    init = _logged(
        wandb_client,
        project,
        "rw",
        "--resume-from",
        "rw?_step=3",
        "--steps",
        "3",
        "--offset",
        "2000",
    )
    assert init["start"] == 4

    path = f"{entity}/{project}/rw"
    assert _history(server, path) == [(s, float(s)) for s in range(4)] + [
        (s, 2000.0 + s) for s in range(4, 7)
    ]
    with server.api() as api:
        run = api.get(f"/api/v1/runs/{path}").json()
        assert run["summary"]["v"] == 2006.0
        assert run["state"] == "finished"
        assert run["forked_from"] == {"run": "rw-archive-1", "step": 3}
        lineage = api.get(f"/api/v1/runs/{path}/lineage").json()
        assert lineage["archives"] == ["rw-archive-1"]
        archive = api.get(f"/api/v1/runs/{entity}/{project}/rw-archive-1").json()
        assert archive["archived_of"] == "rw"
        assert archive["summary"]["v"] == 9.0
        # The archive is read through its run, not listed with the project's runs.
        listed = api.get("/api/v1/runs", params={"project": f"{entity}/{project}"}).json()
        assert [r["id"] for r in listed["runs"]] == ["rw"]
    # The archived branch keeps the whole history as it was.
    assert _history(server, f"{entity}/{project}/rw-archive-1") == [
        (s, float(s)) for s in range(10)
    ]


def test_fork_from_a_missing_run_or_step_is_refused(sqlite_client: WandbClient) -> None:
    project = unique_project()
    _logged(sqlite_client, project, "base", "--steps", "3")

    missing_run = sqlite_client.run(
        "branch.py", "--project", project, "--run-id", "k1", "--fork-from", "nope?_step=1"
    )
    assert missing_run.returncode != 0
    out = missing_run.stdout + missing_run.stderr
    assert f"fork_from: run admin/{project}/nope does not exist" in out, out

    missing_step = sqlite_client.run(
        "branch.py", "--project", project, "--run-id", "k2", "--fork-from", "base?_step=7"
    )
    assert missing_step.returncode != 0
    out = missing_step.stdout + missing_step.stderr
    assert "has no history at _step=7 (its steps run 0..2)" in out, out


def test_resume_from_another_entitys_run_is_refused(
    tmp_path: Path, sqlite_server: LiveServer, sqlite_client: WandbClient
) -> None:
    project = unique_project()
    _logged(sqlite_client, project, "mine", "--steps", "5")
    with sqlite_server.api() as admin:
        created = admin.post("/api/v1/users", json={"username": f"eve{project[2:]}"})
        assert created.status_code == 201, created.text
    eve = WandbClient(tmp_path / "eve", sqlite_server, api_key=created.json()["api_key"])
    try:
        refused = eve.run(
            "branch.py",
            "--project",
            project,
            "--entity",
            "admin",
            "--run-id",
            "mine",
            "--resume-from",
            "mine?_step=2",
        )
    finally:
        eve.kill_leftovers()
    assert refused.returncode != 0
    out = refused.stdout + refused.stderr
    assert "entity 'admin' does not exist or you are not a member of it" in out, out
    # Nothing was rewound.
    assert _history(sqlite_server, f"admin/{project}/mine") == [(s, float(s)) for s in range(5)]


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (9, "has no history at _step=9"),
        (1.5, "_step must be a whole number"),
    ],
)
def test_rewind_mutation_refuses_bad_steps(
    sqlite_server: LiveServer, sqlite_client: WandbClient, step: float, message: str
) -> None:
    project = unique_project()
    _logged(sqlite_client, project, "r", "--steps", "3")
    with sqlite_server.api() as api:
        answer = api.post(
            "/graphql",
            json={
                "query": 'mutation($v: Float!, $p: String) { rewindRun(input: {runName: "r", '
                'projectName: $p, metricName: "_step", metricValue: $v}) '
                "{ rewoundRun { historyLineCount } } }",
                "variables": {"v": step, "p": project},
            },
        )
    errors = answer.json()["errors"]
    assert message in errors[0]["message"], errors
    assert _history(sqlite_server, f"admin/{project}/r") == [(s, float(s)) for s in range(3)]


def test_run_pages_show_forks_archives_and_alerts(
    sqlite_server: LiveServer, sqlite_client: WandbClient
) -> None:
    project = unique_project()
    _logged(sqlite_client, project, "src", "--steps", "6")
    _logged(sqlite_client, project, "kid", "--fork-from", "src?_step=2", "--steps", "2")
    _logged(sqlite_client, project, "src", "--resume-from", "src?_step=4", "--steps", "1")
    alerted = sqlite_client.run(
        "alerts.py", "--project", project, "--run-id", "kid", "--repeat", "1"
    )
    assert alerted.returncode == 0, alerted.stdout + alerted.stderr
    base = f"{sqlite_server.url}/admin/{project}/runs"
    with chromium() as browser, signed_in(browser, sqlite_server) as page:
        page.goto(f"{base}/kid")
        expect(page.locator("#forked-from")).to_contain_text("src at step 2")
        alerts = page.get_by_role("table", name="Alerts")
        expect(alerts).to_contain_text("Loss is NaN")
        expect(alerts).to_contain_text("loss went to NaN at step 0")
        page.locator("#forked-from a").click()
        expect(page).to_have_url(f"{base}/src")
        expect(page.locator("#forks")).to_contain_text("kid (at step 2)")
        expect(page.locator("#forked-from")).to_contain_text("before it was rewound")
        shot(page, "run-forks-and-archives")
        page.locator("#archives a").click()
        expect(page).to_have_url(f"{base}/src-archive-1")
        expect(page.locator("#archived-of")).to_contain_text("src")
        # The workspace draws the live runs only.
        page.goto(f"{sqlite_server.url}/admin/{project}")
        expect(page.locator("#run-list")).to_contain_text("kid")
        expect(page.locator("#run-list")).not_to_contain_text("archived at rewind")


REWIND = (
    'mutation($v: Float!, $p: String) { rewindRun(input: {runName: "r", projectName: $p, '
    'metricName: "_step", metricValue: $v}) { rewoundRun { id historyLineCount '
    "forkedFrom { runName step run { archived archivedFrom { name } } } } } }"
)


def test_a_retried_rewind_keeps_one_archive_and_deleting_the_run_deletes_it(
    sqlite_server: LiveServer, sqlite_client: WandbClient
) -> None:
    project = unique_project()
    _logged(sqlite_client, project, "r", "--steps", "5")
    with sqlite_server.api() as api:
        answers = [
            api.post("/graphql", json={"query": REWIND, "variables": {"v": 2, "p": project}})
            for _ in range(2)
        ]
        for answer in answers:
            rewound = answer.json()["data"]["rewindRun"]["rewoundRun"]
            assert rewound["historyLineCount"] == 3
            assert rewound["forkedFrom"] == {
                "runName": "r-archive-1",
                "step": 2,
                "run": {"archived": True, "archivedFrom": {"name": "r"}},
            }
        assert api.get(f"/api/v1/runs/admin/{project}/r/lineage").json()["archives"] == [
            "r-archive-1"
        ]
        deleted = api.post(
            "/graphql",
            json={
                "query": "mutation($id: ID!) { deleteRun(input: {id: $id}) { clientMutationId } }",
                "variables": {"id": rewound["id"]},
            },
        )
        assert "errors" not in deleted.json(), deleted.text
        assert api.get(f"/api/v1/runs/admin/{project}/r-archive-1").status_code == 404
