"""Sweep agent start-to-first-run: Runyard's server-side controller against `wandb agent`
with W&B's own local controller (`wandb sweep --controller`), side by side in one run.

For each mode and round: make a sweep, start `wandb agent ENTITY/PROJECT/ID`, and time from
the agent's start until the server holds the first run of the sweep (its `wandb.init()`).
The local controller needs the `sweeps` package (numpy<2), so the clients run from a venv of
their own: `python -m venv .venvs/wandb-sweeps && .venvs/wandb-sweeps/bin/pip install
wandb sweeps` (default --client-python). Usage: python hack/bench/bench_sweep_agent.py
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from common import ADMIN_KEY, ROOT, percentile, server

PROGRAM = "import wandb\nrun = wandb.init()\nrun.log({'loss': run.config['lr']})\nrun.finish()\n"


def _env(tmp: Path, url: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp),
        "WANDB_BASE_URL": url,
        "WANDB_API_KEY": ADMIN_KEY,
        "WANDB_ERROR_REPORTING": "false",
        "WANDB_DISABLE_GIT": "true",
    }
    for name in ("WANDB_DIR", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        env[name] = str(tmp / name.lower())
        Path(env[name]).mkdir(parents=True, exist_ok=True)
    return env


def _first_run_seconds(api: object, project: str, started: float, timeout: float = 120) -> float:
    """Seconds from `started` until the project has a run of a sweep."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = api.get(  # type: ignore[attr-defined]
            "/api/v1/runs",
            params={"project": f"admin/{project}", "filters": json.dumps({"state": "running"})},
        )
        if answer.status_code == 200 and answer.json()["runs"]:
            return time.monotonic() - started
        answer = api.get("/api/v1/runs", params={"project": f"admin/{project}"})  # type: ignore[attr-defined]
        if answer.status_code == 200 and answer.json()["runs"]:
            return time.monotonic() - started
        time.sleep(0.05)
    raise RuntimeError(f"no run in admin/{project} within {timeout}s")


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def one_round(python: Path, url: str, api: object, tmp: Path, local: bool) -> float:
    """Make a sweep (locally controlled or not), start an agent, time its first run."""
    wandb_cli = str(python.parent / "wandb")
    project = f"bench-{uuid.uuid4().hex[:6]}"
    work = tmp / project
    work.mkdir()
    (work / "train.py").write_text(PROGRAM)
    config = {
        "method": "random",
        "program": str(work / "train.py"),
        "command": ["${env}", str(python), "${program}", "${args}"],
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"lr": {"min": 0.001, "max": 0.1}},
    }
    (work / "sweep.yaml").write_text(yaml.safe_dump(config))
    env = _env(work, url)
    cmd = [wandb_cli, "sweep", "-p", project, "-e", "admin", str(work / "sweep.yaml")]
    if local:
        cmd.insert(2, "--controller")
    controller = subprocess.Popen(
        cmd,
        env=env,
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert controller.stdout is not None
    sweep_id = None
    for line in controller.stdout:
        found = re.search(r"sweep with ID: (\w+)", line)
        if found:
            sweep_id = found.group(1)
            break
    if sweep_id is None:
        raise RuntimeError(f"wandb sweep printed no sweep id (local={local})")
    started = time.monotonic()
    agent = subprocess.Popen(
        [wandb_cli, "agent", f"admin/{project}/{sweep_id}"],
        env=env,
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        return _first_run_seconds(api, project, started)
    finally:
        _stop(agent)
        _stop(controller)


def main() -> None:
    """Run both modes for --rounds rounds and print p50 and max per mode."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--client-python", type=Path, default=ROOT / ".venvs" / "wandb-sweeps" / "bin" / "python"
    )
    args = parser.parse_args()
    console = Console()
    results: dict[str, list[float]] = {"server controller (Runyard)": [], "local controller": []}
    with server("sqlite") as srv, srv.api() as api, tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for mode, local in (("server controller (Runyard)", False), ("local controller", True)):
                results[mode].append(one_round(args.client_python, srv.url, api, Path(tmp), local))
    table = Table(title=f"sweep agent start to first run ({args.rounds} rounds, SQLite)")
    for column in ("mode", "p50 s", "max s"):
        table.add_column(column)
    for mode, values in results.items():
        table.add_row(mode, f"{percentile(values, 50):.2f}", f"{max(values):.2f}")
    console.print(table)


if __name__ == "__main__":
    main()
