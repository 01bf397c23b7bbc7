"""Run every benchmark with its default sizes (`make bench`); each prints its own table."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent

for script in ("bench_queries.py", "bench_ingest.py", "bench_queue.py", "bench_launch.py"):
    subprocess.run([sys.executable, str(HERE / script)], check=True)
