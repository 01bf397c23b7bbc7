"""Web UI in headless Chromium: first chart paint, zoom refetch, and the runs table at 10k runs.

Usage: python hack/bench/bench_ui.py [--runs 50 --metrics 20 --steps 2000]
       [--long-points 1000000] [--table-runs 10000] [--rounds 3] [--data-dir D]
Paint time is measured in the page (performance.now() when the charts are drawn, i.e. from
navigation start), so it includes the HTML, the sampled-history fetches and uPlot drawing.
The run page's Charts tab is timed twice (median of --rounds): opened cold, and opened right
after the workspace's first chart paint, while the workspace still reads its other panels
(issue 19: the tab then waited for connections and server time the left workspace held).
Seeding writes what ingest writes (history lines, metric points, the server's rollups) in
bulk, one process per core; the issue's full workspace (50 x 20 x 100,000): --steps 100000.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import ADMIN_KEY, ServerProcess, server
from playwright.sync_api import Page, sync_playwright
from rich.console import Console
from rich.table import Table
from seed import seed_long_run, seed_many_runs, seed_project, seed_run

from runyard.server.db.engine import make_engine

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _seed_workspace_run(
    database_url: str, project_id: int, r: int, metrics: int, steps: int
) -> None:
    """Run `run<r>` of the workspace: `metrics` metrics (`train/m0`...) at every step."""
    rng = random.Random(r)
    keys = [f"{['train', 'val'][m % 2]}/m{m}" for m in range(metrics)]
    rows = [{"_step": s, **{k: rng.random() / (s + 1) for k in keys}} for s in range(steps)]
    engine = make_engine(database_url)
    seed_run(engine, project_id, f"run{r:03d}", rows, config={"lr": [0.01, 0.001][r % 2]})
    engine.dispose()


def seed_workspace(database_url: str, project: str, runs: int, metrics: int, steps: int) -> None:
    """`runs` finished runs seeded in parallel, one process per core (SQLite serialises writes)."""
    project_id = seed_project(database_url, project)
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        done = [
            pool.submit(_seed_workspace_run, database_url, project_id, r, metrics, steps)
            for r in range(runs)
        ]
        for future in done:
            future.result()


@contextmanager
def kept_server(data_dir: Path) -> Iterator[tuple[ServerProcess, bool]]:
    """A SQLite server on `data_dir`; True when the dir already holds seeded data.

    Before/after comparisons seed once: run the old checkout with `--data-dir D` (it seeds),
    then the new one with the same `D` (it migrates and measures the very same data).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    marker = data_dir / "seeded"
    proc = ServerProcess(data_dir, None)
    try:
        yield proc, marker.exists()
        marker.touch()
    finally:
        proc.stop()


def first_paint_ms(page: Page, url: str) -> float:
    """Open `url` and return the in-page time at which every chart was drawn."""
    page.goto(url)
    page.wait_for_selector("body[data-charts-ready]", timeout=300_000)
    return float(page.locator("body").get_attribute("data-charts-ready") or "nan")


def charts_tab_paints(page: Page, url: str, run_tab: str, rounds: int) -> dict[str, list[float]]:
    """First chart paint of the run page's Charts tab `run_tab`, `rounds` times each way:
    cold (opened from a blank page after a pause) and right after the workspace painted
    (`workspace` holds the workspace's own paints of those rounds)."""
    figures: dict[str, list[float]] = {"cold": [], "workspace": [], "after the workspace": []}
    for _ in range(rounds):
        page.goto("about:blank")
        time.sleep(2)  # nothing of an earlier page is still being served
        figures["cold"].append(first_paint_ms(page, url + run_tab))
        figures["workspace"].append(first_paint_ms(page, f"{url}/admin/ws"))
        figures["after the workspace"].append(first_paint_ms(page, url + run_tab))
    return figures


RUN_TAB = "/admin/long/runs/long/workspace"


def zoom(page: Page) -> None:
    """Drag-select 1% of the first chart and wait until its finer window is drawn."""
    fig = page.locator("figure.panel").first
    box = fig.locator(".u-over").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.5, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.51, y, steps=3)
    page.mouse.up()
    page.wait_for_selector("figure.panel[data-zoomed]", timeout=60_000)


def timed_ms(action: object) -> float:
    """Wall time of a page action (navigation + rendering), in milliseconds."""
    started = time.perf_counter()
    action()  # type: ignore[operator]
    return (time.perf_counter() - started) * 1000


@contextmanager
def _fresh() -> Iterator[tuple[ServerProcess, bool]]:
    with server("sqlite") as srv:
        yield srv, False


def main() -> None:
    """Seed, open the pages in Chromium, print a table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--metrics", type=int, default=20)
    parser.add_argument("--steps", type=int, default=2_000)
    parser.add_argument("--long-points", type=int, default=1_000_000)
    parser.add_argument("--table-runs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3, help="Charts tab timings (medians)")
    parser.add_argument("--data-dir", type=Path, help="keep (or reuse) the seeded data here")
    args = parser.parse_args()
    table = Table(title="Runyard web UI (headless Chromium, SQLite)")
    table.add_column("page")
    table.add_column("measure")
    table.add_column("ms", justify="right")
    serving = kept_server(args.data_dir) if args.data_dir else _fresh()
    with serving as (srv, seeded), sync_playwright() as pw:
        started = time.perf_counter()
        if not seeded:
            seed_workspace(srv.database_url, "ws", args.runs, args.metrics, args.steps)
            seed_long_run(srv.database_url, "long", args.long_points)
            seed_many_runs(srv.database_url, "table", args.table_runs)
        seeded_s = time.perf_counter() - started
        print(f"seeded in {seeded_s:.0f} s", flush=True)
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{srv.url}/login")
        page.get_by_label("API key").fill(ADMIN_KEY)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{srv.url}/")
        size = f"{args.runs} runs x {args.metrics} metrics x {args.steps:,} steps"
        paint = first_paint_ms(page, f"{srv.url}/projects/admin/ws")
        table.add_row(f"workspace ({size})", "first chart paint", f"{paint:.0f}")
        # The run page's charts live on its Charts tab.
        label = f"run page Charts tab ({args.long_points:,}-point metric)"
        for how, values in charts_tab_paints(page, srv.url, RUN_TAB, args.rounds).items():
            if how == "workspace":
                continue  # the workspace's paint has its own row above
            table.add_row(
                label,
                f"first chart paint, {how} (median of {len(values)}: "
                + " ".join(f"{v:.0f}" for v in values)
                + ")",
                f"{statistics.median(values):.0f}",
            )
        table.add_row(
            label,
            "zoom to 1% (refetch finer buckets)",
            f"{timed_ms(lambda: zoom(page)):.0f}",
        )
        base = f"{srv.url}/projects/admin/table/runs"
        rows = "#runs-table tbody tr"

        def open_table() -> None:
            page.goto(base)
            page.wait_for_selector(rows)

        def filtered() -> None:
            page.goto(f"{base}?field=config.lr&op=%24eq&value=0.001")
            page.wait_for_selector(rows)

        def sorted_() -> None:
            page.goto(f"{base}?order=%2Bsummary_metrics.loss")
            page.wait_for_selector(rows)

        def two_keys() -> None:
            page.goto(f"{base}?order=%2Bconfig.lr%2C-summary_metrics.loss")
            page.wait_for_selector(rows)

        def grouped() -> None:
            page.goto(f"{base}?group=lr")
            page.wait_for_selector("#runs-table tbody[data-group]")

        label = f"runs table ({args.table_runs:,} runs, first 500 shown)"
        table.add_row(label, "rows visible", f"{timed_ms(open_table):.0f}")
        table.add_row(label, "filter config.lr = 0.001", f"{timed_ms(filtered):.0f}")
        table.add_row(label, "sort summary loss", f"{timed_ms(sorted_):.0f}")
        table.add_row(label, "sort config.lr, then loss", f"{timed_ms(two_keys):.0f}")
        table.add_row(label, "group by config.lr", f"{timed_ms(grouped):.0f}")
        browser.close()
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
