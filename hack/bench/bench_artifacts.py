"""Artifacts: log and download with the official client against a plain copy of the same files.

Usage: python hack/bench/bench_artifacts.py [--backend sqlite|postgres] [--small-files 10000]
       [--small-size 1024] [--big-mb 1024]
Two datasets: many small files, and one big file (`--big-mb`, default 1 GiB; smaller for a
quick run). For each, the official client logs it (hashing, staging, upload, commit), logs it
again unchanged (no new version: the cost of hashing plus one manifest round trip), and
downloads it with an empty cache. Prints seconds and the ratio to `shutil.copytree` of the
same files (the floor: every byte read and written once on the same disk).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import ADMIN_KEY, cpu_seconds, server
from rich.console import Console
from rich.table import Table

CLIENT = Path(__file__).parent / "artifact_client.py"


def make_small(root: Path, count: int, size: int) -> None:
    """`count` files of `size` random bytes, 100 to a folder."""
    for i in range(count):
        folder = root / f"d{i // 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i:05d}.bin").write_bytes(os.urandom(size))


def make_big(root: Path, mb: int) -> None:
    """One file of `mb` MiB of random bytes."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / "model.bin").open("wb") as out:
        for _ in range(mb):
            out.write(os.urandom(1 << 20))


def copy_seconds(src: Path, dest: Path) -> float:
    """Wall seconds of a plain copy of the folder (then removed)."""
    started = time.perf_counter()
    shutil.copytree(src, dest)
    elapsed = time.perf_counter() - started
    shutil.rmtree(dest)
    return elapsed


def client(url: str, tmp: Path, *args: str) -> dict[str, object]:
    """Run the client script with a fresh cache; return what it printed after TIMES."""
    home = Path(tempfile.mkdtemp(prefix="client-", dir=tmp))
    env = {
        **os.environ,
        "WANDB_BASE_URL": url,
        "WANDB_API_KEY": ADMIN_KEY,
        "WANDB_ERROR_REPORTING": "false",
        "WANDB_SILENT": "true",
        "WANDB_DISABLE_GIT": "true",
        "HOME": str(home),
        "WANDB_DIR": str(home),
        "WANDB_CONFIG_DIR": str(home),
        "WANDB_CACHE_DIR": str(home / "cache"),
        "WANDB_DATA_DIR": str(home / "data"),
    }
    done = subprocess.run(
        [sys.executable, str(CLIENT), *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"client failed: {done.stderr[-2000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("TIMES "))
    shutil.rmtree(home, ignore_errors=True)
    result: dict[str, object] = json.loads(line[len("TIMES ") :])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--small-files", type=int, default=10_000)
    parser.add_argument("--small-size", type=int, default=1024, help="bytes per small file")
    parser.add_argument("--big-mb", type=int, default=1024, help="MiB of the big file")
    args = parser.parse_args()

    table = Table(title=f"artifacts on {args.backend} (seconds; ratio to a plain copy)")
    for column in ("dataset", "copy", "log", "log/copy", "download", "download/copy"):
        table.add_column(column, justify="right")
    table.add_column("re-log unchanged (vs first log)", justify="right")
    table.add_column("server CPU s", justify="right")
    with tempfile.TemporaryDirectory(prefix="runyard-bench-artifacts-") as tmp_name:
        tmp = Path(tmp_name)
        datasets = {
            f"{args.small_files} x {args.small_size} B": lambda p: make_small(
                p, args.small_files, args.small_size
            ),
            f"1 x {args.big_mb} MiB": lambda p: make_big(p, args.big_mb),
        }
        with server(args.backend) as srv:
            for index, (label, make) in enumerate(datasets.items()):
                src = tmp / f"src{index}"
                make(src)
                copy = copy_seconds(src, tmp / f"copy{index}")
                cpu_before = cpu_seconds(srv.proc.pid)
                logged = client(srv.url, tmp, "log", "bench", f"ds{index}", str(src))
                assert logged["versions"] == ["v0", "v0"], logged["versions"]
                dest = tmp / f"dl{index}"
                got = client(srv.url, tmp, "get", "bench", f"ds{index}", str(dest))
                cpu = cpu_seconds(srv.proc.pid) - cpu_before
                log_s, relog_s = float(logged["log"]), float(logged["relog"])  # type: ignore[arg-type]
                download_s = float(got["download"])  # type: ignore[arg-type]
                table.add_row(
                    label,
                    f"{copy:.2f}",
                    f"{log_s:.2f}",
                    f"{log_s / copy:.1f}x",
                    f"{download_s:.2f}",
                    f"{download_s / copy:.1f}x",
                    f"{relog_s:.2f} ({relog_s / log_s:.0%})",
                    f"{cpu:.1f}",
                )
                shutil.rmtree(src)
                shutil.rmtree(dest, ignore_errors=True)
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
