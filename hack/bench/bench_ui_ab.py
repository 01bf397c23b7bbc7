"""First chart paints of two checkouts, alternately, on the same seeded data (paired figures).

Usage: python hack/bench/bench_ui_ab.py --data-dir D --before /path/to/old/checkout [--rounds 5]
       [--before-run-tab /admin/long/runs/long]
D is a data dir that `bench_ui.py --data-dir D` seeded. The "before" server runs the old
checkout's code and web bundle (PYTHONPATH); the "after" server runs this checkout. Both read
the same SQLite file. Each round, on one side then the other: the run page's Charts tab opened
cold, the workspace, and the Charts tab again right after the workspace's first paint (while
the workspace still reads its other panels). Machine load hits both sides alike; the table
prints every round and the medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_ui import FLAGS, RUN_TAB, charts_tab_paints
from common import ADMIN_KEY, ServerProcess
from playwright.sync_api import Browser, Page, sync_playwright
from rich.console import Console
from rich.table import Table

SIDES = ("before", "after")


def signed_in(browser: Browser, url: str) -> Page:
    """A page signed in to the server at `url`."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{url}/login")
    page.get_by_label("API key").fill(ADMIN_KEY)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/")
    return page


def main() -> None:
    """Start both servers, alternate page loads, print every figure and the medians."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--before-run-tab",
        default=RUN_TAB,
        help="the run page's charts on the old side (before the run page had tabs: "
        "/admin/long/runs/long)",
    )
    args = parser.parse_args()
    old = ServerProcess(args.data_dir, None, {"PYTHONPATH": str(args.before)}, cwd=args.before)
    new = ServerProcess(args.data_dir, None)
    urls = {"before": old.url, "after": new.url}
    run_tabs = {"before": args.before_run_tab, "after": RUN_TAB}
    figures: dict[tuple[str, str], list[float]] = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
            pages = {side: signed_in(browser, urls[side]) for side in SIDES}
            for _ in range(args.rounds):
                for side in SIDES:
                    paints = charts_tab_paints(pages[side], urls[side], run_tabs[side], 1)
                    for how, values in paints.items():
                        figures.setdefault((how, side), []).extend(values)
            browser.close()
    finally:
        old.stop()
        new.stop()
    table = Table(title=f"First chart paint, before vs after, {args.rounds} alternating rounds")
    for column in ("page", "side", "each round (ms)", "median ms"):
        table.add_column(column)
    labels = {
        "cold": "run page Charts tab, opened cold",
        "workspace": "workspace",
        "after the workspace": "run page Charts tab, right after the workspace",
    }
    for (how, side), values in sorted(figures.items(), key=lambda kv: list(labels).index(kv[0][0])):
        each = " ".join(f"{v:.0f}" for v in values)
        table.add_row(labels[how], side, each, f"{statistics.median(values):.0f}")
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
