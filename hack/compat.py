"""Run the client round-trip tests against several wandb releases, each in its own venv.

Usage: python hack/compat.py [VERSION ...]   (default: 0.19.11 0.22.3 and the newest release)
The server runs from this checkout's venv; only the training scripts use the other clients.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
VENVS = ROOT / ".venvs"
DEFAULT_VERSIONS = ["0.19.11", "0.22.3", "latest"]
TESTS = [
    "tests/test_tracking_roundtrip.py",
    "tests/test_resume_and_states.py",
    "tests/test_public_api.py",
    "tests/test_wandb_launch_push.py",
    "tests/test_wandb_queue_lifecycle.py",
    "tests/test_people_graphql.py",
    "tests/test_run_files.py",
    "tests/test_run_names.py",
    "tests/test_wandb_urls.py",
    "tests/test_run_system.py",
    "tests/test_artifact_references.py",
    "tests/test_artifact_drafts.py",
    "tests/test_artifact_download_urls.py",
    "tests/test_wandb_verify.py",
    "tests/test_run_extras.py",
    "tests/test_run_branches.py",
    "tests/test_run_alerts.py",
    "tests/test_artifact_edits.py",
    "tests/test_registry.py",
    "tests/test_sweeps.py",
    "tests/test_launch_sweeps.py",
    "tests/test_artifact_listing.py",
    "tests/test_automations.py",
    "tests/test_automation_delivery.py",
    "tests/test_history_export.py",
]
MEDIA_PACKAGES = ["numpy>=1.26", "pillow>=10.0"]


def client_python(version: str) -> Path:
    """Create (once) a venv holding wandb==version and return its interpreter."""
    target = VENVS / f"wandb-{version}"
    python = target / "bin" / "python"
    stamp = target / ".installed"
    if not stamp.exists():
        venv.create(target, with_pip=True, clear=True)
        spec = "wandb" if version == "latest" else f"wandb=={version}"
        subprocess.run([python, "-m", "pip", "install", "-q", "-U", spec], check=True)
        stamp.touch()
    media = target / ".installed-media"
    if not media.exists():
        # The run-files scripts log wandb.Image and wandb.Histogram, which need these.
        subprocess.run([python, "-m", "pip", "install", "-q", *MEDIA_PACKAGES], check=True)
        media.touch()
    return python


def installed_version(python: Path) -> str:
    """The wandb version a venv really holds."""
    out = subprocess.run(
        [python, "-c", "import wandb; print(wandb.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def main(versions: list[str]) -> int:
    """Run the suite per client version; print a table; non-zero exit if any failed."""
    console = Console()
    table = Table(title="wandb client compatibility")
    table.add_column("requested")
    table.add_column("installed")
    table.add_column("result")
    failed = False
    for version in versions:
        python = client_python(version)
        env = {**os.environ, "RUNYARD_WANDB_PYTHON": str(python)}
        console.rule(f"wandb {version}")
        # Only the SQLite backend: the database is not what varies here.
        # The long client round trips (marker e2e) are left out of `make test`, not here.
        markers = "not (slow or docker or images or replicas or s3 or gallery)"
        cmd = [sys.executable, "-m", "pytest", "-q", "-m", markers, "-k", "sqlite", *TESTS]
        code = subprocess.run(cmd, cwd=ROOT, env=env).returncode
        failed |= code != 0
        status = "[green]passed[/green]" if code == 0 else f"[red]failed ({code})[/red]"
        table.add_row(version, installed_version(python), status)
    console.print(table)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or DEFAULT_VERSIONS))
