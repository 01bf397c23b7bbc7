"""First chart paint of two checkouts, alternately, on the same seeded data (paired figures).

Usage: python hack/bench/bench_ui_ab.py --data-dir D --before /path/to/old/checkout [--rounds 5]
D is a data dir that `bench_ui.py --data-dir D` seeded. The "before" server runs the old
checkout's code and web bundle (PYTHONPATH); the "after" server runs this checkout. Both read
the same SQLite file, and each round opens the same pages on one then the other, so machine
load hits both alike; the table prints every round and the medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_ui import FLAGS, first_paint_ms
from common import ADMIN_KEY, ServerProcess
from playwright.sync_api import Browser, Page, sync_playwright
from rich.console import Console
from rich.table import Table

# Page paths on each side: the run page's charts moved to its Charts tab (`/workspace`).
PAGES = {
    "workspace first chart paint": {"before": "/admin/ws", "after": "/admin/ws"},
    "run page (1M points) first chart paint": {
        "before": "/admin/long/runs/long",
        "after": "/admin/long/runs/long/workspace",
    },
}


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
    args = parser.parse_args()
    old = ServerProcess(args.data_dir, None, {"PYTHONPATH": str(args.before)}, cwd=args.before)
    new = ServerProcess(args.data_dir, None)
    figures: dict[tuple[str, str], list[float]] = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
            pages = {"before": signed_in(browser, old.url), "after": signed_in(browser, new.url)}
            urls = {"before": old.url, "after": new.url}
            for _ in range(args.rounds):
                for label, paths in PAGES.items():
                    for side in ("before", "after"):
                        ms = first_paint_ms(pages[side], urls[side] + paths[side])
                        figures.setdefault((label, side), []).append(ms)
            browser.close()
    finally:
        old.stop()
        new.stop()
    table = Table(title=f"First chart paint, before vs after, {args.rounds} alternating rounds")
    for column in ("page", "side", "each round (ms)", "median ms"):
        table.add_column(column)
    for (label, side), values in figures.items():
        each = " ".join(f"{v:.0f}" for v in values)
        table.add_row(label, side, each, f"{statistics.median(values):.0f}")
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
