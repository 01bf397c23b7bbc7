"""The workspace's first chart paint next to MLflow's UI on the same data, in one run.

Usage: python hack/bench/bench_ui_mlflow.py [--runs 20 --metrics 10 --steps 1000]
       [--mlflow-python /tmp/uiws-mlflow/bin/python]
MLflow lives in its own virtualenv (`python -m venv /tmp/mlflow && /tmp/mlflow/bin/pip install
mlflow`): `mlflow server` on a SQLite store, filled through its client with the values
bench_ui.py seeds into Runyard. Both pages open in the same headless Chromium; each figure is
the time from navigation start until the first chart with lines is on the page (polled).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import httpx
from bench_ui import FLAGS, seed_workspace
from common import ADMIN_KEY, free_port, server
from playwright.sync_api import Page, sync_playwright
from rich.console import Console
from rich.table import Table

HERE = Path(__file__).parent
# A drawn MLflow chart: a Plotly figure with at least one line trace.
MLFLOW_CHART = ".js-plotly-plot .scatterlayer .trace"
RUNYARD_CHART = "figure.panel canvas"


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


def start_mlflow(python: str, tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`mlflow server` on a SQLite store in `tmp`; returns the process and its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [
            python,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{tmp / 'mlflow.db'}",
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
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"mlflow server did not start: {(tmp / 'mlflow.log').read_text()[-2000:]}")


def paint_ms(page: Page, url: str, selector: str) -> float:
    """Open `url`; milliseconds from navigation start until `selector` is on the page."""
    page.goto(url)
    page.wait_for_selector(selector, timeout=120_000, state="attached")
    return float(page.evaluate("performance.now()"))


def main() -> None:
    """Seed both servers with the same data, open both UIs, print a table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--metrics", type=int, default=10)
    parser.add_argument("--steps", type=int, default=1_000)
    parser.add_argument("--mlflow-python", default="/tmp/uiws-mlflow/bin/python")
    args = parser.parse_args()
    check_mlflow(args.mlflow_python)
    size = f"{args.runs} runs x {args.metrics} metrics x {args.steps:,} steps"
    table = Table(title=f"First chart paint, same data ({size}), headless Chromium")
    table.add_column("UI")
    table.add_column("measure")
    table.add_column("ms", justify="right")
    with (
        tempfile.TemporaryDirectory(prefix="bench-mlflow-") as tmp,
        server("sqlite") as srv,
        sync_playwright() as pw,
    ):
        mlflow, mlflow_url = start_mlflow(args.mlflow_python, Path(tmp))
        try:
            started = time.perf_counter()
            seed_workspace(srv.database_url, "ws", args.runs, args.metrics, args.steps)
            seeded = subprocess.run(
                [
                    args.mlflow_python,
                    str(HERE / "mlflow_seed.py"),
                    mlflow_url,
                    str(args.runs),
                    str(args.metrics),
                    str(args.steps),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            experiment = seeded.stdout.split("EXPERIMENT ")[1].strip()
            print(f"seeded both in {time.perf_counter() - started:.0f} s", flush=True)
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{srv.url}/login")
            page.get_by_label("API key").fill(ADMIN_KEY)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{srv.url}/")
            runyard_url = f"{srv.url}/admin/ws"
            mlflow_page = f"{mlflow_url}/#/experiments/{experiment}/runs?compareRunsMode=CHART"
            # One warm-up load each (bundles into the cache, servers' first-request costs).
            paint_ms(page, runyard_url, RUNYARD_CHART)
            paint_ms(page, mlflow_page, MLFLOW_CHART)
            for attempt in (1, 2, 3):
                ms = paint_ms(page, runyard_url, RUNYARD_CHART)
                in_page = page.locator("body").get_attribute("data-charts-ready")
                table.add_row("Runyard workspace", f"first chart (try {attempt})", f"{ms:.0f}")
                table.add_row("", f"in-page paint mark (try {attempt})", f"{in_page}")
                ms = paint_ms(page, mlflow_page, MLFLOW_CHART)
                table.add_row(
                    "MLflow experiment charts", f"first chart (try {attempt})", f"{ms:.0f}"
                )
            page.screenshot(path=str(Path(tmp).parent / "bench-mlflow-charts.png"))
            browser.close()
        finally:
            mlflow.terminate()
            mlflow.wait(timeout=30)
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
