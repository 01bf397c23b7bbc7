"""The workspace's first chart paint next to MLflow's UI on the same data, in one run.

Usage: python hack/bench/bench_ui_mlflow.py [--runs 50 --metrics 20 --steps 2000]
       [--rounds 5] [--mlflow-python /tmp/mlflow/bin/python]
MLflow lives in its own virtualenv, never a project dependency
(`python -m venv /tmp/mlflow && /tmp/mlflow/bin/pip install mlflow`): `mlflow server` on a
SQLite store. Both sides get the values bench_ui.py seeds (bench_ui.seed_workspace into
Runyard's database, mlflow_seed.py into MLflow's through MLflow's own table definitions).

The pages, each in its own browser context of one headless Debian Chromium, 1400x900:
- Runyard: the project workspace `/{entity}/{project}`: every run's line on each of the
  `--metrics` charts (sampled, 500 buckets a run), charts drawn as they scroll into view.
- MLflow: the experiment's Runs tab in chart mode (`compareRunsMode=CHART`): one Plotly line
  chart per metric. Out of the box it draws only the first 10 runs ("runsHiddenMode"
  FIRST_10_RUNS); the fair row switches its stored UI state to "show all runs" so both pages
  draw `--runs` lines a chart. Its charts ask `get-history-bulk-interval` (sampled too).
Both pages carry the same in-page probe (an init script polling every animation frame): the
time since navigation start at which the first chart showed lines, and at which every chart
of the first screen had (the count each page draws in view is printed). Rounds alternate the
pages after one warm-up load each; the table holds medians (min-max).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import httpx
from bench_ui import FLAGS, seed_workspace
from common import ADMIN_KEY, free_port, server
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).parent
VIEWPORT = {"width": 1400, "height": 900}
# A chart container, and what it holds once it is drawn with lines: a uPlot canvas in a
# Runyard line panel; a Plotly line path in an MLflow chart card.
CHART = "figure.panel-line, .js-plotly-plot"
DRAWN = "canvas, .scatterlayer .trace .js-line"
PROBE = """
(() => {
  const marks = { first: null, byCount: {}, max: 0 };
  window.__paintMarks = marks;
  const inView = (el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.bottom > 0 && r.top < innerHeight && r.right > 0 && r.left < innerWidth;
  };
  const tick = () => {
    const drawn = [...document.querySelectorAll(CHART)]
      .filter((c) => c.querySelector(DRAWN) && inView(c)).length;
    const now = performance.now();
    if (drawn && marks.first === null) marks.first = now;
    for (let k = marks.max + 1; k <= drawn; k++) marks.byCount[k] = now;
    marks.max = Math.max(marks.max, drawn);
    if (now < 300000) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();
""".replace("CHART", repr(CHART)).replace("DRAWN", repr(DRAWN))


def check_mlflow(python: str) -> None:
    """Stop with the fix when `python` is missing or cannot import mlflow."""
    if not Path(python).exists():
        venv = Path(python).parent.parent
        raise SystemExit(
            f"--mlflow-python: no Python at {python}; make one: python -m venv {venv} && "
            f"{venv}/bin/pip install mlflow (or pass another --mlflow-python)"
        )
    found = subprocess.run([python, "-c", "import mlflow"], capture_output=True, text=True)
    if found.returncode != 0:
        raise SystemExit(
            f"--mlflow-python: {python} cannot import mlflow; {python} -m pip install mlflow"
        )


def start_mlflow(python: str, tmp: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    """`mlflow server` on a SQLite store in `tmp`; returns the process, its URL, its store."""
    port = free_port()
    store = f"sqlite:///{tmp / 'mlflow.db'}"
    proc = subprocess.Popen(
        [
            python,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            store,
            "--default-artifact-root",
            str(tmp / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=(tmp / "mlflow.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url, store
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"mlflow server did not start: {(tmp / 'mlflow.log').read_text()[-2000:]}")


def load(page: Page, url: str, screen: int = 1, common: int = 1) -> dict[str, float]:
    """Open `url` afresh; once `screen` charts are drawn in view, the probe's times of the
    first, the `common`-th and the `screen`-th drawn chart."""
    page.goto("about:blank")  # a hash-only change would not reload the MLflow app
    page.goto(url)
    want = max(screen, common)
    # Polled from here: the pages' CSP forbids the in-page eval that wait_for_function uses;
    # the times themselves are the probe's, so the polling period does not enter them.
    # A layout shift can leave fewer charts in view than the warm-up counted: after a quiet
    # spell with no new chart drawn, the last one drawn stands for the screen.
    deadline, seen, since = time.monotonic() + 300, 0, time.monotonic()
    while True:
        drawn = int(page.evaluate("window.__paintMarks?.max ?? 0"))
        if drawn != seen:
            seen, since = drawn, time.monotonic()
        if drawn >= want:
            break
        if drawn and time.monotonic() - since > 20:
            print(f"note: {url}: {drawn} of {want} charts in view this load", flush=True)
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url}: {want} charts never drew")
        time.sleep(0.1)
    marks = page.evaluate("window.__paintMarks")
    drawn_at = marks["byCount"]
    last = str(min(int(marks["max"]), screen))
    return {
        "first": marks["first"],
        "common": drawn_at[str(min(int(marks["max"]), common))],
        "screen": drawn_at[last],
    }


def settled_count(page: Page, url: str, quiet_s: float = 10.0) -> int:
    """Charts drawn in view once the page has drawn nothing new for `quiet_s` seconds."""
    load(page, url)
    seen, since = -1, time.monotonic()
    while time.monotonic() - since < quiet_s:
        now = int(page.evaluate("window.__paintMarks.max"))
        if now != seen:
            seen, since = now, time.monotonic()
        time.sleep(0.25)
    return seen


def new_page(browser: Browser, *scripts: str) -> tuple[BrowserContext, Page]:
    """A context of its own (own storage, own cache) with the paint probe installed."""
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    for script in (PROBE, *scripts):
        context.add_init_script(script)
    return context, context.new_page()


# MLflow keeps its experiment page's UI state in localStorage and writes it back from memory
# as the page goes, so a change must land before the app reads it: an init script.
SHOW_ALL_RUNS = """
(() => {
  try {
    for (const key of Object.keys(localStorage)) {
      if (!key.endsWith('-ReactComponentState')) continue;
      const state = JSON.parse(localStorage.getItem(key));
      state.runsHiddenMode = 'SHOW_ALL';
      localStorage.setItem(key, JSON.stringify(state));
    }
  } catch (e) {}  // about:blank has no storage
})();
"""


def lines_per_chart(page: Page, runyard: bool) -> int:
    """Lines on the first drawn chart: Runyard's `data-lines`, MLflow's distinct Plotly paths."""
    if runyard:
        text = page.locator("figure.panel-line[data-lines]").first.get_attribute("data-lines")
        return len((text or "").splitlines())
    # MLflow draws each run's line twice (the line and an identical overlay): count paths.
    return int(
        page.evaluate(
            """() => new Set([...document.querySelector('.js-plotly-plot')
                .querySelectorAll('.scatterlayer .trace .js-line')]
                .map((l) => l.getAttribute('d'))).size"""
        )
    )


def seed_both(args: argparse.Namespace, database_url: str, mlflow_url: str, store: str) -> str:
    """Seed Runyard and MLflow at the same time; print each one's seconds; the experiment id."""
    started = time.perf_counter()
    mlflow = subprocess.Popen(
        [
            args.mlflow_python,
            str(HERE / "mlflow_seed.py"),
            mlflow_url,
            str(args.runs),
            str(args.metrics),
            str(args.steps),
            "--store",
            store,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    seed_workspace(database_url, "ws", args.runs, args.metrics, args.steps)
    print(f"Runyard seeded in {time.perf_counter() - started:.0f} s", flush=True)
    out, _ = mlflow.communicate()
    if mlflow.returncode:
        raise RuntimeError(f"mlflow_seed.py failed ({mlflow.returncode})")
    print(f"MLflow seeded in {time.perf_counter() - started:.0f} s", flush=True)
    return out.split("EXPERIMENT ")[1].strip()


def summary(values: list[float]) -> str:
    """`median (min-max)` in whole milliseconds."""
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def main() -> None:
    """Seed both servers with the same data, open both UIs in rounds, print a table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--metrics", type=int, default=20)
    parser.add_argument("--steps", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mlflow-python", default="/tmp/mlflow/bin/python")
    parser.add_argument("--screenshots", type=Path, help="save each page's last load here")
    args = parser.parse_args()
    check_mlflow(args.mlflow_python)
    size = f"{args.runs} runs x {args.metrics} metrics x {args.steps:,} steps"
    with (
        tempfile.TemporaryDirectory(prefix="bench-mlflow-") as tmp,
        server("sqlite") as srv,
        sync_playwright() as pw,
    ):
        mlflow, mlflow_url, store = start_mlflow(args.mlflow_python, Path(tmp))
        try:
            experiment = seed_both(args, srv.database_url, mlflow_url, store)
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
            ry_ctx, ry = new_page(browser)
            ry.goto(f"{srv.url}/login")
            ry.get_by_label("API key").fill(ADMIN_KEY)
            ry.get_by_role("button", name="Sign in").click()
            ry.wait_for_url(f"{srv.url}/")
            mlflow_page = f"{mlflow_url}/#/experiments/{experiment}/runs?compareRunsMode=CHART"
            ml_all_ctx, ml_all = new_page(browser, SHOW_ALL_RUNS)
            ml_ten_ctx, ml_ten = new_page(browser)
            # Warm-up: bundles into each context's cache, the servers' first-request costs,
            # MLflow's stored UI state created (switched to all runs from the next load on).
            settled_count(ml_all, mlflow_page)
            pages: list[tuple[str, Page, str, bool]] = [
                ("Runyard workspace", ry, f"{srv.url}/admin/ws", True),
                ("MLflow charts, all runs shown", ml_all, mlflow_page, False),
                ("MLflow charts, out of the box", ml_ten, mlflow_page, False),
            ]
            screens = {name: settled_count(page, url) for name, page, url, _ in pages}
            lines = {name: lines_per_chart(page, ry_) for name, page, _, ry_ in pages}
            common = min(screens.values())  # as many charts drawn on every page
            marks: dict[str, dict[str, list[float]]] = {
                name: {"first": [], "common": [], "screen": []} for name, *_ in pages
            }
            for n in range(args.rounds):
                for name, page, url, _ in pages:
                    got = load(page, url, screens[name], common)
                    for key in ("first", "common", "screen"):
                        marks[name][key].append(got[key])
                done = ", ".join(
                    f"{name}: {marks[name]['first'][-1]:,.0f}/{marks[name]['screen'][-1]:,.0f}"
                    for name, *_ in pages
                )
                print(f"round {n + 1}/{args.rounds} (first/screen ms) {done}", flush=True)
            if args.screenshots:
                args.screenshots.mkdir(parents=True, exist_ok=True)
                for i, (_, page, _, _) in enumerate(pages):
                    page.screenshot(path=str(args.screenshots / f"bench-ui-mlflow-{i}.png"))
            for ctx in (ry_ctx, ml_all_ctx, ml_ten_ctx):
                ctx.close()
            browser.close()
        finally:
            mlflow.terminate()
            mlflow.wait(timeout=30)
    table = Table(
        title=f"First chart paint, same data ({size}), headless Chromium 1400x900, "
        f"ms from navigation start, median (min-max) of {args.rounds} rounds"
    )
    table.add_column("page")
    table.add_column("lines a chart", justify="right")
    table.add_column("first chart with lines", justify="right")
    table.add_column(f"first {common} charts drawn", justify="right")
    table.add_column("charts in first screen", justify="right")
    table.add_column("all of them drawn", justify="right")
    for name, *_ in pages:
        table.add_row(
            name,
            str(lines[name]),
            summary(marks[name]["first"]),
            summary(marks[name]["common"]),
            str(screens[name]),
            summary(marks[name]["screen"]),
        )
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
