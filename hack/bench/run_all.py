"""Run every benchmark with its default sizes (`make bench`); each prints its own table."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent

SCRIPTS = (
    "bench_queries.py",
    "bench_access.py",
    "bench_artifacts.py",
    "bench_ingest.py",
    "bench_queue.py",
    "bench_launch.py",
    "bench_sweeps.py",
    "bench_artifact_sweep.py",
    "bench_artifact_listing.py",
    "bench_reports.py",  # needs the built web bundle and chromium, like bench_ui.py
    "bench_events.py",
    "bench_telemetry.py",
    "bench_ui.py",  # needs the built web bundle and Debian's chromium (`make bench` has both)
)

for script in SCRIPTS:
    subprocess.run([sys.executable, str(HERE / script)], check=True)
