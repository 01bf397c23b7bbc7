"""The chart helpers (EMA, aligning runs, group mean/min/max) under Node's own test runner."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

WEB = Path(__file__).resolve().parent.parent / "web"


def test_chart_helpers_pass_their_node_tests() -> None:
    node = shutil.which("node")
    assert node, "node is required to build the web UI (Debian: apt-get install nodejs)"
    result = subprocess.run(
        [node, "--test", "src/"], cwd=WEB, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout
