"""A report page with 12 live line plots over 50 runs, in headless Chromium.

Usage: python hack/bench/bench_reports.py [--runs 50 --panels 12 --steps 1000 --repeat 5]
The report is saved through GraphQL `upsertView` (what `wandb_workspaces` sends): one panel
grid whose run set is the whole project and `--panels` line plots, one metric each. Figures:
the server's HTML answer (spec parse, run-set filter, scalar aggregation, template), and the
in-page time from navigation start until every panel is drawn (HTML + one metric fetch per
panel + uPlot), p50 and max over `--repeat` loads.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_ui import FLAGS, seed_workspace
from common import ADMIN_KEY, percentile, server
from playwright.sync_api import sync_playwright
from rich.console import Console
from rich.table import Table

UPSERT = """
mutation($spec: String!, $project: String) {
  upsertView(input: {projectName: $project, type: "runs", displayName: "Bench", spec: $spec}) {
    view { id }
  }
}
"""


def report_spec(project: str, panels: int) -> str:
    """One grid over every run of `admin/<project>` with `panels` line plots."""
    keys = [f"{['train', 'val'][m % 2]}/m{m}" for m in range(panels)]
    grid = {
        "type": "panel-grid",
        "children": [{"text": ""}],
        "metadata": {
            "runSets": [{"name": "All", "project": {"entityName": "admin", "name": project}}],
            "panelBankSectionConfig": {
                "panels": [
                    {"viewType": "Run History Line Plot", "config": {"metrics": [k]}} for k in keys
                ]
            },
        },
    }
    heading = {"type": "heading", "level": 1, "children": [{"text": "Bench"}]}
    return json.dumps({"blocks": [heading, grid]})


def main() -> None:
    """Seed, save the report, open it in Chromium, print a table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--panels", type=int, default=12)
    parser.add_argument("--steps", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with server("sqlite") as srv, sync_playwright() as pw:
        seed_workspace(srv.database_url, "rep", args.runs, args.panels, args.steps)
        saved = srv.api().post(
            "/graphql",
            json={
                "query": UPSERT,
                "variables": {"spec": report_spec("rep", args.panels), "project": "rep"},
            },
        )
        saved.raise_for_status()
        view_id = saved.json()["data"]["upsertView"]["view"]["id"]
        url = f"{srv.url}/admin/rep/reports/Bench--{view_id}"
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{srv.url}/login")
        page.get_by_label("API key").fill(ADMIN_KEY)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{srv.url}/")
        html_ms: list[float] = []
        drawn_ms: list[float] = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            answer = page.request.get(url)
            html_ms.append((time.perf_counter() - started) * 1000)
            assert answer.ok, answer.status
            page.goto(url)
            page.wait_for_selector("body[data-report-ready]", timeout=300_000)
            drawn = page.locator("figure.report-line[data-drawn='1']").count()
            assert drawn == args.panels, f"{drawn} of {args.panels} panels drawn"
            drawn_ms.append(
                float(page.locator("body").get_attribute("data-report-ready-ms") or "nan")
            )
        browser.close()
    size = f"{args.panels} panels x {args.runs} runs x {args.steps:,} steps"
    table = Table(title="Runyard report page (headless Chromium, SQLite)")
    for column in ("report", "measure", "p50 ms", "max ms"):
        table.add_column(column, justify="right" if "ms" in column else "left")
    table.add_row(size, "server HTML", f"{percentile(html_ms, 50):.0f}", f"{max(html_ms):.0f}")
    table.add_row(
        size, "every panel drawn", f"{percentile(drawn_ms, 50):.0f}", f"{max(drawn_ms):.0f}"
    )
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
