"""What the official client says about the machine and code of a run: `wandb-metadata.json`.

The client uploads the file early in the run (0.19+ also copies it into the `_wandb` config
under `e.<writer id>`); either may be missing or partial (`WANDB_DISABLE_GIT`, no GPU, an old
client), so every field is optional and a file that does not parse reads as empty.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from runyard.server.db.models import Run, RunFile
from runyard.server.tracking.files import run_file_key
from runyard.server.unit_of_work import UnitOfWork

logger = logging.getLogger(__name__)

METADATA_FILE = "wandb-metadata.json"
MAX_METADATA_BYTES = 1 << 20  # a real one is a few KB; a bigger file is not read whole


class GitInfo(BaseModel):
    """The repository the program ran from."""

    model_config = ConfigDict(extra="ignore")

    remote: str | None = None
    commit: str | None = None


class GpuDevice(BaseModel):
    """One GPU as the client's NVML probe reports it (`gpu_nvidia`)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: str | None = None
    memory_total: int | str | None = Field(default=None, alias="memoryTotal")


class ClientMetadata(BaseModel):
    """The fields of `wandb-metadata.json` the run page shows; unknown ones are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    os: str | None = None
    python: str | None = None
    program: str | None = None
    code_path: str | None = Field(default=None, alias="codePath")
    args: list[str] = Field(default_factory=list)
    host: str | None = None
    username: str | None = None
    executable: str | None = None
    started_at: str | None = Field(default=None, alias="startedAt")
    git: GitInfo | None = None
    cpu_count: int | None = None
    cpu_count_logical: int | None = None
    gpu: str | None = None
    gpu_count: int | None = None
    gpu_nvidia: list[GpuDevice] = Field(default_factory=list)
    cuda: str | None = Field(default=None, alias="cudaVersion")
    docker: str | None = None


@dataclass(frozen=True)
class RunMachine:
    """What the overview shows about where and how a run ran (None: the client did not say)."""

    command: str | None
    python: str | None
    os: str | None
    host: str | None
    gpu: str | None
    gpu_count: int | None
    cpu_count: int | None
    git_remote: str | None
    git_commit: str | None
    wandb_version: str | None
    cuda: str | None
    executable: str | None


def parse_metadata(raw: bytes | str | dict[str, Any] | None) -> ClientMetadata:
    """The metadata in `raw` (file bytes or a decoded document); empty when it does not parse."""
    if raw is None:
        return ClientMetadata()
    try:
        doc = json.loads(raw) if isinstance(raw, (bytes, str)) else raw
        return ClientMetadata.model_validate(doc if isinstance(doc, dict) else {})
    except (ValueError, ValidationError) as exc:
        # A damaged file must not break the run page: show what the run row knows instead.
        logger.info("run metadata unreadable", extra={"error": str(exc)[:200]})
        return ClientMetadata()


def _config_metadata(wandb_config: dict[str, Any]) -> dict[str, Any]:
    """The metadata newer clients copy into `_wandb.e` (one entry per writer; the last wins)."""
    entries = wandb_config.get("e")
    if not isinstance(entries, dict):
        return {}
    merged: dict[str, Any] = {}
    for entry in entries.values():
        if isinstance(entry, dict):
            merged.update(entry)
    return merged


def _command(program: str | None, args: list[str]) -> str | None:
    """`python train.py --lr 0.1` as the user would type it (program and args)."""
    if not program:
        return None
    return " ".join(["python", program, *args])


def machine_of(run: Run, metadata: ClientMetadata) -> RunMachine:
    """Combine the uploaded metadata, the `_wandb` config and the run row (pure)."""
    wandb_config = run.wandb_config or {}
    fallback = parse_metadata(_config_metadata(wandb_config))
    meta = metadata.model_copy(
        update={
            name: getattr(fallback, name)
            for name in ClientMetadata.model_fields
            if getattr(metadata, name) in (None, [])
        }
    )
    git = meta.git or GitInfo()
    gpu = meta.gpu or (meta.gpu_nvidia[0].name if meta.gpu_nvidia else None)
    gpu_count = meta.gpu_count or (len(meta.gpu_nvidia) if meta.gpu_nvidia else None)
    python = meta.python
    if python is None and wandb_config.get("python_version"):
        python = f"Python {wandb_config['python_version']}"
    version = wandb_config.get("cli_version")
    return RunMachine(
        command=_command(meta.program or meta.code_path or run.program, meta.args),
        python=python,
        os=meta.os,
        host=meta.host or run.host,
        gpu=gpu,
        gpu_count=gpu_count,
        cpu_count=meta.cpu_count_logical or meta.cpu_count,
        git_remote=git.remote or run.repo,
        git_commit=git.commit or run.commit,
        wandb_version=str(version) if version else None,
        cuda=meta.cuda,
        executable=meta.executable,
    )


def read_metadata(uow: UnitOfWork, run: Run) -> ClientMetadata:
    """The run's uploaded `wandb-metadata.json`, parsed (empty when absent or unreadable)."""
    row = uow.session.scalars(
        select(RunFile).where(RunFile.run_id == run.id, RunFile.name == METADATA_FILE)
    ).first()
    if row is None or not row.uploaded:
        return ClientMetadata()
    data = bytearray()
    try:
        for chunk in uow.objects.open_chunks(run_file_key(run, METADATA_FILE)):
            data.extend(chunk)
            if len(data) > MAX_METADATA_BYTES:
                return ClientMetadata()
    except FileNotFoundError:
        return ClientMetadata()
    return parse_metadata(bytes(data))


def run_machine(uow: UnitOfWork, run: Run) -> RunMachine:
    """Where and how the run ran, from everything the client sent."""
    return machine_of(run, read_metadata(uow, run))
