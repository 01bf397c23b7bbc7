"""The environment a launched job's wandb client reads, as plain variables (local processes).

Kubernetes Jobs get the same variables as manifest entries, with the API key taken
from a Secret (`runyard.launch.kubernetes.wandb_env`).
"""

from __future__ import annotations

from ..kubernetes.wandb_env import run_id_for, wandb_env
from ..models import QueueItem

__all__ = ["local_env", "run_id_for"]


def local_env(item: QueueItem, server_url: str, api_key: str, run_id: str) -> dict[str, str]:
    """WANDB_* variables for a local process: the manifest entries, with the key inline."""
    env: dict[str, str] = {}
    for entry in wandb_env(item, server_url, run_id):
        if "value" in entry:
            env[entry["name"]] = str(entry["value"])
    env["WANDB_API_KEY"] = api_key
    return env
