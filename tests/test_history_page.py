"""HistoryPage, the paged `scan_history`: each stepped row once, verbatim, in line order.

wandb 0.22 pages `history(minStep, maxStep, samples)` through a run up to its last step, a
fixed number of steps a page; wandb 0.31 does the same through wandb-core for a run that is
not exported. A line without an integer `_step` lies in no step range, so no page holds it.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import create_engine, insert
from sqlalchemy.orm import Session

from conftest import WandbClient
from runyard.server.db.models import HistoryLine
from runyard.server.tracking import history
from support.run_http import file_stream, graphql, new_run
from support.server import LiveServer

# The document wandb 0.22 sends (wandb/apis/public/history.py, HistoryScan.QUERY).
HISTORY_PAGE = """
query HistoryPage($entity: String!, $project: String!, $run: String!, $minStep: Int64!,
                  $maxStep: Int64!, $pageSize: Int!) {
    project(name: $project, entityName: $entity) {
        run(name: $run) {
            history(minStep: $minStep, maxStep: $maxStep, samples: $pageSize)
        }
    }
}
"""
LAST_STEP = """
query($project: String!, $run: String!) {
  project(name: $project, entityName: "admin") { run(name: $run) { historyKeys } }
}
"""
STEPS = 23


def _lines() -> list[str]:
    """History lines for steps 0..STEPS-1, with step-less lines among them; the values hold
    characters JSON escapes, so a line read back equal is the stored text itself."""
    lines: list[str] = []
    for step in range(STEPS):
        if step % 7 == 3:
            lines.append(json.dumps({"note": f"no step before {step}"}))
        if step == 10:
            lines.append(json.dumps({"_step": "ten", "v": -1}))  # not an integer step
        row = {"_step": step, "v": step / 4, "s": 'é"\\\n', "u": "\u2028"}
        lines.append(json.dumps(row, ensure_ascii=step % 2 == 0))
    return lines


def _stepped(lines: list[str]) -> list[str]:
    return [line for line in lines if type(json.loads(line).get("_step")) is int]


def _run_with_history(server: LiveServer) -> tuple[str, str, list[str]]:
    project, run = new_run(server)
    lines = _lines()
    half = len(lines) // 2
    for offset, chunk in ((0, lines[:half]), (half, lines[half:])):
        body = {"files": {"wandb-history.jsonl": {"offset": offset, "content": chunk}}}
        response = file_stream(server, project, run, body)
        assert response.status_code == 200, response.text
    return project, run, lines


def _page(server: LiveServer, project: str, run: str, low: int, high: int, size: int) -> Any:
    variables = {"minStep": low, "maxStep": high, "pageSize": size}
    response = graphql(server, HISTORY_PAGE, entity="admin", project=project, run=run, **variables)
    assert response.status_code == 200 and "errors" not in response.json(), response.text
    return response.json()["data"]["project"]["run"]["history"]


def _scan_like_wandb_022(server: LiveServer, project: str, run: str, size: int) -> list[str]:
    """What wandb 0.22's HistoryScan reads: pages of `size` steps up to the last step."""
    answer = graphql(server, LAST_STEP, project=project, run=run).json()
    last_step = answer["data"]["project"]["run"]["historyKeys"]["lastStep"]
    rows: list[str] = []
    low = 0
    while low < last_step + 1:
        rows += _page(server, project, run, low, min(low + size, last_step + 1), size)
        low += size
    return rows


def test_history_pages_hold_each_stepped_line_once_in_order(server: LiveServer) -> None:
    project, run, lines = _run_with_history(server)
    expected = _stepped(lines)
    assert len(expected) == STEPS
    for size in (1, 4, 7, STEPS, 1000):
        assert _scan_like_wandb_022(server, project, run, size) == expected, size


def test_a_history_page_holds_the_first_lines_of_its_range_up_to_samples(
    server: LiveServer,
) -> None:
    project, run, lines = _run_with_history(server)
    stepped = _stepped(lines)
    assert _page(server, project, run, 0, 100, 4) == stepped[:4]
    assert _page(server, project, run, 5, 9, 100) == stepped[5:9]
    assert _page(server, project, run, STEPS, STEPS + 10, 10) == []
    # No sensible `samples`: a whole page (capped by the server), never an unbounded read.
    for samples in (0, -1):
        assert _page(server, project, run, 0, 100, samples) == stepped, samples


def test_the_official_client_scans_a_run_not_exported_across_pages(
    server: LiveServer, wandb_client: WandbClient
) -> None:
    project, run, lines = _run_with_history(server)
    expected = [json.loads(line) for line in _stepped(lines)]
    for size in (4, 1000):
        read = wandb_client.run(
            "scan_history.py", "--path", f"admin/{project}/{run}", "--page-size", str(size)
        )
        assert read.returncode == 0, read.stderr
        assert read.results[0]["rows"] == expected, size


def test_a_page_one_line_over_picks_the_lines_the_window_query_picks() -> None:
    # sampledHistory reads a range of up to twice the samples and picks in Python: the
    # same lines as the SQL that numbers the range's lines (a first line, no repeats).
    engine = create_engine("sqlite://")
    HistoryLine.__table__.create(engine)
    texts = [json.dumps({"_step": n}) for n in range(40)]
    with Session(engine) as session:
        session.execute(
            insert(HistoryLine),
            [{"run_id": 1, "line_no": n, "step": n, "data": t} for n, t in enumerate(texts)],
        )
        for wanted in (1, 2, 3, 7, 10, 20):
            for total in range(wanted + 1, min(2 * wanted, 40) + 1):
                where = [HistoryLine.run_id == 1, HistoryLine.line_no < total]
                by_sql = list(session.scalars(history._evenly(HistoryLine, where, total, wanted)))
                by_python = history._evenly_picked(texts[:total], total, wanted)
                assert by_python == by_sql, (wanted, total)
                assert len(by_sql) == wanted and by_sql[0] == texts[0]
