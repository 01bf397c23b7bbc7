"""scan_history of a long run through the official client's public API, live and exported.

Seeds one finished run of `--rows` history rows (`{_step, loss}`, hack/bench/seed.py),
then times `wandb.Api().run(...).scan_history()` (all keys, and `keys=["loss"]`) in a
fresh client process with an empty download cache:

1. "live": the server started with exports off (an hour's interval): every row comes
   through HistoryPage, as on a server without exports (or an older checkout: pass
   `--server-python /old/checkout/.venv/bin/python --server-cwd /old/checkout`, which
   measures only this phase).
2. "exported": the same data dir, the server restarted with a 1 s export interval; once
   `parquetHistory` hands out a URL (the export's wall time and server CPU are printed),
   the client downloads the Parquet file and reads the rows from it.

Usage: python hack/bench/bench_scan_history.py [--rows 1000000] [--data-dir D]
       [--client-python /venv-with-wandb-0.22.3/bin/python --client-python .venv/bin/python]
Figures are wall seconds on a shared machine (noisy), the server's CPU seconds and the
client's (the Python process plus its wandb-core, user + system), and the client Python
process's own CPU inside the scan loop (time.process_time): the floor the client sets
however fast the server answers.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import ADMIN_KEY, ServerProcess, cpu_seconds
from rich.console import Console
from rich.table import Table
from seed import seed_long_run

PROJECT = "scan"
RUN = "long"

CLIENT = textwrap.dedent(
    """
    import json, resource, sys, time
    import wandb
    run = wandb.Api(timeout=120).run(sys.argv[1])
    keys = json.loads(sys.argv[2])
    started, loop_cpu = time.perf_counter(), time.process_time()
    rows = 0
    last = None
    for row in run.scan_history(keys=keys or None):
        rows += 1
        last = row["_step"]
    wall = time.perf_counter() - started
    # The Python process's own CPU inside the scan (all its threads, not wandb-core's):
    # the client's floor, whatever the server does.
    loop_cpu = time.process_time() - loop_cpu
    wandb.teardown()  # waits for wandb-core, so its CPU time counts as a waited child's
    cpu = sum(
        getattr(resource.getrusage(who), field)
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        for field in ("ru_utime", "ru_stime")
    )
    print(json.dumps({"s": wall, "rows": rows, "last": last, "client_cpu": cpu,
                      "loop_cpu": loop_cpu, "version": wandb.__version__}))
    """
)

PARQUET_QUERY = """query P($e: String!, $p: String!, $r: String!) {
  project(name: $p, entityName: $e) { run(name: $r) {
    parquetHistory(liveKeys: ["_step"]) { parquetUrls } } } }"""


@contextmanager
def serving(
    data_dir: Path, interval_s: float, python: str, cwd: Path | None
) -> Iterator[ServerProcess]:
    """A SQLite server on `data_dir` exporting history every `interval_s` seconds."""
    env = {"RUNYARD_HISTORY_EXPORT_INTERVAL_S": str(interval_s)}
    proc = ServerProcess(data_dir, None, env, python=python, cwd=cwd)
    try:
        yield proc
    finally:
        proc.stop()


def scan(srv: ServerProcess, client_python: str, keys: list[str]) -> dict[str, float]:
    """One scan in a fresh client process and cache; wall seconds, rows, server CPU-s."""
    import json

    with tempfile.TemporaryDirectory(prefix="bench-scan-client-") as home:
        env = {
            **os.environ,
            "HOME": home,
            "WANDB_DIR": home,
            "WANDB_CONFIG_DIR": home,
            "WANDB_CACHE_DIR": os.path.join(home, "cache"),
            "WANDB_BASE_URL": srv.url,
            "WANDB_API_KEY": ADMIN_KEY,
            "WANDB_ERROR_REPORTING": "false",
            "WANDB_SILENT": "true",
        }
        cpu_before = cpu_seconds(srv.proc.pid)
        out = subprocess.run(
            [client_python, "-c", CLIENT, f"admin/{PROJECT}/{RUN}", json.dumps(keys)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=3600,
        )
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-2000:])
        result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
        result["server_cpu"] = cpu_seconds(srv.proc.pid) - cpu_before
        return result


def exported(srv: ServerProcess) -> bool:
    """Whether parquetHistory hands out a URL for the run (older servers: never)."""
    variables = {"e": "admin", "p": PROJECT, "r": RUN}
    with srv.api() as api:
        body = api.post("/graphql", json={"query": PARQUET_QUERY, "variables": variables})
    answer = body.json().get("data") or {}
    run = (answer.get("project") or {}).get("run") or {}
    return bool((run.get("parquetHistory") or {}).get("parquetUrls"))


def wait_for_export(srv: ServerProcess, timeout_s: float) -> tuple[float, float]:
    """Wall seconds until parquetHistory hands out a URL, and the server's CPU-s meanwhile."""
    started, cpu_before = time.perf_counter(), cpu_seconds(srv.proc.pid)
    variables = {"e": "admin", "p": PROJECT, "r": RUN}
    with srv.api() as api:
        while time.perf_counter() - started < timeout_s:
            body = api.post("/graphql", json={"query": PARQUET_QUERY, "variables": variables})
            body.raise_for_status()
            run = body.json()["data"]["project"]["run"]
            if run["parquetHistory"]["parquetUrls"]:
                return time.perf_counter() - started, cpu_seconds(srv.proc.pid) - cpu_before
            time.sleep(0.5)
    raise RuntimeError(f"no export within {timeout_s:.0f} s")


def main() -> None:
    """Seed (or reuse) the data, scan live, export, scan again; print a table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--data-dir", type=Path, help="keep (or reuse) the seeded data here")
    parser.add_argument(
        "--client-python",
        action="append",
        help="interpreter with the wandb client to scan with (repeat to compare clients; "
        "default: this one)",
    )
    parser.add_argument("--server-python", default=sys.executable)
    parser.add_argument("--server-cwd", type=Path, help="checkout the server python runs from")
    parser.add_argument(
        "--phase",
        action="append",
        choices=["live", "exported"],
        help="measure only this phase (repeatable; default both)",
    )
    args = parser.parse_args()
    clients = args.client_python or [sys.executable]
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix=f"bench-scan-{uuid.uuid4().hex}"))
    data_dir.mkdir(parents=True, exist_ok=True)
    marker = data_dir / "seeded"
    other_server = args.server_python != sys.executable

    table = Table(title=f"scan_history of {args.rows:,} rows through wandb.Api (SQLite)")
    columns = (
        "phase",
        "keys",
        "client",
        "rows",
        "wall s",
        "server CPU-s",
        "client CPU-s",
        "client loop CPU-s",
    )
    for column in columns:
        table.add_column(column, justify="right" if column != "phase" else "left")

    def add(phase: str, keys: list[str], result: dict[str, float]) -> None:
        row = (
            phase,
            ",".join(keys) or "all",
            str(result["version"]),
            f"{int(result['rows']):,}",
            f"{result['s']:.2f}",
            f"{result['server_cpu']:.2f}",
            f"{result['client_cpu']:.2f}",
            f"{result['loop_cpu']:.2f}",
        )
        print(" | ".join(row), flush=True)  # as it comes: a slow old server takes long
        table.add_row(*row)

    phases = args.phase or ["live", "exported"]
    with serving(data_dir, 3600, args.server_python, args.server_cwd) as srv:
        if not marker.exists():
            started = time.perf_counter()
            seed_long_run(srv.database_url, PROJECT, args.rows)
            marker.touch()
            print(f"seeded {args.rows:,} rows in {time.perf_counter() - started:.0f} s")
        # A reused data dir may hold an export already: then the "live" server serves it.
        live = "exported (Parquet)" if exported(srv) else "live (HistoryPage)"
        for client in clients if "live" in phases else []:
            for keys in ([], ["loss"]):
                add(live, keys, scan(srv, client, keys))
    if not other_server and "exported" in phases:
        with serving(data_dir, 1, args.server_python, args.server_cwd) as srv:
            wall, cpu = wait_for_export(srv, 1800)
            table.add_row("export", "", "", f"{args.rows:,}", f"{wall:.2f}", f"{cpu:.2f}", "", "")
            for client in clients:
                for keys in ([], ["loss"]):
                    add("exported (Parquet)", keys, scan(srv, client, keys))
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
